"""Reads of reconciliation: the connections a user may see with their last run, one
connection's differences, and the failing check (a difference older than one sync
interval) for the dashboard and /healthz.

Every read for a person is scoped with ``visible_to(user)``; the loaders answer 404 for
another partner's connection, so it cannot be told from a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import (
    Count,
    DateTimeField,
    DecimalField,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce, Now
from django.http import Http404

from sync.models import QBOConnection

from .models import Difference, ReconciliationRun

if TYPE_CHECKING:
    from accounts.models import User

ZERO = Decimal("0")
AMOUNT = DecimalField(max_digits=18, decimal_places=4)


def _failing_q() -> Q:
    """A difference that has lasted longer than its connection's sync interval: a sync has
    had its chance to bring the mirror level with QuickBooks and has not, so this is not
    a change caught between two polls (connection.sync_interval, 5 minutes by default, is
    how often sync.services.tick_run polls each company). A disconnected company is no
    longer synced or reconciled: its last differences stay on its page, but they can
    never clear, so they fail no check."""
    older_than = ExpressionWrapper(
        Now() - F("connection__sync_interval"), output_field=DateTimeField()
    )
    return Q(first_seen__lt=older_than) & ~Q(connection__status=QBOConnection.Status.DISCONNECTED)


# ---------------------------------------------------------------- loaders


def get_connection_for_user(*, user: User, pk: int) -> QBOConnection:
    try:
        connection: QBOConnection = (
            QBOConnection.objects.visible_to(user).select_related("partner").get(pk=pk)
        )
    except QBOConnection.DoesNotExist:
        raise Http404("No such connection.") from None
    return connection


def latest_run(*, connection: QBOConnection) -> ReconciliationRun | None:
    return (
        ReconciliationRun.objects.filter(connection=connection)
        .order_by("-created_at", "-pk")
        .first()
    )


def last_finished_run(*, connection: QBOConnection) -> ReconciliationRun | None:
    """The latest run that compared (or tried to): what the page's figures are "as of"."""
    return (
        ReconciliationRun.objects.filter(
            connection=connection,
            status__in=[ReconciliationRun.Status.SUCCEEDED, ReconciliationRun.Status.FAILED],
        )
        .order_by("-created_at", "-pk")
        .first()
    )


def last_succeeded_run(*, connection: QBOConnection) -> ReconciliationRun | None:
    return (
        ReconciliationRun.objects.filter(
            connection=connection, status=ReconciliationRun.Status.SUCCEEDED
        )
        .order_by("-created_at", "-pk")
        .first()
    )


# ---------------------------------------------------------------- the overview


def connection_overview(*, user: User) -> QuerySet[QBOConnection]:
    """The connections ``user`` may see, each with its latest run's status, times and
    error, and its differences (all, and failing ones): one query whatever their number."""
    latest = ReconciliationRun.objects.filter(connection=OuterRef("pk")).order_by(
        "-created_at", "-pk"
    )
    differences = (
        Difference.objects.filter(connection=OuterRef("pk")).order_by().values("connection")
    )
    rows: QuerySet[QBOConnection] = (
        QBOConnection.objects.visible_to(user)
        .select_related("partner")
        .annotate(
            run_status=Subquery(latest.values("status")[:1]),
            run_created_at=Subquery(latest.values("created_at")[:1]),
            run_finished_at=Subquery(latest.values("finished_at")[:1]),
            run_error=Subquery(latest.values("error")[:1]),
            difference_count=Coalesce(
                Subquery(differences.annotate(n=Count("pk")).values("n")[:1]), 0
            ),
            failing_count=Coalesce(
                Subquery(differences.filter(_failing_q()).annotate(n=Count("pk")).values("n")[:1]),
                0,
            ),
        )
        .order_by("partner__name", "company_name", "pk")
    )
    return rows


# ---------------------------------------------------------------- one connection


KINDS = tuple(k for k, _ in Difference.Kind.choices)


def differences(*, connection: QBOConnection, kind: str = "") -> QuerySet[Difference]:
    """The connection's differences (of ``kind`` when given), each with ``delta`` (ours
    less theirs) and ``failing``. Unordered: the page's table sorts them."""
    if kind and kind not in KINDS:
        raise ValueError(f"Unknown kind {kind!r}; one of {', '.join(KINDS)}.")
    rows = Difference.objects.filter(connection=connection)
    if kind:
        rows = rows.filter(kind=kind)
    annotated: QuerySet[Difference] = rows.annotate(
        delta=ExpressionWrapper(F("ours") - F("theirs"), output_field=AMOUNT),
    ).select_related("connection")
    return annotated


def difference_totals(rows: QuerySet[Difference]) -> dict[str, dict[str, Any]]:
    """Per kind: the number of differences and the sums of ours, theirs and the delta
    (money for receivables, bottles for stock; never added across kinds). One query."""
    totals = {k: {"count": 0, "ours": ZERO, "theirs": ZERO, "delta": ZERO} for k in KINDS}
    for kind, count, ours, theirs in (
        rows.order_by()
        .values("kind")
        .annotate(count=Count("pk"), ours_sum=Sum("ours"), theirs_sum=Sum("theirs"))
        .values_list("kind", "count", "ours_sum", "theirs_sum")
    ):
        totals[kind] = {"count": count, "ours": ours, "theirs": theirs, "delta": ours - theirs}
    return totals


# ---------------------------------------------------------------- the failing check


@dataclass(frozen=True)
class FailingCheck:
    differences: int  # differences older than their connection's sync interval
    connections: int  # connections with at least one

    @property
    def ok(self) -> bool:
        return self.differences == 0


def failing_check(*, user: User) -> FailingCheck:
    """The dashboard's Reconciliation check, for what ``user`` may see. One query."""
    row = (
        Difference.objects.visible_to(user)
        .filter(_failing_q())
        .aggregate(differences=Count("pk"), connections=Count("connection", distinct=True))
    )
    return FailingCheck(differences=row["differences"], connections=row["connections"])


@dataclass(frozen=True)
class FailingConnection:
    connection_id: int
    partner: str
    differences: int


def failing_connections(*, user: User, limit: int) -> list[FailingConnection]:
    """The ``limit`` connections ``user`` may see whose check fails with the most
    differences, most first, for the dashboard's attention list. One query."""
    rows = (
        Difference.objects.visible_to(user)
        .filter(_failing_q())
        .order_by()
        .values("connection_id")
        .annotate(partner=Max("connection__partner__name"), n=Count("pk"))
        .order_by("-n", "connection_id")
        .values_list("connection_id", "partner", "n")[:limit]
    )
    return [FailingConnection(*row) for row in rows]


def failing_detail() -> dict[str, Any]:
    """/healthz's detail: whether any difference is failing, and which connections (by id
    and count only: /healthz answers anyone, so no partner's names or figures)."""
    rows = (
        Difference.objects.filter(_failing_q())
        .order_by()
        .values("connection_id")
        .annotate(n=Count("pk"))
        .order_by("connection_id")
        .values_list("connection_id", "n")
    )
    by_connection = {str(connection_id): n for connection_id, n in rows}
    return {
        "ok": not by_connection,
        "failing_differences": sum(by_connection.values()),
        "connections": by_connection,
    }
