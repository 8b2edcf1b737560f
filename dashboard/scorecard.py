"""The partner scorecard (the Partners page, /partners/): one row per partner the user may
see, with what finance and supply ops look at first about each. Reads only.

Every figure is the figure of the page it links to, read with that page's own selector
over every partner at once and then split by partner, so the two can never disagree and
the scorecard costs the same number of queries for three partners as for three hundred:

- connection health: the partner's live connection and its runs, by the rule of the
  dashboard's failing-syncs tile (``dashboard.selectors.failing_syncs``): the latest
  *finished* run decides, so a retry in progress does not hide a failure;
- receivables (net of credits) and overdue: the open-invoices page's totals
  (``billing.selectors.receivables_by_partner``); DSO by docs/reports.md's "Days sales
  outstanding" (``billing.selectors.days_sales_outstanding``, as ``dso_by_partner``);
- stock on hand and days on hand: the Depletion page over its default window
  (``inventory.reports.selectors.depletion_report``), its rows added up per partner;
- sell-in and sell-through this month: the Sell-through page for the current month
  (``inventory.reports.sell_through.sell_through_report``);
- open discrepancies: the discrepancies page's rows out of tolerance
  (``inventory.reports.selectors.discrepancy_rows``);
- open mapping conflicts, for admins only (only they decide them, as on the dashboard).

Partners × figures is hundreds of cells, not millions: the page sorts and pages the rows
in Python, as the discrepancies page does.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.db.models import Count, OuterRef, Subquery
from django.urls import reverse

from accounts.selectors import partner_list
from billing.selectors import (
    DSO_DAYS,
    credit_sales_by_partner,
    days_sales_outstanding,
    receivables_by_partner,
)
from inventory.mapping.models import MappingConflict
from inventory.reports import sell_through
from inventory.reports.selectors import (
    DEFAULT_WINDOW,
    DepletionRow,
    depletion_report,
    discrepancy_rows,
)
from sync.models import QBOConnection, SyncRun

if TYPE_CHECKING:
    from accounts.models import User

ZERO = Decimal("0.00")
FINISHED = (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED)


class Health:
    """A partner's QuickBooks connection, worst first (the column sorts in this order)."""

    NEEDS_RECONNECT = "needs_reconnect"
    FAILING = "failing"  # live, but its latest finished sync failed
    NOT_CONNECTED = "not_connected"
    CONNECTED = "connected"


HEALTH_LABELS = {
    Health.NEEDS_RECONNECT: "Needs reconnect",
    Health.FAILING: "Last sync failed",
    Health.NOT_CONNECTED: "Not connected",
    Health.CONNECTED: "Connected",
}
HEALTH_ORDER = {health: rank for rank, health in enumerate(HEALTH_LABELS)}


@dataclass
class ScorecardRow:
    partner_id: int
    name: str
    slug: str
    contact_email: str
    people: int
    # The partner's live connection; None when it has none (never connected, or
    # disconnected): there is nothing to sync until it connects again.
    connection_id: int | None = None
    connection_status: str | None = None
    company_name: str = ""
    # The latest finished run's status (succeeded or failed), and when the latest
    # successful one finished; None when there has been none.
    latest_sync_status: str | None = None
    last_success_at: datetime | None = None
    # The figures. Money and bottles are None ("—") only for a partner with no live
    # connection and nothing in the mirror: for one that has books, nothing is zero.
    receivables: Decimal | None = None
    overdue: Decimal | None = None
    dso: Decimal | None = None
    on_hand: Decimal | None = None
    days_on_hand: Decimal | None = None
    low_stock: bool = False
    sell_in: Decimal | None = None
    sell_through: Decimal | None = None
    discrepancies: int | None = None
    conflicts: int | None = None  # None for anyone but admins
    # Each figure's page, narrowed to this partner (set by ``scorecard``).
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def health(self) -> str:
        if self.connection_status is None:
            return Health.NOT_CONNECTED
        if self.connection_status == QBOConnection.Status.NEEDS_RECONNECT:
            return Health.NEEDS_RECONNECT
        if self.latest_sync_status == SyncRun.Status.FAILED:
            return Health.FAILING
        return Health.CONNECTED

    @property
    def health_label(self) -> str:
        return HEALTH_LABELS[self.health]

    @property
    def health_sort(self) -> tuple[int, float]:
        # Worst first; among equals, the one that synced longest ago (or never) first.
        synced = self.last_success_at.timestamp() if self.last_success_at else float("-inf")
        return (HEALTH_ORDER[self.health], synced)

    @property
    def connected(self) -> bool:
        return self.connection_id is not None


