"""What a bottle costs a partner: the rule behind every value at cost (docs/reports.md,
"Value at cost"). Reads only.

An item's cost per unit is its PurchaseCost in QuickBooks; when QuickBooks has none (or
zero), the quantity-weighted average of the unit costs on the item's bills, i.e. the
bills' amounts over their quantities. A unit is what the item counts (a bottle, or a case
of N), so a bottle of it costs the unit cost ÷ the mapping's bottles per unit. A value is
worked out from the unit cost and only then rounded to the cent: 24 bottles of a case of 12
at $100.00 are $200.00, never 24 × $8.3333.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Sum

from inventory.mapping.models import CostSource, SKUMapping
from inventory.purchasing.models import PurchaseLine, QBOBillLine

CENT = Decimal("0.01")
PER_BOTTLE_PLACES = Decimal("0.0001")

__all__ = ["CostSource", "ItemCost", "bill_average_costs", "first_known", "item_cost"]


@dataclass(frozen=True)
class ItemCost:
    """What one unit of a mapped item costs, and where that figure comes from."""

    item_qbo_id: str
    unit_cost: Decimal
    bottles_per_unit: int
    source: str  # a CostSource value

    @property
    def per_bottle(self) -> Decimal:
        """For display and export; values are computed from the unit cost (value_of)."""
        return (self.unit_cost / self.bottles_per_unit).quantize(PER_BOTTLE_PLACES, ROUND_HALF_UP)

    @property
    def source_label(self) -> str:
        return str(CostSource(self.source).label)

    def value_of(self, bottles: Decimal) -> Decimal:
        """``bottles`` at this cost, to the cent."""
        return (bottles * self.unit_cost / self.bottles_per_unit).quantize(CENT, ROUND_HALF_UP)


def item_cost(
    *,
    item_qbo_id: str,
    bottles_per_unit: int,
    purchase_cost: Decimal | None,
    bill_average: Decimal | None,
) -> ItemCost | None:
    """The rule, for one mapped item: PurchaseCost when QuickBooks has a positive one, else
    the bills' average, else nothing (a cost of zero would value any loss at $0.00)."""
    if purchase_cost is not None and purchase_cost > 0:
        return ItemCost(item_qbo_id, purchase_cost, bottles_per_unit, CostSource.PURCHASE_COST)
    if bill_average is not None and bill_average > 0:
        return ItemCost(item_qbo_id, bill_average, bottles_per_unit, CostSource.BILLS)
    return None


def bill_average_costs(wanted: Iterable[tuple[int, str]]) -> dict[tuple[int, str], Decimal]:
    """(connection id, item QuickBooks id) → the item's average unit cost on its bills:
    Σ amount ÷ Σ quantity over its item lines with a positive quantity. One query, grouped
    in PostgreSQL, and none when nothing is wanted (most items have a PurchaseCost)."""
    pairs = set(wanted)
    if not pairs:
        return {}
    rows = (
        QBOBillLine.objects.filter(
            bill__connection_id__in={conn for conn, _ in pairs},
            item_qbo_id__in={item for _, item in pairs},
            detail_type=PurchaseLine.ITEM_BASED,
            qty__gt=0,
        )
        .values_list("bill__connection_id", "item_qbo_id")
        .annotate(amount=Sum("amount"), qty=Sum("qty"))
        .order_by()
    )
    averages = {}
    for conn, item, amount, qty in rows:
        # The IN filters select a rectangle of connections × items; keep the pairs asked.
        if (conn, item) in pairs and qty:
            averages[(conn, item)] = amount / qty
    return averages


def mapping_order(unit: str, bottles_per_unit: int, item_qbo_id: str) -> tuple[bool, int, str]:
    """Which of a SKU's items speaks for it first: a bottle item, then the smallest case
    (the order a push has always picked its item in)."""
    return (unit != SKUMapping.Unit.BOTTLE, bottles_per_unit, item_qbo_id)


def first_known(costs: Iterable[tuple[tuple[bool, int, str], ItemCost | None]]) -> ItemCost | None:
    """A SKU's cost from its items' (order, cost): the first item in ``mapping_order`` with
    a known cost. A bottle item and a case item of one wine cost about the same per bottle;
    preferring the bottle item keeps the figure where the push puts it by default."""
    known = sorted(((order, cost) for order, cost in costs if cost is not None), key=_first)
    return known[0][1] if known else None


def _first(pair: tuple[tuple[bool, int, str], ItemCost]) -> tuple[bool, int, str]:
    return pair[0]
