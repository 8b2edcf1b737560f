"""A partner's QuickBooks Online connection and the bookkeeping of keeping its mirror.

The mirrored rows themselves live with the apps that own them: items in ``inventory``,
customers, invoices and payments in ``billing``, all keyed by (connection, QBO id) because
QBO ids collide across companies. sync reaches them through the registry in
``common.mirror`` (docs/architecture.md, "The mirror: who owns which rows").
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.template.defaultfilters import pluralize
from django.utils import timezone

from accounts.access import ConnectionScopedQuerySet, PartnerScopedQuerySet
from accounts.models import Partner

from .crypto import EncryptedTokenField


class ConnectionQuerySet(PartnerScopedQuerySet):
    partner_lookup = "partner"

    def live(self) -> ConnectionQuerySet:
        return self.exclude(status=QBOConnection.Status.DISCONNECTED)


class QBOConnection(models.Model):
    """One partner's link to one QuickBooks Online company (realm)."""

    class Status(models.TextChoices):
        CONNECTED = "connected", "Connected"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
        DISCONNECTED = "disconnected", "Disconnected"

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="connections")
    realm_id = models.CharField(max_length=32)
    company_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CONNECTED)

    access_token = EncryptedTokenField(null=True, blank=True)
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_token = EncryptedTokenField(null=True, blank=True)
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True)

    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    connected_at = models.DateTimeField(default=timezone.now)
    disconnected_at = models.DateTimeField(null=True, blank=True)

    sync_interval = models.DurationField(default=timedelta(minutes=5))
    next_sync_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # Written for the person who can act on it (see sync/errors.py), never a raw fault.
    last_error = models.TextField(blank=True)
    last_error_tid = models.CharField(max_length=64, blank=True)
    # The fencing token of the newest sync lease (sync/locks.py): incremented by every
    # holder when it takes the realm's lock, and checked by every transaction that writes
    # the mirror and the cursors, so a holder that outlived its lease cannot write.
    sync_fence = models.BigIntegerField(default=0, editable=False)

    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects: ClassVar[ConnectionQuerySet] = ConnectionQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints = [
            # A QuickBooks company belongs to one partner, and a partner has one live company.
            models.UniqueConstraint(
                fields=["realm_id"],
                condition=~Q(status="disconnected"),
                name="one_live_connection_per_realm",
            ),
            models.UniqueConstraint(
                fields=["partner"],
                condition=~Q(status="disconnected"),
                name="one_live_connection_per_partner",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_sync_at"])]

    def __str__(self) -> str:
        return f"{self.partner} · {self.company_name or self.realm_id}"


class SyncCursor(models.Model):
    """Where the mirror of one entity stands for one connection.

    ``changed_since`` is the CDC watermark, written in the same transaction as the rows it
    covers. ``import_after_id`` lets an interrupted initial import resume after the last page
    it stored instead of starting over.
    """

    connection = models.ForeignKey(QBOConnection, on_delete=models.CASCADE, related_name="cursors")
    entity = models.CharField(max_length=32)
    changed_since = models.DateTimeField(null=True, blank=True)
    import_after_id = models.CharField(max_length=32, blank=True)
    import_done = models.BooleanField(default=False)
    imported_count = models.PositiveIntegerField(default=0)
    total_count = models.PositiveIntegerField(null=True, blank=True)
    # A re-import (watermark past Intuit's 30 days, or a window CDC cannot split) starts
    # with rows in the mirror; it also deletes the ones the pages prove gone upstream.
    reconcile = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "entity"], name="one_cursor_per_entity")
        ]

    def __str__(self) -> str:
        return f"{self.entity} cursor of connection {self.connection_id}"


class SyncRun(models.Model):
    """One import, poll or push, with what it did and what it cost in API requests."""

    class Kind(models.TextChoices):
        IMPORT = "import", "Initial import"
        POLL = "poll", "Change poll"
        PUSH = "push", "Push to QuickBooks"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    connection = models.ForeignKey(QBOConnection, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=20, blank=True)  # schedule, webhook, manual, connect
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # {"Invoice": {"upserted": 12, "deleted": 1}, ...}
    counts = models.JSONField(default=dict, blank=True)
    api_requests = models.PositiveIntegerField(default=0)
    throttled = models.PositiveIntegerField(default=0)
    # Requests sent again after a 429, a 5xx, a timeout or a dropped connection (the
    # retries are among api_requests): what a bad day at Intuit cost this run.
    retries = models.PositiveIntegerField(default=0)
    # Of the run's duration, the seconds it spent waiting for QuickBooks' answers (the
    # rest was ours): what tells a slow QuickBooks from a slow unefemme.
    qbo_wait_seconds = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    intuit_tid = models.CharField(max_length=64, blank=True)

    objects: ClassVar[ConnectionScopedQuerySet] = ConnectionScopedQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        indexes = [models.Index(fields=["connection", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.status} ({self.started_at:%Y-%m-%d %H:%M})"

    @property
    def duration(self) -> timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None

    @property
    def extra_work(self) -> list[str]:
        """What this run did beyond its CDC request, per entity, in words for the run log:
        entities read whole after a capped answer, tombstones checked before deleting
        (docs/qbo-api.md §3, "Open questions")."""
        notes: list[str] = []
        for entity, counts in sorted((self.counts or {}).items()):
            if not isinstance(counts, dict):
                continue
            if reread := counts.get("reread_requests"):
                notes.append(
                    f"{entity}: over 1,000 changes in one answer, read whole "
                    f"({reread} request{pluralize(reread)})"
                )
            if checked := counts.get("tombstones_checked"):
                asked = counts.get("tombstone_requests", 0)
                live = counts.get("tombstones_live", 0)
                notes.append(
                    f"{entity}: {checked} deletion{pluralize(checked)} checked "
                    f"({asked} request{pluralize(asked)}); {live} still existed and "
                    f"{'was' if live == 1 else 'were'} kept"
                )
        return notes


class WebhookEvent(models.Model):
    """A change notification from Intuit, stored before anything else happens to it."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        ENQUEUED = "enqueued", "Poll enqueued"
        IGNORED = "ignored", "Ignored (unknown realm)"
        FAILED = "failed", "Failed"

    event_id = models.CharField(max_length=128, unique=True)
    realm_id = models.CharField(max_length=32, db_index=True)
    entity = models.CharField(max_length=64, blank=True)
    entity_id = models.CharField(max_length=32, blank=True)
    operation = models.CharField(max_length=32, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)

    def __str__(self) -> str:
        return f"{self.entity or 'event'} {self.operation} in realm {self.realm_id}"
