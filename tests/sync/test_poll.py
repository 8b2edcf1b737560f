"""CDC polling: changes made in qbo_sandbox reach the mirror in one poll, exactly."""

from __future__ import annotations

import math
import time
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from accounts.models import Partner
from billing.models import QBOCustomer, QBOInvoice, QBOPayment, QBOPaymentApplication
from common import mirror
from inventory.mapping.models import QBOItem
from sync import locks, services
from sync.locks import LeaseLost
from sync.models import QBOConnection, SyncCursor, SyncRun, WebhookEvent
from tests.sync.books import Books, connection_for, mirrored, upstream
from tests.sync.test_import import wait_for

if TYPE_CHECKING:
    import subprocess

    from qbo_sandbox.testing import SandboxProcess

pytestmark = pytest.mark.django_db(transaction=True)


def imported(sandbox: SandboxProcess, partner: Partner, *, seed: str = "demo") -> Any:
    realm = sandbox.new_company(seed=seed)
    connection = connection_for(sandbox, partner, realm, company_name="Poll test")
    run = services.connection_sync(connection_id=connection.pk, trigger="test")
    assert run is not None and run.kind == "import" and run.status == "succeeded"
    return connection, Books(sandbox, realm)


def poll(connection: QBOConnection) -> SyncRun:
    run = services.connection_sync(connection_id=connection.pk, trigger="test")
    assert run is not None and run.kind == SyncRun.Kind.POLL, run
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run


def money(value: Any) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def open_invoice(books: Books) -> dict[str, Any]:
    rows = books.query("SELECT * FROM Invoice WHERE Balance > '0' ORDERBY Id MAXRESULTS 50")
    return next(r for r in rows["Invoice"] if r["Balance"] == r["TotalAmt"] and r["Balance"] > 5)


def test_changes_made_in_quickbooks_appear_after_one_poll(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    connection, books = imported(sandbox_server, partner_a)
    customer = books.query("SELECT * FROM Customer WHERE Active = true MAXRESULTS 1")["Customer"][0]
    item, other = books.query(
        "SELECT * FROM Item WHERE Type = 'Inventory' ORDERBY Id MAXRESULTS 2"
    )["Item"]

    # A new invoice.
    new = books.post(
        "Invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                {
                    "Amount": 337.5,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": item["Id"]},
                        "Qty": 4.5,
                        "UnitPrice": 75,
                    },
                }
            ],
        },
    )["Invoice"]
    # A payment applied to an open invoice, partly.
    target = open_invoice(books)
    applied = (Decimal(str(target["Balance"])) / 2).quantize(Decimal("0.01"))
    payment = books.post(
        "Payment",
        {
            "CustomerRef": {"value": target["CustomerRef"]["value"]},
            "TotalAmt": float(applied + Decimal("10.00")),
            "Line": [
                {
                    "Amount": float(applied),
                    "LinkedTxn": [{"TxnId": target["Id"], "TxnType": "Invoice"}],
                }
            ],
        },
    )["Payment"]
    # An invoice deleted, another voided.
    # Two imported invoices nothing is linked to, from the whole company: how many of the
    # oldest ones are still unpaid depends on the day the demo books are seeded.
    doomed, voided = sorted(
        (
            r
            for r in books.all("Invoice")
            if r["Id"] not in (target["Id"], new["Id"])
            and not r.get("LinkedTxn")
            and r["TotalAmt"] > 0
        ),
        key=lambda r: int(r["Id"]),
    )[:2]
    books.post(
        "Invoice", {"Id": doomed["Id"], "SyncToken": doomed["SyncToken"]}, operation="delete"
    )
    books.post("Invoice", {"Id": voided["Id"], "SyncToken": voided["SyncToken"]}, operation="void")
    # An item renamed (an apostrophe and an accent), another deactivated.
    item = books.read("Item", item["Id"])  # the invoice above changed its stock
    books.post(
        "Item",
        {
            "Id": item["Id"],
            "SyncToken": item["SyncToken"],
            "sparse": True,
            "Name": "Domaine d'Émile Réserve 2019",
        },
    )
    # Re-read too: which invoices were deleted and voided above depends on the company
    # this test gets, and their stock may have gone back to this item.
    other = books.read("Item", other["Id"])
    books.post(
        "Item",
        {"Id": other["Id"], "SyncToken": other["SyncToken"], "sparse": True, "Active": False},
    )

    run = poll(connection)

    assert mirrored(connection) == upstream(books)
    # ONE cdc request for all four entities, and one query that confirmed the deleted
    # invoice is gone before its row was removed.
    assert run.counts["Invoice"]["tombstone_requests"] == 1
    assert run.api_requests == 2
    invoices = QBOInvoice.objects.filter(connection=connection)
    created = invoices.get(qbo_id=new["Id"])
    assert created.total_amt == Decimal("337.50") and created.lines.count() == len(new["Line"])
    assert not invoices.filter(qbo_id=doomed["Id"]).exists()
    void = invoices.get(qbo_id=voided["Id"])
    assert void.voided and void.total_amt == 0 and void.balance == 0
    paid = invoices.get(qbo_id=target["Id"])
    assert money(paid.balance) == money(Decimal(str(target["Balance"])) - applied)
    mirrored_payment = QBOPayment.objects.get(connection=connection, qbo_id=payment["Id"])
    assert mirrored_payment.unapplied_amt == Decimal("10.00")
    assert list(
        QBOPaymentApplication.objects.filter(payment=mirrored_payment).values_list(
            "txn_qbo_id", "amount"
        )
    ) == [(target["Id"], applied)]
    items = QBOItem.objects.filter(connection=connection)
    assert items.get(qbo_id=item["Id"]).name == "Domaine d'Émile Réserve 2019"
    assert items.get(qbo_id=other["Id"]).active is False
    counts = run.counts
    assert counts["Invoice"]["deleted"] == 1
    assert counts["Invoice"]["upserted"] >= 3  # new, voided, paid


