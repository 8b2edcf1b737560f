"""Reads of the sync app (writes are in services.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from redis.exceptions import RedisError

from accounts.roles import Role
from common import mirror

from .models import QBOConnection, SyncCursor, SyncRun
from .services import LAST_TICK_KEY

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)


def last_tick() -> datetime | None:
    """Beat's last heartbeat, or None when there is none or Redis cannot be read: /healthz
    reads it, and must answer 503 with ``redis: false`` while Redis is down, not a 500."""
    try:
        raw = cache.get(LAST_TICK_KEY)
    except RedisError:
        logger.warning("last beat tick unreadable: Redis is unavailable")
        return None
    return datetime.fromisoformat(raw) if raw else None


def _count_of(model: Any) -> Coalesce:
    # A correlated COUNT per mirror table: joining four tables and counting would
    # multiply rows (and take seconds on a big realm).
    rows = (
        model.objects.filter(connection=OuterRef("pk"))
        .order_by()
        .values("connection")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def connection_list(*, user: User) -> QuerySet[QBOConnection]:
    """The connections ``user`` may see, newest first, with what the page shows.

    Annotations: one ``<entity>_count`` per mirrored entity (``item_count``…)
    (rows in the mirror) and ``sync_running`` (a run is in progress).
    """
    connections: QuerySet[QBOConnection] = QBOConnection.objects.visible_to(user)
    # The mirrored entities' models come from the registry: sync imports no app that
    # owns mirror rows.
    counts = {spec.count_name: _count_of(spec.model) for spec in mirror.specs()}
    return connections.annotate(
        **counts,
        sync_running=Exists(
            SyncRun.objects.filter(connection=OuterRef("pk"), status=SyncRun.Status.RUNNING)
        ),
    ).order_by("status", "-connected_at")


def connection_live_for_user(*, user: User) -> QBOConnection | None:
    """The live (not disconnected) connection of ``user``'s partner, for a partner user;
    None for Une Femme's people, who connect nothing. A partner has at most one
    (``services._connection_store``), which Connect and Intuit's disconnect landing page
    name so the person knows what reconnecting or connecting again will replace."""
    if user.role != Role.PARTNER:
        return None
    return QBOConnection.objects.live().filter(partner_id=user.partner_id).first()


# How many runs a connection card lists.
RECENT_RUNS = 10


def connection_cards(*, user: User) -> QuerySet[QBOConnection]:
    """``connection_list`` with what a Connections-page card shows besides it, in a fixed
    number of queries whatever the number of cards: ``partner``, ``connected_by``, the
    last ``RECENT_RUNS`` runs as ``recent_runs`` and the cursors as ``cursor_list``, from
    which ``card_progress`` works without a query of its own."""
    return (
        connection_list(user=user)
        .select_related("partner", "connected_by")
        .prefetch_related(
            # A sliced Prefetch is one query with a window function, for all cards.
            Prefetch(
                "runs",
                queryset=SyncRun.objects.order_by("-started_at")[:RECENT_RUNS],
                to_attr="recent_runs",
            ),
            Prefetch("cursors", to_attr="cursor_list"),
        )
    )


def entities_imported(connection: Any) -> int:
    """How many entities' imports are done, for a row of ``connection_cards``."""
    return sum(1 for cursor in connection.cursor_list if cursor.import_done)


def card_progress(connection: Any) -> dict[str, Any]:
    """``connection_progress`` for a row of ``connection_cards``, from its prefetched rows.

    Its running run is the newest of ``recent_runs`` still running: a sync marks every
    older running run of its connection failed before it starts (services._run).
    """
    current = next(
        (run for run in connection.recent_runs if run.status == SyncRun.Status.RUNNING), None
    )
    return _progress(connection, connection.cursor_list, current)


def connection_progress(*, connection: QBOConnection) -> dict[str, Any]:
    """Where the import stands, for the Connections page's htmx polling.

    ``running`` is true while there is something to wait for: a run in progress, or an
    import that has not finished (queued, or to be resumed by the next sync). The page
    keeps polling while it is true.
    """
    current = (
        SyncRun.objects.filter(connection=connection, status=SyncRun.Status.RUNNING)
        .order_by("-started_at")
        .first()
    )
    return _progress(connection, SyncCursor.objects.filter(connection=connection), current)


def _progress(
    connection: QBOConnection, cursor_rows: Iterable[SyncCursor], current: SyncRun | None
) -> dict[str, Any]:
    cursors = {c.entity: c for c in cursor_rows}
    entities: list[dict[str, Any]] = []
    imported = 0
    totals: list[int | None] = []
    for entity in mirror.entities():
        cursor = cursors.get(entity)
        total = cursor.total_count if cursor else None
        count = cursor.imported_count if cursor else 0
        entities.append(
            {
                "entity": entity,
                "imported": count,
                "total": total,
                "done": bool(cursor and cursor.import_done),
            }
        )
        totals.append(total)
        imported += min(count, total or 0)
    import_done = all(e["done"] for e in entities)
    if import_done:
        percent: int | None = 100
    elif all(t is not None for t in totals):
        grand_total = sum(t or 0 for t in totals)
        percent = 100 if grand_total == 0 else min(99, imported * 100 // grand_total)
    else:
        percent = None  # still counting
    live = connection.status == QBOConnection.Status.CONNECTED
    return {
        "entities": entities,
        "import_done": import_done,
        "percent": percent,
        "run": current,
        "kind": current.kind if current else None,
        "running": live and (current is not None or not import_done),
    }


def _latest_finished(field: str) -> Subquery:
    # A run in progress or skipped (another sync held the realm's lock) says nothing about
    # whether syncing works: the latest *finished* run decides.
    return Subquery(
        SyncRun.objects.filter(
            connection=OuterRef("pk"),
            status__in=[SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED],
        )
        .order_by("-started_at", "-pk")
        .values(field)[:1]
    )


def failing_connections(*, user: User) -> QuerySet[QBOConnection]:
    """Live connections ``user`` may see that need reconnecting, or whose latest finished
    sync failed: a connection stays failing while a retry runs, until a run succeeds.
    Annotated with ``latest_status``, ``latest_error`` and ``latest_finished_at`` (of
    that run), oldest failure first. One query, however it is consumed (a count is the
    dashboard tile, the rows its attention list)."""
    connections: QuerySet[QBOConnection] = (
        QBOConnection.objects.live()
        .visible_to(user)
        .annotate(
            latest_status=_latest_finished("status"),
            latest_error=_latest_finished("error"),
            latest_finished_at=_latest_finished("finished_at"),
        )
        .filter(
            Q(status=QBOConnection.Status.NEEDS_RECONNECT) | Q(latest_status=SyncRun.Status.FAILED)
        )
        .select_related("partner")
        .order_by("latest_finished_at", "pk")
    )
    return connections
