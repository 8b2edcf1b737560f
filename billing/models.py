"""Mirror of partners' receivables: customers, invoices with lines, payments with the
invoices they paid. Money is Decimal; QBO ids are strings keyed by connection."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from common.mirror import MirroredRecord

# Money columns: 18 digits, 2 decimal places (QBO amounts are to the cent).
#
# A mirrored row's foreign key to its connection has no index of its own: the unique
# (connection, qbo_id) index already serves every lookup by connection, and a second index
# would be one more write per row of every import page (docs/architecture.md, "The write
# path"). The same holds for an invoice line's key to its invoice, covered by (invoice,
# position).


class QBOCustomer(MirroredRecord):
    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="customers", db_index=False
    )
    display_name = models.CharField(max_length=255)
    company_name = models.CharField(max_length=255, blank=True)
    email = models.CharField(max_length=255, blank=True)
    active = models.BooleanField(default=True)
    balance = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "qbo_id"], name="customer_unique_per_realm"
            )
        ]

    def __str__(self) -> str:
        return self.display_name


class QBOInvoice(MirroredRecord):
    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="invoices", db_index=False
    )
    doc_number = models.CharField(max_length=32, blank=True)
    customer_qbo_id = models.CharField(max_length=32, blank=True)
    customer_name = models.CharField(max_length=255, blank=True)
    txn_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    total_amt = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
    balance = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3, default="USD")
    voided = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "qbo_id"], name="invoice_unique_per_realm"
            )
        ]
        indexes = [
            models.Index(fields=["connection", "balance"]),
            models.Index(fields=["connection", "due_date"]),
        ]

    def __str__(self) -> str:
        return f"Invoice {self.doc_number or self.qbo_id}"


class QBOInvoiceLine(models.Model):
    # QuickBooks adds a line of this type to every invoice, holding the sum of the lines
    # above it. It is a figure about the invoice, not something sold: pages show it as a
    # subtotal, and nothing that counts what was sold may add it in.
    SUBTOTAL = "SubTotalLineDetail"

    invoice = models.ForeignKey(
        QBOInvoice, on_delete=models.CASCADE, related_name="lines", db_index=False
    )
    line_id = models.CharField(max_length=32, blank=True)
    position = models.PositiveIntegerField()
    detail_type = models.CharField(max_length=40)
    item_qbo_id = models.CharField(max_length=32, blank=True)
    description = models.TextField(blank=True)
    qty = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    unit_price = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    amount = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_position")
        ]

    def __str__(self) -> str:
        return f"Line {self.position + 1} of invoice {self.invoice_id}"


class QBOPayment(MirroredRecord):
    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="payments", db_index=False
    )
    customer_qbo_id = models.CharField(max_length=32, blank=True)
    customer_name = models.CharField(max_length=255, blank=True)
    txn_date = models.DateField(null=True, blank=True)
    total_amt = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
    unapplied_amt = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
    payment_method = models.CharField(max_length=100, blank=True)
    reference = models.CharField(max_length=100, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    voided = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "qbo_id"], name="payment_unique_per_realm"
            )
        ]

    def __str__(self) -> str:
        return f"Payment {self.reference or self.qbo_id}"


class QBOPaymentApplication(models.Model):
    """How much of a payment went to one invoice (a Payment line's LinkedTxn)."""

    payment = models.ForeignKey(QBOPayment, on_delete=models.CASCADE, related_name="applications")
    txn_type = models.CharField(max_length=32, default="Invoice")
    txn_qbo_id = models.CharField(max_length=32)
    amount = models.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        indexes = [models.Index(fields=["txn_type", "txn_qbo_id"])]

    def __str__(self) -> str:
        return f"{self.amount} to {self.txn_type} {self.txn_qbo_id}"
