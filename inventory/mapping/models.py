"""SKU mapping: which of a partner's QuickBooks items stand for which catalog SKU.

- ``QBOItem``: the partner's QuickBooks items, mirrored (inventory owns the Item entity;
  ``inventory.mapping.mirror`` says how QuickBooks' JSON fills it).
- ``SKUMapping``: one QuickBooks item of one connection ↔ one catalog SKU, with the unit
  the partner counts that item in (bottles, or cases of N) and how the mapping was made.
- ``MappingConflict``: something the matching engine (``inventory.mapping.matching``) will not
  decide alone, queued for an admin. Its ``fingerprint`` digests the facts it was raised
  on, so a conflict an admin resolved or ignored is not raised again by the next sync
  unless those facts change (a rename, a new item carrying the same code…).
- ``MappingDecision``: the audit trail of every decision (who, when, before and after).
  Append-only: rows are created by the services and never changed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.access import ConnectionScopedQuerySet
from common.mirror import MirroredRecord


class CostSource(models.TextChoices):
    """Where a cost of an item comes from (docs/reports.md, "Value at cost")."""

    PURCHASE_COST = "purchase_cost", "the item's purchase cost in QuickBooks"
    BILLS = "bills", "the average cost on the item's bills"


class QBOItem(MirroredRecord):
    """A partner's QuickBooks item, as last seen. Typed columns for what pages filter and
    sum on; the whole QBO object in ``raw``."""

    # No index of its own: (connection, qbo_id) serves lookups by connection (billing/models.py).
    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="items", db_index=False
    )
    name = models.CharField(max_length=255)
    fully_qualified_name = models.CharField(max_length=1024, blank=True)
    sku = models.CharField(max_length=100, blank=True)
    item_type = models.CharField(max_length=32, blank=True)
    active = models.BooleanField(default=True)
    qty_on_hand = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    unit_price = models.DecimalField(max_digits=18, decimal_places=4, default=Decimal("0"))
    # What the partner pays for one unit of the item (a bottle, or a case for a case item),
    # as QuickBooks holds it; None when QuickBooks has none. The stock values at cost read
    # it (docs/reports.md, "Value at cost").
    purchase_cost = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "qbo_id"], name="item_unique_per_realm")
        ]
        indexes = [models.Index(fields=["connection", "sku"])]

    def __str__(self) -> str:
        return self.fully_qualified_name or self.name


class SKUMapping(models.Model):
    class Unit(models.TextChoices):
        BOTTLE = "bottle", "Bottle"
        CASE = "case", "Case"

    class Method(models.TextChoices):
        SKU = "sku", "Matched on the item's Sku"
        NAME = "name", "Matched on the item's name"
        ADMIN = "admin", "Decided by an admin"

    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="sku_mappings"
    )
    catalog_sku = models.ForeignKey(
        "inventory.CatalogSKU", on_delete=models.PROTECT, related_name="mappings"
    )
    # The item's QuickBooks id (a string, as QuickBooks has it); not a foreign key to the
    # mirror row, because a mapping must outlive its item being deleted in QuickBooks
    # until an admin has seen that.
    item_qbo_id = models.CharField(max_length=32)
    unit = models.CharField(max_length=8, choices=Unit.choices, default=Unit.BOTTLE)
    bottles_per_unit = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    method = models.CharField(max_length=8, choices=Method.choices)
    # The item as it was when mapped: a later rename or re-SKU in QuickBooks is noticed by
    # comparing with these.
    item_name = models.CharField(max_length=255)
    item_sku = models.CharField(max_length=100, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[ConnectionScopedQuerySet] = ConnectionScopedQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["connection_id", "catalog_sku__code", "item_qbo_id"]
        verbose_name = "SKU mapping"
        constraints = [
            # An item stands for one SKU; a SKU may have several items (bottle and case).
            models.UniqueConstraint(
                fields=["connection", "item_qbo_id"], name="skumapping_one_per_item"
            ),
            models.CheckConstraint(
                condition=Q(bottles_per_unit__gte=1), name="skumapping_bottles_positive"
            ),
            models.CheckConstraint(
                condition=~Q(unit="bottle") | Q(bottles_per_unit=1),
                name="skumapping_bottle_is_one",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item_name} → {self.catalog_sku_id} ({self.unit} of {self.bottles_per_unit})"

    def as_audit(self) -> dict[str, Any]:
        """The mapping as it appears in an audit row's before/after."""
        return {
            "item_qbo_id": self.item_qbo_id,
            "sku": self.catalog_sku.code,
            "unit": self.unit,
            "bottles_per_unit": self.bottles_per_unit,
            "method": self.method,
            "item_name": self.item_name,
            "item_sku": self.item_sku,
        }


class MappingConflictQuerySet(ConnectionScopedQuerySet):
    def open(self) -> MappingConflictQuerySet:
        return self.filter(status=MappingConflict.Status.OPEN)


class MappingConflict(models.Model):
    class Kind(models.TextChoices):
        DUPLICATE_ITEMS = "duplicate_items", "Several items for one SKU"
        AMBIGUOUS_ITEM = "ambiguous_item", "One item fits several SKUs"
        ITEM_CHANGED = "item_changed", "Mapped item changed in QuickBooks"
        UNMATCHED = "unmatched", "Looks like Une Femme's, matches no SKU"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        IGNORED = "ignored", "Ignored"

    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="mapping_conflicts"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    fingerprint = models.CharField(max_length=64)
    # The QuickBooks item the conflict is about (empty for "several items for one SKU"),
    # and the SKU code it is about (empty when no SKU fits).
    item_qbo_id = models.CharField(max_length=32, blank=True)
    sku_code = models.CharField(max_length=64, blank=True)
    # What the engine saw, for the queue to show side by side without reading the mirror:
    # {"items": [...], "skus": [...], "mapping": {...} | None}. Refreshed by every sync
    # while the conflict is open; frozen once decided, as the record of what was decided on.
    candidates = models.JSONField(default=dict)
    detected_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    # How it ended, in words (e.g. "Mapped item 12 to UF-CAL-NV-750 per case of 12").
    outcome = models.TextField(blank=True)

    objects: ClassVar[MappingConflictQuerySet] = MappingConflictQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["detected_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "fingerprint"], name="mappingconflict_once_per_facts"
            )
        ]
        indexes = [models.Index(fields=["status", "connection"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_status_display()}) #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class MappingDecision(models.Model):
    """One decision on the mapping: an admin's choice, ignore or unmap, or the sync closing
    a conflict whose facts went away (``actor`` empty). Never updated or deleted."""

    class Action(models.TextChoices):
        CHOOSE = "choose", "Chose a mapping"
        IGNORE = "ignore", "Ignored"
        UNMAP = "unmap", "Removed the mapping"
        CREATE = "create", "Created the item in QuickBooks"
        CLOSED_BY_SYNC = "closed_by_sync", "Closed by a sync (no longer applies)"

    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="mapping_decisions"
    )
    conflict = models.ForeignKey(
        MappingConflict, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    action = models.CharField(max_length=16, choices=Action.choices)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects: ClassVar[ConnectionScopedQuerySet] = ConnectionScopedQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor_id or 'sync'} at {self.created_at}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # An audit row that could be rewritten would prove nothing.
        if self.pk is not None:
            raise ValueError("Mapping decisions are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ValueError("Mapping decisions are append-only.")
