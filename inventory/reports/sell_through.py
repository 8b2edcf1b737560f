"""Sell-in and sell-through: per partner × catalog SKU × month (or ISO week), what each
distributor received from Une Femme and what it sold on. Reads only.

- Received (sell-in): item lines of bills from the connection's Une Femme vendor
  (``inventory.purchasing.selectors.une_femme_vendor_ids``); another supplier's bills are
  not Une Femme wine sold in. Vendor credits from that vendor are bottles sent back to
  Une Femme ("returned to Une Femme"), shown apart and not netted into received.
- On order: item lines of that vendor's purchase orders still open, as of now (not by
  period: an open order has not arrived in any period yet).
- Sold (sell-through): item lines of invoices and sales receipts; returned: item lines of
  credit memos and refund receipts. Voided documents are left out (QuickBooks zeroes
  their quantities anyway). Net depletion = sold − returned by customers.

A line counts ``qty × bottles_per_unit`` bottles of the SKU its item is mapped to; lines of
unmapped items cannot be given a SKU and are counted apart so the page can say so. Every
bottle figure also reads in 9-litre case equivalents (bottles × format ml ÷ 9000).

Cost: the sums are PostgreSQL's, one UNION ALL of six per-document-type grouped queries
(company × item × period, a few thousand groups at most), plus the mappings and the
vendors: a constant number of queries whatever the number of documents or rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import CharField, Count, DateField, F, Q, QuerySet, Sum, Value
from django.db.models.functions import TruncMonth, TruncWeek

from billing.models import (
    QBOCreditMemoLine,
    QBOInvoiceLine,
    QBORefundReceiptLine,
    QBOSalesReceiptLine,
)
from common import generations
from inventory.catalog.models import nine_litre_cases
from inventory.mapping.models import SKUMapping
from inventory.purchasing.models import (
    PurchaseLine,
    QBOBillLine,
    QBOPurchaseOrder,
    QBOPurchaseOrderLine,
    QBOVendorCreditLine,
)
from inventory.purchasing.selectors import une_femme_vendor_ids
from sync.models import QBOConnection

from . import refresh

if TYPE_CHECKING:
    from accounts.models import User

__all__ = [
    "GROUPINGS",
    "MEASURES",
    "Period",
    "SellThrough",
    "SellThroughRow",
    "UNITS",
    "default_months",
    "sell_through_report",
]

MONTH = "month"
WEEK = "week"
GROUPINGS = ((MONTH, "Month"), (WEEK, "Week"))
BOTTLES = "bottles"
CASES = "cases"
UNITS = ((BOTTLES, "Bottles"), (CASES, "9-litre cases"))
ZERO = Decimal("0")
SALES_ITEM = "SalesItemLineDetail"

# The row's bottle measures, in the order the page shows them, with their words.
MEASURES: tuple[tuple[str, str], ...] = (
    ("received", "Received from Une Femme"),
    ("returned_to_une_femme", "Returned to Une Femme"),
    ("sold", "Sold on"),
    ("returned", "Returned by customers"),
    ("net_depletion", "Net depletion"),
)


def default_months(today: date) -> tuple[date, date]:
    """The last 12 months, this one included: first days of the first and last month."""
    end = today.replace(day=1)
    year, month = end.year, end.month - 11
    if month < 1:
        year, month = year - 1, month + 12
    return date(year, month, 1), end


def month_end(first: date) -> date:
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return following - timedelta(days=1)


@dataclass(frozen=True)
class Period:
    start: date
    grouping: str

    @property
    def label(self) -> str:
        if self.grouping == WEEK:
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start:%Y-%m}"


def periods_between(*, start: date, end: date, grouping: str) -> list[Period]:
    """Every period touching ``start``..``end``, oldest first, for the chart's axis."""
    found = []
    if grouping == WEEK:
        monday = start - timedelta(days=start.weekday())
        while monday <= end:
            found.append(Period(monday, WEEK))
            monday += timedelta(days=7)
    else:
        first = start.replace(day=1)
        while first <= end:
            found.append(Period(first, MONTH))
            first = month_end(first) + timedelta(days=1)
    return found


def _cases(bottles: Decimal, format_ml: int | None) -> Decimal | None:
    # The catalog requires a format today; a SKU without one reads in bottles only.
    if not format_ml:
        return None
    return nine_litre_cases(bottles, format_ml=format_ml)


@dataclass
class SellThroughRow:
    partner_id: int
    partner: str
    sku: str
    wine: str
    format_ml: int | None
    period: Period
    received: Decimal = ZERO
    returned_to_une_femme: Decimal = ZERO
    sold: Decimal = ZERO
    returned: Decimal = ZERO

    @property
    def period_label(self) -> str:
        return self.period.label

    @property
    def net_depletion(self) -> Decimal:
        return self.sold - self.returned

    def __getattr__(self, name: str) -> Any:
        # received_cases, sold_cases, ...: the bottle measure in 9-litre case equivalents.
        if name.endswith("_cases") and name[: -len("_cases")] in dict(MEASURES):
            bottles = getattr(self, name[: -len("_cases")])
            return _cases(bottles, self.format_ml)
        raise AttributeError(name)


