"""Publishing Celery tasks from a web request or a webhook without ever failing it.

The task queue is Redis; a request that saved a change must answer even when Redis is down
or hangs. The sync's enqueues and the push jobs' approvals publish through here; each has a
way to catch up later (the sync schedule, beat's push-job sweep).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

logger = logging.getLogger("unefemme.tasks")


def publish_quietly(task: Task[..., Any], *args: Any, timeout: float = 1.0) -> bool:
    """Publish ``task`` with ``args`` within ``timeout`` seconds, or log and give up (False).

    For enqueues from a web request or a webhook, where a broker outage must not turn a
    saved change into a 500 or hold the answer: each caller has a way to catch up later
    (the sync schedule, beat's push-job sweep). A connection of its own with short socket
    timeouts and no publish retries: a broker that refuses fails at once, one that hangs
    (a stopped Redis accepts TCP and never answers) fails after ``timeout``.
    """
    from django.conf import settings

    try:
        with task.app.connection_for_write(
            url=settings.CELERY_BROKER_URL,
            connect_timeout=timeout,
            transport_options={
                "socket_timeout": timeout,
                "socket_connect_timeout": timeout,
                "max_retries": 0,
            },
        ) as broker:
            task.apply_async(args, producer=broker.Producer(), retry=False, ignore_result=True)
    except Exception as exc:
        logger.warning("task %s%r not enqueued (%s)", task.name, args, type(exc).__name__)
        return False
    return True
