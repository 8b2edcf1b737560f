"""The stock ledger: per partner × catalog SKU over a period [start, end], where the bottles
went. Reads only; the page is ``/inventory/ledger/`` (docs/reports.md, "Stock ledger").

What moves a QuickBooks item's QtyOnHand, with its sign (QuickBooks' own rules, and
qbo_sandbox's ``STOCK_LINES``):

- received: item lines of bills, whichever the vendor (stock arrives whoever sold it) +
- returned to suppliers: item lines of vendor credits −
- sold: item lines of invoices and sales receipts −
- returned by customers: item lines of credit memos and refund receipts +
- adjusted: lines of inventory adjustments, by their signed QtyDiff ±

Voided sales documents are left out (QuickBooks zeroes their quantities anyway). A line
counts ``qty × bottles_per_unit`` bottles of the SKU its item is mapped to.

Only items QuickBooks tracks stock for move QtyOnHand: in QuickBooks an item tracks
quantity exactly when its Type is Inventory (``TrackQtyOnHand`` follows the type), so the
mirror's ``item_type`` says which. Lines of mapped items that are not tracked stay out of
the arithmetic and are counted apart, per measure, to explain a gap ("12 bottles sold
through an untracked item").

QuickBooks' API gives no opening quantity outside its reports, so the ledger derives it as
QuickBooks' InventoryValuationSummary does for a day ``d``::

    quantity on d   = QtyOnHand now − Σ movements dated after d
    opening         = quantity on (start − 1 day)
    expected close  = opening + received − returned to suppliers − sold + returned + adjusted
                    = quantity on end
    QtyOnHand now   = expected close + Σ movements dated after end

So the difference between QuickBooks' QtyOnHand now and the expected closing is always
the movements dated after ``end``, which the drill-down lists. The checks that can fail:

- the latest warehouse count (bottles on its day ``d``) against QuickBooks' quantity on
  ``d``: within ``tolerance_for`` or flagged;
- a negative derived quantity on any day from the opening to the end of the period (sold
  before it was received: a bill is missing or dated late): flagged.

Cost: one UNION ALL of six per-document-type grouped queries (company × item × day, from
the earlier of ``start`` and the oldest warehouse count's day), the mappings with
their items, and the warehouse counts: a constant number of queries whatever the number of
documents or rows. The drill-down reads one partner × SKU's lines with six more.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import CharField, Count, F, OuterRef, QuerySet, Subquery, Sum, Value

from billing.models import (
    QBOCreditMemoLine,
    QBOInvoiceLine,
    QBORefundReceiptLine,
    QBOSalesReceiptLine,
)
from inventory.catalog.models import nine_litre_cases
from inventory.mapping.models import QBOItem, SKUMapping
from inventory.purchasing.models import PurchaseLine, QBOBillLine, QBOVendorCreditLine
from inventory.stock.mirror import ITEM_ADJUSTMENT
from inventory.stock.models import QBOInventoryAdjustmentLine
from sync.models import QBOConnection

from .selectors import (
    DEFAULT_TOLERANCE,
    OUT_OF_TOLERANCE,
    Tolerance,
    _latest_snapshots,
    partner_tolerance,
    status_for,
    tolerance_for,
)

if TYPE_CHECKING:
    from accounts.models import User

__all__ = [
    "MEASURES",
    "Ledger",
    "LedgerLine",
    "LedgerRow",
    "default_period",
    "ledger_lines",
    "stock_ledger",
]

ZERO = Decimal("0")
SALES_ITEM = "SalesItemLineDetail"
# What QuickBooks' Type is for the items whose quantity it tracks.
TRACKED_TYPE = "Inventory"

RECEIVED = "received"
SUPPLIER_RETURNS = "supplier_returns"
SOLD = "sold"
RETURNED = "returned"
ADJUSTED = "adjusted"

# The movements, in the order the page shows them: (key, words, sign on QtyOnHand).
MEASURES: tuple[tuple[str, str, int], ...] = (
    (RECEIVED, "Received", 1),
    (SUPPLIER_RETURNS, "Returned to suppliers", -1),
    (SOLD, "Sold", -1),
    (RETURNED, "Returned by customers", 1),
    (ADJUSTED, "Adjusted", 1),
)
SIGN = {key: sign for key, _, sign in MEASURES}
WORDS = {key: words for key, words, _ in MEASURES}

EXPLAINED = "explained"
FLAGGED = "flagged"
STATUS_LABELS = {EXPLAINED: "Explained", FLAGGED: "Flagged"}

# (document relation on the line, document type's words, measure, quantity column, filter)
_SOURCES: tuple[tuple[Any, str, str, str, str, dict[str, Any]], ...] = (
    (QBOBillLine, "bill", "Bill", RECEIVED, "qty", {"detail_type": PurchaseLine.ITEM_BASED}),
    (
        QBOVendorCreditLine, "vendor_credit", "Vendor credit", SUPPLIER_RETURNS, "qty",
        {"detail_type": PurchaseLine.ITEM_BASED},
    ),
    (
        QBOInvoiceLine, "invoice", "Invoice", SOLD, "qty",
        {"detail_type": SALES_ITEM, "invoice__voided": False},
    ),
    (
        QBOSalesReceiptLine, "sales_receipt", "Sales receipt", SOLD, "qty",
        {"detail_type": SALES_ITEM, "sales_receipt__voided": False},
    ),
    (
        QBOCreditMemoLine, "credit_memo", "Credit memo", RETURNED, "qty",
        {"detail_type": SALES_ITEM, "credit_memo__voided": False},
    ),
    (
        QBORefundReceiptLine, "refund_receipt", "Refund receipt", RETURNED, "qty",
        {"detail_type": SALES_ITEM, "refund_receipt__voided": False},
    ),
    (
        QBOInventoryAdjustmentLine, "adjustment", "Inventory adjustment", ADJUSTED, "qty_diff",
        {"detail_type": ITEM_ADJUSTMENT},
    ),
)  # fmt: skip


def default_period(today: date) -> tuple[date, date]:
    """This month so far: its first day to today."""
    return today.replace(day=1), today


def _cases(bottles: Decimal | None, format_ml: int | None) -> Decimal | None:
    if bottles is None or not format_ml:
        return None
    return nine_litre_cases(bottles, format_ml=format_ml)


@dataclass
class LedgerRow:
    partner_id: int
    partner: str
    sku: str
    wine: str
    format_ml: int | None
    start: date
    end: date
    # QuickBooks' QtyOnHand now, summed over the SKU's mapped tracked items, in bottles.
    qbo_now: Decimal = ZERO
    # Movements of tracked items, in bottles, each as a positive number of bottles moved
    # in its own direction (adjusted is signed: its QtyDiff).
    received: Decimal = ZERO
    supplier_returns: Decimal = ZERO
    sold: Decimal = ZERO
    returned: Decimal = ZERO
    adjusted: Decimal = ZERO
    # Net effect on QtyOnHand of the movements dated after ``end``, and how many lines.
    after_end: Decimal = ZERO
    after_end_lines: int = 0
    # The lowest derived quantity from the opening to the end of the period, and its day.
    lowest: Decimal = ZERO
    lowest_on: date | None = None
    # The latest warehouse count and QuickBooks' derived quantity on its day.
    warehouse_bottles: Decimal | None = None
    # The partner's own tolerance, which the count is judged by.
    tolerance: Tolerance = DEFAULT_TOLERANCE
    warehouse_as_of: date | None = None
    qbo_on_count_day: Decimal | None = None
    # Lines of mapped items QuickBooks does not track, in the period: measure → bottles.
    untracked: dict[str, Decimal] = field(default_factory=dict)
    # Net effect of each day's movements, for the running quantity (not shown).
    daily: dict[date, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    @property
    def net_movement(self) -> Decimal:
        return sum((getattr(self, key) * sign for key, _, sign in MEASURES), ZERO)

    @property
    def closing(self) -> Decimal:
        """The expected closing: QuickBooks' quantity at the end of ``end``."""
        return self.qbo_now - self.after_end

    @property
    def opening(self) -> Decimal:
        """QuickBooks' quantity at the end of the day before ``start``."""
        return self.closing - self.net_movement

    @property
    def now_difference(self) -> Decimal:
        """QtyOnHand now − expected closing: the movements after ``end``, by construction."""
        return self.qbo_now - self.closing

    @property
    def warehouse_difference(self) -> Decimal | None:
        """QuickBooks' quantity on the count's day − the count: positive when QuickBooks
        has more."""
        if self.warehouse_bottles is None or self.qbo_on_count_day is None:
            return None
        return self.qbo_on_count_day - self.warehouse_bottles

    @property
    def warehouse_tolerance(self) -> Decimal | None:
        if self.warehouse_bottles is None:
            return None
        return tolerance_for(self.warehouse_bottles, self.tolerance)

    @property
    def warehouse_flagged(self) -> bool:
        if self.warehouse_bottles is None:
            return False
        status = status_for(
            warehouse_bottles=self.warehouse_bottles,
            qbo_bottles=self.qbo_on_count_day,
            tolerance=self.tolerance,
        )
        return status in OUT_OF_TOLERANCE

    @property
    def negative(self) -> bool:
        return self.lowest < 0

    @property
    def status(self) -> str:
        return FLAGGED if self.warehouse_flagged or self.negative else EXPLAINED

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def reasons(self) -> list[str]:
        """Why each difference is what it is, in words, for the page and the export."""
        found: list[str] = []
        if self.after_end_lines:
            found.append(
                f"QuickBooks now − expected closing = {_plain(self.now_difference)}: "
                f"{self.after_end_lines} line{'s' if self.after_end_lines != 1 else ''} "
                f"dated after {self.end:%Y-%m-%d}"
            )
        if self.negative and self.lowest_on is not None:
            found.append(
                f"QuickBooks' quantity goes negative ({_plain(self.lowest)} on "
                f"{self.lowest_on:%Y-%m-%d}): sold before received, a bill missing or dated late"
            )
        difference = self.warehouse_difference
        if difference is not None and self.warehouse_as_of is not None:
            where = "outside" if self.warehouse_flagged else "within"
            found.append(
                f"Warehouse count {_plain(self.warehouse_bottles or ZERO)} on "
                f"{self.warehouse_as_of:%Y-%m-%d}, "
                f"QuickBooks {_plain(self.qbo_on_count_day or ZERO)}: "
                f"difference {_plain(difference)}, {where} tolerance "
                f"(±{_plain(self.warehouse_tolerance or ZERO)})"
            )
        for key, bottles in sorted(self.untracked.items(), key=lambda kv: list(SIGN).index(kv[0])):
            if bottles:
                found.append(
                    f"{_plain(bottles)} bottles {WORDS[key].lower()} through an untracked item "
                    "(not in QuickBooks' stock)"
                )
        return found

    @property
    def reasons_text(self) -> str:
        return "; ".join(self.reasons)

    def __getattr__(self, name: str) -> Any:
        # opening_cases, sold_cases, ...: the bottle figure in 9-litre case equivalents.
        if name.endswith("_cases"):
            bottles = getattr(self, name[: -len("_cases")])
            return _cases(bottles, self.format_ml)
        raise AttributeError(name)


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


