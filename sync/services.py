from __future__ import annotations

from datetime import datetime

from django.core.cache import cache
from django.utils import timezone

LAST_TICK_KEY = "sync:last-tick"


def tick_run() -> datetime:
    """Beat's one-minute heartbeat.

    It records when it last ran, which /healthz reports so a stopped beat is visible.
    The connection scheduling (enqueue a poll for every connection that is due) is added
    here by the sync issue.
    """
    now = timezone.now()
    cache.set(LAST_TICK_KEY, now.isoformat(), timeout=None)
    return now
