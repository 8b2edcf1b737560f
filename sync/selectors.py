from __future__ import annotations

from datetime import datetime

from django.core.cache import cache

from .services import LAST_TICK_KEY


def last_tick() -> datetime | None:
    raw = cache.get(LAST_TICK_KEY)
    return datetime.fromisoformat(raw) if raw else None