# Every bottle figure of a row, in the order of the page: what the totals sum.
FIGURES: tuple[tuple[str, str], ...] = (
    ("opening", "Opening"),
    *((key, words) for key, words, _ in MEASURES),
    ("closing", "Expected closing"),
    ("qbo_now", "QuickBooks now"),
)


@dataclass
class Ledger:
    rows: list[LedgerRow]
    start: date
    end: date
    # Whether any connection and any mapping are in scope (the empty state says which).
    has_connections: bool
    has_mappings: bool

    @property
    def totals(self) -> dict[str, Decimal | None]:
        """Each figure summed over every row (not only the shown page); the cases only when
        every row's SKU has a size."""
        sums: dict[str, Decimal | None] = {
            key: sum((getattr(row, key) for row in self.rows), ZERO) for key, _ in FIGURES
        }
        sized = all(row.format_ml for row in self.rows)
        for key, _ in FIGURES:
            sums[f"{key}_cases"] = (
                sum((getattr(row, f"{key}_cases") for row in self.rows), ZERO) if sized else None
            )
        return sums

    @property
    def flagged(self) -> int:
        return sum(1 for row in self.rows if row.status == FLAGGED)


def _mapped_items(
    *, user: User, partner_id: int | None, sku: str
) -> tuple[list[int], dict[tuple[int, str], tuple[Any, ...]]]:
    """The connections in scope, and (connection, item id) → (bottles per unit, partner id,
    partner name, SKU code, wine, format, tracked, QtyOnHand) for every mapping in scope."""
    connections = QBOConnection.objects.visible_to(user)
    mappings = SKUMapping.objects.visible_to(user)
    if partner_id is not None:
        connections = connections.filter(partner_id=partner_id)
        mappings = mappings.filter(connection__partner_id=partner_id)
    if sku:
        mappings = mappings.filter(catalog_sku__code=sku)
    item = QBOItem.objects.filter(
        connection=OuterRef("connection_id"), qbo_id=OuterRef("item_qbo_id")
    )
    rows = mappings.annotate(
        item_type=Subquery(item.values("item_type")[:1]),
        qty_on_hand=Subquery(item.values("qty_on_hand")[:1]),
    ).values_list(
        "connection_id", "item_qbo_id", "bottles_per_unit", "connection__partner_id",
        "connection__partner__name", "catalog_sku__code", "catalog_sku__wine",
        "catalog_sku__format_ml", "item_type", "qty_on_hand",
    )  # fmt: skip
    by_item: dict[tuple[int, str], tuple[Any, ...]] = {}
    for conn_id, item_id, per_unit, p_id, p_name, code, wine, ml, kind, on_hand in rows:
        tracked = kind == TRACKED_TYPE
        by_item[(conn_id, item_id)] = (per_unit, p_id, p_name, code, wine, ml, tracked, on_hand)
    return list(connections.values_list("pk", flat=True)), by_item


