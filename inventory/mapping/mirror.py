"""How QuickBooks' items fill inventory's mirror (common.mirror says how a mirrored entity
is declared and applied). Registered in ``InventoryConfig.ready``."""

from __future__ import annotations

from decimal import Decimal

from common.mirror import JSON, MirrorSpec, qty, text

from .models import QBOItem


def _item(obj: JSON) -> JSON:
    return {
        "name": text(obj.get("Name"), 255),
        "fully_qualified_name": text(obj.get("FullyQualifiedName"), 1024),
        "sku": text(obj.get("Sku"), 100),
        "item_type": text(obj.get("Type"), 32),
        "active": obj.get("Active") is not False,
        "qty_on_hand": qty(obj.get("QtyOnHand")),
        "unit_price": qty(obj.get("UnitPrice")) or Decimal("0"),
        "purchase_cost": qty(obj.get("PurchaseCost")),
    }


ITEM = MirrorSpec("Item", "Items", QBOItem, _item, order=20)