@dataclass
class OnOrderRow:
    partner: str
    sku: str
    wine: str
    format_ml: int | None
    bottles: Decimal = ZERO

    @property
    def cases(self) -> Decimal | None:
        return _cases(self.bottles, self.format_ml)


@dataclass
class SellThrough:
    rows: list[SellThroughRow]
    on_order: list[OnOrderRow]
    periods: list[Period]
    start: date
    end: date
    grouping: str
    # Item lines in scope whose item has no SKU mapping: in no row.
    unmapped_lines: int
    # Whether any mapping is in scope at all (the empty state says what to do).
    has_mappings: bool
    # Companies in scope with no Une Femme vendor: their bills count as nothing.
    without_vendor: list[str] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, Decimal]:
        """Each measure summed over every row (not only the shown page), in bottles; the
        cases only when every row's SKU has a size (otherwise they are not the same unit)."""
        sums: dict[str, Any] = {
            key: sum((getattr(row, key) for row in self.rows), ZERO) for key, _ in MEASURES
        }
        sized = all(row.format_ml for row in self.rows)
        for key, _ in MEASURES:
            sums[f"{key}_cases"] = (
                sum((getattr(row, f"{key}_cases") for row in self.rows), ZERO) if sized else None
            )
        return sums

    @property
    def unsized_skus(self) -> list[str]:
        return sorted({row.sku for row in self.rows if not row.format_ml})

    @property
    def series(self) -> list[tuple[Period, Decimal, Decimal]]:
        """(period, bottles received, net depletion) for every period of the range."""
        received: dict[date, Decimal] = defaultdict(Decimal)
        net: dict[date, Decimal] = defaultdict(Decimal)
        for row in self.rows:
            received[row.period.start] += row.received
            net[row.period.start] += row.net_depletion
        return [(p, received[p.start], net[p.start]) for p in self.periods]


def _grouped(
    lines: QuerySet[Any], *, document: str, kind: str, grouping: str | None
) -> QuerySet[Any]:
    """``lines`` grouped by company, item and period (None: not by period), with the sum
    of their quantities and how many there are, tagged with ``kind``."""
    if grouping is None:
        period: Any = Value(None, output_field=DateField())
    else:
        trunc = TruncWeek if grouping == WEEK else TruncMonth
        period = trunc(f"{document}__txn_date", output_field=DateField())
    grouped: QuerySet[Any] = (
        lines.exclude(item_qbo_id="")
        .annotate(
            kind=Value(kind, output_field=CharField()),
            conn=F(f"{document}__connection_id"),
            period=period,
        )
        .values("kind", "conn", "item_qbo_id", "period")
        .annotate(qty=Sum("qty"), n=Count("pk"))
        .values_list("kind", "conn", "item_qbo_id", "period", "qty", "n")
        .order_by()
    )
    return grouped


def _lines(
    scope_ids: list[int],
    vendors: list[tuple[int, str]],
    start: date,
    end: date,
    grouping: str,
) -> list[Any]:
    """Every bill, vendor credit, open purchase order and sales line of the companies
    ``scope_ids`` for ``start``..``end``, grouped by kind, company, item and period: one
    statement. ``vendors``: each company's Une Femme vendor, (company, vendor id)."""

    def dated(model: Any, document: str) -> QuerySet[Any]:
        lines: QuerySet[Any] = model.objects.filter(
            **{
                f"{document}__connection_id__in": scope_ids,
                f"{document}__txn_date__gte": start,
                f"{document}__txn_date__lte": end,
            }
        )
        return lines

    def from_une_femme(lines: QuerySet[Any], document: str) -> QuerySet[Any]:
        # Only the connection's own Une Femme vendor: one (company, vendor) pair each.
        only = Q(pk__in=[])
        for conn_id, vendor_id in vendors:
            only |= Q(
                **{f"{document}__connection_id": conn_id, f"{document}__vendor_qbo_id": vendor_id}
            )
        return lines.filter(only, detail_type=PurchaseLine.ITEM_BASED)

    def sales(model: Any, document: str, kind: str) -> QuerySet[Any]:
        lines = dated(model, document).filter(
            **{f"{document}__voided": False}, detail_type=SALES_ITEM
        )
        return _grouped(lines, document=document, kind=kind, grouping=grouping)

    bills = from_une_femme(dated(QBOBillLine, "bill"), "bill")
    credits = from_une_femme(dated(QBOVendorCreditLine, "vendor_credit"), "vendor_credit")
    orders = from_une_femme(
        QBOPurchaseOrderLine.objects.filter(
            purchase_order__connection_id__in=scope_ids,
            purchase_order__po_status=QBOPurchaseOrder.Status.OPEN,
        ),
        "purchase_order",
    )
    parts = [
        _grouped(bills, document="bill", kind="received", grouping=grouping),
        _grouped(
            credits, document="vendor_credit", kind="returned_to_une_femme", grouping=grouping
        ),
        _grouped(orders, document="purchase_order", kind="on_order", grouping=None),
        sales(QBOInvoiceLine, "invoice", "sold"),
        sales(QBOSalesReceiptLine, "sales_receipt", "sold"),
        sales(QBOCreditMemoLine, "credit_memo", "returned"),
        sales(QBORefundReceiptLine, "refund_receipt", "returned"),
    ]
    return list(parts[0].union(*parts[1:], all=True))


