"""The mirror stays exact whichever way Intuit answers what its CDC documentation leaves
open (docs/qbo-api.md §3, "Open questions"): which 1,000 of more changes a capped answer
holds, tombstones for objects that still exist, and the zone of a zone-less timestamp.

qbo_sandbox answers each question every way it can (``/_sandbox/config``); the sync runs
against every combination, with more than 1,000 changes of one entity in one window and
deletions before, among and after them, and the mirror must equal the sandbox exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from django.utils import timezone

from billing.models import QBOCustomer, QBOInvoice
from sync import services
from sync.clients import qbo
from sync.clients.qbo import QBOClient
from sync.models import QBOConnection, SyncCursor, SyncRun
from tests.sync.books import Books, connection_for, mirrored, upstream

if TYPE_CHECKING:
    from accounts.models import Partner
    from qbo_sandbox.testing import SandboxProcess

pytestmark = pytest.mark.django_db(transaction=True)

CAP_ORDERS = ("oldest", "newest", "arbitrary")
# A share of live objects reported as deleted: off, or half of them.
SPURIOUS = (0.0, 0.5)
# The sandbox's default (Pacific), and a zone twelve hours behind UTC: a client sending
# UTC without an offset would ask for changes from twelve hours in the future and miss
# every one of them.
NAIVE_ZONES = ("America/Los_Angeles", "Etc/GMT+12")
NEW_INVOICES = 1_050  # past CDC's 1,000 objects per entity in one answer
SWITCHES = ("cdc_cap_order", "cdc_spurious_deleted", "naive_time_zone")


@pytest.fixture
def answer_cdc(sandbox_server: SandboxProcess) -> Iterator[Callable[..., None]]:
    """Set how the sandbox answers the open questions; everything back as it was after.
    Batch limits are lifted for the test's own writes (a thousand invoices in batches)."""
    limits = ("limit_batch_per_minute_app", "limit_batch_per_minute_realm")
    before = sandbox_server.control("GET", "/_sandbox/config")
    sandbox_server.control("POST", "/_sandbox/config", dict.fromkeys(limits, 0))

    def answer(**switches: Any) -> None:
        sandbox_server.control("POST", "/_sandbox/config", switches)

    yield answer
    sandbox_server.control(
        "POST", "/_sandbox/config", {key: before[key] for key in (*limits, *SWITCHES)}
    )


