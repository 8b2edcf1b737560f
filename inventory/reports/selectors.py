"""Reads of the two reports: stock discrepancies and depletion. Nothing here writes.

- Discrepancies: what a partner's QuickBooks says it holds of each SKU against what Une
  Femme's warehouse records say it should hold.
- Depletion: what each distributor sold on to its retailers, per partner × catalog SKU, and
  how many days its stock lasts at that pace.

Each section below says how its figures are made and what they cost in queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.db.models import F, OuterRef, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber
from django.urls import reverse
from django.utils.safestring import SafeString

from billing.models import (
    QBOCreditMemoLine,
    QBOInvoiceLine,
    QBORefundReceiptLine,
    QBOSalesReceiptLine,
)
from common import generations
from common.charts import sparkline
from inventory.mapping.models import QBOItem, SKUMapping
from inventory.warehouse.models import WarehouseSnapshot
from sync.models import QBOConnection

from . import refresh
from .costs import ItemCost, bill_average_costs, first_known, item_cost, mapping_order
from .sell_through import SALES_ITEM, WEEK, _grouped

if TYPE_CHECKING:
    from accounts.models import User


# ------------------------------------------------------------------------------------------
# Stock discrepancies: what a partner's QuickBooks says it holds of each SKU
# against what Une Femme's warehouse records say it should hold. Reads only.
#
# One row per partner × SKU that has a warehouse snapshot:
#
# - the warehouse quantity is the partner's latest snapshot of that SKU (older days are the
#   trend);
# - the QuickBooks quantity is the sum, over every item of the partner's live connection
#   mapped to the SKU, of ``qty_on_hand × bottles_per_unit``: a partner may count the same
#   wine in a bottle item and a case item, and both are stock;
# - a SKU with a snapshot but no mapping is "unmapped": there is nothing in QuickBooks to
#   compare with, which is itself something to fix (on the mapping-conflicts queue).
#
# The rows are built in Python from a constant number of queries (latest snapshots, mapped
# quantities; the page adds one for the trends of the rows it shows), so the cost does not
# grow with the number of partners or SKUs. Partners × SKUs is hundreds of rows, not
# millions; sorting and paging that list in Python is cheaper than the SQL it would take.

__all__ = [
    "STATUSES",
    "TOLERANCE_BOTTLES",
    "TOLERANCE_SHARE",
    "TREND_POINTS",
    "DEFAULT_TOLERANCE",
    "Tolerance",
    "DiscrepancyAttention",
    "DiscrepancyRow",
    "DiscrepancyTotals",
    "Status",
    "attach_trends",
    "discrepancies_out_of_tolerance",
    "discrepancy_rows",
    "discrepancy_totals",
    "largest_discrepancies_by_value",
    "partner_tolerance",
    "status_for",
    "tolerance_for",
]

# A count is "within tolerance" when QuickBooks and the warehouse differ by at most 1 % of
# the warehouse quantity or 1 bottle, whichever is larger. The percentage absorbs the
# ordinary noise of a large stock (breakage, a case in transit on the day of the
# snapshot); the one-bottle floor keeps small stocks from flagging on a single bottle,
# which 1 % of 40 bottles would otherwise do. The boundary itself is within: a difference
# of exactly the tolerance is not flagged.
TOLERANCE_SHARE = Decimal("0.01")
TOLERANCE_BOTTLES = Decimal("1")
# The trend is the warehouse's last 8 snapshots: QuickBooks quantities are mirrored as
# they are now, with no history, so the warehouse side is the only series there is.
TREND_POINTS = 8

CASE_PLACES = Decimal("0.01")
RATIO_PLACES = Decimal("0.0001")


class Status:
    WITHIN = "within"
    OVER = "over"
    UNDER = "under"
    UNMAPPED = "unmapped"


# (value, label) in the order the filter offers them.
STATUSES: tuple[tuple[str, str], ...] = (
    (Status.OVER, "Over (QuickBooks has more)"),
    (Status.UNDER, "Under (QuickBooks has less)"),
    (Status.UNMAPPED, "Unmapped"),
    (Status.WITHIN, "Within tolerance"),
)
STATUS_LABELS = {
    Status.OVER: "Over",
    Status.UNDER: "Under",
    Status.UNMAPPED: "Unmapped",
    Status.WITHIN: "Within",
}
OUT_OF_TOLERANCE = frozenset((Status.OVER, Status.UNDER))


@dataclass(frozen=True)
class Tolerance:
    """How far QuickBooks may stray from the warehouse and still agree: a share of the
    warehouse quantity, but never less than a number of bottles. Each partner has its own
    (``Partner.tolerance_share``/``tolerance_bottles``, set by an admin on the partner's
    page); the defaults are the constants above."""

    share: Decimal = TOLERANCE_SHARE
    bottles: Decimal = TOLERANCE_BOTTLES


DEFAULT_TOLERANCE = Tolerance()


def tolerance_for(warehouse_bottles: Decimal, tolerance: Tolerance = DEFAULT_TOLERANCE) -> Decimal:
    """The largest difference, in bottles, that is still within tolerance."""
    return max(abs(warehouse_bottles) * tolerance.share, tolerance.bottles)


def status_for(
    *,
    warehouse_bottles: Decimal,
    qbo_bottles: Decimal | None,
    tolerance: Tolerance = DEFAULT_TOLERANCE,
) -> str:
    if qbo_bottles is None:
        return Status.UNMAPPED
    difference = qbo_bottles - warehouse_bottles
    tolerance_bottles = tolerance_for(warehouse_bottles, tolerance)
    if difference > tolerance_bottles:
        return Status.OVER
    if difference < -tolerance_bottles:
        return Status.UNDER
    return Status.WITHIN


def to_cases(bottles: Decimal | None, bottles_per_case: int) -> Decimal | None:
    if bottles is None:
        return None
    return (bottles / bottles_per_case).quantize(CASE_PLACES, rounding=ROUND_HALF_UP)


@dataclass
class DiscrepancyRow:
    partner_id: int
    partner_name: str
    partner_slug: str
    sku_id: int
    sku_code: str
    wine: str
    bottles_per_case: int
    warehouse_as_of: date
    warehouse_bottles: Decimal
    # None when the SKU is unmapped for this partner: there is no QuickBooks figure.
    qbo_bottles: Decimal | None
    last_synced_at: datetime | None
    # What a bottle of the SKU costs the partner (docs/reports.md, "Value at cost"); None
    # when unmapped, or when no mapped item has a cost in QuickBooks or on its bills.
    cost: ItemCost | None = None
    # The warehouse's last TREND_POINTS quantities, oldest first; filled by attach_trends().
    trend: list[Decimal] = field(default_factory=list)
    # The partner's own tolerance (its page's settings).
    tolerance: Tolerance = DEFAULT_TOLERANCE

    @property
    def key(self) -> tuple[int, int]:
        return (self.partner_id, self.sku_id)

    @property
    def warehouse_cases(self) -> Decimal | None:
        return to_cases(self.warehouse_bottles, self.bottles_per_case)

    @property
    def qbo_cases(self) -> Decimal | None:
        return to_cases(self.qbo_bottles, self.bottles_per_case)

    @property
    def difference(self) -> Decimal | None:
        """QuickBooks minus warehouse, in bottles: positive when QuickBooks has more."""
        if self.qbo_bottles is None:
            return None
        return self.qbo_bottles - self.warehouse_bottles

    @property
    def abs_difference(self) -> Decimal | None:
        difference = self.difference
        return None if difference is None else abs(difference)

    @property
    def value(self) -> Decimal | None:
        """The difference at cost, to the cent (negative when QuickBooks has less); None
        when there is no difference or no cost to value it at."""
        difference = self.difference
        if difference is None or self.cost is None:
            return None
        return self.cost.value_of(difference)

    @property
    def cost_per_bottle(self) -> Decimal | None:
        return None if self.cost is None else self.cost.per_bottle

    @property
    def cost_source(self) -> str:
        return "" if self.cost is None else self.cost.source_label

    @property
    def value_missing(self) -> str:
        """Why a row has no value, in words (empty when it has one or is unmapped)."""
        if self.qbo_bottles is None or self.cost is not None:
            return ""
        return "No cost: QuickBooks has no purchase cost for the mapped items, and no bills."

    @property
    def value_sort(self) -> tuple[int, Decimal, Decimal] | None:
        """The "Value" column's order: rows with a value by its size, whatever its sign
        (the worst shortfall and the worst surplus are both large); below them, rows with
        no cost by the size of their difference; unmapped rows last."""
        difference = self.abs_difference
        if difference is None:
            return None
        value = self.value
        if value is None:
            return (0, Decimal(0), difference)
        return (1, abs(value), difference)

    @property
    def has_trend(self) -> bool:
        """A trend needs two counts: one snapshot draws a flat line that says nothing."""
        return len(self.trend) >= 2

    @property
    def difference_ratio(self) -> Decimal | None:
        """The difference as a share of the warehouse quantity (0.05 is 5 %); None when
        there is nothing to divide by (unmapped, or the warehouse says zero)."""
        difference = self.difference
        if difference is None or self.warehouse_bottles == 0:
            return None
        return (difference / self.warehouse_bottles).quantize(RATIO_PLACES, ROUND_HALF_UP)

    @property
    def status(self) -> str:
        return status_for(
            warehouse_bottles=self.warehouse_bottles,
            qbo_bottles=self.qbo_bottles,
            tolerance=self.tolerance,
        )

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def out_of_tolerance(self) -> bool:
        return self.status in OUT_OF_TOLERANCE

    @property
    def trend_chart(self) -> SafeString:
        return sparkline(self.trend, label=f"{self.sku_code} warehouse bottles, last snapshots")


def partner_tolerance(snapshot: dict[str, Any]) -> Tolerance:
    """The tolerance of the partner of a ``_latest_snapshots`` row."""
    return Tolerance(
        share=snapshot["partner__tolerance_share"], bottles=snapshot["partner__tolerance_bottles"]
    )


def _latest_snapshots(
    *, user: User, partner_id: int | None, sku_code: str
) -> Iterable[dict[str, Any]]:
    last_synced = (
        QBOConnection.objects.live()
        .filter(partner=OuterRef("partner_id"))
        .order_by("-connected_at")
        .values("last_synced_at")[:1]
    )
    snapshots = WarehouseSnapshot.objects.visible_to(user)
    if partner_id is not None:
        snapshots = snapshots.filter(partner_id=partner_id)
    if sku_code:
        snapshots = snapshots.filter(sku__code__icontains=sku_code)
    # DISTINCT ON keeps the first row of each (partner, SKU) in this order: the newest day.
    latest: Iterable[dict[str, Any]] = (
        snapshots.order_by("partner_id", "sku_id", "-as_of")
        .distinct("partner_id", "sku_id")
        .annotate(last_synced_at=Subquery(last_synced))
        .values(
            "partner_id", "partner__name", "partner__slug", "sku_id", "sku__code", "sku__wine",
            "sku__bottles_per_case", "as_of", "bottles", "last_synced_at",
            "partner__tolerance_share", "partner__tolerance_bottles",
        )
    )  # fmt: skip
    return latest


@dataclass
class _Mapped:
    """A SKU's QuickBooks side at one partner: its bottles, and what a bottle costs."""

    bottles: Decimal = Decimal(0)
    costs: list[tuple[tuple[bool, int, str], ItemCost | None]] = field(default_factory=list)


