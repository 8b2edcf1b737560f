"""Mirror of partners' purchases: what a distributor bought (bills), has on order (purchase
orders) and sent back (vendor credits), and from whom (vendors). Typed columns for what
pages filter and sum on; the whole QBO object in ``raw``. ``inventory.purchasing.mirror``
says how QuickBooks' JSON fills them.

Beside the mirror, which vendor is Une Femme in each partner's books (``UneFemmeVendor``,
with its append-only trail ``UneFemmeVendorChange``): sell-in counts that vendor's bills
only. ``inventory.purchasing.services`` says how it is found.

As in billing's mirror (billing/models.py), a row's foreign key to its connection has no
index of its own: the unique (connection, qbo_id) index serves every lookup by
connection, and a second index would be one more write per row of every import page. A
line's key to its document is covered by (document, position) the same way.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.access import ConnectionScopedQuerySet
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


# ---------------------------------------------------------------- which vendor is Une Femme


class UneFemmeVendor(models.Model):
    """Which of a partner's QuickBooks vendors is Une Femme: the one whose bills count as
    sell-in. One row per connection, kept by ``inventory.purchasing.services``: found
    automatically after every sync unless an admin has set it. ``vendor_qbo_id`` is blank
    when no vendor was found, or when several fitted equally (``source`` says which)."""

    class Source(models.TextChoices):
        NAME = "name", "Found by name"
        EMAIL = "email", "Found by e-mail domain"
        BILLS = "bills", "Found from bills for mapped wines"
        ADMIN = "admin", "Set by an admin"
        NOT_FOUND = "not_found", "Not found"
        AMBIGUOUS = "ambiguous", "Several vendors fit equally"

    connection = models.OneToOneField(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="une_femme_vendor"
    )
    # The vendor's QuickBooks id, not a foreign key to the mirror row: an admin's choice
    # must outlive the vendor being merged away in QuickBooks until an admin has seen that.
    vendor_qbo_id = models.CharField(max_length=32, blank=True)
    # Its name when last chosen or confirmed, for when the mirror no longer has it.
    vendor_name = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    # For "several vendors fit equally": their names, so the page can say which.
    candidates = models.JSONField(default=list, blank=True)
    # The admin who set it; empty for an automatic choice.
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    # When the choice last changed (not when it was last confirmed by a sync).
    decided_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[ConnectionScopedQuerySet] = ConnectionScopedQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        verbose_name = "Une Femme vendor"
        constraints = [
            # Found or set means a vendor; not found or tied means none.
            models.CheckConstraint(
                condition=(Q(source__in=["not_found", "ambiguous"]) & Q(vendor_qbo_id=""))
                | (~Q(source__in=["not_found", "ambiguous"]) & ~Q(vendor_qbo_id="")),
                name="unefemmevendor_vendor_matches_source",
            ),
        ]

    def __str__(self) -> str:
        return f"Une Femme vendor of connection {self.connection_id}: {self.vendor_qbo_id or '—'}"

    @property
    def is_set_by_admin(self) -> bool:
        return self.source == self.Source.ADMIN


class UneFemmeVendorChange(models.Model):
    """One change of a connection's Une Femme vendor: found or lost by a sync (``actor``
    empty), set by an admin, or returned to automatic by an admin. ``before`` and
    ``after`` are ``{"vendor_qbo_id", "vendor_name", "source"}``; ``before`` is empty for
    the first choice. Never updated or deleted."""

    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="une_femme_vendor_changes"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects: ClassVar[ConnectionScopedQuerySet] = ConnectionScopedQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Une Femme vendor change by {self.actor_id or 'sync'} at {self.created_at}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # An audit row that could be rewritten would prove nothing.
        if self.pk is not None:
            raise ValueError("Une Femme vendor changes are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ValueError("Une Femme vendor changes are append-only.")

    @property
    def before_text(self) -> str:
        return describe_choice(self.before)

    @property
    def after_text(self) -> str:
        return describe_choice(self.after)


def describe_choice(state: dict[str, Any]) -> str:
    """An audit row's before or after, in words: "Une Femme Wines (found by name)"."""
    if not state:
        return "not looked for yet"
    source = state.get("source", "")
    label = (
        UneFemmeVendor.Source(source).label.lower()
        if source in UneFemmeVendor.Source.values
        else source
    )
    if not state.get("vendor_qbo_id"):
        return f"no vendor ({label})"
    name = state.get("vendor_name") or f"vendor {state['vendor_qbo_id']}"
    return f"{name} ({label})"
