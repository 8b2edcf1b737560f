"""Une Femme's catalog: its SKUs (wine × vintage × format, with the case size) and the CSV
imports that change them, each kept as its own audit record.
"""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

# Une Femme's SKU codes: upper-case words of letters and digits joined by single dashes,
# e.g. UF-CAL-NV-750. The same pattern is checked by the CSV import and the admin form.
SKU_CODE_PATTERN = r"^[A-Z0-9]+(-[A-Z0-9]+)*$"


sku_code_validator = RegexValidator(
    SKU_CODE_PATTERN,
    "Use upper-case letters, digits and dashes, e.g. UF-CAL-NV-750.",
)


# 9-litre cases are the trade's unit for comparing volumes: 12 × 750 ml is one.
NINE_LITRES_ML = 9000


NINE_LITRE_PLACES = Decimal("0.0001")


def nine_litre_cases(bottles: int | Decimal, *, format_ml: int) -> Decimal:
    """``bottles`` of ``format_ml`` expressed in 9-litre cases, to 4 places (half up)."""
    litres = Decimal(bottles) * Decimal(format_ml)
    return (litres / NINE_LITRES_ML).quantize(NINE_LITRE_PLACES, rounding=ROUND_HALF_UP)


class CatalogSKU(models.Model):
    """One of Une Femme's SKUs: a wine, a vintage (none for NV) and a bottle format."""

    code = models.CharField(max_length=64, unique=True, validators=[sku_code_validator])
    wine = models.CharField(max_length=200)
    vintage = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1900), MaxValueValidator(2100)],
        help_text="Empty for non-vintage (NV).",
    )
    format_ml = models.PositiveIntegerField(
        "format (ml)", validators=[MinValueValidator(1), MaxValueValidator(100_000)]
    )
    bottles_per_case = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = "catalog SKU"
        constraints = [
            # The database holds the same line as the validators, so no path around the
            # forms (a shell, a bulk update) can store a code or pack the import would refuse.
            models.CheckConstraint(
                condition=Q(code__regex=SKU_CODE_PATTERN), name="catalogsku_code_format"
            ),
            models.CheckConstraint(condition=Q(format_ml__gt=0), name="catalogsku_format_positive"),
            models.CheckConstraint(
                condition=Q(bottles_per_case__gt=0), name="catalogsku_case_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} · {self.wine} {self.vintage_label} {self.format_ml} ml"

    @property
    def vintage_label(self) -> str:
        return "NV" if self.vintage is None else str(self.vintage)

    def nine_litre_cases(self, bottles: int | Decimal) -> Decimal:
        return nine_litre_cases(bottles, format_ml=self.format_ml)

    @property
    def case_in_nine_litre_cases(self) -> Decimal:
        """One full case of this SKU in 9-litre cases (1.0000 for 12 × 750 ml)."""
        return self.nine_litre_cases(self.bottles_per_case)


class CatalogImport(models.Model):
    """An uploaded catalog CSV, kept server-side between its preview and its confirmation.

    The preview and the confirmation both read ``content`` from here, so nothing the
    browser sends back can change what is applied. Once applied, the row is the audit
    record of the import: who, when, the counts and every change (before and after).
    """

    class Status(models.TextChoices):
        PREVIEWED = "previewed", "Previewed, not applied"
        APPLIED = "applied", "Applied"

    # The id in URLs: random, so one admin's preview cannot be found by counting.
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="catalog_imports"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)
    filename = models.CharField(max_length=255, blank=True)
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PREVIEWED)
    applied_at = models.DateTimeField(null=True, blank=True)
    row_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    # Filled on apply: [{"code", "outcome", "before", "after"}] for every new or changed SKU.
    changes = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        name = self.filename or "catalog CSV"
        return f"{name} ({self.get_status_display()}, {self.uploaded_at:%Y-%m-%d %H:%M})"
