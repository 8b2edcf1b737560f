"""Reconciliation runs and the differences they found between the mirror and QuickBooks'
own reports (AgedReceivables, InventoryValuationSummary), per connection.

A difference is one figure that disagrees: a customer's amount under one aging bucket, or
an item's quantity on hand. It is kept while it persists, so ``first_seen`` says how long
the two have disagreed, and deleted when a run finds them agreeing again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from django.db import models
from django.utils import timezone

from accounts.access import ConnectionScopedQuerySet

# Longer than a run's task may live (reconciliation.tasks: 16 minutes).
STALE_AFTER = timedelta(minutes=20)


class RunQuerySet(ConnectionScopedQuerySet):
    pass


class ReconciliationRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        # Another run of the same connection held its lock: this one did nothing.
        SKIPPED = "skipped", "Skipped"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.SKIPPED)

    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="reconciliation_runs"
    )
    trigger = models.CharField(max_length=20, blank=True)  # schedule, manual
    requested_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The date both reports were asked for, and our aging computed as of.
    report_date = models.DateField(null=True, blank=True)
    customers_compared = models.PositiveIntegerField(default=0)
    items_compared = models.PositiveIntegerField(default=0)
    differences = models.PositiveIntegerField(default=0)
    api_requests = models.PositiveIntegerField(default=0)
    # Written for the person who reads the page, never a raw fault.
    error = models.TextField(blank=True)
    error_tid = models.CharField(max_length=64, blank=True)

    objects: ClassVar[RunQuerySet] = RunQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        indexes = [models.Index(fields=["connection", "-created_at"])]

    def __str__(self) -> str:
        return f"reconciliation {self.pk} of connection {self.connection_id}: {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def is_stale(self) -> bool:
        """Queued or running for longer than any run takes: its task was lost (published
        while Redis was down, or its worker killed). A page stops waiting for it, and the
        next press of "Run now" makes a fresh run."""
        return not self.is_finished and timezone.now() - self.created_at > STALE_AFTER


# What each compared figure is called on the page and in the export: billing's aging
# buckets (billing.selectors.BUCKET_KEYS), a customer's total, an item's quantity.
BUCKET_LABELS = {
    "current": "Current",
    "1-30": "1–30 days",
    "31-60": "31–60 days",
    "61-90": "61–90 days",
    "90+": "Over 90 days",
    "total": "Total",
    "": "On hand",
}


class DifferenceQuerySet(ConnectionScopedQuerySet):
    pass


class Difference(models.Model):
    class Kind(models.TextChoices):
        RECEIVABLES = "receivables", "Receivables"
        STOCK = "stock", "Stock"

    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="reconciliation_differences"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # The customer's or item's QuickBooks id (a string, keyed by connection) and its name.
    qbo_id = models.CharField(max_length=32)
    name = models.CharField(max_length=255, blank=True)
    # An aging bucket's key (billing.selectors.BUCKET_KEYS) or "total"; "" for stock.
    bucket = models.CharField(max_length=10, blank=True)
    # Money to the cent, quantities to four places (the mirror's precision).
    ours = models.DecimalField(max_digits=18, decimal_places=4)
    theirs = models.DecimalField(max_digits=18, decimal_places=4)
    first_seen = models.DateTimeField()
    last_run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="+")

    objects: ClassVar[DifferenceQuerySet] = DifferenceQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "kind", "qbo_id", "bucket"], name="one_difference_per_figure"
            )
        ]
        indexes = [models.Index(fields=["first_seen"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.qbo_id} {self.bucket}: {self.ours} vs {self.theirs}"

    @property
    def bucket_label(self) -> str:
        return BUCKET_LABELS.get(self.bucket, self.bucket)