def stock_ledger(
    *, user: User, start: date, end: date, partner_id: int | None = None, sku: str = ""
) -> Ledger:
    """The ledger of every partner × SKU mapped in ``user``'s scope (``partner_id`` and
    ``sku`` narrow it, never widen it) over ``start``..``end`` inclusive. Rows come sorted by
    partner, then SKU."""
    conn_ids, by_item = _mapped_items(user=user, partner_id=partner_id, sku=sku)
    rows: dict[tuple[int, str], LedgerRow] = {}
    for per_unit, p_id, p_name, code, wine, ml, tracked, on_hand in by_item.values():
        row = rows.get((p_id, code))
        if row is None:
            row = rows[(p_id, code)] = LedgerRow(
                partner_id=p_id, partner=p_name, sku=code, wine=wine, format_ml=ml,
                start=start, end=end,
            )  # fmt: skip
        if tracked:
            row.qbo_now += (on_hand or ZERO) * per_unit

    # The warehouse's latest count per partner × SKU (the discrepancies page's own read).
    counts = {
        (s["partner_id"], s["sku__code"]): (s["as_of"], s["bottles"], partner_tolerance(s))
        for s in _latest_snapshots(user=user, partner_id=partner_id, sku_code="")
        if (s["partner_id"], s["sku__code"]) in rows
    }
    for key, (as_of, bottles, tolerance) in counts.items():
        rows[key].warehouse_as_of, rows[key].warehouse_bottles = as_of, bottles
        rows[key].tolerance = tolerance
    # Movements from the first day any figure needs: the period's, or those after a count
    # (read from the count's own day, which the walk below leaves out: a day after the last
    # one a date can hold would not be a date).
    since = min([start, *(as_of for as_of, _, _ in counts.values())])

    parts = []
    for model, document, _, measure, column, only in _SOURCES:
        lines = (
            model.objects.filter(
                **{
                    f"{document}__connection_id__in": conn_ids,
                    f"{document}__txn_date__gte": since,
                },
                **only,
            )
            .exclude(item_qbo_id="")
            .annotate(
                kind=Value(measure, output_field=CharField()),
                conn=F(f"{document}__connection_id"),
                day=F(f"{document}__txn_date"),
            )
            .values("kind", "conn", "item_qbo_id", "day")
            .annotate(moved=Sum(column), n=Count("pk"))
            .values_list("kind", "conn", "item_qbo_id", "day", "moved", "n")
            .order_by()
        )
        parts.append(lines)
    grouped = parts[0].union(*parts[1:], all=True) if rows else []

    for kind, conn_id, item_id, day, moved, count in grouped:
        mapped = by_item.get((conn_id, item_id))
        if mapped is None:
            continue
        per_unit, p_id, _, code, *_, tracked, _ = mapped
        row = rows[(p_id, code)]
        bottles = (moved or ZERO) * per_unit
        in_period = start <= day <= end
        if not tracked:
            if in_period:
                row.untracked[kind] = row.untracked.get(kind, ZERO) + bottles
            continue
        effect = SIGN[kind] * bottles
        row.daily[day] += effect
        if in_period:
            setattr(row, kind, getattr(row, kind) + bottles)
        elif day > end:
            row.after_end += effect
            row.after_end_lines += count

    for row in rows.values():
        count = counts.get((row.partner_id, row.sku))
        _walk(row, count[:2] if count is not None else None)

    return Ledger(
        rows=sorted(rows.values(), key=lambda r: (r.partner.casefold(), r.sku)),
        start=start,
        end=end,
        has_connections=bool(conn_ids),
        has_mappings=bool(by_item),
    )