@dataclass(frozen=True)
class Scorecard:
    rows: list[ScorecardRow]
    today: date
    # The sell-through page's period: the current month, whole, as that page shows it.
    month_start: date
    month_end: date
    depletion_window: int
    shows_conflicts: bool


def _connections(*, user: User) -> dict[int, dict[str, Any]]:
    """partner id → its live connection (a partner has at most one, a database
    constraint) with its latest finished run's status and its latest success, one query."""
    runs = SyncRun.objects.filter(connection=OuterRef("pk"))
    latest_finished = (
        runs.filter(status__in=FINISHED).order_by("-started_at", "-pk").values("status")[:1]
    )
    last_success = (
        runs.filter(status=SyncRun.Status.SUCCEEDED, finished_at__isnull=False)
        .order_by("-finished_at", "-pk")
        .values("finished_at")[:1]
    )
    rows = (
        QBOConnection.objects.live()
        .visible_to(user)
        .annotate(latest_status=Subquery(latest_finished), last_success_at=Subquery(last_success))
        .values("pk", "partner_id", "status", "company_name", "latest_status", "last_success_at")
    )
    return {row["partner_id"]: row for row in rows}


def _depletion_by_partner(*, user: User, today: date) -> dict[int, DepletionRow]:
    """The Depletion page's rows (its default window, each partner's own threshold) added
    up per partner: a row of that page's kind, so days on hand and the low-stock warning
    are its rules."""
    report = depletion_report(user=user, today=today, window_days=DEFAULT_WINDOW)
    totals: dict[int, DepletionRow] = {}
    for row in report.rows:
        total = totals.get(row.partner_id)
        if total is None:
            total = totals[row.partner_id] = DepletionRow(
                partner_id=row.partner_id, partner=row.partner, sku="", wine="",
                weeks=report.weeks, window_days=DEFAULT_WINDOW,
                # The partner's own, as each of its rows on the page has.
                threshold_days=row.threshold_days,
            )  # fmt: skip
        total.sold += row.sold
        total.returned += row.returned
        # Unknown quantities (items QuickBooks tracks no stock for) stay out, as on the page.
        if row.on_hand is not None:
            total.on_hand = (total.on_hand or Decimal(0)) + row.on_hand
    return totals


def _sell_through_by_partner(
    *, user: User, start: date, end: date
) -> dict[int, tuple[Decimal, Decimal]]:
    """partner id → (bottles received from Une Femme, net depletion) over ``start``..
    ``end``, the Sell-through page's figures for that period."""
    report = sell_through.sell_through_report(
        user=user, start=start, end=end, grouping=sell_through.MONTH
    )
    received: dict[int, Decimal] = defaultdict(Decimal)
    net: dict[int, Decimal] = defaultdict(Decimal)
    for row in report.rows:
        received[row.partner_id] += row.received
        net[row.partner_id] += row.net_depletion
    return {pid: (received[pid], net[pid]) for pid in received.keys() | net.keys()}


def _conflicts_by_partner(*, user: User) -> dict[int, int]:
    rows = (
        MappingConflict.objects.open()
        .visible_to(user)
        .order_by()
        .values("connection__partner_id")
        .annotate(n=Count("pk"))
        .values_list("connection__partner_id", "n")
    )
    return dict(rows)


def _url(name: str, **params: object) -> str:
    return f"{reverse(name)}?{urlencode(params)}"