def _qbo_side(
    *, user: User, partner_id: int | None, sku_code: str
) -> dict[tuple[int, int], tuple[Decimal, ItemCost | None]]:
    """(partner id, SKU id) → (bottles in QuickBooks, cost of a bottle), for every SKU
    mapped on a live connection. A mapped item missing from the mirror (deleted in
    QuickBooks) or without a quantity (not an inventory item) counts as zero: the mapping
    says this is where the partner keeps the SKU, and QuickBooks holds none there. The cost
    is docs/reports.md's "Value at cost" (``inventory.reports.costs``): one more query, for
    the bills of the items QuickBooks has no purchase cost for, when there are any."""
    item = QBOItem.objects.filter(
        connection=OuterRef("connection_id"), qbo_id=OuterRef("item_qbo_id")
    )
    mappings = SKUMapping.objects.visible_to(user).filter(
        connection__in=QBOConnection.objects.live()
    )
    if partner_id is not None:
        mappings = mappings.filter(connection__partner_id=partner_id)
    if sku_code:
        mappings = mappings.filter(catalog_sku__code__icontains=sku_code)
    rows = list(
        mappings.annotate(
            partner_id=F("connection__partner_id"),
            qty_on_hand=Subquery(item.values("qty_on_hand")[:1]),
            purchase_cost=Subquery(item.values("purchase_cost")[:1]),
        ).values(
            "partner_id", "connection_id", "catalog_sku_id", "item_qbo_id", "unit",
            "bottles_per_unit", "qty_on_hand", "purchase_cost",
        )
    )  # fmt: skip
    averages = bill_average_costs(
        (row["connection_id"], row["item_qbo_id"])
        for row in rows
        if not (row["purchase_cost"] and row["purchase_cost"] > 0)
    )
    sides: dict[tuple[int, int], _Mapped] = defaultdict(_Mapped)
    for row in rows:
        side = sides[(row["partner_id"], row["catalog_sku_id"])]
        side.bottles += (row["qty_on_hand"] or Decimal(0)) * row["bottles_per_unit"]
        cost = item_cost(
            item_qbo_id=row["item_qbo_id"],
            bottles_per_unit=row["bottles_per_unit"],
            purchase_cost=row["purchase_cost"],
            bill_average=averages.get((row["connection_id"], row["item_qbo_id"])),
        )
        order = mapping_order(row["unit"], row["bottles_per_unit"], row["item_qbo_id"])
        side.costs.append((order, cost))
    return {key: (side.bottles, first_known(side.costs)) for key, side in sides.items()}


