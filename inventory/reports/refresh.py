"""Figures the reports may read stale, and the worker that recomputes them (docs/architecture.md,
"Cached figures").

A report whose figure may be read stale (bottles and accounts, never money) registers how
the figure is computed from its question (``refreshable``) and reads it with ``figure``,
which gives ``later`` to ``common.generations.cached`` as its ``refresh``. A reader handed
a figure older than the latest sync publishes one ``inventory.tasks.figures_refresh`` with
the question's cache key; the worker computes the figure again by the namespace the cache
kept with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from common import generations

# namespace -> the figure computed from its question's key. Filled as each report module
# is imported: the worker imports them all through inventory.tasks.
_COMPUTE: dict[str, Callable[[tuple[Any, ...]], Any]] = {}


def refreshable(namespace: str, compute: Callable[[tuple[Any, ...]], Any]) -> str:
    """Register ``compute(key)`` as how ``namespace``'s figures are computed, by their
    reader and by the worker alike, and give the namespace back for ``figure``."""
    _COMPUTE[namespace] = compute
    return namespace


def figure(namespace: str, key: tuple[Any, ...], depends_on: Iterable[str]) -> Any:
    """The figure of the registered ``namespace`` for the question ``key``, through the
    figures cache with the stale window: kept while the counters ``depends_on`` stand,
    and read as last computed while the worker recomputes it after they moved."""
    compute = _COMPUTE[namespace]
    return generations.cached(namespace, key, depends_on, lambda: compute(key), refresh=later)


def later(question_key: str) -> None:
    """``cached``'s ``refresh``: ask the worker, from a page."""
    from common.publish import publish_quietly
    from inventory.tasks import figures_refresh

    # A broker outage must not fail the page: the figure then ages past the stale window,
    # and the next reader computes it.
    publish_quietly(figures_refresh, question_key)


def run(question_key: str) -> bool:
    """The task's body: recompute the figure kept under ``question_key``. False when it has
    left the cache (the next reader computes it)."""
    return generations.recompute(question_key, lambda namespace, key: _COMPUTE[namespace](key))
