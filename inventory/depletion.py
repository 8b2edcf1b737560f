"""Depletion: what each distributor sold on to its retailers, per partner × catalog SKU.

Depletion is read from the partner's own invoices (its sales to retailers) in the mirror:
each invoice line of a mapped QuickBooks item counts ``qty × bottles_per_unit`` bottles of
the mapped SKU, so a partner that invoices cases and one that invoices bottles add up in
the same unit. Voided invoices sold nothing; lines of unmapped items cannot be given a SKU
and are counted separately so the page can say how many were left out.

Days on hand = bottles on hand ÷ average daily depletion over the window, where on hand is
the sum of the mapped items' ``qty_on_hand`` (in their own unit) × ``bottles_per_unit``,
over the partner's live (not disconnected) companies.

The whole read is two queries whatever the number of rows: the mappings (with their item's
quantity on hand as a subquery) and the invoice lines grouped by company, item and ISO week.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from django.db.models import Count, DateField, OuterRef, Subquery, Sum
from django.db.models.functions import TruncWeek
from django.utils.safestring import SafeString

from billing.models import QBOInvoiceLine
from common.charts import sparkline
from sync.models import QBOConnection

from .mapping_models import SKUMapping
from .models import QBOItem

if TYPE_CHECKING:
    from accounts.models import User

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
    sold: Decimal = ZERO
    # Bottles per ISO week, keyed by the week's Monday.
    by_week: dict[date, Decimal] = field(default_factory=dict)
    # None when no mapped item has a known quantity on hand (QuickBooks only tracks
    # quantities of inventory items).
    on_hand: Decimal | None = None
    # The page's link narrowing it to this row; set by the view, which knows the URL.
    chart_url: str = ""

    @property
    def weekly(self) -> list[tuple[Week, Decimal]]:
        return [(week, self.by_week.get(week.monday, ZERO)) for week in self.weeks]

    def sparkline(self) -> SafeString:
        """The weekly series as a small picture for the table (drawn only for shown rows,
        since templates call it lazily)."""
        return sparkline(
            [bottles for _, bottles in self.weekly], label=f"{self.sku} bottles per week"
        )

    @property
    def daily(self) -> Decimal:
        """Average bottles sold per day over the window, to the hundredth."""
        return (self.sold / self.window_days).quantize(DAILY_PLACES, rounding=ROUND_HALF_UP)

    @property
    def days_on_hand(self) -> Decimal | None:
        """None ("—") when nothing sold: stock that does not move lasts indefinitely."""
        if self.on_hand is None or self.sold <= 0:
            return None
        # on_hand ÷ (sold ÷ days), computed from the unrounded rate so that rounding the
        # shown daily figure never shifts the days or the warning.
        days = self.on_hand * self.window_days / self.sold
        return days.quantize(DAYS_PLACES, rounding=ROUND_HALF_UP)

    @property
    def low(self) -> bool:
        """Fewer days on hand than the threshold; compared exactly, not on the rounded
        figure, so 20.96 days is low against a threshold of 21."""
        if self.on_hand is None or self.sold <= 0:
            return False
        return self.on_hand * self.window_days < self.threshold_days * self.sold


@dataclass
class Depletion:
    rows: list[DepletionRow]
    weeks: list[Week]
    start: date
    end: date
    # Invoice lines in the window (partner-scoped, voided excluded) whose item has no SKU
    # mapping, and so are in no row.
    unmapped_lines: int

    @property
    def weekly_totals(self) -> list[tuple[Week, Decimal]]:
        totals: dict[date, Decimal] = defaultdict(Decimal)
        for row in self.rows:
            for week, bottles in row.weekly:
                totals[week.monday] += bottles
        return [(week, totals.get(week.monday, ZERO)) for week in self.weeks]


def depletion_report(
    *,
    user: User,
    today: date,
    window_days: int = DEFAULT_WINDOW,
    threshold_days: int = DEFAULT_THRESHOLD,
    partner_id: int | None = None,
    sku: str = "",
) -> Depletion:
    """Depletion per partner × SKU over the ``window_days`` days ending on ``today``
    (inclusive), for what ``user`` may see. ``partner_id`` and ``sku`` narrow within that
    scope; they never widen it. Rows come sorted by partner, then SKU."""
    if window_days < 1:
        raise ValueError("The window must be at least one day.")
    start = today - timedelta(days=window_days - 1)
    weeks = window_weeks(start=start, end=today)

    # Every mapping in scope, even with a SKU filter: a line of an item mapped to another
    # SKU is filtered out, not "unmapped". The SKU filter is applied to the rows below.
    mappings = SKUMapping.objects.visible_to(user)
    lines = QBOInvoiceLine.objects.filter(
        invoice__connection__in=QBOConnection.objects.visible_to(user),
        invoice__voided=False,
        invoice__txn_date__gte=start,
        invoice__txn_date__lte=today,
        # Only sales lines sell bottles: QuickBooks allows an ItemRef on a subtotal or
        # group line too, and a description-only line names no item.
        detail_type="SalesItemLineDetail",
    ).exclude(item_qbo_id="")
    if partner_id is not None:
        mappings = mappings.filter(connection__partner_id=partner_id)
        lines = lines.filter(invoice__connection__partner_id=partner_id)
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
    )

    rows: dict[tuple[int, str], DepletionRow] = {}
    # (connection id, item id) → (its row, or None when the SKU filter leaves it out;
    # bottles per unit)
    by_item: dict[tuple[int, str], tuple[DepletionRow | None, int]] = {}
    for conn_id, item_id, per_unit, item_on_hand, p_id, p_name, code, wine in mapping_rows:
        if sku and code != sku:
            by_item[(conn_id, item_id)] = (None, per_unit)
            continue
        row = rows.get((p_id, code))
        if row is None:
            row = rows[(p_id, code)] = DepletionRow(
                partner_id=p_id, partner=p_name, sku=code, wine=wine, weeks=weeks,
                window_days=window_days, threshold_days=threshold_days,
            )  # fmt: skip
        by_item[(conn_id, item_id)] = (row, per_unit)
        if item_on_hand is not None:
            row.on_hand = (row.on_hand or ZERO) + item_on_hand * per_unit

    # Grouped in SQL by company, item and ISO week (TruncWeek is PostgreSQL's date_trunc
    # ('week'), which starts weeks on Monday as ISO 8601 does): at most items × 14 groups.
    grouped = (
        lines.annotate(week=TruncWeek("invoice__txn_date", output_field=DateField()))
        .values_list("invoice__connection_id", "item_qbo_id", "week")
        .annotate(qty=Sum("qty"), n=Count("pk"))
        .order_by()
    )
    unmapped = 0
    for conn_id, item_id, week, qty, count in grouped:
        mapped = by_item.get((conn_id, item_id))
        if mapped is None:
            unmapped += count
            continue
        row, per_unit = mapped
        if row is None:
            continue
        bottles = (qty or ZERO) * per_unit
        row.sold += bottles
        row.by_week[week] = row.by_week.get(week, ZERO) + bottles

    ordered = sorted(rows.values(), key=lambda r: (r.partner.casefold(), r.sku))
    return Depletion(rows=ordered, weeks=weeks, start=start, end=today, unmapped_lines=unmapped)
