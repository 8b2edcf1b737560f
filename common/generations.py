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
while a write commits is then either the old figure with the old counters or the new one
with the old counters, never the old one with the new counters: no figure is kept as
current that is not. The cost is one indexed read per figure. (``cached``'s stale window,
which two reports use, is the one deliberate exception, bounded in time.)
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
    """``compute()``, kept in the cache for the question ``namespace`` and ``key`` (what the
    figure was asked for, the reader's scope included) with the values of the counters
    ``depends_on`` it was computed at, and given back while they have not moved; for at most
    ``FIGURES_CACHE_SECONDS`` (0: never kept). One entry per question, replaced by each
    new figure: a company whose syncs move its counters every few seconds does not leave a
    figure per value in Redis, which is also the task queue (README: noeviction).

    The time limit is a safety net, not the rule: a figure is recomputed as soon as one of
    its counters moves. Redis being down costs the figure's computation, never the page:
    the cache is read and written on a best-effort basis.

    With ``refresh``, a figure whose counters moved is not recomputed by its reader while
    the one kept is at most ``FIGURES_STALE_SECONDS`` old: the reader gets that one, and
    ``refresh`` is called (once per new value of the counters) with the question's cache
    key, for the worker to recompute it (``recompute``). For figures that change with every
    sync of a busy company, whose readers would otherwise each pay for them
    (docs/architecture.md, "Cached figures")."""
    seconds = settings.FIGURES_CACHE_SECONDS
    if seconds <= 0:
        return compute()
    key, depends_on = tuple(key), list(depends_on)
    as_of = time.time()
    counters = sorted(current(depends_on).items())
    question_key = f"figures:{namespace}:{_digest((namespace, key))}"
    try:
        kept = cache.get(question_key)
        if kept is not None and kept["counters"] == counters:
            found: T = kept["value"]
            return found
        stale = settings.FIGURES_STALE_SECONDS
        if (
            kept is not None
            and refresh is not None
            and stale > 0
            and not _FRESH.get()
            and as_of - kept["as_of"] <= stale
        ):
            if cache.add(f"{question_key}:refreshing:{_digest(counters)}", 1, stale):
                refresh(question_key)
            last: T = kept["value"]
            return last
    except Exception:  # noqa: BLE001 - a cache outage must not take the page down
        logger.warning("figures cache unreachable; computing %s", namespace, exc_info=True)
        return compute()
    value = compute()
    try:
        # As of when the counters were read, so a figure computed late never passes for a
        # newer one. Two readers storing at once: the last one wins, and a reader that then
        # finds other counters computes again (or, with ``refresh``, asks again).
        entry = {"counters": counters, "value": value, "as_of": as_of,
                 "namespace": namespace, "key": key, "depends_on": depends_on}  # fmt: skip
        cache.set(question_key, entry, seconds)
    except Exception:  # noqa: BLE001 - as above
        logger.warning("figures cache unreachable; %s not kept", namespace, exc_info=True)
    return value


def recompute(question_key: str, compute: Callable[[str, tuple[Any, ...]], Any]) -> bool:
    """The worker's side of ``cached``'s ``refresh``: the question kept under
    ``question_key`` computed again (``compute(namespace, key)``) under the counters'
    current values and kept, so its readers get it from the cache. False when the question
    has gone from the cache (Redis restarted, or it expired): the next reader computes it."""
    kept = cache.get(question_key)
    if kept is None:
        return False
    namespace, key = kept["namespace"], kept["key"]
    token = _FRESH.set(True)
    try:
        cached(namespace, key, kept["depends_on"], lambda: compute(namespace, key))
    finally:
        _FRESH.reset(token)
    return True
