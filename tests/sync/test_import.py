"""The initial import, run by real Celery workers against qbo_sandbox over HTTP."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from django.db.models import Count
from django.utils import timezone

from accounts.models import Partner, User
from billing.models import QBOInvoice, QBOInvoiceLine, QBOPaymentApplication
from common import mirror
from sync import selectors, services
from sync.clients.qbo import TokenSet
from sync.models import QBOConnection, SyncCursor, SyncRun
from sync.tasks import connection_sync
from tests.sync.books import MODELS, Books, connection_for, mirrored, upstream
from tests.sync.conftest import start_worker

if TYPE_CHECKING:
    import subprocess

    from qbo_sandbox.testing import SandboxProcess

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(condition: Callable[[], Any], timeout: float = 90.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


def import_done(connection: QBOConnection) -> bool:
    cursors = SyncCursor.objects.filter(connection=connection)
    return cursors.count() == len(mirror.entities()) and all(c.import_done for c in cursors)


# The CustomerType list, read once when an import has finished (CDC does not carry it;
# docs/reports.md, "Channels") and counted in the import's run like every request.
CUSTOMER_TYPE_READS = 1


def minimum_requests(figures: dict[str, int]) -> int:
    """One COUNT per entity plus ceil(n / 1000) pages, and the CustomerType list."""
    return sum(1 + math.ceil(n / 1000) for n in figures.values()) + CUSTOMER_TYPE_READS


def minted_tokens(sandbox: SandboxProcess, realm: str) -> TokenSet:
    from datetime import timedelta

    minted = sandbox.mint_tokens(realm)
    now = timezone.now()
    return TokenSet(
        access_token=minted["access_token"],
        refresh_token=minted["refresh_token"],
        access_expires_at=now + timedelta(seconds=int(minted["expires_in"])),
        refresh_expires_at=now + timedelta(seconds=int(minted["x_refresh_token_expires_in"])),
    )


def test_connecting_imports_the_demo_company_into_an_exact_mirror(
    sandbox_server: SandboxProcess,
    partner_a: Partner,
    alice: User,
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    realm = sandbox_server.new_company(seed="demo")
    books = Books(sandbox_server, realm)
    expected = upstream(books)

    # What the OAuth callback does once the code is exchanged; the import is enqueued on
    # commit and a real worker runs it.
    connection = services.connection_connect(
        partner=partner_a, realm_id=realm, tokens=minted_tokens(sandbox_server, realm), user=alice
    )
    wait_for(lambda: import_done(connection))
    run = wait_for(
        lambda: SyncRun.objects.filter(
            connection=connection, kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.SUCCEEDED
        ).first()
    )

    assert mirrored(connection) == expected  # every row and version; the sums to the cent
    assert all(n > 0 for n in expected.counts.values())
    connection.refresh_from_db()
    assert connection.company_name and connection.last_synced_at and not connection.last_error
    assert run.trigger == "connect" and run.throttled == 0
    # The company's name was read at connect, so the import is exactly the minimum.
    assert run.api_requests == minimum_requests(expected.counts)
    assert {e: c["upserted"] for e, c in run.counts.items()} == expected.counts
    progress = selectors.connection_progress(connection=connection)
    assert progress["percent"] == 100 and progress["running"] is False
    assert [e["imported"] for e in progress["entities"]] == [
        expected.counts[e] for e in mirror.entities()
    ]
    # Invoice lines and payment applications are whole too.
    invoices = {row["Id"]: row for row in books.all("Invoice")}
    lines = dict(
        QBOInvoice.objects.filter(connection=connection)
        .annotate(n=Count("lines"))
        .values_list("qbo_id", "n")
    )
    assert lines == {qbo_id: len(row.get("Line", [])) for qbo_id, row in invoices.items()}
    # The planner has counted the imported rows: the pages opened next plan for tables of
    # this size, not for the empty ones autovacuum last saw.
    planned = planner_rows("billing_qboinvoice", "billing_qboinvoiceline", "billing_qbopayment")
    assert planned["billing_qboinvoice"] >= expected.counts["Invoice"]
    assert planned["billing_qboinvoiceline"] >= sum(lines.values())
    assert planned["billing_qbopayment"] >= expected.counts["Payment"]


def planner_rows(*tables: str) -> dict[str, float]:
    """The row count PostgreSQL's planner holds for each table (-1: never analyzed)."""
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s)", [list(tables)]
        )
        return dict(cursor.fetchall())


