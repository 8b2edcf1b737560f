"""Sharing one SKU's adjustment among the items mapped to it, in proportion to the stock each
holds in QuickBooks (in bottles): the split rule an admin may pick on the stock push form
instead of one item. Pure arithmetic; the draft previews it from the mirror and the job
applies it to QuickBooks' quantities when it sends the adjustment.

Each item moves by whole units of its own (a case item by whole cases). The cases are
rounded to the nearest whole case of their share, and what rounding leaves goes on the
item with the smallest unit (the bottle item, where there is one), so the parts add up to
the adjustment exactly; when that item cannot take the rest in whole units either, the
split is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

WHOLE = Decimal(1)


@dataclass(frozen=True)
class Part:
    """One item the adjustment may be shared on: its id, its quantity in QuickBooks (in its
    own units) and how many bottles a unit holds."""

    item_qbo_id: str
    qty_on_hand: Decimal
    bottles_per_unit: int

    @property
    def bottles(self) -> Decimal:
        # An item QuickBooks shows below zero holds no stock to weigh by.
        return max(self.qty_on_hand, Decimal(0)) * self.bottles_per_unit


class SplitRefused(ValueError):
    """The adjustment cannot be shared in whole units; the message says why."""


def split_by_stock(difference: Decimal, parts: Sequence[Part]) -> dict[str, Decimal]:
    """Item id → the adjustment in that item's units (items moved by 0 included), adding up
    to ``difference`` bottles."""
    if len(parts) < 2:
        raise SplitRefused("Only one item can take this SKU's adjustment; choose it instead.")
    total = sum((p.bottles for p in parts), Decimal(0))
    if total <= 0:
        raise SplitRefused(
            "QuickBooks holds none of this SKU in its items, so there is no stock to split "
            "by; choose one item instead."
        )
    rest_on = min(parts, key=lambda p: (p.bottles_per_unit, p.item_qbo_id))
    units: dict[str, Decimal] = {}
    placed = Decimal(0)
    for part in parts:
        if part is rest_on:
            continue
        share = difference * part.bottles / total / part.bottles_per_unit
        units[part.item_qbo_id] = share.quantize(WHOLE, rounding=ROUND_HALF_UP)
        placed += units[part.item_qbo_id] * part.bottles_per_unit
    rest = difference - placed
    if rest % rest_on.bottles_per_unit:
        raise SplitRefused(
            f"Split by stock, {rest.normalize():f} bottles would be left for an item counted "
            f"in cases of {rest_on.bottles_per_unit}; choose one item instead."
        )
    units[rest_on.item_qbo_id] = rest / rest_on.bottles_per_unit
    return {part.item_qbo_id: units[part.item_qbo_id] for part in parts}
