"""Depletion allowance programs and the claims distributors send against them.

A program pays a partner so much per 9-litre case (or per bottle) of its SKUs that the
partner's accounts bought in the program's period, optionally in one channel only and up to
a cap per account and month. What the books say is due is computed, never stored
(``allowances.selectors``); a claim keeps its lines as the distributor wrote them and what
the check made of each when it was uploaded, so a decision reads the figures it was made on.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.access import PartnerScopedQuerySet
from accounts.models import Partner
from inventory.catalog.models import CatalogSKU
from inventory.channels.models import Channel

CENT = Decimal("0.01")


class ProgramQuerySet(PartnerScopedQuerySet):
    # A program is visible to a partner user when it names the user's partner.
    partner_lookup = "partners"


class AllowanceProgram(models.Model):
    class Unit(models.TextChoices):
        # A 9-litre case is the trade's unit: twelve 750 ml bottles, six magnums.
        CASE_9L = "case_9l", "9-litre case"
        BOTTLE = "bottle", "bottle"

    name = models.CharField(max_length=200, unique=True)
    partners = models.ManyToManyField(Partner, related_name="allowance_programs")
    skus = models.ManyToManyField(CatalogSKU, related_name="allowance_programs")
    start = models.DateField()
    end = models.DateField()
    rate = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(CENT)]
    )
    unit = models.CharField(max_length=10, choices=Unit.choices, default=Unit.CASE_9L)
    # Blank: every channel qualifies.
    channel = models.CharField(max_length=20, choices=Channel.choices, blank=True)
    # Dollars per account and month, at most; blank: no cap.
    account_cap = models.DecimalField(
        "cap per account and month",
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(CENT)],
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProgramQuerySet.as_manager()

    class Meta:
        ordering = ["-start", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gte=models.F("start")), name="program_ends_after_start"
            ),
            models.CheckConstraint(condition=Q(rate__gt=0), name="program_rate_positive"),
            models.CheckConstraint(
                condition=Q(account_cap__isnull=True) | Q(account_cap__gt=0),
                name="program_cap_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("allowances:program", args=[self.pk])

    @property
    def rate_text(self) -> str:
        return f"${self.rate:,} per {self.get_unit_display()}"


class ClaimQuerySet(PartnerScopedQuerySet):
    partner_lookup = "partner"


class Claim(models.Model):
    """A distributor's billback claim against one program: its lines, and the decision."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Awaiting decision"
        APPROVED = "approved", "Approved"
        PARTLY_APPROVED = "partly_approved", "Partly approved"
        REJECTED = "rejected", "Rejected"

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="claims")
    program = models.ForeignKey(AllowanceProgram, on_delete=models.PROTECT, related_name="claims")
    reference = models.CharField("distributor's reference", max_length=100, blank=True)
    filename = models.CharField(max_length=255, blank=True)
    # The file (or typed lines) as received: the record of what was claimed.
    content = models.BinaryField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    # The lines' sums, kept with them so the list of claims reads no lines.
    line_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    claimed = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    supported = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    approved = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))

    objects = ClaimQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["partner", "status"])]

    def __str__(self) -> str:
        return f"Claim {self.pk} by {self.partner} on {self.program}"

    def get_absolute_url(self) -> str:
        return reverse("allowances:claim", args=[self.pk])

    @property
    def difference(self) -> Decimal:
        return self.claimed - self.supported

    @property
    def is_decided(self) -> bool:
        return self.status in (
            self.Status.APPROVED, self.Status.PARTLY_APPROVED, self.Status.REJECTED
        )  # fmt: skip


class ClaimLine(models.Model):
    class Verdict(models.TextChoices):
        ERROR = "error", "Error"
        MATCHED = "matched", "Matched"
        OVER_CLAIMED = "over_claimed", "Over-claimed"
        UNSUPPORTED = "unsupported", "Unsupported"

    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="lines")
    line = models.PositiveIntegerField()  # the line number in the file (the header is 1)
    # As written.
    period_text = models.CharField(max_length=100, blank=True)
    sku_text = models.CharField(max_length=100, blank=True)
    account_text = models.CharField(max_length=255, blank=True)
    quantity_text = models.CharField(max_length=100, blank=True)
    amount_text = models.CharField(max_length=100, blank=True)
    # As read.
    period = models.DateField(null=True, blank=True)  # the month's first day
    sku = models.ForeignKey(CatalogSKU, on_delete=models.PROTECT, null=True, blank=True)
    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    customer_qbo_id = models.CharField(max_length=32, blank=True)
    bottles = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    # What the books show: the qualifying bottles this line could draw on, and the allowance
    # they support (never more than claimed).
    books_bottles = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    supported = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    reason = models.TextField(blank=True)
    approved = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["line"]
        constraints = [
            models.UniqueConstraint(fields=["claim", "line"], name="claimline_unique_line")
        ]

    def __str__(self) -> str:
        return f"Line {self.line} of claim {self.claim_id}"

    @property
    def difference(self) -> Decimal:
        return (self.amount or Decimal("0")) - self.supported