def discrepancy_rows(
    *, user: User, partner_id: int | None = None, status: str = "", sku_code: str = ""
) -> list[DiscrepancyRow]:
    """Every partner × SKU the user may see that has a warehouse snapshot, filtered.
    Two queries whatever the number of rows (three when an item's cost comes from its
    bills). Ordered by partner then SKU code."""
    sku_code = sku_code.strip()
    qbo = _qbo_side(user=user, partner_id=partner_id, sku_code=sku_code)
    rows = []
    for s in _latest_snapshots(user=user, partner_id=partner_id, sku_code=sku_code):
        bottles, cost = qbo.get((s["partner_id"], s["sku_id"]), (None, None))
        rows.append(
            DiscrepancyRow(
                partner_id=s["partner_id"],
                partner_name=s["partner__name"],
                partner_slug=s["partner__slug"],
                sku_id=s["sku_id"],
                sku_code=s["sku__code"],
                wine=s["sku__wine"],
                bottles_per_case=s["sku__bottles_per_case"],
                warehouse_as_of=s["as_of"],
                warehouse_bottles=s["bottles"],
                qbo_bottles=bottles,
                last_synced_at=s["last_synced_at"],
                cost=cost,
                tolerance=partner_tolerance(s),
            )
        )
    if status:
        rows = [row for row in rows if row.status == status]
    rows.sort(key=lambda row: (row.partner_name, row.sku_code))
    return rows


