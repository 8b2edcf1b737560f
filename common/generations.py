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
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
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


def _digest(value: Any) -> str:
    return hashlib.sha256(pickle.dumps(value)).hexdigest()


# Set while a refresh recomputes a figure: it must compute, not be handed the stale one.
_FRESH: ContextVar[bool] = ContextVar("figures_fresh", default=False)


def cached(
    namespace: str,
    key: Iterable[Any],
    depends_on: Iterable[str],
    compute: Callable[[], T],
    *,
    refresh: Callable[[str], None] | None = None,
) -> T:
    """``compute()``, kept in the cache under ``namespace``, ``key`` (what the figure was
    asked for, the reader's scope included) and the current values of ``depends_on``, for
    at most ``FIGURES_CACHE_SECONDS`` (0: never kept).

    The time limit is a safety net, not the rule: a figure is recomputed as soon as one of
    its counters moves. Redis being down costs the figure's computation, never the page:
    the cache is read and written on a best-effort basis.

    With ``refresh``, a figure whose counters moved is not recomputed by its reader while
    the last one computed for the same question is at most ``FIGURES_STALE_SECONDS`` old:
    the reader gets that one, and ``refresh`` is called (once per new value of the
    counters) with the key of the question, for the worker to recompute it
    (``recompute``). For figures that change with every sync of a busy company, whose
    readers would otherwise each pay for them (docs/architecture.md, "Cached figures")."""
    seconds = settings.FIGURES_CACHE_SECONDS
    if seconds <= 0:
        return compute()
    key, depends_on = tuple(key), list(depends_on)
    as_of = time.time()
    counters = current(depends_on)
    cache_key = f"figures:{namespace}:{_digest((key, sorted(counters.items())))}"
    question = _digest((namespace, key))
    latest_key = f"figures:latest:{question}"
    try:
        found = cache.get(cache_key)
        if found is not None:
            value: T = found[0]
            return value
        stale = settings.FIGURES_STALE_SECONDS
        if refresh is not None and stale > 0 and not _FRESH.get():
            latest = cache.get(latest_key)
            if latest is not None and as_of - latest[1] <= stale:
                question_key = f"figures:question:{question}"
                cache.set(question_key, (namespace, key, depends_on), seconds)
                if cache.add(f"{cache_key}:refreshing", 1, stale):
                    refresh(question_key)
                kept: T = latest[0]
                return kept
    except Exception:  # noqa: BLE001 - a cache outage must not take the page down
        logger.warning("figures cache unreachable; computing %s", namespace, exc_info=True)
        return compute()
    value = compute()
    try:
        # As of when the counters were read: a refresh that ends late never passes an older
        # figure off as a recent one.
        cache.set_many({cache_key: (value,), latest_key: (value, as_of)}, seconds)
    except Exception:  # noqa: BLE001 - as above
        logger.warning("figures cache unreachable; %s not kept", namespace, exc_info=True)
    return value


def recompute(question_key: str, compute: Callable[[tuple[Any, ...]], Any]) -> bool:
    """The worker's side of ``cached``'s ``refresh``: the question stored under
    ``question_key`` computed again (``compute(key)``) under the counters' current values
    and kept, so its readers get it from the cache. False when the question has gone from
    the cache (Redis restarted, or it expired): the next reader computes it."""
    question = cache.get(question_key)
    if question is None:
        return False
    namespace, key, depends_on = question
    token = _FRESH.set(True)
    try:
        cached(namespace, key, depends_on, lambda: compute(key))
    finally:
        _FRESH.reset(token)
    return True
