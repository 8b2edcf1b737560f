"""The mirror's history: one row per change a sync applied to a mirrored document.

It lives in ``common`` because the write path here (``common.mirror``) is what writes it,
in the statement that writes the change; like the mirrored models it names sync's rows by
string, so ``common`` imports nothing of sync (docs/architecture.md, "The mirror's
history").
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, ClassVar

from django.contrib.postgres.indexes import BrinIndex
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from accounts.access import ConnectionScopedQuerySet

from .mirror import RawJSONField


class DecimalJSONDecoder(json.JSONDecoder):
    """Numbers with a fraction come back as ``Decimal`` (``"1200.00"`` keeps its cents), so
    money read from ``changes`` never passes through a float."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("parse_float", Decimal)
        super().__init__(*args, **kwargs)


class MirrorVersion(models.Model):
    """A change the mirror took in: a document first seen, changed, voided or deleted.

    Append-only: the write path inserts these in the same statement (or transaction) as
    the change itself, and nothing updates one; ``mirror_versions_prune`` deletes those
    past ``MIRROR_VERSION_RETENTION_DAYS``. There is no key to the mirrored row, which a
    deletion removes while its history stays: a document is (connection, entity, qbo_id).
    """

    class Kind(models.TextChoices):
        CREATED = "created", "First seen"
        UPDATED = "updated", "Changed"
        VOIDED = "voided", "Voided"
        DELETED = "deleted", "Deleted"

    # No database constraint: its check, deferred to each commit, was about a third of
    # what the history added to an import page (13 → 8 ms per 1,000 invoices), and the
    # write path copies the connection from the row it writes. Deleting a connection still
    # deletes its history (Django's cascade).
    connection = models.ForeignKey(
        "sync.QBOConnection",
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="mirror_versions",
    )
    entity = models.CharField(max_length=32)
    qbo_id = models.CharField(max_length=32)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    sync_token = models.CharField(max_length=32, blank=True)
    seen_at = models.DateTimeField(default=timezone.now)
    # Runs are kept 30 days and versions 400 (settings), so the run a version names may be
    # gone: no database constraint, and nothing done to the version when its run goes.
    sync_run = models.ForeignKey(
        "sync.SyncRun",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    # {column: [before, after]} of the mirrored columns that changed; empty on first sight
    # and on a deletion. Lines are not compared: ``raw`` has them.
    changes = models.JSONField(default=dict, encoder=DjangoJSONEncoder, decoder=DecimalJSONDecoder)
    # The document as QuickBooks sent it; a deletion's is the tombstone, or None when a
    # re-import found the document gone and nothing was sent.
    raw = RawJSONField(null=True, blank=True)

    objects: ClassVar[ConnectionScopedQuerySet] = ConnectionScopedQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        indexes = [
            # One document's history, newest first.
            models.Index(
                fields=["connection", "entity", "qbo_id", "-seen_at"], name="mirrorversion_doc"
            ),
            # The deleted documents (billing's list of deleted invoices), a few among all
            # the versions: partial, so that list reads this small index rather than the
            # whole history, and a version of any other kind costs the write path nothing.
            models.Index(
                fields=["connection", "entity", "qbo_id"],
                condition=models.Q(kind="deleted"),
                name="mirrorversion_deleted",
            ),
            # Retention deletes by age. BRIN: rows arrive in seen_at order, and a b-tree here
            # would cost the import one more index insert per document.
            BrinIndex(fields=["seen_at"], name="mirrorversion_seen_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.entity} {self.qbo_id} {self.kind} ({self.seen_at:%Y-%m-%d %H:%M})"


class Generation(models.Model):
    """A counter that moves whenever what cached figures read changes (common.generations).

    Written only by ``common.generations.bump`` and by the triggers of common migration
    0004, in the transaction of the change itself."""

    name = models.CharField(max_length=64, primary_key=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} = {self.value}"