def xmins(connection: QBOConnection) -> dict[str, set[tuple[int, str]]]:
    """Every mirror row (every registered entity's, lines included) and cursor row with its
    xmin: any INSERT or UPDATE changes the set."""
    result: dict[str, set[tuple[int, str]]] = {}
    with db_connection.cursor() as cursor:
        tables = [mirror.spec_for(e).model._meta.db_table for e in mirror.entities()]
        for table in [*tables, SyncCursor._meta.db_table]:
            cursor.execute(
                f"SELECT id, xmin::text FROM {table} WHERE connection_id = %s", [connection.pk]
            )
            result[table] = set(cursor.fetchall())
        for spec in mirror.specs():
            if spec.child_model is None:
                continue
            child, parent = spec.child_model._meta.db_table, spec.model._meta.db_table
            cursor.execute(
                f"SELECT c.id, c.xmin::text FROM {child} c JOIN {parent} p "
                f"ON p.id = c.{spec.child_parent}_id WHERE p.connection_id = %s",
                [connection.pk],
            )
            result[child] = set(cursor.fetchall())
    return result


def test_polls_with_no_upstream_change_write_nothing(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    connection, books = imported(sandbox_server, partner_a)
    # Some recent changes, so the overlap window has something to re-read.
    customer = books.query("SELECT * FROM Customer MAXRESULTS 1")["Customer"][0]
    books.post(
        "Customer",
        {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "sparse": True, "Notes": "x"},
    )
    first = poll(connection)
    assert first.counts["Customer"]["upserted"] == 1
    before = xmins(connection)

    second, third = poll(connection), poll(connection)

    assert xmins(connection) == before
    for run in (second, third):
        assert all(c["upserted"] == 0 and c["deleted"] == 0 for c in run.counts.values())
        assert run.counts["Customer"]["unchanged"] >= 1  # re-read, compared, left alone
    assert mirrored(connection) == upstream(books)


def test_a_quiet_realms_cursor_still_moves_forward_once_an_hour(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    connection, _ = imported(sandbox_server, partner_a)
    two_hours_ago = timezone.now() - timedelta(hours=2)
    SyncCursor.objects.filter(connection=connection).update(changed_since=two_hours_ago)

    poll(connection)

    cursors = SyncCursor.objects.filter(connection=connection)
    recent = timezone.now() - timedelta(minutes=3)
    assert all(c.changed_since is not None and c.changed_since > recent for c in cursors)


def test_a_cursor_older_than_30_days_means_a_full_reimport(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    connection, books = imported(sandbox_server, partner_a)
    # While the realm was out of reach: an invoice deleted, a customer added.
    invoice = books.query("SELECT * FROM Invoice WHERE Balance = '0' MAXRESULTS 1")["Invoice"][0]
    books.post(
        "Invoice", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]}, operation="delete"
    )
    books.post("Customer", {"DisplayName": "Cave d'Émile"})
    SyncCursor.objects.filter(connection=connection).update(
        changed_since=timezone.now() - timedelta(days=31)
    )

    run = services.connection_sync(connection_id=connection.pk, trigger="schedule")

    assert run is not None and run.kind == SyncRun.Kind.IMPORT, run
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert mirrored(connection) == upstream(books)
    assert not QBOInvoice.objects.filter(connection=connection, qbo_id=invoice["Id"]).exists()
    assert run.counts["Invoice"]["deleted"] == 1
    cursors = SyncCursor.objects.filter(connection=connection)
    assert all(c.import_done and not c.reconcile for c in cursors)
    recent = timezone.now() - timedelta(minutes=5)
    assert all(c.changed_since is not None and c.changed_since > recent for c in cursors)
    # And CDC polling carries on from there.
    poll(connection)


def test_a_window_with_more_than_1000_changes_of_an_entity_reads_it_whole(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    connection, books = imported(sandbox_server, partner_a, seed="empty")
    for batch in range(37):  # 1110 new customers, in 30-item batches over a few seconds
        answers = books.batch(
            [
                {
                    "bId": str(n),
                    "operation": "create",
                    "Customer": {"DisplayName": f"Caviste {batch:02d}-{n:02d}"},
                }
                for n in range(30)
            ]
        )
        assert all("Customer" in answer for answer in answers)
        time.sleep(0.1)

    run = poll(connection)

    assert mirrored(connection) == upstream(books)
    assert run.counts["Customer"]["upserted"] == 1110
    # The answer hit the 1000-object cap: customers were read whole (a COUNT and two
    # pages), the other entities applied from the same answer.
    customers = QBOCustomer.objects.filter(connection=connection).count()
    assert customers >= 1110
    assert run.counts["Customer"]["reread_requests"] == 1 + math.ceil(customers / 1000)
    assert run.api_requests == 1 + run.counts["Customer"]["reread_requests"]


def test_a_webhook_brings_a_poll_without_waiting_for_the_schedule(
    sandbox_server: SandboxProcess,
    partner_a: Partner,
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    connection, books = imported(sandbox_server, partner_a)
    scheduled = QBOConnection.objects.get(pk=connection.pk).next_sync_at
    customer = books.query("SELECT * FROM Customer MAXRESULTS 1")["Customer"][0]
    books.post(
        "Customer",
        {
            "Id": customer["Id"],
            "SyncToken": customer["SyncToken"],
            "sparse": True,
            "DisplayName": "Maison d'Été",
        },
    )
    WebhookEvent.objects.create(
        event_id="evt-1", realm_id=connection.realm_id, entity="Customer", payload={}
    )
    WebhookEvent.objects.create(event_id="evt-2", realm_id="404", entity="Customer", payload={})

    services.webhook_events_received(realm_ids={connection.realm_id, "404"})

    wait_for(
        lambda: QBOCustomer.objects.filter(
            connection=connection, qbo_id=customer["Id"], display_name="Maison d'Été"
        ).exists(),
        timeout=30,
    )
    run = SyncRun.objects.filter(connection=connection, kind="poll").latest("started_at")
    assert run.trigger == "webhook"
    assert QBOConnection.objects.get(pk=connection.pk).next_sync_at == scheduled
    assert WebhookEvent.objects.get(event_id="evt-1").status == WebhookEvent.Status.ENQUEUED
    assert WebhookEvent.objects.get(event_id="evt-2").status == WebhookEvent.Status.IGNORED


@pytest.mark.parametrize("broker", ["refused", "silent"])
def test_a_webhook_with_the_broker_down_still_returns_quickly(
    sandbox_server: SandboxProcess,
    partner_a: Partner,
    settings: Any,
    broker: str,
    silent_server: Any,
) -> None:
    realm = sandbox_server.new_company(seed="empty")
    connection = connection_for(sandbox_server, partner_a, realm)
    WebhookEvent.objects.create(event_id="evt", realm_id=realm, entity="Item", payload={})
    port = silent_server.url.rsplit(":", 1)[1] if broker == "silent" else "1"
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"

    started = time.monotonic()
    services.webhook_events_received(realm_ids={connection.realm_id})

    assert time.monotonic() - started < 2.5
    assert WebhookEvent.objects.get(event_id="evt").status == WebhookEvent.Status.RECEIVED


# ---------------------------------------------------------------- one sync at a time


def test_a_second_sync_of_a_busy_realm_skips_and_asks_the_holder_for_another_poll(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    connection, books = imported(sandbox_server, partner_a, seed="empty")
    lease = locks.realm_lock_acquire(realm_id=connection.realm_id, connection_id=connection.pk)
    assert lease is not None
    try:
        assert services.connection_sync(connection_id=connection.pk, trigger="webhook") is None
        assert locks.realm_rerun_take(realm_id=connection.realm_id)
    finally:
        lease.release()
    locks.realm_rerun_request(realm_id=connection.realm_id)

    services.connection_sync(connection_id=connection.pk, trigger="schedule")

    triggers = list(
        SyncRun.objects.filter(connection=connection, kind="poll").values_list("trigger", flat=True)
    )
    assert triggers == ["schedule", "rerun"]


def test_the_fence_check_sets_its_transactions_timeouts_and_commit_mode_and_nothing_else(
    sandbox_server: SandboxProcess, partner_a: Partner, settings: Any
) -> None:
    from django.db import transaction

    realm = sandbox_server.new_company(seed="empty")
    connection = connection_for(sandbox_server, partner_a, realm, company_name="Settings")
    settings.SYNC_LOCK_TTL = 7
    lease = locks.realm_lock_acquire(realm_id=realm, connection_id=connection.pk)
    assert lease is not None

    def shown() -> tuple[str, str, str]:
        with db_connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('synchronous_commit'),"
                " current_setting('statement_timeout'),"
                " current_setting('idle_in_transaction_session_timeout')"
            )
            found: tuple[str, str, str] = cursor.fetchone()
            return found

    with db_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO local")  # as an operator might set it
    try:
        before = shown()
        assert before[0] == "local"
        with transaction.atomic():
            lease.check_fence()  # the operator's commit mode stays
            assert shown() == (before[0], "7s", "7s")
        with transaction.atomic():
            lease.check_fence(synchronous_commit=False)  # an import page's
            assert shown() == ("off", "7s", "7s")
        assert shown() == before  # for the transaction only
    finally:
        lease.release()
        with db_connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def test_a_holder_that_outlived_its_lease_cannot_write(
    sandbox_server: SandboxProcess, partner_a: Partner, settings: Any
) -> None:
    realm = sandbox_server.new_company(seed="demo")
    connection = connection_for(sandbox_server, partner_a, realm, company_name="Fenced")
    settings.SYNC_LOCK_TTL = 0.3
    stale = locks.realm_lock_acquire(realm_id=realm, connection_id=connection.pk)
    assert stale is not None
    time.sleep(0.5)  # paused past its lease (GC, SIGSTOP, a slow disk...)
    settings.SYNC_LOCK_TTL = 60
    successor = locks.realm_lock_acquire(realm_id=realm, connection_id=connection.pk)
    assert successor is not None and successor.fence > stale.fence
    try:
        # The stale holder wakes up and carries on with an import: its first write is
        # refused, so nothing of it reaches the mirror or the cursors.
        assert services._sync_once(connection.pk, stale, "stale") is None
        assert not SyncRun.objects.filter(connection=connection).exists()
        assert not QBOItem.objects.filter(connection=connection).exists()
        assert not SyncCursor.objects.filter(connection=connection, changed_since__isnull=False)
        with pytest.raises(LeaseLost):
            stale.renew()
        # The successor's own writes go through.
        run = services._sync_once(connection.pk, successor, "successor")
        assert run is not None and run.status == SyncRun.Status.SUCCEEDED
    finally:
        successor.release()
        stale.release()  # a no-op: the lock is not its own any more
    assert locks.realm_lock_held(realm_id=realm) is False
    assert {c.entity for c in SyncCursor.objects.filter(connection=connection)} == set(
        mirror.entities()
    )


def test_a_holder_stopped_in_the_middle_of_a_copy_cannot_hold_its_successor_back(
    sandbox_server: SandboxProcess, partner_a: Partner, settings: Any
) -> None:
    """No server timeout ends a session waiting for the rest of a COPY; the successor
    ends the lapsed holder's session itself (locks._evict_lapsed_holder)."""
    import threading

    from django.db import connection as db_connection
    from django.db import transaction

    realm = sandbox_server.new_company(seed="empty")
    connection = connection_for(sandbox_server, partner_a, realm)
    settings.SYNC_LOCK_TTL = 0.5
    copying, wake = threading.Event(), threading.Event()
    outcome: list[BaseException] = []

    def stopped_holder() -> None:
        try:
            lease = locks.realm_lock_acquire(realm_id=realm, connection_id=connection.pk)
            assert lease is not None
            with transaction.atomic():
                lease.check_fence()  # holds the connection row FOR SHARE
                with db_connection.cursor() as cursor:
                    cursor.execute("CREATE TEMP TABLE stalled (x text)")
                    with cursor.cursor.copy("COPY stalled (x) FROM STDIN") as copy:
                        copy.write(b"half a page\n")
                        cursor.connection.pgconn.flush()
                        copying.set()
                        wake.wait(30)  # stopped mid-COPY, as by SIGSTOP
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            outcome.append(exc)
        finally:
            db_connection.close()

    holder = threading.Thread(target=stopped_holder)
    holder.start()
    try:
        assert copying.wait(10)
        time.sleep(1.0)  # the lease lapses
        settings.SYNC_LOCK_TTL = 60
        started = time.monotonic()
        successor = locks.realm_lock_acquire(realm_id=realm, connection_id=connection.pk)
        assert successor is not None
        assert time.monotonic() - started < 10  # it did not wait for the stopped holder
        assert successor.fence == QBOConnection.objects.get(pk=connection.pk).sync_fence
        successor.release()
    finally:
        wake.set()
        holder.join(30)
    # On waking, the stopped holder finds its session gone: it wrote nothing.
    assert outcome and "terminat" in str(outcome[0]).lower()
