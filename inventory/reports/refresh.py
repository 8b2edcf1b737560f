"""The worker's half of the reports' stale window (docs/architecture.md, "Cached figures").

A report whose figure may be read stale (bottles and accounts, never money) registers how
the figure is computed from its question (``refreshable``) and gives ``later`` to
``common.generations.cached`` as its ``refresh``. A reader handed a figure older than the
latest sync publishes one ``inventory.tasks.figures_refresh`` with the question's cache
key; the worker computes the figure again by the namespace the cache kept with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common import generations

# namespace -> the figure computed from its question's key. Filled as each report module
# is imported: the worker imports them all through inventory.tasks.
_COMPUTE: dict[str, Callable[[tuple[Any, ...]], Any]] = {}


def refreshable(namespace: str, compute: Callable[[tuple[Any, ...]], Any]) -> str:
    """Register ``compute(key)`` as how the worker recomputes ``namespace``'s figures, and
    give the namespace back for the report's ``cached`` call."""
    _COMPUTE[namespace] = compute
    return namespace


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