def batches(books: Books, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = []
    for start in range(0, len(items), 30):
        chunk = [{"bId": str(n), **item} for n, item in enumerate(items[start : start + 30])]
        answered = books.batch(chunk)
        faults = [a["Fault"] for a in answered if "Fault" in a]
        assert not faults, faults
        answers.extend(answered)
    return answers


def delete_invoices(books: Books, invoices: list[dict[str, Any]]) -> None:
    batches(
        books,
        [
            {"operation": "delete", "Invoice": {"Id": i["Id"], "SyncToken": i["SyncToken"]}}
            for i in invoices
        ],
    )


def touch_customers(books: Books, customers: list[dict[str, Any]], note: str) -> None:
    batches(
        books,
        [
            {
                "operation": "update",
                "Customer": {
                    "Id": c["Id"],
                    "SyncToken": books.read("Customer", c["Id"])["SyncToken"],
                    "sparse": True,
                    "Notes": note,
                },
            }
            for c in customers
        ],
    )


def invoicing(books: Books) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Twenty active customers, and an item that keeps no stock, to invoice."""
    customers = [c for c in books.all("Customer") if c.get("Active", True)][:20]
    item = next(
        i
        for i in books.all("Item")
        if i["Type"] in ("Service", "NonInventory") and i.get("Active", True)
    )
    assert len(customers) == 20
    return customers, item


def new_invoices(
    books: Books, customers: list[dict[str, Any]], item: dict[str, Any], count: int
) -> list[dict[str, Any]]:
    answers = batches(
        books,
        [
            {
                "operation": "create",
                "Invoice": {
                    "CustomerRef": {"value": customers[n % len(customers)]["Id"]},
                    "Line": [
                        {
                            "Amount": 10 + n,
                            "DetailType": "SalesItemLineDetail",
                            "SalesItemLineDetail": {
                                "ItemRef": {"value": item["Id"]},
                                "Qty": 1,
                                "UnitPrice": 10 + n,
                            },
                        }
                    ],
                },
            }
            for n in range(count)
        ],
    )
    return [answer["Invoice"] for answer in answers]


def poll(connection: QBOConnection) -> SyncRun:
    run = services.connection_sync(connection_id=connection.pk, trigger="test")
    assert run is not None and run.kind == SyncRun.Kind.POLL, run
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run


@pytest.mark.parametrize("zone", NAIVE_ZONES)
@pytest.mark.parametrize("spurious", SPURIOUS, ids=("spurious-off", "spurious-on"))
@pytest.mark.parametrize("order", CAP_ORDERS)
def test_the_mirror_equals_quickbooks_however_cdc_answers(
    sandbox_server: SandboxProcess,
    partner_a: Partner,
    answer_cdc: Callable[..., None],
    order: str,
    spurious: float,
    zone: str,
) -> None:
    realm = sandbox_server.new_company(seed="demo", scale=0.05)
    books = Books(sandbox_server, realm)
    customers, item = invoicing(books)
    older = new_invoices(books, customers, item, 10)  # mirrored by the import
    connection = connection_for(sandbox_server, partner_a, realm, company_name="Open questions")
    imported = services.connection_sync(connection_id=connection.pk, trigger="test")
    assert imported is not None and imported.status == SyncRun.Status.SUCCEEDED
    answer_cdc(cdc_cap_order=order, cdc_spurious_deleted=spurious, naive_time_zone=zone)

    # One window: deletions and customer changes first, then over a thousand new
    # invoices, then more deletions (new invoices and old) and customer changes.
    delete_invoices(books, older[:5])
    touch_customers(books, customers[:10], "first")
    created = new_invoices(books, customers, item, NEW_INVOICES)
    delete_invoices(books, created[100:1000:90] + older[5:])
    touch_customers(books, customers[10:], "last")

    run = poll(connection)

    assert mirrored(connection) == upstream(books)
    invoices = len(books.all("Invoice"))
    # The capped entity was read whole: its COUNT and its pages, and nothing else.
    assert run.counts["Invoice"]["reread_requests"] == 1 + math.ceil(invoices / 1000)
    assert QBOInvoice.objects.filter(connection=connection).count() == invoices
    if spurious:
        # Customers reported deleted were asked about in one query, and kept.
        assert run.counts["Customer"]["tombstone_requests"] == 1
        assert run.counts["Customer"]["tombstones_live"] > 0
        assert QBOCustomer.objects.filter(connection=connection).count() == len(
            books.all("Customer")
        )
    else:
        assert "tombstones_checked" not in run.counts["Customer"]
    extra = sum(
        c.get("reread_requests", 0) + c.get("tombstone_requests", 0) for c in run.counts.values()
    )
    assert run.api_requests == 1 + extra  # the CDC request, and the extra ones counted

    # A poll whose window holds no change costs its one CDC request.
    SyncCursor.objects.filter(connection=connection).update(
        changed_since=timezone.now() + timedelta(seconds=1)
    )
    quiet = poll(connection)
    assert quiet.api_requests == 1
    assert mirrored(connection) == upstream(books)


def test_a_tombstone_for_an_object_that_exists_keeps_it_and_a_real_one_deletes(
    sandbox_server: SandboxProcess, partner_a: Partner, answer_cdc: Callable[..., None]
) -> None:
    realm = sandbox_server.new_company(seed="demo", scale=0.05)
    books = Books(sandbox_server, realm)
    kept, doomed = new_invoices(books, *invoicing(books), 2)
    connection = connection_for(sandbox_server, partner_a, realm, company_name="Tombstones")
    services.connection_sync(connection_id=connection.pk, trigger="test")
    # Every live object in every CDC answer is reported deleted.
    answer_cdc(cdc_spurious_deleted=1.0)
    books.post("Invoice", {"Id": kept["Id"], "SyncToken": kept["SyncToken"], "sparse": True,
                           "PrivateNote": "still here"})  # fmt: skip
    books.post(
        "Invoice", {"Id": doomed["Id"], "SyncToken": doomed["SyncToken"]}, operation="delete"
    )

    run = poll(connection)

    stored = QBOInvoice.objects.get(connection=connection, qbo_id=kept["Id"])
    assert stored.raw["PrivateNote"] == "still here"  # the version the query returned
    assert not QBOInvoice.objects.filter(connection=connection, qbo_id=doomed["Id"]).exists()
    assert run.counts["Invoice"]["tombstones_checked"] >= 2
    assert run.counts["Invoice"]["tombstone_requests"] == 1
    assert run.counts["Invoice"]["deleted"] == 1
    assert mirrored(connection) == upstream(books)


def test_a_whole_read_cut_short_resumes_where_it_stopped_and_the_mirror_converges(
    sandbox_server: SandboxProcess,
    partner_a: Partner,
    answer_cdc: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    realm = sandbox_server.new_company(seed="demo", scale=0.05)
    books = Books(sandbox_server, realm)
    customers, item = invoicing(books)
    connection = connection_for(sandbox_server, partner_a, realm, company_name="Cut short")
    services.connection_sync(connection_id=connection.pk, trigger="test")
    answer_cdc(cdc_cap_order="newest")
    created = new_invoices(books, customers, item, NEW_INVOICES)
    delete_invoices(books, created[::100])
    before = SyncCursor.objects.get(connection=connection, entity="Invoice").changed_since
    # The whole read of invoices fails on its second page, as a lost worker would.
    real = QBOClient.query_page
    pages = []

    def second_page_fails(self: QBOClient, entity: str, **kwargs: Any) -> Any:
        pages.append(entity)
        if len(pages) == 2:
            raise qbo.QBOError("QuickBooks went away", transient=False)
        return real(self, entity, **kwargs)

    monkeypatch.setattr(QBOClient, "query_page", second_page_fails)

    failed = services.connection_sync(connection_id=connection.pk, trigger="test")

    assert failed is not None and failed.status == SyncRun.Status.FAILED
    cursor = SyncCursor.objects.get(connection=connection, entity="Invoice")
    # The first page is kept with its progress; the watermark has not moved past the
    # changes that were not read.
    assert not cursor.import_done and cursor.reconcile and cursor.imported_count == 1000
    assert cursor.changed_since == before
    monkeypatch.setattr(QBOClient, "query_page", real)

    resumed = services.connection_sync(connection_id=connection.pk, trigger="test")
    assert resumed is not None and resumed.kind == SyncRun.Kind.IMPORT
    assert resumed.status == SyncRun.Status.SUCCEEDED, resumed.error
    assert resumed.counts["Invoice"]["upserted"] < NEW_INVOICES  # from the second page on
    poll(connection)

    assert mirrored(connection) == upstream(books)


def test_the_client_refuses_a_zone_less_time_and_an_empty_or_oversized_id_list() -> None:
    client = QBOClient(realm_id="1", tokens=qbo.StaticToken("unused"))
    # Refused before anything is sent: no token is asked for, no request made.
    with pytest.raises(ValueError, match="aware"):
        client.cdc(["Invoice"], changed_since=datetime(2026, 12, 1, 12, 0))  # noqa: DTZ001 - the point
    with pytest.raises(ValueError, match="1 to 1000 ids"):
        client.live_by_ids("Invoice", [])
    with pytest.raises(ValueError, match="1 to 1000 ids"):
        client.live_by_ids("Invoice", [str(n) for n in range(1001)])
    assert client.meter.requests == 0
