from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from django.db import models

from accounts.access import PartnerScopedQuerySet
from sync.models import QBOConnection


class MirrorQuerySet(PartnerScopedQuerySet):
    partner_lookup = "connection__partner"


class QBOItem(models.Model):
    """A partner's QuickBooks item, as last seen. Typed columns for what pages filter and
    sum on; the whole QBO object in ``raw``."""

    connection = models.ForeignKey(QBOConnection, on_delete=models.CASCADE, related_name="items")
    qbo_id = models.CharField(max_length=32)
    name = models.CharField(max_length=255)
    fully_qualified_name = models.CharField(max_length=1024, blank=True)
    sku = models.CharField(max_length=100, blank=True)
    item_type = models.CharField(max_length=32, blank=True)
    active = models.BooleanField(default=True)
    qty_on_hand = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    unit_price = models.DecimalField(max_digits=18, decimal_places=4, default=Decimal("0"))
    sync_token = models.CharField(max_length=32, blank=True)
    qbo_updated_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict)

    objects: ClassVar[MirrorQuerySet] = MirrorQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "qbo_id"], name="item_unique_per_realm")
        ]
        indexes = [models.Index(fields=["connection", "sku"])]

    def __str__(self) -> str:
        return self.fully_qualified_name or self.name
