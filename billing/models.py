"""Mirror of partners' receivables: customers; the sales forms (invoices, sales receipts,
credit memos, refund receipts) with their lines; payments with the invoices and credit memos
they settled. Money is Decimal; QBO ids are strings keyed by connection."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from django.db import models
from django.db.models import F

from common.mirror import MirroredRecord

# Money columns: 18 digits, 2 decimal places (QBO amounts are to the cent).
#
# A mirrored row's foreign key to its connection has no index of its own: the unique
# (connection, qbo_id) index already serves every lookup by connection, and a second index
# would be one more write per row of every import page (docs/architecture.md, "The write
# path"). The same holds for a line's key to its document, covered by (document, position).


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


class SalesDocument(MirroredRecord):
    """The columns every sales form shares: who it is for, when, how much. What pages filter
    and sum on is a column; the rest of the form stays in ``raw``."""

    doc_number = models.CharField(max_length=32, blank=True)
    customer_qbo_id = models.CharField(max_length=32, blank=True)
    customer_name = models.CharField(max_length=255, blank=True)
    txn_date = models.DateField(null=True, blank=True)
    total_amt = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3, default="USD")
    voided = models.BooleanField(default=False)

    class Meta:
        abstract = True


class SalesLine(models.Model):
    """One line of a sales form, as QuickBooks lists it (``position`` keeps its order).
    Each concrete line model adds the foreign key to its document, named after it
    (``DOCUMENT``)."""

    # QuickBooks adds a line of this type to every invoice (and may to any sales form),
    # holding the sum of the lines above it. It is a figure about the document, not
    # something sold: pages show it as a subtotal, and nothing that counts what was sold
    # may add it in.
    SUBTOTAL = "SubTotalLineDetail"
    DOCUMENT: ClassVar[str]

    line_id = models.CharField(max_length=32, blank=True)
    position = models.PositiveIntegerField()
    detail_type = models.CharField(max_length=40)
    item_qbo_id = models.CharField(max_length=32, blank=True)
    description = models.TextField(blank=True)
    qty = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    unit_price = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    amount = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))

    class Meta:
        abstract = True
        ordering = ["position"]

    def __str__(self) -> str:
        document = self.DOCUMENT.replace("_", " ")
        return f"Line {self.position + 1} of {document} {getattr(self, f'{self.DOCUMENT}_id')}"


class QBOInvoice(SalesDocument):
    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="invoices", db_index=False
    )
    due_date = models.DateField(null=True, blank=True)
    balance = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "qbo_id"], name="invoice_unique_per_realm"
            )
        ]
        indexes = [
            models.Index(fields=["connection", "balance"]),
            models.Index(fields=["connection", "due_date"]),
            # The reports' narrow copy of the table: the aggregates over every invoice
            # (aging, placements, sell-through) read only these columns, and an index-only
            # scan of them skips the heap, whose rows each carry the invoice's raw
            # document (~1.4 KB inline): 10 MB read instead of 170 MB at ~100,000 invoices.
            models.Index(
                fields=["connection", "txn_date"],
                include=[
                    "id",
                    "customer_qbo_id",
                    "customer_name",
                    "voided",
                    "balance",
                    "due_date",
                    "currency",
                    # Credit sales over DSO's 91 days (the partners page, the dashboard).
                    "total_amt",
                ],
                name="invoice_report_cover",
            ),
            # The open invoices alone (about a quarter of them), with every column the
            # open-documents list, the aging figures and a customer's receivables read:
            # those pages scan 3 MB of index instead of the heap's 170 MB.
            models.Index(
                fields=["connection", "customer_qbo_id"],
                include=[
                    "id",
                    "customer_name",
                    "doc_number",
                    "qbo_id",
                    "txn_date",
                    "due_date",
                    "total_amt",
                    "balance",
                    "currency",
                ],
                condition=models.Q(balance__gt=0, voided=False),
                name="invoice_open_cover",
            ),
        ]

    def __str__(self) -> str:
        return f"Invoice {self.doc_number or self.qbo_id}"


class QBOInvoiceLine(SalesLine):
    DOCUMENT = "invoice"

    invoice = models.ForeignKey(
        QBOInvoice, on_delete=models.CASCADE, related_name="lines", db_index=False
    )

    class Meta(SalesLine.Meta):
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_position")
        ]


class QBOSalesReceipt(SalesDocument):
    """A cash sale: paid when made, so nothing is ever owed on it and it has no balance."""

    connection = models.ForeignKey(
        "sync.QBOConnection",
        on_delete=models.CASCADE,
        related_name="sales_receipts",
        db_index=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "qbo_id"], name="sales_receipt_unique_per_realm"
            )
        ]
        # Pages add sales up by month.
        indexes = [models.Index(fields=["connection", "txn_date"])]

    def __str__(self) -> str:
        return f"Sales receipt {self.doc_number or self.qbo_id}"


class QBOSalesReceiptLine(SalesLine):
    DOCUMENT = "sales_receipt"

    sales_receipt = models.ForeignKey(
        QBOSalesReceipt, on_delete=models.CASCADE, related_name="lines", db_index=False
    )

    class Meta(SalesLine.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["sales_receipt", "position"], name="sales_receipt_line_position"
            )
        ]


class QBOCreditMemo(SalesDocument):
    """Goods taken back (or a charge waived) against a credit the customer keeps until
    payments use it."""

    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="credit_memos", db_index=False
    )
    # The credit payments have not used yet (QuickBooks' RemainingCredit, see
    # billing.mirror._credit_memo): what the customer still has to spend. 0 once used up.
    balance = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "qbo_id"], name="credit_memo_unique_per_realm"
            )
        ]
        # Pages add returns up by month.
        indexes = [models.Index(fields=["connection", "txn_date"])]

    def __str__(self) -> str:
        return f"Credit memo {self.doc_number or self.qbo_id}"


class QBOCreditMemoLine(SalesLine):
    DOCUMENT = "credit_memo"

    credit_memo = models.ForeignKey(
        QBOCreditMemo, on_delete=models.CASCADE, related_name="lines", db_index=False
    )

    class Meta(SalesLine.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["credit_memo", "position"], name="credit_memo_line_position"
            )
        ]


class QBORefundReceipt(SalesDocument):
    """Goods taken back and the money paid out at once: as on a sales receipt, nothing
    stays open, so no balance."""

    connection = models.ForeignKey(
        "sync.QBOConnection",
        on_delete=models.CASCADE,
        related_name="refund_receipts",
        db_index=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "qbo_id"], name="refund_receipt_unique_per_realm"
            )
        ]
        # Pages add returns up by month.
        indexes = [models.Index(fields=["connection", "txn_date"])]

    def __str__(self) -> str:
        return f"Refund receipt {self.doc_number or self.qbo_id}"


class QBORefundReceiptLine(SalesLine):
    DOCUMENT = "refund_receipt"

    refund_receipt = models.ForeignKey(
        QBORefundReceipt, on_delete=models.CASCADE, related_name="lines", db_index=False
    )

    class Meta(SalesLine.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["refund_receipt", "position"], name="refund_receipt_line_position"
            )
        ]


# A payment line linking a credit memo records credit the payment used, not money it
# brought (``QBOPaymentApplication.txn_type``).
CREDIT_MEMO_LINK = "CreditMemo"


class QBOPayment(MirroredRecord):
    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="payments", db_index=False
    )
    customer_qbo_id = models.CharField(max_length=32, blank=True)
    customer_name = models.CharField(max_length=255, blank=True)
    txn_date = models.DateField(null=True, blank=True)
    total_amt = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
    unapplied_amt = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
    # Sums of its applications, stored with the payment as it is mirrored (billing.mirror
    # ``_payment``) so that the payments page, its totals and its export read one table:
    # summed per page view they were a third of the page's SQL at 77,000 payments.
    # ``applied_amt``: money applied to invoices, what the applications paid less the
    # credit memos' credit used; ``credit_used_amt``: that credit.
    applied_amt = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
    credit_used_amt = models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0"))
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
        # As the invoices' (QBOInvoice.Meta): the unapplied-cash and receipts figures read
        # these columns of every payment without the raw documents beside them. Billing
        # migration 0007 adds one more, in SQL because Django cannot say NULLS LAST with
        # INCLUDE: payment_last_per_customer, each customer's payments newest first, which
        # the receivables page's "last payment" reads in order instead of sorting them all.
        indexes = [
            models.Index(
                fields=["connection", "txn_date"],
                include=[
                    "id",
                    "customer_qbo_id",
                    "currency",
                    "voided",
                    "unapplied_amt",
                    "total_amt",
                    # The payments page's totals.
                    "applied_amt",
                    "credit_used_amt",
                ],
                name="payment_report_cover",
            ),
            # The payments with money not yet applied, as invoice_open_cover is for
            # invoices: the open-documents list and the aging figures count them as credit.
            models.Index(
                fields=["connection", "customer_qbo_id"],
                include=[
                    "id",
                    "customer_name",
                    "reference",
                    "qbo_id",
                    "txn_date",
                    "total_amt",
                    "unapplied_amt",
                    "currency",
                ],
                condition=models.Q(unapplied_amt__gt=0, voided=False),
                name="payment_open_cover",
            ),
            # The payments page's own order, newest first: its first page is read from
            # the top of this index, not 77,000 payments sorted per view.
            models.Index(
                F("txn_date").desc(nulls_last=True), F("id").desc(), name="payment_newest_first"
            ),
        ]

    def __str__(self) -> str:
        return f"Payment {self.reference or self.qbo_id}"

    # What the payment paid and the credit memos it used, told apart from its applications
    # as loaded: read them where ``applications`` is prefetched (billing.selectors
    # ``payment_list``), or each is a query.

    @property
    def paid_applications(self) -> list[QBOPaymentApplication]:
        return [a for a in self.applications.all() if a.txn_type != CREDIT_MEMO_LINK]

    @property
    def credit_applications(self) -> list[QBOPaymentApplication]:
        return [a for a in self.applications.all() if a.txn_type == CREDIT_MEMO_LINK]


class QBOPaymentApplication(models.Model):
    """How much of a payment went to one invoice, or how much of a credit memo's credit it
    used (a Payment line's LinkedTxn; ``txn_type`` says which)."""

    payment = models.ForeignKey(QBOPayment, on_delete=models.CASCADE, related_name="applications")
    txn_type = models.CharField(max_length=32, default="Invoice")
    txn_qbo_id = models.CharField(max_length=32)
    amount = models.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        indexes = [models.Index(fields=["txn_type", "txn_qbo_id"])]

    def __str__(self) -> str:
        return f"{self.amount} to {self.txn_type} {self.txn_qbo_id}"
