"""A task only the sync tests' workers load (``CELERY_IMPORTS`` in worker_settings.py).

It does what ``sync.tasks.connection_refresh_info`` does (read the company's name with
the connection's stored token), with a barrier in Redis between loading the token and
using it: every copy holds the token before any of them calls Intuit, so twenty of them
really meet the expired token at the same moment, whatever order the pool runs them in.
"""

from __future__ import annotations

import time

from celery import shared_task

from sync.clients.qbo import QBOClient
from sync.locks import redis_client
from sync.models import QBOConnection
from sync.tokens import ConnectionTokens


@shared_task(soft_time_limit=90, time_limit=120)
def refresh_info_together(connection_id: int, barrier: str, parties: int) -> str:
    connection = QBOConnection.objects.get(pk=connection_id)
    tokens = ConnectionTokens(connection.pk)
    tokens.access_token()  # loaded now, used after the barrier
    client = redis_client()
    client.incr(barrier)
    client.expire(barrier, 300)
    deadline = time.monotonic() + 60
    while int(client.get(barrier) or 0) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {client.get(barrier)!r} of {parties} arrived")
        time.sleep(0.005)
    return QBOClient(realm_id=connection.realm_id, tokens=tokens).company_name()
