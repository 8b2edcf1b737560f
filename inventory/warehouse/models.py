"""Une Femme's warehouse records of what each partner holds (the warehouse feed).

A snapshot says "on ``as_of``, partner P held N bottles of SKU S" according to Une Femme's
warehouse. It arrives by CSV upload (an admin) or by the warehouse system's JSON push
(authenticated by a per-partner API token). There is one row per (partner, SKU, day): a
re-sent day replaces the quantity, and every write leaves a ``WarehouseSnapshotChange``
audit row with the before and after, in the same transaction.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.access import PartnerScopedQuerySet

__all__ = [
    "WarehouseApiRequest",
    "WarehouseSnapshot",
    "WarehouseSnapshotChange",
    "WarehouseSnapshotQuerySet",
    "WarehouseSource",
    "WarehouseToken",
    "WarehouseUpload",
    "WarehouseUploadRow",
]


class WarehouseSource(models.TextChoices):
    CSV = "csv", "CSV upload"
    API = "api", "Warehouse API"


class WarehouseTokenQuerySet(PartnerScopedQuerySet):
    def live(self) -> WarehouseTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class WarehouseToken(models.Model):
    """An API token the warehouse system uses to push one partner's snapshots.

    Only the SHA-256 of the token is kept; the full token is shown once, when issued. The
    prefix (the first characters) lets an admin tell tokens apart without revealing them.
    """

    partner = models.ForeignKey(
        "accounts.Partner", on_delete=models.PROTECT, related_name="warehouse_tokens"
    )
    label = models.CharField(max_length=100, help_text="What uses it, e.g. “WMS production”.")
    prefix = models.CharField(max_length=16, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", editable=False,
    )  # fmt: skip
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", editable=False,
    )  # fmt: skip

    objects: ClassVar[WarehouseTokenQuerySet] = WarehouseTokenQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["partner__name", "-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.label})"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None


class WarehouseSnapshotQuerySet(PartnerScopedQuerySet):
    partner_lookup = "partner"


class WarehouseSnapshot(models.Model):
    """What Une Femme's warehouse says a partner held of one SKU at the end of a day.

    ``created_by`` / ``token`` and ``source`` / ``batch_id`` describe the write that set the
    current quantity; earlier values and their writers are in the audit rows.
    """

    partner = models.ForeignKey(
        "accounts.Partner", on_delete=models.PROTECT, related_name="warehouse_snapshots"
    )
    sku = models.ForeignKey(
        "inventory.CatalogSKU", on_delete=models.PROTECT, related_name="warehouse_snapshots"
    )
    as_of = models.DateField()
    bottles = models.DecimalField(max_digits=12, decimal_places=2)
    source = models.CharField(max_length=8, choices=WarehouseSource.choices)
    batch_id = models.UUIDField(default=uuid.uuid4)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    token = models.ForeignKey(
        WarehouseToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[WarehouseSnapshotQuerySet] = WarehouseSnapshotQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["-as_of", "partner__name", "sku__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "sku", "as_of"], name="warehouse_snapshot_one_per_day"
            ),
            models.CheckConstraint(
                condition=Q(bottles__gte=0), name="warehouse_snapshot_bottles_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["partner", "as_of"])]

    def __str__(self) -> str:
        return f"{self.partner_id}/{self.sku_id} on {self.as_of}: {self.bottles}"


class WarehouseSnapshotChange(models.Model):
    """The audit trail of snapshots: one row per created or replaced quantity."""

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        REPLACE = "replace", "Replaced"

    snapshot = models.ForeignKey(
        WarehouseSnapshot, on_delete=models.CASCADE, related_name="changes"
    )
    action = models.CharField(max_length=8, choices=Action.choices)
    bottles_before = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    bottles_after = models.DecimalField(max_digits=12, decimal_places=2)
    source = models.CharField(max_length=8, choices=WarehouseSource.choices)
    batch_id = models.UUIDField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    token = models.ForeignKey(
        WarehouseToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.action} {self.snapshot_id}: {self.bottles_before} → {self.bottles_after}"


class WarehouseUpload(models.Model):
    """A CSV file between its preview and its confirmation.

    The file is kept here (not in the browser) so what is confirmed is exactly what was
    previewed: the confirm form carries the SHA-256 of the previewed file, and the plan
    (what each row will do) is fingerprinted so a preview made stale by another write is
    shown again instead of applied.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting confirmation"
        APPLIED = "applied", "Applied"

    filename = models.CharField(max_length=255)
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    plan_fingerprint = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    batch_id = models.UUIDField(default=uuid.uuid4, editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    # What the confirmation did, for the page shown afterwards: counts per outcome.
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_status_display()})"


class WarehouseUploadRow(models.Model):
    """What one row of an uploaded file would do (or did), as its preview shows it.

    Written once per plan (upload, and a confirmation that found things changed), so every
    view of the preview, its list of problems (the rows in error) and their CSV read a page
    of rows instead of planning a 50,000-row file again. The texts are the values as the
    file wrote them (damaged characters shown as U+FFFD), so a problem can be found and
    fixed in the file; ``problems`` is every reason the row cannot be applied.

    The table is UNLOGGED (migration 0007): it is a cache of what the stored file plans to,
    so it skips the write-ahead log, which made the commit of a 50,000-row preview cost
    0.6 s in fsync alone. A crash empties it; the preview page then plans the file again.
    """

    # No index of its own (the (upload, line) index below serves every lookup by upload)
    # and no database constraint: PostgreSQL checks a deferred foreign key row by row at
    # commit, 0.4 s for a 50,000-row preview. Django's on_delete still cascades.
    upload = models.ForeignKey(
        WarehouseUpload,
        on_delete=models.CASCADE,
        related_name="rows",
        db_index=False,
        db_constraint=False,
    )
    line = models.PositiveIntegerField()
    partner = models.TextField(blank=True)
    sku = models.TextField(blank=True)
    as_of = models.TextField(blank=True)
    quantity = models.TextField(blank=True)
    bottles = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    previous = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    outcome = models.CharField(max_length=9)
    problems = models.TextField(blank=True)

    class Meta:
        ordering = ["line"]
        indexes = [models.Index(fields=["upload", "line"])]

    def __str__(self) -> str:
        return f"{self.upload_id} line {self.line}: {self.outcome}"


class WarehouseApiRequest(models.Model):
    """An applied API request, kept so its Idempotency-Key can replay the first response.

    Only applied requests are kept: a refused one (401/403/400/422) changed nothing, so
    the sender may fix it and retry under the same key.
    """

    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    idempotency_key = models.CharField(max_length=255)
    body_sha256 = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    token = models.ForeignKey(
        WarehouseToken, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "idempotency_key"], name="warehouse_api_key_once_per_partner"
            )
        ]

    def __str__(self) -> str:
        return f"{self.partner_id}:{self.idempotency_key}"