def _walk(row: LedgerRow, count: tuple[date, Decimal] | None) -> None:
    """The lowest quantity from the opening through the period, and QuickBooks' quantity on
    the warehouse count's day, from the day-by-day movements."""
    row.lowest, row.lowest_on = row.opening, row.start - timedelta(days=1)
    quantity = row.opening
    for day in sorted(d for d in row.daily if row.start <= d <= row.end):
        quantity += row.daily[day]
        if quantity < row.lowest:
            row.lowest, row.lowest_on = quantity, day
    if count is not None:
        as_of = count[0]
        row.qbo_on_count_day = row.qbo_now - sum(
            (moved for day, moved in row.daily.items() if day > as_of), ZERO
        )


# ---------------------------------------------------------------- the drill-down


@dataclass(frozen=True)
class LedgerLine:
    day: date
    kind: str  # the measure: received, sold, ...
    document_type: str  # "Invoice"
    number: str
    party: str  # customer or vendor; blank for an adjustment
    bottles: Decimal  # signed: its effect on QtyOnHand (positive adds stock)
    tracked: bool
    after_end: bool
    # The invoice's own page, for invoices.
    invoice_pk: int | None = None

    @property
    def kind_label(self) -> str:
        return WORDS[self.kind]

    @property
    def when(self) -> str:
        return "After the period" if self.after_end else "In the period"

    @property
    def tracked_label(self) -> str:
        return "Yes" if self.tracked else "No: not in QuickBooks' stock"