def _urls(row: ScorecardRow, *, month_start: date, month_end: date) -> dict[str, str]:
    """Each figure's page narrowed to the partner. The pages' filter forms name the
    partner ``partner`` by id, except the conflicts queue, which takes its slug."""
    pid = row.partner_id
    invoices = _url("billing:invoices", partner=pid)
    return {
        "connection": (
            reverse("sync:connection", args=[row.connection_id])
            if row.connection_id is not None
            else reverse("sync:connections")
        ),
        "receivables": invoices,
        # The invoices alone, most overdue first (the page's default order).
        "overdue": _url("billing:invoices", partner=pid, kind="invoices"),
        # DSO's numerator is the open-invoices total.
        "dso": invoices,
        "stock": _url("inventory:depletion", partner=pid),
        "sell_through": _url(
            "inventory:sell_through",
            partner=pid,
            start=f"{month_start:%Y-%m}",
            end=f"{month_end:%Y-%m}",
        ),
        "discrepancies": _url("inventory:discrepancies", partner=pid),
        "conflicts": _url("inventory:conflicts", partner=row.slug),
    }


def scorecard(*, user: User, today: date) -> Scorecard:
    """The scorecard of every partner ``user`` may see (a partner user: their own),
    ordered by name. ``today`` is the user's: "overdue" and "this month" mean here what
    they mean on the pages the figures link to.

    A constant number of queries whatever the number of partners (about a dozen: each
    page's own, once), every sum made by PostgreSQL."""
    month_start = today.replace(day=1)
    month_end = sell_through.month_end(month_start)
    shows_conflicts = user.is_admin

    connections = _connections(user=user)
    owed = receivables_by_partner(user=user, today=today)
    sales = credit_sales_by_partner(
        user=user, start=today - timedelta(days=DSO_DAYS - 1), end=today
    )
    stock = _depletion_by_partner(user=user, today=today)
    flow = _sell_through_by_partner(user=user, start=month_start, end=month_end)
    discrepancies = Counter(
        row.partner_id for row in discrepancy_rows(user=user) if row.out_of_tolerance
    )
    conflicts = _conflicts_by_partner(user=user) if shows_conflicts else {}

    rows = []
    for partner in partner_list(user=user):
        pid = partner.pk
        row = ScorecardRow(
            partner_id=pid,
            name=partner.name,
            slug=partner.slug,
            contact_email=partner.contact_email,
            people=partner.user_count,  # type: ignore[attr-defined]  # partner_list's count
        )
        if (connection := connections.get(pid)) is not None:
            row.connection_id = connection["pk"]
            row.connection_status = connection["status"]
            row.company_name = connection["company_name"]
            row.latest_sync_status = connection["latest_status"]
            row.last_success_at = connection["last_success_at"]
        # A disconnected company's documents stay in the mirror and still count on the
        # pages, so a partner without a live connection may have figures too.
        has_books = row.connected or any(
            pid in figures for figures in (owed, sales, stock, flow, discrepancies)
        )
        if has_books:
            net = owed[pid].net if pid in owed else ZERO
            row.receivables = net
            row.overdue = owed[pid].overdue if pid in owed else ZERO
            row.dso = days_sales_outstanding(receivables=net, sales=sales.get(pid, ZERO))
            if (depletion := stock.get(pid)) is not None:
                row.on_hand = depletion.on_hand
                row.days_on_hand = depletion.days_on_hand
                row.low_stock = depletion.low
            row.sell_in, row.sell_through = flow.get(pid, (Decimal(0), Decimal(0)))
            row.discrepancies = discrepancies.get(pid, 0)
        if shows_conflicts:
            row.conflicts = conflicts.get(pid, 0)
        row.urls = _urls(row, month_start=month_start, month_end=month_end)
        rows.append(row)
    return Scorecard(
        rows=rows,
        today=today,
        month_start=month_start,
        month_end=month_end,
        depletion_window=DEFAULT_WINDOW,
        shows_conflicts=shows_conflicts,
    )
