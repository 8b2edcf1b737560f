"""Mirror of partners' purchases: what a distributor bought (bills), has on order (purchase
orders) and sent back (vendor credits), and from whom (vendors). Typed columns for what
pages filter and sum on; the whole QBO object in ``raw``. ``inventory.purchasing.mirror``
says how QuickBooks' JSON fills them.

As in billing's mirror (billing/models.py), a row's foreign key to its connection has no
index of its own: the unique (connection, qbo_id) index serves every lookup by
connection, and a second index would be one more write per row of every import page. A
line's key to its document is covered by (document, position) the same way.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from common.mirror import MirroredRecord

# Money columns: 18 digits, 2 decimal places (QBO amounts are to the cent); quantities and
# unit prices to 4, as on invoice lines.


class QBOVendor(MirroredRecord):
    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="vendors", db_index=False
    )
    display_name = models.CharField(max_length=255)
    company_name = models.CharField(max_length=255, blank=True)
    email = models.CharField(max_length=255, blank=True)
    active = models.BooleanField(default=True)
    # What the partner owes the vendor: its open bills less its unused vendor credits.
    balance = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "qbo_id"], name="vendor_unique_per_realm")
        ]

    def __str__(self) -> str:
        return self.display_name


class PurchaseDocument(MirroredRecord):
    """What a bill, a purchase order and a vendor credit share. Each concrete model declares
    its own ``connection`` (MirroredRecord: each has its own related name); the constraint
    and indexes below name it all the same."""

    doc_number = models.CharField(max_length=32, blank=True)
    vendor_qbo_id = models.CharField(max_length=32, blank=True)
    vendor_name = models.CharField(max_length=255, blank=True)
    txn_date = models.DateField(null=True, blank=True)
    total_amt = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3, default="USD")

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "qbo_id"], name="%(class)s_unique_per_realm"
            )
        ]
        indexes = [
            # Pages sum documents by month, and sell-in keeps those of one vendor (Une
            # Femme's) only.
            models.Index(fields=["connection", "txn_date"], name="%(class)s_by_date"),
            models.Index(fields=["connection", "vendor_qbo_id"], name="%(class)s_by_vendor"),
        ]


# QBO has no void for bills, purchase orders or vendor credits (only delete; a BillPayment
# is what can be voided), so unlike invoices these carry no ``voided``.


class QBOBill(PurchaseDocument):
    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="bills", db_index=False
    )
    due_date = models.DateField(null=True, blank=True)
    balance = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))

    def __str__(self) -> str:
        return f"Bill {self.doc_number or self.qbo_id}"


class QBOPurchaseOrder(PurchaseDocument):
    class Status(models.TextChoices):
        # Closed once a bill receives it (or closed by hand): no longer on order.
        OPEN = "Open", "Open"
        CLOSED = "Closed", "Closed"

    connection = models.ForeignKey(
        "sync.QBOConnection",
        on_delete=models.CASCADE,
        related_name="purchase_orders",
        db_index=False,
    )
    # POStatus as QuickBooks sent it (blank if it sent none).
    po_status = models.CharField(max_length=16, choices=Status.choices, blank=True)

    def __str__(self) -> str:
        return f"Purchase order {self.doc_number or self.qbo_id}"


class QBOVendorCredit(PurchaseDocument):
    connection = models.ForeignKey(
        "sync.QBOConnection",
        on_delete=models.CASCADE,
        related_name="vendor_credits",
        db_index=False,
    )
    # What bill payments have not used of it yet.
    balance = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))

    def __str__(self) -> str:
        return f"Vendor credit {self.doc_number or self.qbo_id}"


class PurchaseLine(models.Model):
    """One line of a purchase document. An item line (ItemBasedExpenseLineDetail: bottles
    or cases bought) names its item, quantity and unit cost; an account line
    (AccountBasedExpenseLineDetail: freight, fees) names the expense account and has only
    an amount. Each concrete line declares the foreign key to its document."""

    ITEM_BASED = "ItemBasedExpenseLineDetail"
    ACCOUNT_BASED = "AccountBasedExpenseLineDetail"

    line_id = models.CharField(max_length=32, blank=True)
    position = models.PositiveIntegerField()
    detail_type = models.CharField(max_length=40)
    item_qbo_id = models.CharField(max_length=32, blank=True)
    account_qbo_id = models.CharField(max_length=32, blank=True)
    description = models.TextField(blank=True)
    qty = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    unit_price = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    amount = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))

    class Meta:
        abstract = True
        ordering = ["position"]

    def __str__(self) -> str:
        return f"Line {self.position + 1}"


class QBOBillLine(PurchaseLine):
    bill = models.ForeignKey(
        QBOBill, on_delete=models.CASCADE, related_name="lines", db_index=False
    )

    class Meta(PurchaseLine.Meta):
        constraints = [
            models.UniqueConstraint(fields=["bill", "position"], name="bill_line_position")
        ]


class QBOPurchaseOrderLine(PurchaseLine):
    purchase_order = models.ForeignKey(
        QBOPurchaseOrder, on_delete=models.CASCADE, related_name="lines", db_index=False
    )

    class Meta(PurchaseLine.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["purchase_order", "position"], name="purchase_order_line_position"
            )
        ]


class QBOVendorCreditLine(PurchaseLine):
    vendor_credit = models.ForeignKey(
        QBOVendorCredit, on_delete=models.CASCADE, related_name="lines", db_index=False
    )

    class Meta(PurchaseLine.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["vendor_credit", "position"], name="vendor_credit_line_position"
            )
        ]
