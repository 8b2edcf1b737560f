"""Generations: counters that move whenever what an expensive figure reads changes, so the
figure can be kept in the cache under the counters it was computed at and reused until
one of them moves (docs/architecture.md, "Cached figures").

Two kinds of counter, both rows of ``common_generation``, bumped in the writing
transaction itself:

- ``mirror:<connection id>``: every write of the sync's write path (``common.mirror``'s
  ``mirror_write`` and ``mirror_prune``) that changed a row of that company's mirror;
- ``reference``: every statement that changes Une Femme's catalog, the SKU mappings or a
  partner, whoever sends it (a service, a bulk operation, the admin, raw SQL): a trigger
  does it (common migration 0004), so a new code path cannot forget.

Why in PostgreSQL and not in Redis: the bump commits with the change or not at all, and a
reader reads the counters before the data, in an earlier snapshot. A figure computed
while a write commits is then either the old figure under the old counters or the new one
under the old counters, never the old one under the new counters, so nothing stale is
ever stored under a current key. The cost is one indexed read per figure.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import connection

logger = logging.getLogger(__name__)

T = TypeVar("T")

REFERENCE = "reference"
TABLE = "common_generation"


def mirror(connection_id: int) -> str:
    """The counter of one company's mirror."""
    return f"mirror:{connection_id}"


def bump(*names: str) -> None:
    """Move ``names`` on, in the caller's transaction: a reader sees the move exactly when it
    sees the change. Writers of one company's mirror are one at a time (the realm's lease),
    so the row lock this takes is not waited for."""
    if not names:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {TABLE} (name, value) SELECT unnest(%s::text[]), 1
                ON CONFLICT (name) DO UPDATE SET value = {TABLE}.value + 1""",
            [sorted(set(names))],
        )


def current(names: Iterable[str]) -> dict[str, int]:
    """Each counter's value; 0 for one never bumped."""
    wanted = sorted(set(names))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name, value FROM {TABLE} WHERE name = ANY(%s)", [wanted])
        found = dict(cursor.fetchall())
    return {name: found.get(name, 0) for name in wanted}


def cached(
    namespace: str, key: Iterable[Any], depends_on: Iterable[str], compute: Callable[[], T]
) -> T:
    """``compute()``, kept in the cache under ``namespace``, ``key`` (what the figure was
    asked for, the reader's scope included) and the current values of ``depends_on``, for
    at most ``FIGURES_CACHE_SECONDS`` (0: never kept).

    The time limit is a safety net, not the rule: a figure is recomputed as soon as one of
    its counters moves. Redis being down costs the figure's computation, never the page:
    the cache is read and written on a best-effort basis."""
    seconds = settings.FIGURES_CACHE_SECONDS
    if seconds <= 0:
        return compute()
    counters = current(depends_on)
    digest = hashlib.sha256(pickle.dumps((tuple(key), sorted(counters.items())))).hexdigest()
    cache_key = f"figures:{namespace}:{digest}"
    try:
        found = cache.get(cache_key)
    except Exception:  # noqa: BLE001 - a cache outage must not take the page down
        logger.warning("figures cache unreachable; computing %s", namespace, exc_info=True)
        return compute()
    if found is not None:
        value: T = found[0]
        return value
    value = compute()
    try:
        cache.set(cache_key, (value,), seconds)
    except Exception:  # noqa: BLE001 - as above
        logger.warning("figures cache unreachable; %s not kept", namespace, exc_info=True)
    return value
