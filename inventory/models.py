"""Every model of the inventory app, from the feature that owns it.

Django loads an app's models from this module; each feature package keeps its own
``models.py``. The app label stays ``inventory`` and its migrations are unchanged.
"""

from __future__ import annotations

from .catalog.models import CatalogImport, CatalogSKU
from .channels.models import ChannelOverride, ChannelRule, QBOCustomerType
from .mapping.models import MappingConflict, MappingDecision, QBOItem, SKUMapping
from .purchasing.models import (
    QBOBill,
    QBOBillLine,
    QBOPurchaseOrder,
    QBOPurchaseOrderLine,
    QBOVendor,
    QBOVendorCredit,
    QBOVendorCreditLine,
)
from .push.models import PushBatch, PushItem, PushJob
from .stock.models import QBOInventoryAdjustment, QBOInventoryAdjustmentLine
from .warehouse.models import (
    WarehouseApiRequest,
    WarehouseSnapshot,
    WarehouseSnapshotChange,
    WarehouseToken,
    WarehouseUpload,
    WarehouseUploadRow,
)

__all__ = [
    "CatalogImport",
    "CatalogSKU",
    "ChannelOverride",
    "ChannelRule",
    "MappingConflict",
    "MappingDecision",
    "PushBatch",
    "PushItem",
    "PushJob",
    "QBOBill",
    "QBOBillLine",
    "QBOCustomerType",
    "QBOInventoryAdjustment",
    "QBOInventoryAdjustmentLine",
    "QBOItem",
    "QBOPurchaseOrder",
    "QBOPurchaseOrderLine",
    "QBOVendor",
    "QBOVendorCredit",
    "QBOVendorCreditLine",
    "SKUMapping",
    "WarehouseApiRequest",
    "WarehouseSnapshot",
    "WarehouseSnapshotChange",
    "WarehouseToken",
    "WarehouseUpload",
    "WarehouseUploadRow",
]