def attach_trends(rows: Sequence[DiscrepancyRow]) -> None:
    """Fill ``trend`` on ``rows`` (the page's, not every row) in one query: each
    partner × SKU's last TREND_POINTS warehouse quantities, oldest first."""
    if not rows:
        return
    wanted = {row.key: row for row in rows}
    ranked = (
        WarehouseSnapshot.objects.filter(
            partner_id__in={row.partner_id for row in rows},
            sku_id__in={row.sku_id for row in rows},
        )
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("partner_id"), F("sku_id")],
                order_by=F("as_of").desc(),
            )
        )
        .filter(rank__lte=TREND_POINTS)
        .order_by("partner_id", "sku_id", "as_of")
        .values_list("partner_id", "sku_id", "bottles")
    )
    for row in rows:
        row.trend = []
    for partner_id, sku_id, bottles in ranked:
        # The IN filters select a rectangle of partners × SKUs; skip the pairs not shown.
        if (target := wanted.get((partner_id, sku_id))) is not None:
            target.trend.append(bottles)


@dataclass(frozen=True)
class DiscrepancyTotals:
    """The differences of a set of rows at cost: what QuickBooks holds beyond the warehouse
    (``over``, positive), short of it (``under``, negative), the two together (``net``),
    and how many rows with a difference could not be valued (no cost known)."""

    over: Decimal
    under: Decimal
    unvalued: int

    @property
    def net(self) -> Decimal:
        return self.over + self.under


def discrepancy_totals(rows: Iterable[DiscrepancyRow]) -> DiscrepancyTotals:
    over = under = Decimal("0.00")
    unvalued = 0
    for row in rows:
        value = row.value
        if value is None:
            unvalued += row.difference is not None and row.difference != 0
        elif value > 0:
            over += value
        else:
            under += value
    return DiscrepancyTotals(over=over, under=under, unvalued=unvalued)