def ledger_lines(
    *, user: User, partner_id: int, sku: str, start: date, end: date
) -> list[LedgerLine]:
    """Every document line of one partner × SKU dated from ``start`` on (the period's and
    those after ``end``, which explain QuickBooks' quantity now), oldest first. Empty for a
    partner or SKU outside ``user``'s scope."""
    _, by_item = _mapped_items(user=user, partner_id=partner_id, sku=sku)
    by_conn: dict[int, list[str]] = defaultdict(list)
    for conn_id, item_id in by_item:
        by_conn[conn_id].append(item_id)
    found: list[LedgerLine] = []
    if not by_item:
        return found
    for model, document, words, measure, column, only in _SOURCES:
        party = "adjustment__adjust_account_name" if measure == ADJUSTED else (
            f"{document}__vendor_name" if measure in (RECEIVED, SUPPLIER_RETURNS)
            else f"{document}__customer_name"
        )  # fmt: skip
        lines: QuerySet[Any] = model.objects.filter(
            **{
                f"{document}__connection_id__in": list(by_conn),
                f"{document}__txn_date__gte": start,
            },
            item_qbo_id__in=sorted({item_id for ids in by_conn.values() for item_id in ids}),
            **only,
        ).values_list(
            f"{document}__connection_id", "item_qbo_id", f"{document}__txn_date",
            f"{document}__doc_number", f"{document}__qbo_id", party, column, f"{document}_id",
        )  # fmt: skip
        for conn_id, item_id, day, number, qbo_id, name, moved, doc_pk in lines:
            mapped = by_item.get((conn_id, item_id))
            if mapped is None:
                continue
            per_unit, tracked = mapped[0], mapped[6]
            found.append(
                LedgerLine(
                    day=day,
                    kind=measure,
                    document_type=words,
                    number=number or f"#{qbo_id}",
                    party=name if measure != ADJUSTED else f"Account: {name}" if name else "",
                    bottles=SIGN[measure] * (moved or ZERO) * per_unit,
                    tracked=tracked,
                    after_end=day > end,
                    invoice_pk=doc_pk if document == "invoice" else None,
                )
            )
    found.sort(key=lambda line: (line.day, line.document_type, line.number))
    return found