LINES = refresh.refreshable("sell_through.lines", lambda key: _lines(*key))


def sell_through_report(
    *,
    user: User,
    start: date,
    end: date,
    grouping: str = MONTH,
    partner_id: int | None = None,
    sku: str = "",
) -> SellThrough:
    """Sell-in and sell-through per partner × SKU × period for ``start``..``end``
    (inclusive), for what ``user`` may see; ``partner_id`` and ``sku`` narrow within that
    scope, never widen it. Rows come sorted by partner, SKU, then period."""
    connections = QBOConnection.objects.visible_to(user)
    mappings = SKUMapping.objects.visible_to(user)
    if partner_id is not None:
        connections = connections.filter(partner_id=partner_id)
        mappings = mappings.filter(connection__partner_id=partner_id)
    scope = list(connections.values_list("pk", "company_name"))
    vendors = une_femme_vendor_ids(pk for pk, _ in scope)
    without_vendor = sorted(name for pk, name in scope if pk not in vendors)

    scope_ids = sorted(pk for pk, _ in scope)
    # Every line of the period grouped: a few hundred milliseconds over a year at the
    # ~100,000-invoice scale, and read only from these companies' mirrors, so kept until a
    # sync changes one of them (common.generations), and while a busy company's syncs keep
    # changing them, read as last computed for up to FIGURES_STALE_SECONDS while the worker
    # recomputes them (bottles, not money). The mappings are applied below, fresh.
    question = (scope_ids, sorted(vendors.items()), start, end, grouping)
    grouped_rows = refresh.figure(LINES, question, map(generations.mirror, scope_ids))

    # Every mapping in scope, even with a SKU filter: a line of an item mapped to another
    # SKU is filtered out, not "unmapped".
    mapping_rows = mappings.values_list(
        "connection_id", "item_qbo_id", "bottles_per_unit", "connection__partner_id",
        "connection__partner__name", "catalog_sku__code", "catalog_sku__wine",
        "catalog_sku__format_ml",
    )  # fmt: skip
    by_item: dict[tuple[int, str], tuple[int, int, str, str, str, int | None]] = {}
    for conn_id, item_id, per_unit, p_id, p_name, code, wine, ml in mapping_rows:
        by_item[(conn_id, item_id)] = (per_unit, p_id, p_name, code, wine, ml)

    rows: dict[tuple[int, str, date], SellThroughRow] = {}
    on_order: dict[tuple[int, str], OnOrderRow] = {}
    unmapped = 0
    for kind, conn_id, item_id, period_start, qty, count in grouped_rows:
        mapped = by_item.get((conn_id, item_id))
        if mapped is None:
            unmapped += count
            continue
        per_unit, p_id, p_name, code, wine, ml = mapped
        if sku and code != sku:
            continue
        bottles = (qty or ZERO) * per_unit
        if kind == "on_order":
            order = on_order.get((p_id, code))
            if order is None:
                order = on_order[(p_id, code)] = OnOrderRow(p_name, code, wine, ml)
            order.bottles += bottles
            continue
        row = rows.get((p_id, code, period_start))
        if row is None:
            row = rows[(p_id, code, period_start)] = SellThroughRow(
                partner_id=p_id, partner=p_name, sku=code, wine=wine, format_ml=ml,
                period=Period(period_start, grouping),
            )  # fmt: skip
        setattr(row, kind, getattr(row, kind) + bottles)

    return SellThrough(
        rows=sorted(rows.values(), key=lambda r: (r.partner.casefold(), r.sku, r.period.start)),
        on_order=sorted(on_order.values(), key=lambda r: (r.partner.casefold(), r.sku)),
        periods=periods_between(start=start, end=end, grouping=grouping),
        start=start,
        end=end,
        grouping=grouping,
        unmapped_lines=unmapped,
        has_mappings=bool(by_item),
        without_vendor=without_vendor,
    )
