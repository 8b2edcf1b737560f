from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from django.db import models

from accounts.access import PartnerScopedQuerySet
from sync.models import QBOConnection


class MirrorQuerySet(PartnerScopedQuerySet):
    partner_lookup = "connection__partner"


class MirroredRecord(models.Model):
    """What every mirrored QuickBooks object carries besides its own columns: its id in
    that company (ids collide across companies, so each concrete model is unique on
    (connection, qbo_id)), the version and time QuickBooks last changed it, and the whole
    object as QuickBooks sent it."""

    qbo_id = models.CharField(max_length=32)
    sync_token = models.CharField(max_length=32, blank=True)
    qbo_updated_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict)

    objects: ClassVar[MirrorQuerySet] = MirrorQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        abstract = True


class QBOItem(MirroredRecord):
    """A partner's QuickBooks item, as last seen. Typed columns for what pages filter and
    sum on; the whole QBO object in ``raw``."""

    connection = models.ForeignKey(QBOConnection, on_delete=models.CASCADE, related_name="items")
    name = models.CharField(max_length=255)
    fully_qualified_name = models.CharField(max_length=1024, blank=True)
    sku = models.CharField(max_length=100, blank=True)
    item_type = models.CharField(max_length=32, blank=True)
    active = models.BooleanField(default=True)
    qty_on_hand = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    unit_price = models.DecimalField(max_digits=18, decimal_places=4, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "qbo_id"], name="item_unique_per_realm")
        ]
        indexes = [models.Index(fields=["connection", "sku"])]

    def __str__(self) -> str:
        return self.fully_qualified_name or self.name
