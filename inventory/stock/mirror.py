"""How QuickBooks' inventory adjustments fill inventory's mirror (common.mirror says how a
mirrored entity is declared and applied). Registered in ``InventoryConfig.ready``."""

from __future__ import annotations

from common.mirror import JSON, MirrorSpec, date_of, qty, ref, text

from .models import QBOInventoryAdjustment, QBOInventoryAdjustmentLine

ITEM_ADJUSTMENT = "ItemAdjustmentLineDetail"


def _adjustment(obj: JSON) -> JSON:
    account_id, account_name = ref(obj, "AdjustAccountRef")
    return {
        "doc_number": text(obj.get("DocNumber"), 32),
        "txn_date": date_of(obj.get("TxnDate")),
        "adjust_account_qbo_id": account_id,
        "adjust_account_name": text(account_name, 255),
        "private_note": text(obj.get("PrivateNote"), 4000),
    }


def _lines(obj: JSON) -> list[JSON]:
    lines: list[JSON] = []
    for position, line in enumerate(obj.get("Line") or []):
        detail_type = text(line.get("DetailType"), 40)
        detail = line.get(detail_type) if isinstance(line.get(detail_type), dict) else {}
        lines.append(
            {
                "line_id": text(line.get("Id"), 32),
                "position": position,
                "detail_type": detail_type,
                "item_qbo_id": ref(detail, "ItemRef")[0],
                "qty_diff": qty(detail.get("QtyDiff")),
            }
        )
    return lines


# After every purchase document (vendor credits are 54): an adjustment names items only.
INVENTORY_ADJUSTMENT = MirrorSpec(
    "InventoryAdjustment", "Inventory adjustments", QBOInventoryAdjustment, _adjustment,
    order=56, children=_lines, child_model=QBOInventoryAdjustmentLine, child_parent="adjustment",
)  # fmt: skip
