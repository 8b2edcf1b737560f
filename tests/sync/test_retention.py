"""Retention: mirror versions and sync runs past their settings go, in batches; a run
still running and each connection's latest successful run stay whatever their age."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Partner
from common.models import MirrorVersion
from sync import services, tasks
from sync.models import QBOConnection, SyncRun

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def connection(partner: Partner, realm: str) -> QBOConnection:
    made: QBOConnection = QBOConnection.objects.create(partner=partner, realm_id=realm)
    return made


def run(conn: QBOConnection, days_ago: float, status: str) -> SyncRun:
    made: SyncRun = SyncRun.objects.create(
        connection=conn, kind="poll", status=status, started_at=timezone.now() - days_ago * DAY
    )
    return made


def version(conn: QBOConnection, days_ago: float, qbo_id: str = "1") -> MirrorVersion:
    made: MirrorVersion = MirrorVersion.objects.create(
        connection=conn, entity="Invoice", qbo_id=qbo_id, kind="created",
        seen_at=timezone.now() - days_ago * DAY,
    )  # fmt: skip
    return made


def test_it_prunes_only_what_is_older_than_the_settings(
    partner_a: Partner, partner_b: Partner, settings: Any
) -> None:
    settings.MIRROR_VERSION_RETENTION_DAYS = 400
    settings.SYNC_RUN_RETENTION_DAYS = 30
    settings.RETENTION_BATCH = 2  # several batches
    a = connection(partner_a, "4620000000000901")
    b = connection(partner_b, "4620000000000902")
    kept_versions = [version(a, 399), version(a, 1), version(b, 10)]
    for n in range(5):
        version(a, 401 + n, qbo_id=str(n))
    old_success = run(a, 60, "succeeded")
    older_success = run(a, 61, "succeeded")
    newest_success_a = run(a, 40, "succeeded")  # a's latest success, old as it is
    stuck = run(a, 90, "running")
    old_failure = run(a, 35, "failed")
    recent = run(a, 29, "failed")
    only_success_b = run(b, 45, "succeeded")
    old_skipped_b = run(b, 50, "skipped")

    pruned = tasks.retention_prune()

    assert pruned == {"versions": 5, "runs": 4}
    assert set(MirrorVersion.objects.all()) == set(kept_versions)
    assert set(SyncRun.objects.all()) == {newest_success_a, stuck, recent, only_success_b}
    assert not SyncRun.objects.filter(
        pk__in=[old_success.pk, older_success.pk, old_failure.pk, old_skipped_b.pk]
    ).exists()
    # Nothing left to do: a second run deletes nothing.
    assert services.retention_prune() == {"versions": 0, "runs": 0}


def test_a_version_outlives_the_run_that_wrote_it(partner_a: Partner) -> None:
    conn = connection(partner_a, "4620000000000903")
    first = run(conn, 40, "succeeded")
    run(conn, 1, "succeeded")
    kept = MirrorVersion.objects.create(
        connection=conn, entity="Invoice", qbo_id="9", kind="created", sync_run=first
    )

    services.retention_prune()

    assert not SyncRun.objects.filter(pk=first.pk).exists()
    assert MirrorVersion.objects.select_related("sync_run").get(pk=kept.pk).sync_run is None