@dataclass(frozen=True)
class DiscrepancyAttention:
    """One line of the dashboard's "needs attention": a difference out of tolerance, its
    value at cost, and the discrepancies page narrowed to it."""

    partner_id: int
    partner_name: str
    sku_code: str
    wine: str
    # Bottles, without the database's padding (−2064, not −2064.0000).
    difference: Decimal
    value: Decimal
    url: str

    # The names a list of attention lines reads them by.
    @property
    def partner(self) -> str:
        return self.partner_name

    @property
    def sku(self) -> str:
        return self.sku_code


def _plain(number: Decimal) -> Decimal:
    # normalize() alone would write 2000 as 2E+3.
    whole = number.to_integral_value()
    return whole.quantize(Decimal(1)) if number == whole else number.normalize()


def largest_discrepancies_by_value(*, user: User, limit: int = 5) -> list[DiscrepancyAttention]:
    """The ``limit`` rows out of tolerance with the largest value at cost, whatever their
    sign, for the dashboard. Rows with no cost cannot be ranked by value and are left out
    (the discrepancies page lists them). The same queries as the page, whatever the count."""
    rows = [
        row for row in discrepancy_rows(user=user) if row.out_of_tolerance and row.value is not None
    ]
    rows.sort(key=lambda row: (-abs(row.value or ZERO), row.partner_name, row.sku_code))
    page = reverse("inventory:discrepancies")
    found = []
    for row in rows[: max(limit, 0)]:
        assert row.difference is not None and row.value is not None
        query = urlencode({"partner": row.partner_id, "sku": row.sku_code})
        found.append(
            DiscrepancyAttention(
                partner_id=row.partner_id,
                partner_name=row.partner_name,
                sku_code=row.sku_code,
                wine=row.wine,
                difference=_plain(row.difference),
                value=row.value,
                url=f"{page}?{query}",
            )
        )
    return found


def discrepancies_out_of_tolerance(*, user: User) -> int:
    """How many partner × SKU rows the user may see are over or under tolerance (the
    dashboard tile). Unmapped rows are not counted: they are not a disagreement between
    two numbers but a missing mapping, which the conflicts queue covers."""
    return sum(1 for row in discrepancy_rows(user=user) if row.out_of_tolerance)


# ------------------------------------------------------------------------------------------
# Depletion: what each distributor sold on to its retailers, per partner × catalog SKU.
#
# Net depletion, the industry's figure (docs/reports.md): bottles sold on (the partner's
# invoices and sales receipts in the mirror) less bottles its customers returned (credit
# memos and refund receipts), the same rule as the sell-through page's. Each document line
# of a mapped QuickBooks item counts ``qty × bottles_per_unit`` bottles of the mapped SKU,
# so a partner that invoices cases and one that invoices bottles add up in the same unit.
# Voided documents sold nothing; lines of unmapped items cannot be given a SKU and are
# counted separately so the page can say how many were left out.
#
# Days on hand = bottles on hand ÷ average daily net depletion over the window, where on
# hand is the sum of the mapped items' ``qty_on_hand`` (in their own unit) ×
# ``bottles_per_unit``, over the partner's live (not disconnected) companies.
#
# The whole read is two queries whatever the number of rows: the mappings (with their item's
# quantity on hand as a subquery) and the four kinds of document line grouped by company,
# item and ISO week in one UNION ALL.

WINDOW_CHOICES = (28, 56, 91)
DEFAULT_WINDOW = 28
DEFAULT_THRESHOLD = 21

ZERO = Decimal("0")
DAILY_PLACES = Decimal("0.01")
DAYS_PLACES = Decimal("0.1")


@dataclass(frozen=True)
class Week:
    """One ISO week of the window. ``start``/``end`` are the days of the window it covers:
    the first and last weeks are usually partial, and say so, so that a short bar is not
    read as a slow week."""

    monday: date
    start: date
    end: date

    @property
    def label(self) -> str:
        year, week, _ = self.monday.isocalendar()
        text = f"{year}-W{week:02d}"
        return f"{text} (partial)" if self.partial else text

    @property
    def partial(self) -> bool:
        return (self.end - self.start).days < 6


def window_weeks(*, start: date, end: date) -> list[Week]:
    """The ISO weeks (Monday to Sunday) that touch ``start``..``end``, oldest first."""
    weeks = []
    monday = start - timedelta(days=start.weekday())
    while monday <= end:
        sunday = monday + timedelta(days=6)
        weeks.append(Week(monday=monday, start=max(monday, start), end=min(sunday, end)))
        monday += timedelta(days=7)
    return weeks


