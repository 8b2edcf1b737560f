"""A partial index of the "deleted" versions: billing's list of invoices deleted in
QuickBooks reads it instead of scanning every version kept (common.models.MirrorVersion)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("common", "0002_mirrorversion_append_only"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="mirrorversion",
            index=models.Index(
                condition=models.Q(("kind", "deleted")),
                fields=["connection", "entity", "qbo_id"],
                name="mirrorversion_deleted",
            ),
        ),
    ]
