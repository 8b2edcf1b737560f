"""Pushes into a partner's QuickBooks: warehouse quantities written as
InventoryAdjustments, and catalog SKUs created as items.

- ``PushJob``: one admin's request for one connection, of one kind. It is a *draft*
  until an admin approves it (the plan is shown first: what will be written where); only
  then does a Celery job (``inventory.push``) write anything.
- ``PushItem``: one SKU in the job, with its outcome (written, nothing to do, failed and
  why). Each item is written by exactly one batch item.
- ``PushBatch``: up to 30 items sent in one ``POST /batch``, under a ``requestid`` that
  is stored BEFORE the request goes out. A retry of the job (a worker killed, QuickBooks
  unreachable) resends an unanswered batch with the same id, and QuickBooks answers with
  the stored result instead of writing again: that is what makes retries safe.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.access import ConnectionScopedQuerySet
from inventory.mapping.models import CostSource

CENT = Decimal("0.01")


class PushJob(models.Model):
    class Kind(models.TextChoices):
        STOCK = "stock", "Warehouse quantities"
        ITEMS = "items", "Catalog items"

    class Status(models.TextChoices):
        DRAFT = "draft", "Awaiting approval"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        # Every item was tried; some failed (each says why). "Retry failed items" re-runs them.
        DONE_WITH_FAILURES = "partial", "Done, some items failed"
        # The job itself stopped (QuickBooks unreachable, reconnect needed); items not yet
        # answered are untouched and "Retry" resumes them.
        FAILED = "failed", "Stopped"
        DISCARDED = "discarded", "Discarded"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.PROTECT, related_name="push_jobs"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # A job started from the conflicts queue ("Create in QuickBooks") settles that conflict
    # when its item is created.
    conflict = models.ForeignKey(
        "inventory.MappingConflict", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="push_jobs",
    )  # fmt: skip
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    approved_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched by a running job after every batch; beat resumes a queued or running job left
    # untouched for long (see ``inventory.push.push_jobs_resume``).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The account an adjustment books its value against, as found in the partner's chart
    # of accounts when the job ran (shown on the job page).
    adjust_account = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    intuit_tid = models.CharField(max_length=64, blank=True)
    api_requests = models.PositiveIntegerField(default=0)

    objects: ClassVar[ConnectionScopedQuerySet] = ConnectionScopedQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["connection", "status"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → QuickBooks #{self.pk} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("inventory:push_job", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_retryable(self) -> bool:
        """Stopped (Retry resumes it) or finished with items QuickBooks refused."""
        return self.status in (self.Status.FAILED, self.Status.DONE_WITH_FAILURES)


def new_request_id() -> str:
    return str(uuid.uuid4())


class PushBatch(models.Model):
    job = models.ForeignKey(PushJob, on_delete=models.CASCADE, related_name="batches")
    # uuid4 is 36 characters: exactly QuickBooks' limit for a batch's requestid.
    request_id = models.CharField(max_length=36, unique=True, default=new_request_id)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    intuit_tid = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"batch {self.request_id} of job {self.job_id}"


class PushItem(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        SENT = "sent", "Sent, awaiting the answer"
        WRITTEN = "written", "Written"
        UNCHANGED = "unchanged", "Nothing to do"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(PushJob, on_delete=models.CASCADE, related_name="items")
    catalog_sku = models.ForeignKey(
        "inventory.CatalogSKU", on_delete=models.PROTECT, related_name="+"
    )
    # Stock: the mapped item adjusted. Items: the item QuickBooks created (or found).
    item_qbo_id = models.CharField(max_length=32, blank=True)
    item_name = models.CharField(max_length=255, blank=True)
    # Stock only: the unit the adjusted item counts in, the warehouse quantity to reach
    # (bottles), and, once the batch is formed, QuickBooks' quantities then and the
    # adjustment sent (in the item's unit).
    unit = models.CharField(max_length=8, blank=True)
    bottles_per_unit = models.PositiveIntegerField(default=1)
    target_bottles = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    qbo_bottles_before = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    qty_diff = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    # Stock only: what one unit of the adjusted item costs, taken when the job was drafted
    # and never re-read, so the value shown for a job does not move when the item's cost
    # changes later (docs/reports.md, "Value at cost"). None when no cost was known.
    unit_cost = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    cost_source = models.CharField(max_length=16, choices=CostSource.choices, blank=True)
    # Stock only: several items are mapped to the SKU and an admin chose this one.
    item_chosen = models.BooleanField(default=False)
    # Stock only: the admin chose to share the adjustment among the SKU's items in
    # proportion to their stock (inventory.push.split). ``item_*``, ``unit`` and
    # ``unit_cost`` then stay empty and ``shares`` says which item moves by how much:
    # [{"item_qbo_id", "item_name", "unit", "bottles_per_unit", "unit_cost", "cost_source",
    # "qty_diff"}], decimals as text; planned from the mirror when drafted, and replaced by
    # what is sent when the batch is formed (each item's cost is the drafted one).
    split = models.BooleanField(default=False)
    shares = models.JSONField(default=list, blank=True)
    batch = models.ForeignKey(
        PushBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    bid = models.CharField(max_length=10, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    message = models.TextField(blank=True)
    fault_code = models.CharField(max_length=16, blank=True)
    # QuickBooks' id of what was written (the InventoryAdjustment, or the Item).
    result_qbo_id = models.CharField(max_length=32, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "catalog_sku"], name="pushitem_sku_once_per_job"
            ),
            models.CheckConstraint(
                condition=Q(bottles_per_unit__gte=1), name="pushitem_bottles_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.catalog_sku_id} in job {self.job_id}: {self.status}"

    @property
    def share_rows(self) -> list[Share]:
        return [Share.from_json(row) for row in self.shares]

    @property
    def planned_qty_diff(self) -> Decimal | None:
        """The adjustment in the item's units: as sent once the batch is formed, else as
        the draft saw it (QuickBooks' quantity may move before it is sent)."""
        if self.qty_diff is not None:
            return self.qty_diff
        if self.target_bottles is None or self.qbo_bottles_before is None:
            return None
        return (self.target_bottles - self.qbo_bottles_before) / self.bottles_per_unit

    @property
    def value(self) -> Decimal | None:
        """What QuickBooks books for the adjustment: its quantity × the item's unit cost, to
        the cent (negative for a loss); None when either is unknown."""
        if self.split:
            values = [share.value for share in self.share_rows]
            if not values or None in values:
                return None
            return sum((v for v in values if v is not None), Decimal("0.00"))
        quantity = self.planned_qty_diff
        if quantity is None or self.unit_cost is None:
            return None
        return (quantity * self.unit_cost).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Share:
    """One item's part of a split adjustment (``PushItem.shares``)."""

    item_qbo_id: str
    item_name: str
    unit: str
    bottles_per_unit: int
    unit_cost: Decimal | None
    cost_source: str
    qty_diff: Decimal

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Share:
        cost = row.get("unit_cost")
        return cls(
            item_qbo_id=str(row["item_qbo_id"]),
            item_name=str(row.get("item_name", "")),
            unit=str(row.get("unit", "")),
            bottles_per_unit=int(row.get("bottles_per_unit", 1)),
            unit_cost=None if cost in (None, "") else Decimal(str(cost)),
            cost_source=str(row.get("cost_source", "")),
            qty_diff=Decimal(str(row.get("qty_diff", "0"))),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "item_qbo_id": self.item_qbo_id,
            "item_name": self.item_name,
            "unit": self.unit,
            "bottles_per_unit": self.bottles_per_unit,
            "unit_cost": None if self.unit_cost is None else str(self.unit_cost),
            "cost_source": self.cost_source,
            "qty_diff": str(self.qty_diff),
        }

    @property
    def value(self) -> Decimal | None:
        if self.qty_diff == 0:
            return Decimal("0.00")
        if self.unit_cost is None:
            return None
        return (self.qty_diff * self.unit_cost).quantize(CENT, rounding=ROUND_HALF_UP)

    @property
    def unit_label(self) -> str:
        return "bottles" if self.unit == "bottle" else f"cases of {self.bottles_per_unit}"
