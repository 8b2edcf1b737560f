"""A reconciliation run against qbo_sandbox over HTTP: a seeded company agrees with
QuickBooks' AgedReceivables and InventoryValuationSummary to the cent and to the bottle; a
corrupted mirror row shows up within one run with both figures and goes once fixed; a
failed fetch keeps the earlier differences; the report requests take the realm limiter's
slots; beat enqueues one run per live connection."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from django.urls import reverse

from accounts.models import Partner, User
from billing.models import QBOInvoice
from billing.selectors import aging_by_customer_for_connection
from inventory.mapping.models import QBOItem
from reconciliation import services, tasks
from reconciliation.models import Difference, ReconciliationRun
from sync import services as sync
from sync.locks import redis_client
from sync.models import QBOConnection, SyncRun
from sync.ratelimit import RealmLimiter
from tests.billing.factories import ConnectionFactory
from tests.conftest import signed_in
from tests.factories import PartnerFactory
from tests.sync.books import connection_for, stats

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

D = Decimal


def synced(sandbox: SandboxProcess, partner: Partner, *, scale: float = 0.3) -> QBOConnection:
    realm = sandbox.new_company(seed="demo", scale=scale)
    connection = connection_for(sandbox, partner, realm, company_name="Reconciled")
    run = sync.connection_sync(connection_id=connection.pk, trigger="test")
    assert run is not None and run.status == SyncRun.Status.SUCCEEDED, run and run.error
    return connection


def reconcile(connection: QBOConnection) -> ReconciliationRun:
    run = services.reconciliation_run(connection_id=connection.pk, trigger="test")
    assert run is not None
    return run


def figures(connection: QBOConnection) -> dict[tuple[str, str, str], tuple[Decimal, Decimal]]:
    return {
        (d.kind, d.qbo_id, d.bucket): (d.ours, d.theirs)
        for d in Difference.objects.filter(connection=connection)
    }


@pytest.mark.django_db(transaction=True)
def test_a_seeded_company_agrees_with_both_reports(
    on_sandbox: SandboxProcess, partner_a: Partner
) -> None:
    connection = synced(on_sandbox, partner_a)

    run = reconcile(connection)

    assert run.status == ReconciliationRun.Status.SUCCEEDED, run.error
    assert run.report_date == services.company_today()
    assert run.differences == 0 and not figures(connection)
    # Something was compared: customers with open items, items with stock.
    aging = aging_by_customer_for_connection(connection_id=connection.pk, today=run.report_date)
    assert run.customers_compared >= len(aging.rows) > 3
    stocked = QBOItem.objects.filter(connection=connection, item_type="Inventory")
    assert run.items_compared == stocked.count() > 3
    assert stocked.filter(qty_on_hand__gt=0).exists()
    assert run.api_requests == 2


@pytest.mark.django_db(transaction=True)
def test_a_corrupted_row_shows_up_within_one_run_and_goes_once_fixed(
    on_sandbox: SandboxProcess, partner_a: Partner, alice: User
) -> None:
    connection = synced(on_sandbox, partner_a)
    assert reconcile(connection).differences == 0
    today = services.company_today()
    invoice = (
        QBOInvoice.objects.filter(connection=connection, balance__gt=0, voided=False,
                                  txn_date__lte=today)
        .order_by("qbo_id")
        .first()
    )  # fmt: skip
    assert invoice is not None
    item = QBOItem.objects.filter(connection=connection, item_type="Inventory").first()
    assert item is not None and item.qty_on_hand is not None
    balance, qty = invoice.balance, item.qty_on_hand
    # Corrupt the mirror behind the sync's back: what a bug in the write path would do.
    QBOInvoice.objects.filter(pk=invoice.pk).update(balance=balance + D("10.01"))
    QBOItem.objects.filter(pk=item.pk).update(qty_on_hand=qty - 3)
    aging = aging_by_customer_for_connection(connection_id=connection.pk, today=today)
    row = next(r for r in aging.rows if r["customer_qbo_id"] == invoice.customer_qbo_id)
    bucket = _bucket_of(invoice, today)

    run = reconcile(connection)

    assert run.status == ReconciliationRun.Status.SUCCEEDED, run.error
    customer = invoice.customer_qbo_id
    theirs_bucket = row[bucket] - D("10.01")
    theirs_total = row["total"] - D("10.01")
    assert figures(connection) == {
        ("receivables", customer, bucket): (row[bucket], theirs_bucket),
        ("receivables", customer, "total"): (row["total"], theirs_total),
        ("stock", item.qbo_id, ""): (qty - 3, qty),
    }
    assert run.differences == 3
    # On the page, with both figures and the difference.
    page = signed_in(alice).get(reverse("reconciliation:connection", args=[connection.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    for needle in (item.name, f"{qty - 3:,.0f}", f"{qty:,.0f}", "−3",
                   f"${row['total']:,.2f}", f"${theirs_total:,.2f}", "$10.01"):  # fmt: skip
        assert needle in text, needle

    # Still wrong at the next run: the same differences, first seen at the first run.
    first_seen = {d.pk: d.first_seen for d in Difference.objects.filter(connection=connection)}
    again = reconcile(connection)
    assert {d.pk: d.first_seen for d in Difference.objects.filter(connection=connection)} == (
        first_seen
    )
    assert set(
        Difference.objects.filter(connection=connection).values_list("last_run", flat=True)
    ) == {again.pk}

    # Fixed: gone after the next run.
    QBOInvoice.objects.filter(pk=invoice.pk).update(balance=balance)
    QBOItem.objects.filter(pk=item.pk).update(qty_on_hand=qty)
    fixed = reconcile(connection)
    assert fixed.status == ReconciliationRun.Status.SUCCEEDED and fixed.differences == 0
    assert not Difference.objects.filter(connection=connection).exists()
    page = signed_in(alice).get(reverse("reconciliation:connection", args=[connection.pk]))
    assert "agrees with QuickBooks" in page.content.decode()


def _bucket_of(invoice: QBOInvoice, today: Any) -> str:
    due = invoice.due_date or invoice.txn_date or today
    late = (today - due).days
    if late <= 0:
        return "current"
    for key, high in (("1-30", 30), ("31-60", 60), ("61-90", 90)):
        if late <= high:
            return key
    return "90+"


@pytest.mark.django_db(transaction=True)
def test_a_failed_fetch_keeps_the_earlier_differences_and_marks_the_run_failed(
    on_sandbox: SandboxProcess, partner_a: Partner, settings: Any
) -> None:
    connection = synced(on_sandbox, partner_a, scale=0.1)
    item = QBOItem.objects.filter(connection=connection, item_type="Inventory").first()
    assert item is not None and item.qty_on_hand is not None
    QBOItem.objects.filter(pk=item.pk).update(qty_on_hand=item.qty_on_hand + 1)
    assert reconcile(connection).differences == 1
    before = list(Difference.objects.filter(connection=connection).values())

    # QuickBooks answers every request with a 503, and keeps on after our retries.
    settings.QBO_MAX_RETRIES = 1
    settings.QBO_BACKOFF_BASE = 0.01
    on_sandbox.control("POST", "/_sandbox/config", {"fault_5xx": 1.0})
    failed = reconcile(connection)
    assert failed.status == ReconciliationRun.Status.FAILED
    assert failed.error == services.UNAVAILABLE_MESSAGE and failed.finished_at is not None
    assert list(Difference.objects.filter(connection=connection).values()) == before
    on_sandbox.control("POST", "/_sandbox/config", {"fault_5xx": 0.0})

    # QuickBooks throttles every request (429), past our retries: the same, busy, not wrong.
    on_sandbox.control("POST", "/_sandbox/config", {"fault_429": 1.0})
    throttled = reconcile(connection)
    assert throttled.status == ReconciliationRun.Status.FAILED
    assert throttled.error == services.UNAVAILABLE_MESSAGE
    assert list(Difference.objects.filter(connection=connection).values()) == before
    on_sandbox.control("POST", "/_sandbox/config", {"fault_429": 0.0})

    # A connection that needs reconnecting: no request leaves, and the run says why.
    QBOConnection.objects.filter(pk=connection.pk).update(
        status=QBOConnection.Status.NEEDS_RECONNECT
    )
    refused = reconcile(connection)
    assert refused.status == ReconciliationRun.Status.FAILED
    assert refused.error == services.RECONNECT_MESSAGE and refused.api_requests == 0
    assert list(Difference.objects.filter(connection=connection).values()) == before


@pytest.mark.django_db(transaction=True)
def test_the_report_requests_take_the_realm_limiters_slots(
    on_sandbox: SandboxProcess, partner_a: Partner
) -> None:
    connection = synced(on_sandbox, partner_a, scale=0.1)
    window = RealmLimiter(connection.realm_id)._keys[0]  # the per-minute window's slots
    granted_before = redis_client().zcard(window)
    sent_before = stats(on_sandbox)["requests"][connection.realm_id]

    run = reconcile(connection)

    assert run.status == ReconciliationRun.Status.SUCCEEDED, run.error
    sent = stats(on_sandbox)["requests"][connection.realm_id] - sent_before
    assert sent == run.api_requests == 2
    assert redis_client().zcard(window) - granted_before == 2


@pytest.mark.django_db(transaction=True)
def test_a_second_run_of_the_same_connection_waits_its_turn_and_changes_nothing(
    on_sandbox: SandboxProcess, partner_a: Partner
) -> None:
    from sync import locks

    connection = synced(on_sandbox, partner_a, scale=0.1)
    held = locks.lease_acquire(services._lock_key(connection.pk), ttl_ms=60_000)
    assert held is not None
    try:
        run = reconcile(connection)
    finally:
        held.release()
    assert run.status == ReconciliationRun.Status.SKIPPED and run.api_requests == 0
    assert reconcile(connection).status == ReconciliationRun.Status.SUCCEEDED


@pytest.mark.django_db
def test_beat_enqueues_one_run_per_live_connection(
    django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = [ConnectionFactory(), ConnectionFactory(status=QBOConnection.Status.NEEDS_RECONNECT)]
    ConnectionFactory(partner=PartnerFactory(), status=QBOConnection.Status.DISCONNECTED)
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.reconciliation_run, "delay", lambda *args: sent.append(args))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ids = tasks.reconciliation_nightly()

    assert sorted(ids) == sorted(c.pk for c in live)
    assert len(callbacks) == 2
    assert sorted(sent) == sorted((c.pk, None, "schedule") for c in live)


def test_beat_schedules_the_nightly_run() -> None:
    from unefemme.celery import app

    entry = app.conf.beat_schedule["reconciliation-nightly"]
    assert entry["task"] == "reconciliation.tasks.reconciliation_nightly"
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks


@pytest.mark.django_db
def test_a_run_delivered_twice_runs_once(partner_a: Partner) -> None:
    connection = ConnectionFactory(partner=partner_a)
    run = ReconciliationRun.objects.create(
        connection=connection, status=ReconciliationRun.Status.SUCCEEDED
    )
    assert services.reconciliation_run(connection_id=connection.pk, run_id=run.pk) == run
    run.refresh_from_db()
    assert run.status == ReconciliationRun.Status.SUCCEEDED
    assert ReconciliationRun.objects.count() == 1


def test_stale_after_outlasts_the_task() -> None:
    from reconciliation.models import STALE_AFTER

    assert timedelta(seconds=tasks.reconciliation_run.time_limit or 0) < STALE_AFTER


@pytest.mark.django_db(transaction=True)
def test_a_report_of_another_shape_or_an_error_of_ours_fails_the_run_and_keeps_the_rest(
    on_sandbox: SandboxProcess, partner_a: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = synced(on_sandbox, partner_a, scale=0.1)
    item = QBOItem.objects.filter(connection=connection, item_type="Inventory").first()
    assert item is not None and item.qty_on_hand is not None
    QBOItem.objects.filter(pk=item.pk).update(qty_on_hand=item.qty_on_hand + 2)
    assert reconcile(connection).differences == 1
    before = list(Difference.objects.filter(connection=connection).values())

    # Columns we do not know how to compare (a company whose report is set up otherwise):
    # a failed run that says so, rather than differences that are not there.
    monkeypatch.setattr(services, "AGING_COLUMNS", ["", "Current", "Later", "Total"])
    unreadable = reconcile(connection)
    assert unreadable.status == ReconciliationRun.Status.FAILED
    assert "AgedReceivables came back with the columns" in unreadable.error
    monkeypatch.undo()

    def broken(connection_id: int) -> None:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(services, "_our_stock", broken)
    with pytest.raises(RuntimeError):
        reconcile(connection)
    crashed = ReconciliationRun.objects.filter(connection=connection).latest("created_at")
    assert crashed.status == ReconciliationRun.Status.FAILED and crashed.finished_at
    assert list(Difference.objects.filter(connection=connection).values()) == before