@dataclass
class DepletionRow:
    partner_id: int
    partner: str
    sku: str
    wine: str
    weeks: list[Week]
    window_days: int
    threshold_days: int
    # Bottles sold on (invoices, sales receipts) and returned by customers (credit memos,
    # refund receipts) in the window.
    sold: Decimal = ZERO
    returned: Decimal = ZERO
    # Net bottles per ISO week, keyed by the week's Monday.
    by_week: dict[date, Decimal] = field(default_factory=dict)
    # None when no mapped item has a known quantity on hand (QuickBooks only tracks
    # quantities of inventory items).
    on_hand: Decimal | None = None
    # The page's link narrowing it to this row; set by the view, which knows the URL.
    chart_url: str = ""

    @property
    def net_depletion(self) -> Decimal:
        return self.sold - self.returned

    @property
    def weekly(self) -> list[tuple[Week, Decimal]]:
        return [(week, self.by_week.get(week.monday, ZERO)) for week in self.weeks]

    def sparkline(self) -> SafeString:
        """The weekly series as a small picture for the table (drawn only for shown rows,
        since templates call it lazily)."""
        return sparkline(
            [bottles for _, bottles in self.weekly], label=f"{self.sku} net bottles per week"
        )

    @property
    def daily(self) -> Decimal:
        """Average net depletion per day over the window, to the hundredth."""
        return (self.net_depletion / self.window_days).quantize(
            DAILY_PLACES, rounding=ROUND_HALF_UP
        )

    @property
    def days_on_hand(self) -> Decimal | None:
        """None ("—") when nothing was depleted (or returns outweighed sales): stock that
        does not move lasts indefinitely."""
        net = self.net_depletion
        if self.on_hand is None or net <= 0:
            return None
        # on_hand ÷ (net ÷ days), computed from the unrounded rate so that rounding the
        # shown daily figure never shifts the days or the warning.
        days = self.on_hand * self.window_days / net
        return days.quantize(DAYS_PLACES, rounding=ROUND_HALF_UP)

    @property
    def low(self) -> bool:
        """Fewer days on hand than the threshold; compared exactly, not on the rounded
        figure, so 20.96 days is low against a threshold of 21."""
        net = self.net_depletion
        if self.on_hand is None or net <= 0:
            return False
        return self.on_hand * self.window_days < self.threshold_days * net


@dataclass
class Depletion:
    rows: list[DepletionRow]
    weeks: list[Week]
    start: date
    end: date
    # Document lines in the window (partner-scoped, voided excluded) whose item has no SKU
    # mapping, and so are in no row.
    unmapped_lines: int

    @property
    def weekly_totals(self) -> list[tuple[Week, Decimal]]:
        totals: dict[date, Decimal] = defaultdict(Decimal)
        for row in self.rows:
            for week, bottles in row.weekly:
                totals[week.monday] += bottles
        return [(week, totals.get(week.monday, ZERO)) for week in self.weeks]


def _depletion_lines(scope_ids: list[int], start: date, end: date) -> list[Any]:
    """The sales lines of the companies ``scope_ids`` from ``start`` to ``end`` grouped by
    kind (sold, returned), company, item and ISO week: (kind, company, item, week, qty,
    lines)."""

    def lines(model: Any, document: str, kind: str) -> QuerySet[Any]:
        dated = model.objects.filter(
            **{
                f"{document}__connection_id__in": scope_ids,
                f"{document}__voided": False,
                f"{document}__txn_date__gte": start,
                f"{document}__txn_date__lte": end,
            },
            # Only sales lines sell bottles: QuickBooks allows an ItemRef on a subtotal or
            # group line too, and a description-only line names no item.
            detail_type=SALES_ITEM,
        )
        # Grouped in SQL by company, item and ISO week (TruncWeek is PostgreSQL's
        # date_trunc('week'), which starts weeks on Monday as ISO 8601 does): at most
        # items × 14 groups per kind of document.
        return _grouped(dated, document=document, kind=kind, grouping=WEEK)

    grouped = lines(QBOInvoiceLine, "invoice", "sold").union(
        lines(QBOSalesReceiptLine, "sales_receipt", "sold"),
        lines(QBOCreditMemoLine, "credit_memo", "returned"),
        lines(QBORefundReceiptLine, "refund_receipt", "returned"),
        all=True,
    )
    return list(grouped)


DEPLETION_LINES = refresh.refreshable("depletion.lines", lambda key: _depletion_lines(*key))


