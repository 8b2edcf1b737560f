"""How QuickBooks' vendors, bills, purchase orders and vendor credits fill inventory's mirror
(common.mirror says how a mirrored entity is declared and applied). Registered in
``InventoryConfig.ready``."""

from __future__ import annotations

from common.mirror import JSON, MirrorSpec, date_of, money, qty, ref, text

from .models import (
    QBOBill,
    QBOBillLine,
    QBOPurchaseOrder,
    QBOPurchaseOrderLine,
    QBOVendor,
    QBOVendorCredit,
    QBOVendorCreditLine,
)


def _vendor(obj: JSON) -> JSON:
    return {
        "display_name": text(obj.get("DisplayName") or obj.get("CompanyName"), 255),
        "company_name": text(obj.get("CompanyName"), 255),
        "email": text((obj.get("PrimaryEmailAddr") or {}).get("Address"), 255),
        "active": obj.get("Active") is not False,
        "balance": money(obj.get("Balance")),
    }


def _document(obj: JSON) -> JSON:
    """The columns every purchase document has (``PurchaseDocument``)."""
    vendor_id, vendor_name = ref(obj, "VendorRef")
    return {
        "doc_number": text(obj.get("DocNumber"), 32),
        "vendor_qbo_id": vendor_id,
        "vendor_name": vendor_name,
        "txn_date": date_of(obj.get("TxnDate")),
        "total_amt": money(obj.get("TotalAmt")),
        "currency": text(ref(obj, "CurrencyRef")[0] or "USD", 3),
    }


def _bill(obj: JSON) -> JSON:
    return {
        **_document(obj),
        "due_date": date_of(obj.get("DueDate")),
        "balance": money(obj.get("Balance")),
    }


def _purchase_order(obj: JSON) -> JSON:
    return {**_document(obj), "po_status": text(obj.get("POStatus"), 16)}


def _vendor_credit(obj: JSON) -> JSON:
    return {**_document(obj), "balance": money(obj.get("Balance"))}


def _lines(obj: JSON) -> list[JSON]:
    """A purchase document's lines (``PurchaseLine``), the same for all three. An item line's
    detail has an ItemRef and no AccountRef, an account line's the reverse, so each id is
    blank on the other kind of line."""
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
                "account_qbo_id": ref(detail, "AccountRef")[0],
                "description": text(line.get("Description"), 4000),
                "qty": qty(detail.get("Qty")),
                "unit_price": qty(detail.get("UnitPrice")),
                "amount": money(line.get("Amount")),
            }
        )
    return lines


# Vendors come before the documents that name them, as customers do (billing's 10 and
# 30-40); the purchase documents after every sales document.
VENDOR = MirrorSpec("Vendor", "Vendors", QBOVendor, _vendor, order=12)
BILL = MirrorSpec(
    "Bill", "Bills", QBOBill, _bill, order=50, children=_lines, child_model=QBOBillLine,
    child_parent="bill",
)  # fmt: skip
PURCHASE_ORDER = MirrorSpec(
    "PurchaseOrder", "Purchase orders", QBOPurchaseOrder, _purchase_order, order=52,
    children=_lines, child_model=QBOPurchaseOrderLine, child_parent="purchase_order",
)  # fmt: skip
VENDOR_CREDIT = MirrorSpec(
    "VendorCredit", "Vendor credits", QBOVendorCredit, _vendor_credit, order=54,
    children=_lines, child_model=QBOVendorCreditLine, child_parent="vendor_credit",
)  # fmt: skip
SPECS = (VENDOR, BILL, PURCHASE_ORDER, VENDOR_CREDIT)
