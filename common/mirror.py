"""What every mirrored QuickBooks record shares, wherever the app that owns it.

An app owns the rows of the QuickBooks entities it reads (billing: customers, invoices,
payments; inventory: items). It declares each with a model on ``MirroredRecord`` and a
``MirrorSpec`` (how QuickBooks' JSON fills the model's columns), written beside the model,
and registers the spec when Django starts (its ``AppConfig.ready``). sync fetches pages and
CDC windows and hands each entity's objects to ``mirror_apply`` / ``mirror_prune`` here,
which find the spec in the registry: sync never imports the apps that own the rows, and
those apps never import sync. docs/architecture.md shows the flow.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from accounts.access import ConnectionScopedQuerySet


class MirroredRecord(models.Model):
    """What every mirrored QuickBooks object carries besides its own columns: its id in
    that company (ids collide across companies, so each concrete model is unique on
    (connection, qbo_id)), the version and time QuickBooks last changed it, and the whole
    object as QuickBooks sent it. Each concrete model declares its own ``connection``
    foreign key to ``"sync.QBOConnection"`` (by name: the owning app imports nothing of
    sync), with its own related name."""

    qbo_id = models.CharField(max_length=32)
    sync_token = models.CharField(max_length=32, blank=True)
    qbo_updated_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict)

    objects: ClassVar[ConnectionScopedQuerySet] = ConnectionScopedQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        abstract = True