def depletion_report(
    *,
    user: User,
    today: date,
    window_days: int = DEFAULT_WINDOW,
    threshold_days: int | None = None,
    partner_id: int | None = None,
    sku: str = "",
) -> Depletion:
    """Depletion per partner × SKU over the ``window_days`` days ending on ``today``
    (inclusive), for what ``user`` may see. ``partner_id`` and ``sku`` narrow within that
    scope; they never widen it. Rows come sorted by partner, then SKU. A row is low under
    ``threshold_days`` days on hand, or, without one, under its partner's own threshold
    (``Partner.days_on_hand_threshold``, set on the partner's page)."""
    if window_days < 1:
        raise ValueError("The window must be at least one day.")
    start = today - timedelta(days=window_days - 1)
    weeks = window_weeks(start=start, end=today)

    # Every mapping in scope, even with a SKU filter: a line of an item mapped to another
    # SKU is filtered out, not "unmapped". The SKU filter is applied to the rows below.
    mappings = SKUMapping.objects.visible_to(user)
    connections = QBOConnection.objects.visible_to(user)
    if partner_id is not None:
        mappings = mappings.filter(connection__partner_id=partner_id)
        connections = connections.filter(partner_id=partner_id)

    # The window's sales lines grouped by week: at the ~100,000-invoice scale the page's
    # (and the partners page's) one costly statement, read only from these companies'
    # mirrors, so kept until a sync changes one of them, and read as last computed for up
    # to FIGURES_STALE_SECONDS while the worker recomputes it (bottles, not money; as
    # sell-through's, docs/architecture.md "Cached figures"). Mappings and stock on hand
    # are applied below, fresh.
    scope_ids = sorted(connections.values_list("pk", flat=True))
    question = (scope_ids, start, today)
    grouped = refresh.figure(DEPLETION_LINES, question, map(generations.mirror, scope_ids))

    # Stock on hand is what the partner's live companies hold now, as on the discrepancies
    # page: a disconnected company's quantities froze when it was disconnected. Its sales
    # (the lines above) still happened, so they still count as depletion.
    on_hand = QBOItem.objects.filter(
        connection_id=OuterRef("connection_id"),
        qbo_id=OuterRef("item_qbo_id"),
        connection__in=QBOConnection.objects.live(),
    ).values("qty_on_hand")[:1]
    mapping_rows = mappings.annotate(item_on_hand=Subquery(on_hand)).values_list(
        "connection_id",
        "item_qbo_id",
        "bottles_per_unit",
        "item_on_hand",
        "connection__partner_id",
        "connection__partner__name",
        "catalog_sku__code",
        "catalog_sku__wine",
        "connection__partner__days_on_hand_threshold",
    )

    rows: dict[tuple[int, str], DepletionRow] = {}
    # (connection id, item id) → (its row, or None when the SKU filter leaves it out;
    # bottles per unit)
    by_item: dict[tuple[int, str], tuple[DepletionRow | None, int]] = {}
    for conn_id, item_id, per_unit, item_on_hand, p_id, p_name, code, wine, own in mapping_rows:
        if sku and code != sku:
            by_item[(conn_id, item_id)] = (None, per_unit)
            continue
        row = rows.get((p_id, code))
        if row is None:
            row = rows[(p_id, code)] = DepletionRow(
                partner_id=p_id, partner=p_name, sku=code, wine=wine, weeks=weeks,
                window_days=window_days,
                threshold_days=threshold_days if threshold_days is not None else own,
            )  # fmt: skip
        by_item[(conn_id, item_id)] = (row, per_unit)
        if item_on_hand is not None:
            row.on_hand = (row.on_hand or ZERO) + item_on_hand * per_unit

    unmapped = 0
    for kind, conn_id, item_id, week, qty, count in grouped:
        mapped = by_item.get((conn_id, item_id))
        if mapped is None:
            unmapped += count
            continue
        row, per_unit = mapped
        if row is None:
            continue
        bottles = (qty or ZERO) * per_unit
        setattr(row, kind, getattr(row, kind) + bottles)
        net = bottles if kind == "sold" else -bottles
        row.by_week[week] = row.by_week.get(week, ZERO) + net

    ordered = sorted(rows.values(), key=lambda r: (r.partner.casefold(), r.sku))
    return Depletion(rows=ordered, weeks=weeks, start=start, end=today, unmapped_lines=unmapped)