def test_the_progress_of_an_import_is_visible_while_it_runs(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    realm = sandbox_server.new_company(seed="demo")
    connection = connection_for(sandbox_server, partner_a, realm)

    before = selectors.connection_progress(connection=connection)
    assert before["running"] is True and before["percent"] is None
    assert before["import_done"] is False

    services.connection_sync(connection_id=connection.pk, trigger="test")

    after = selectors.connection_progress(connection=connection)
    assert after["running"] is False and after["percent"] == 100 and after["import_done"]
    assert all(e["imported"] == e["total"] for e in after["entities"])
    listed = selectors.connection_list(user=partner_user(partner_a)).get(pk=connection.pk)
    invoices = next(e for e in after["entities"] if e["entity"] == "Invoice")
    assert listed.invoice_count == invoices["total"]  # type: ignore[attr-defined]
    assert listed.sync_running is False  # type: ignore[attr-defined]


def partner_user(partner: Partner) -> User:
    from tests.factories import partner_user as make

    user: User = make(partner)
    return user


def test_a_worker_killed_mid_import_resumes_without_rereading_or_duplicating(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    # Big enough that the import spans many pages (about 12,000 invoices, 9,000 payments).
    realm = sandbox_server.new_company(seed="demo", scale=30)
    connection = connection_for(sandbox_server, partner_a, realm, company_name="Kill test")
    worker = start_worker(queue="sync-kill", concurrency=1, name="kill")
    try:
        connection_sync.apply_async((connection.pk, "connect"), queue="sync-kill")
        wait_for(
            lambda: SyncCursor.objects.filter(
                connection=connection, entity="Invoice", imported_count__gte=2000
            ).exists(),
            every=0.05,
        )
    finally:
        worker.kill()  # kill -9 of the whole worker, in the middle of the import
    time.sleep(0.5)  # let PostgreSQL finish with the dead worker's connection
    stopped = {c.entity: c for c in SyncCursor.objects.filter(connection=connection)}
    assert not all(c.import_done for c in stopped.values()), "killed too late"
    assert SyncRun.objects.get(connection=connection).status == SyncRun.Status.RUNNING

    restarted = start_worker(queue="sync-kill", concurrency=1, name="kill-again")
    try:
        # What the next tick does; the dead worker's lease must expire first, until then a
        # sync finds the realm busy and skips.
        def resumed() -> bool:
            connection_sync.apply_async((connection.pk, "schedule"), queue="sync-kill")
            time.sleep(1.0)
            return import_done(connection)

        wait_for(resumed, timeout=120, every=1.0)
        # The run ends after its last page (statistics refreshed, after-sync work).
        wait_for(
            lambda: (
                not SyncRun.objects.filter(
                    connection=connection, kind="import", status=SyncRun.Status.RUNNING
                ).exists()
            )
        )
    finally:
        restarted.stop()

    expected = upstream(Books(sandbox_server, realm))
    assert mirrored(connection) == expected
    for entity, model in MODELS.items():
        rows = model.objects.filter(connection=connection)
        assert rows.count() == rows.values("qbo_id").distinct().count() == expected.counts[entity]
    assert not (
        QBOInvoiceLine.objects.filter(invoice__connection=connection)
        .values("invoice", "position")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .exists()
    )
    assert QBOPaymentApplication.objects.filter(payment__connection=connection).exists()

    runs = list(SyncRun.objects.filter(connection=connection, kind="import").order_by("pk"))
    killed, finished = runs[0], runs[-1]
    assert killed.status == SyncRun.Status.FAILED and "Interrupted" in killed.error
    assert finished.status == SyncRun.Status.SUCCEEDED
    # Nothing stored before the kill was read again: the resumed run asked only for what
    # was missing (a COUNT for entities not yet counted, and the remaining pages), then
    # the CustomerType list once it had finished.
    remaining = 0
    for entity in mirror.entities():
        cursor = stopped[entity]
        if cursor.import_done:
            continue
        total = expected.counts[entity]
        remaining += (cursor.total_count is None) + math.ceil(
            (total - cursor.imported_count) / 1000
        )
    assert finished.api_requests == remaining + CUSTOMER_TYPE_READS
    assert sum(c["upserted"] for c in finished.counts.values()) == sum(
        expected.counts[e] - stopped[e].imported_count for e in mirror.entities()
    )


def test_a_worker_frozen_past_its_lease_cannot_write_when_it_wakes(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    import os
    import signal

    realm = sandbox_server.new_company(seed="demo", scale=30)
    connection = connection_for(sandbox_server, partner_a, realm, company_name="Frozen")
    frozen = start_worker(queue="sync-frozen", concurrency=1, name="frozen")
    successor = None
    try:
        connection_sync.apply_async((connection.pk, "connect"), queue="sync-frozen")
        wait_for(
            lambda: SyncCursor.objects.filter(
                connection=connection, entity="Invoice", imported_count__gte=1000
            ).exists(),
            every=0.05,
        )
        os.killpg(frozen.process.pid, signal.SIGSTOP)  # paused mid-import, lease ticking
        fence_before = QBOConnection.objects.get(pk=connection.pk).sync_fence

        successor = start_worker(queue="sync-successor", concurrency=1, name="successor")

        def finished() -> bool:
            connection_sync.apply_async((connection.pk, "schedule"), queue="sync-successor")
            time.sleep(1.0)
            return import_done(connection)

        wait_for(finished, timeout=120, every=1.0)
        # The successor stops before the frozen worker wakes: the polls ``finished`` queued
        # up meanwhile would otherwise go on taking new fences, legitimately, and this test
        # is about the frozen worker's wake-up alone.
        successor.stop()
        fence_after = QBOConnection.objects.get(pk=connection.pk).sync_fence
        assert fence_after > fence_before
        expected = upstream(Books(sandbox_server, realm))
        assert mirrored(connection) == expected

        os.killpg(frozen.process.pid, signal.SIGCONT)  # it wakes up, still "holding" it
        wait_for(
            lambda: "failed: LeaseLost" in frozen.log_path.read_text(errors="replace"),
            timeout=60,
        )
    finally:
        os.killpg(frozen.process.pid, signal.SIGCONT)
        frozen.stop()
        if successor is not None:
            successor.stop()

    # Its wake-up changed nothing: the mirror, the cursors and the fence are the successor's.
    assert mirrored(connection) == expected
    assert QBOConnection.objects.get(pk=connection.pk).sync_fence == fence_after
    assert import_done(connection)
    for entity, model in MODELS.items():
        assert model.objects.filter(connection=connection).count() == expected.counts[entity]
