"""Pushes into a partner's QuickBooks: warehouse quantities as InventoryAdjustments and
catalog SKUs as items, in batches of at most 30 with a requestid, approved first, safe to
retry. Everything runs against qbo_sandbox over HTTP; what QuickBooks holds afterwards is
read back independently (tests/sync/books.py), not through the app's client."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterable, Iterator
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

import psutil
import pytest
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import Partner, User
from common.templatetags.ui import format_money
from inventory.catalog.models import CatalogSKU
from inventory.catalog.services import catalog_demo_load
from inventory.mapping.models import MappingConflict, MappingDecision, QBOItem, SKUMapping
from inventory.push import selectors as push_selectors
from inventory.push import services as push
from inventory.push.models import PushBatch, PushItem, PushJob
from inventory.tasks import push_job_run as push_job_task
from inventory.warehouse.models import WarehouseSnapshot, WarehouseSource
from sync import locks, services
from sync.models import QBOConnection
from tests.billing.factories import ConnectionFactory, ItemFactory
from tests.conftest import signed_in
from tests.sync.books import Books, connection_for
from tests.sync.conftest import SilentServer, start_worker
from tests.sync.test_import import wait_for

if TYPE_CHECKING:
    import subprocess

    from qbo_sandbox.testing import SandboxProcess

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _background_work_finishes(transactional_db: None) -> Iterator[None]:
    """A finished push asks for a sync, which a worker of this package may be running when
    the test ends; the database is only emptied once it is done."""
    yield
    realms = list(QBOConnection.objects.values_list("realm_id", flat=True))
    wait_for(
        lambda: (
            not PushJob.objects.filter(status__in=PushJob.ACTIVE).exists()
            and not any(locks.realm_lock_held(realm_id=r) for r in realms)
        ),
        timeout=60,
    )


def synced(connection: QBOConnection) -> None:
    """One sync, run here once no worker holds the realm (a finished push enqueues one)."""

    def attempt() -> bool:
        run = services.connection_sync(connection_id=connection.pk, trigger="test")
        return run is not None and run.status == "succeeded"

    wait_for(attempt, timeout=60, every=0.5)


@pytest.fixture
def sandbox_faults(sandbox_server: SandboxProcess) -> Iterator[SandboxProcess]:
    yield sandbox_server
    sandbox_server.control(
        "POST",
        "/_sandbox/config",
        {"fault_drop_batch": 0.0, "fault_slow": 0.0, "batch_max_items": 30},
    )


@pytest.fixture
def quick_retries(settings: Any) -> None:
    # A dropped answer is retried once, at once, and then the job stops.
    settings.QBO_MAX_RETRIES = 1
    settings.QBO_BACKOFF_BASE = 0.01
    settings.QBO_BACKOFF_CAP = 0.02


def imported(sandbox: SandboxProcess, partner: Partner) -> tuple[QBOConnection, Books]:
    catalog_demo_load()
    realm = sandbox.new_company(seed="demo")
    connection = connection_for(sandbox, partner, realm, company_name="Push test")
    run = services.connection_sync(connection_id=connection.pk, trigger="test")
    assert run is not None and run.status == "succeeded", run and run.error
    return connection, Books(sandbox, realm)


def sku_bottles(books: Books, connection: QBOConnection, sku: CatalogSKU) -> Decimal:
    """The SKU's quantity in the partner's QuickBooks, read from the sandbox."""
    total = Decimal(0)
    for m in SKUMapping.objects.filter(connection=connection, catalog_sku=sku):
        item = books.read("Item", m.item_qbo_id)
        if item.get("Active", True):
            total += Decimal(str(item.get("QtyOnHand") or 0)) * m.bottles_per_unit
    return total


def warehouse_counts(
    connection: QBOConnection, books: Books, *, offsets: list[int]
) -> dict[CatalogSKU, Decimal]:
    """Record warehouse counts differing from QuickBooks by whole units of the item an
    adjustment would go to (k × bottles per unit), for as many mapped SKUs as offsets."""
    wanted: dict[CatalogSKU, Decimal] = {}
    mapped = CatalogSKU.objects.filter(mappings__connection=connection).distinct().order_by("code")
    for sku, offset in zip(mapped, offsets, strict=False):
        target = push_selectors.target_mapping(
            list(SKUMapping.objects.filter(connection=connection, catalog_sku=sku))
        )
        assert target is not None
        bottles = sku_bottles(books, connection, sku) + offset * target.bottles_per_unit
        WarehouseSnapshot.objects.create(
            partner=connection.partner, sku=sku, as_of=timezone.localdate(), bottles=bottles,
            source=WarehouseSource.CSV,
        )  # fmt: skip
        wanted[sku] = bottles
    assert len(wanted) == len(offsets), "the demo company maps fewer SKUs than the test needs"
    return wanted


def chosen(connection: QBOConnection, skus: Iterable[CatalogSKU]) -> dict[int, str]:
    """The item each SKU's adjustment goes to, as an admin chooses it on the form (a SKU
    with several items that could take it is refused without): the one warehouse_counts
    sized the offsets for."""
    choices = {}
    for sku in skus:
        target = push_selectors.target_mapping(
            list(SKUMapping.objects.filter(connection=connection, catalog_sku=sku))
        )
        assert target is not None
        choices[sku.pk] = target.item_qbo_id
    return choices


def approved(job: PushJob, admin: User) -> PushJob:
    """Approve without enqueueing, for tests that run the job in this process."""
    PushJob.objects.filter(pk=job.pk).update(
        status=PushJob.Status.QUEUED, approved_by=admin, approved_at=timezone.now()
    )
    job.refresh_from_db()
    return job


def run_to_the_end(job: PushJob) -> PushJob:
    """Run the job here; if a worker of this package holds it (a retry enqueues), wait."""
    push.push_job_run(job_id=job.pk)
    wait_for(lambda: PushJob.objects.get(pk=job.pk).status not in PushJob.ACTIVE, timeout=120)
    job.refresh_from_db()
    return job


def adjustments(books: Books) -> list[dict[str, Any]]:
    return list(
        books.query("SELECT * FROM InventoryAdjustment MAXRESULTS 1000").get(
            "InventoryAdjustment", []
        )
    )


# ------------------------------------------------------------------ stock


def test_an_approved_push_sets_quickbooks_to_the_warehouse_count(
    sandbox_server: SandboxProcess,
    celery_worker_process: subprocess.Popen[bytes],
    partner_a: Partner,
    ada: User,
    sam: User,
) -> None:
    connection, books = imported(sandbox_server, partner_a)
    wanted = warehouse_counts(connection, books, offsets=[5, -3, 2])
    before = len(adjustments(books))
    admin = signed_in(ada)

    page = admin.get(reverse("inventory:push_stock_new"), {"partner": partner_a.slug})
    assert page.status_code == 200
    for sku in wanted:
        assert sku.code in page.content.decode()
    drafted = admin.post(
        reverse("inventory:push_stock_new"),
        {
            "partner": partner_a.slug,
            "sku": [str(sku.pk) for sku in wanted],
            **{f"item-{pk}": item for pk, item in chosen(connection, wanted).items()},
        },
    )
    job = PushJob.objects.get()
    assert drafted.status_code == 302 and drafted["Location"] == job.get_absolute_url()
    assert job.status == PushJob.Status.DRAFT
    # A draft writes nothing, and staff cannot approve it.
    assert len(adjustments(books)) == before
    assert (
        signed_in(sam).post(reverse("inventory:push_job_approve", args=[job.pk])).status_code == 403
    )
    assert PushJob.objects.get(pk=job.pk).status == PushJob.Status.DRAFT

    assert admin.post(reverse("inventory:push_job_approve", args=[job.pk])).status_code == 302
    wait_for(lambda: PushJob.objects.get(pk=job.pk).status not in PushJob.ACTIVE, timeout=120)
    assert PushJob.objects.get(pk=job.pk).status == PushJob.Status.DONE
    job.refresh_from_db()

    for sku, bottles in wanted.items():
        assert sku_bottles(books, connection, sku) == bottles, sku.code
    written = adjustments(books)[before:]
    assert len(written) == len(wanted)
    assert all(a["AdjustAccountRef"]["value"] for a in written)
    assert job.adjust_account == "Inventory Shrinkage"
    assert job.approved_by == ada
    assert [b.items.count() for b in job.batches.all()] == [len(wanted)]
    assert all(len(b.request_id) <= 36 for b in job.batches.all())
    items = list(job.items.order_by("pk"))
    assert {i.status for i in items} == {PushItem.Status.WRITTEN}
    assert all(i.result_qbo_id and "Adjusted by" in i.message for i in items)
    # The page shows the outcome of every item.
    shown = signed_in(sam).get(job.get_absolute_url()).content.decode()
    assert shown.count("Written") >= len(wanted)

    # Each adjustment's value is what QuickBooks books for it: its quantity × the item's
    # PurchaseCost in QuickBooks (read from the sandbox, not the mirror), and the job's
    # total is theirs.
    for i in items:
        cost = Decimal(str(books.read("Item", i.item_qbo_id)["PurchaseCost"]))
        assert i.unit_cost == cost and i.cost_source == "purchase_cost"
        assert i.qty_diff is not None
        assert i.value == (i.qty_diff * cost).quantize(Decimal("0.01"), ROUND_HALF_UP)
    total = sum((i.value or Decimal(0) for i in items), Decimal("0.00"))
    assert f"<strong>{format_money(total)}</strong>" in shown
    assert "Booked by QuickBooks to “Inventory Shrinkage”" in shown

    # Pushing the same counts again writes nothing: QuickBooks already holds them.
    again = push.push_stock_draft(
        user=ada, partner_id=partner_a.pk, sku_ids=[s.pk for s in wanted],
        item_choices=chosen(connection, wanted),
    )  # fmt: skip
    again = run_to_the_end(approved(again, ada))
    assert {i.status for i in again.items.all()} == {PushItem.Status.UNCHANGED}
    assert len(adjustments(books)) == before + len(wanted)


def test_a_lost_batch_answer_is_replayed_not_applied_twice(
    sandbox_faults: SandboxProcess, quick_retries: None, partner_a: Partner, ada: User
) -> None:
    connection, books = imported(sandbox_faults, partner_a)
    wanted = warehouse_counts(connection, books, offsets=[4, -2])
    before = len(adjustments(books))
    job = push.push_stock_draft(
        user=ada, partner_id=partner_a.pk, sku_ids=[s.pk for s in wanted],
        item_choices=chosen(connection, wanted),
    )  # fmt: skip
    job = approved(job, ada)

    # QuickBooks writes the batch and the answer never arrives (twice: our retry too).
    sandbox_faults.control("POST", "/_sandbox/config", {"fault_drop_batch": 1.0})
    push.push_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == PushJob.Status.FAILED
    assert "could not be reached" in job.error
    assert len(adjustments(books)) == before + len(wanted)  # written once, answer lost
    batch = job.batches.get()
    assert batch.sent_at is not None and batch.answered_at is None
    assert {i.status for i in job.items.all()} == {PushItem.Status.SENT}

    # Retry: the same batch, same requestid; QuickBooks replays instead of adjusting again.
    sandbox_faults.control("POST", "/_sandbox/config", {"fault_drop_batch": 0.0})
    push.push_job_retry(job_id=job.pk, user=ada)
    job = run_to_the_end(job)
    assert job.status == PushJob.Status.DONE
    assert job.batches.get().pk == batch.pk
    assert len(adjustments(books)) == before + len(wanted)
    for sku, bottles in wanted.items():
        assert sku_bottles(books, connection, sku) == bottles
    assert {i.status for i in job.items.all()} == {PushItem.Status.WRITTEN}


def test_a_push_that_cannot_be_applied_says_why_and_changes_nothing(
    sandbox_server: SandboxProcess, partner_a: Partner, ada: User
) -> None:
    connection, books = imported(sandbox_server, partner_a)
    sku = CatalogSKU.objects.filter(mappings__connection=connection).order_by("code").first()
    assert sku is not None
    # A SKU with no warehouse count cannot be drafted.
    with pytest.raises(ValidationError, match="no warehouse quantity"):
        push.push_stock_draft(user=ada, partner_id=partner_a.pk, sku_ids=[sku.pk])
    assert not PushJob.objects.exists()
    # Bad input on the form: a clear message, no job.
    response = signed_in(ada).post(
        reverse("inventory:push_stock_new"),
        {"partner": partner_a.slug, "sku": ["abc"]},
        follow=True,
    )
    assert "Nothing was started" in response.content.decode()
    assert not PushJob.objects.exists()

    # The mapped item is deactivated in QuickBooks after the draft: that item fails, saying
    # so, and nothing is written for it.
    wanted = warehouse_counts(connection, books, offsets=[3])
    [target] = [
        push_selectors.target_mapping(
            list(SKUMapping.objects.filter(connection=connection, catalog_sku=s))
        )
        for s in wanted
    ]
    assert target is not None
    job = approved(
        push.push_stock_draft(
            user=ada,
            partner_id=partner_a.pk,
            sku_ids=[s.pk for s in wanted],
            item_choices=chosen(connection, wanted),
        ),
        ada,
    )
    item = books.read("Item", target.item_qbo_id)
    books.post(
        "Item", {"Id": item["Id"], "SyncToken": item["SyncToken"], "sparse": True, "Active": False}
    )
    before = len(adjustments(books))
    job = run_to_the_end(job)
    assert job.status == PushJob.Status.DONE_WITH_FAILURES
    [failed] = job.items.all()
    assert failed.status == PushItem.Status.FAILED and "inactive" in failed.message
    assert len(adjustments(books)) == before
    assert not job.batches.exists()


def test_a_sku_with_several_items_is_pushed_onto_the_item_the_admin_chose(
    sandbox_server: SandboxProcess,
    celery_worker_process: subprocess.Popen[bytes],
    partner_a: Partner,
    partner_b: Partner,
    ada: User,
) -> None:
    connection, books = imported(sandbox_server, partner_a)
    # A SKU kept in a bottle item and a case item, both in stock in QuickBooks.
    sku, bottle, case = several_items(connection)
    bottle_before = Decimal(str(books.read("Item", bottle.item_qbo_id)["QtyOnHand"]))
    case_before = Decimal(str(books.read("Item", case.item_qbo_id)["QtyOnHand"]))
    # Two cases more than QuickBooks holds: either item could take it.
    target = sku_bottles(books, connection, sku) + 2 * case.bottles_per_unit
    WarehouseSnapshot.objects.create(
        partner=partner_a, sku=sku, as_of=timezone.localdate(), bottles=target,
        source=WarehouseSource.CSV,
    )  # fmt: skip
    # Another partner's item for the same wine, under an id this company does not have.
    books_b = ConnectionFactory(partner=partner_b, realm_id="4620000000000002")
    other = ItemFactory(connection=books_b, qbo_id="99999", sku=sku.code)
    SKUMapping.objects.create(
        connection=books_b, catalog_sku=sku, item_qbo_id=other.qbo_id, item_name=other.name,
        method=SKUMapping.Method.SKU,
    )  # fmt: skip
    admin = signed_in(ada)
    url = reverse("inventory:push_stock_new")

    page = admin.get(url, {"partner": partner_a.slug, "sku": sku.code}).content.decode()
    assert f'name="item-{sku.pk}" value="{bottle.item_qbo_id}"' in page
    assert f'name="item-{sku.pk}" value="{case.item_qbo_id}"' in page
    assert "choose the item that takes the adjustment" in page

    # No choice, another SKU's item, another partner's item: refused, nothing drafted.
    elsewhere = SKUMapping.objects.filter(connection=connection).exclude(catalog_sku=sku).first()
    assert elsewhere is not None
    for item, said in [
        (None, "choose which one takes the adjustment"),
        (elsewhere.item_qbo_id, "is not mapped to this SKU"),
        (other.qbo_id, "is not mapped to this SKU"),
    ]:
        form = {"partner": partner_a.slug, "sku": [str(sku.pk)]}
        if item is not None:
            form[f"item-{sku.pk}"] = item
        refused = admin.post(url, form, follow=True)
        assert refused.status_code == 200
        html = refused.content.decode()
        assert "Nothing was started." in html and said in html, said
        assert not PushJob.objects.exists()

    # The case item chosen: the whole adjustment lands on it, none on the bottle item.
    drafted = admin.post(
        url, {"partner": partner_a.slug, "sku": [str(sku.pk)], f"item-{sku.pk}": case.item_qbo_id}
    )
    job = PushJob.objects.get()
    assert drafted["Location"] == job.get_absolute_url()
    [item] = job.items.all()
    assert (item.item_qbo_id, item.item_chosen) == (case.item_qbo_id, True)
    case_cost = Decimal(str(books.read("Item", case.item_qbo_id)["PurchaseCost"]))
    assert item.unit_cost == case_cost
    job = run_to_the_end(approved(job, ada))
    assert job.status == PushJob.Status.DONE
    item.refresh_from_db()
    assert item.qty_diff == 2
    assert Decimal(str(books.read("Item", case.item_qbo_id)["QtyOnHand"])) == case_before + 2
    assert Decimal(str(books.read("Item", bottle.item_qbo_id)["QtyOnHand"])) == bottle_before
    assert item.value == (2 * case_cost).quantize(Decimal("0.01"))
    shown = admin.get(job.get_absolute_url()).content.decode()
    assert "Chosen by the admin among the SKU's items" in shown
    assert f"(item {case.item_qbo_id}, counted in cases of {case.bottles_per_unit})" in shown

    # The job's value was taken when it was drafted: a new cost in QuickBooks, synced,
    # does not move it.
    fresh = books.read("Item", case.item_qbo_id)
    books.post("Item", {"Id": fresh["Id"], "SyncToken": fresh["SyncToken"], "sparse": True,
                        "PurchaseCost": float(case_cost * 3)})  # fmt: skip
    synced(connection)
    assert QBOItem.objects.get(connection=connection, qbo_id=case.item_qbo_id).purchase_cost == (
        case_cost * 3
    )
    item.refresh_from_db()
    assert item.value == (2 * case_cost).quantize(Decimal("0.01"))


def test_a_sku_split_by_stock_moves_each_item_in_proportion_in_one_adjustment(
    sandbox_server: SandboxProcess,
    celery_worker_process: subprocess.Popen[bytes],
    partner_a: Partner,
    ada: User,
) -> None:
    connection, books = imported(sandbox_server, partner_a)
    sku, bottle, case = several_items(connection)
    per_case = case.bottles_per_unit
    on_hand = {
        m.item_qbo_id: Decimal(str(books.read("Item", m.item_qbo_id)["QtyOnHand"]))
        for m in (bottle, case)
    }
    before = sku_bottles(books, connection, sku)
    difference = Decimal(2 * per_case)
    WarehouseSnapshot.objects.create(
        partner=partner_a, sku=sku, as_of=timezone.localdate(), bottles=before + difference,
        source=WarehouseSource.CSV,
    )  # fmt: skip
    page = signed_in(ada).get(
        reverse("inventory:push_stock_new"), {"partner": partner_a.slug, "sku": sku.code}
    )
    assert f'name="item-{sku.pk}" value="split"' in page.content.decode()
    before_adjustments = len(adjustments(books))
    drafted = signed_in(ada).post(
        reverse("inventory:push_stock_new"),
        {"partner": partner_a.slug, "sku": [str(sku.pk)], f"item-{sku.pk}": "split"},
    )
    job = PushJob.objects.get()
    assert drafted["Location"] == job.get_absolute_url()
    job = run_to_the_end(approved(job, ada))
    assert job.status == PushJob.Status.DONE, job.error
    [item] = job.items.all()
    assert item.split and item.status == PushItem.Status.WRITTEN

    # The case item takes its share of the stock in whole cases; the bottle item the rest.
    held = on_hand[case.item_qbo_id] * per_case
    weight = held / (held + on_hand[bottle.item_qbo_id])
    cases = (difference * weight / per_case).quantize(Decimal(1), ROUND_HALF_UP)
    moved = {case.item_qbo_id: cases, bottle.item_qbo_id: difference - cases * per_case}
    for item_id, units in moved.items():
        now = Decimal(str(books.read("Item", item_id)["QtyOnHand"]))
        assert now == on_hand[item_id] + units, item_id
    assert sku_bottles(books, connection, sku) == before + difference
    [written] = adjustments(books)[before_adjustments:]
    lines = {
        line["ItemAdjustmentLineDetail"]["ItemRef"]["value"]: Decimal(
            str(line["ItemAdjustmentLineDetail"]["QtyDiff"])
        )
        for line in written["Line"]
    }
    assert lines == {k: v for k, v in moved.items() if v}
    # Its value: each item's part × that item's PurchaseCost, added up.
    expected = sum(
        (
            (units * Decimal(str(books.read("Item", item_id)["PurchaseCost"]))).quantize(
                Decimal("0.01"), ROUND_HALF_UP
            )
            for item_id, units in moved.items()
        ),
        Decimal("0.00"),
    )
    assert item.value == expected
    shown = signed_in(ada).get(job.get_absolute_url()).content.decode()
    assert "shared in proportion to each item's stock in QuickBooks" in shown
    assert f"<strong>{format_money(expected)}</strong>" in shown


def several_items(connection: QBOConnection) -> tuple[CatalogSKU, SKUMapping, SKUMapping]:
    """A SKU of the demo company mapped to an active bottle item and an active case item,
    each with stock."""
    for sku in CatalogSKU.objects.filter(mappings__connection=connection).distinct():
        mapped = list(SKUMapping.objects.filter(connection=connection, catalog_sku=sku))
        live = {
            i.qbo_id: i
            for i in QBOItem.objects.filter(
                connection=connection, qbo_id__in=[m.item_qbo_id for m in mapped], active=True,
                item_type="Inventory", qty_on_hand__gt=0,
            )
        }  # fmt: skip
        bottles = [m for m in mapped if m.unit == SKUMapping.Unit.BOTTLE and m.item_qbo_id in live]
        cases = [m for m in mapped if m.unit == SKUMapping.Unit.CASE and m.item_qbo_id in live]
        if len(mapped) == 2 and bottles and cases:
            return sku, bottles[0], cases[0]
    raise AssertionError("the demo company maps no SKU to both a bottle and a case item")


# ------------------------------------------------------------------ catalog items


def extra_skus(count: int) -> list[CatalogSKU]:
    return [
        CatalogSKU.objects.create(
            code=f"UF-T{n:02d}-NV-750",
            wine=f"Test Cuvée {n:02d}",
            vintage=None,
            format_ml=750,
            bottles_per_case=12,
            active=True,
        )  # fmt: skip
        for n in range(count)
    ]


def test_catalog_items_are_created_in_batches_of_30_and_a_retry_creates_none_twice(
    sandbox_faults: SandboxProcess, quick_retries: None, partner_a: Partner, ada: User
) -> None:
    connection, books = imported(sandbox_faults, partner_a)
    skus = extra_skus(35)
    items_before = len(books.all("Item"))
    job = approved(
        push.push_items_draft(user=ada, partner_id=partner_a.pk, sku_ids=[s.pk for s in skus]), ada
    )

    # The first batch of 30 is created and its answer lost; the job stops there.
    sandbox_faults.control("POST", "/_sandbox/config", {"fault_drop_batch": 1.0})
    push.push_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == PushJob.Status.FAILED
    assert len(books.all("Item")) == items_before + 30

    sandbox_faults.control("POST", "/_sandbox/config", {"fault_drop_batch": 0.0})
    push.push_job_retry(job_id=job.pk, user=ada)
    job = run_to_the_end(job)
    assert job.status == PushJob.Status.DONE, list(job.items.values_list("message", flat=True))
    assert [b.items.count() for b in job.batches.order_by("pk")] == [30, 5]
    created = {row["Name"]: row for row in books.all("Item")}
    assert len(created) == items_before + 35
    for item in job.items.select_related("catalog_sku"):
        # Replayed, not refused as a duplicate name: each is "written", with its id.
        assert item.status == PushItem.Status.WRITTEN, item.message
        row = created[item.item_name]
        assert item.result_qbo_id == str(row["Id"])
        assert row["Sku"] == item.catalog_sku.code and row["Type"] == "Inventory"

    # After the next sync the new items are mapped by their Sku.
    mapped = SKUMapping.objects.filter(connection=connection, catalog_sku__in=skus)

    synced(connection)
    assert mapped.count() == 35
    assert set(mapped.values_list("method", flat=True)) == {SKUMapping.Method.SKU}


def test_an_item_already_in_quickbooks_by_name_is_not_created_again(
    sandbox_server: SandboxProcess, partner_a: Partner, ada: User
) -> None:
    connection, books = imported(sandbox_server, partner_a)
    ours, theirs, retired = extra_skus(3)
    model = SKUMapping.objects.filter(connection=connection).first()
    assert model is not None
    accounts = {
        k: v for k, v in books.read("Item", model.item_qbo_id).items() if k.endswith("AccountRef")
    }
    # Made in QuickBooks since the last sync: one exactly as the job would, one with the
    # same name but another Sku, one made so and then deactivated.
    for sku, code in ((ours, ours.code), (theirs, "SOMEONE-ELSES"), (retired, retired.code)):
        body = {"Name": push_selectors.item_name_for(sku), "Sku": code, "Type": "Inventory",
                "TrackQtyOnHand": True, "QtyOnHand": 0,
                "InvStartDate": timezone.localdate().isoformat(), **accounts}  # fmt: skip
        made = books.post("Item", body)["Item"]
    books.post("Item", {"Id": made["Id"], "SyncToken": made["SyncToken"], "sparse": True,
                        "Active": False})  # fmt: skip
    count = len(books.all("Item"))
    job = approved(
        push.push_items_draft(
            user=ada, partner_id=partner_a.pk, sku_ids=[ours.pk, theirs.pk, retired.pk]
        ),
        ada,
    )
    job = run_to_the_end(job)
    assert job.status == PushJob.Status.DONE_WITH_FAILURES
    found = job.items.get(catalog_sku=ours)
    assert found.status == PushItem.Status.UNCHANGED and "Already in QuickBooks" in found.message
    clash = job.items.get(catalog_sku=theirs)
    assert clash.status == PushItem.Status.FAILED
    assert "already has an item named" in clash.message and "SOMEONE-ELSES" in clash.message
    inactive = job.items.get(catalog_sku=retired)
    assert inactive.status == PushItem.Status.FAILED
    assert "already has an inactive item named" in inactive.message
    assert "reactivate it in QuickBooks" in inactive.message
    assert len(books.all("Item")) == count
    assert not job.batches.exists()


def test_a_batch_refused_whole_fails_its_items_and_a_retry_sends_them_anew(
    sandbox_faults: SandboxProcess, partner_a: Partner, ada: User
) -> None:
    connection, books = imported(sandbox_faults, partner_a)
    skus = extra_skus(7)
    items_before = len(books.all("Item"))
    job = approved(
        push.push_items_draft(user=ada, partner_id=partner_a.pk, sku_ids=[s.pk for s in skus]), ada
    )
    # A QuickBooks whose batch ceiling is lower than Intuit documents (older material says 10).
    sandbox_faults.control("POST", "/_sandbox/config", {"batch_max_items": 5})
    job = run_to_the_end(job)
    assert job.status == PushJob.Status.DONE_WITH_FAILURES
    first = job.batches.get()
    assert first.answered_at is not None
    for item in job.items.all():
        assert item.status == PushItem.Status.FAILED and item.fault_code == "1040"
        assert "refused the whole batch (code 1040)" in item.message
    assert len(books.all("Item")) == items_before

    sandbox_faults.control("POST", "/_sandbox/config", {"batch_max_items": 30})
    push.push_job_retry(job_id=job.pk, user=ada)
    job = run_to_the_end(job)
    assert job.status == PushJob.Status.DONE
    assert job.batches.count() == 2 and job.batches.last().request_id != first.request_id  # type: ignore[union-attr]
    assert len(books.all("Item")) == items_before + 7


def test_an_item_already_mapped_is_refused_when_drafting(
    sandbox_server: SandboxProcess, partner_a: Partner, ada: User
) -> None:
    connection, _ = imported(sandbox_server, partner_a)
    mapped = SKUMapping.objects.filter(connection=connection).select_related("catalog_sku").first()
    assert mapped is not None
    with pytest.raises(ValidationError, match="already in this QuickBooks"):
        push.push_items_draft(user=ada, partner_id=partner_a.pk, sku_ids=[mapped.catalog_sku_id])
    assert not PushJob.objects.exists()


def test_create_in_quickbooks_settles_a_conflict_and_it_stays_settled(
    sandbox_server: SandboxProcess, partner_a: Partner, ada: User
) -> None:
    connection, books = imported(sandbox_server, partner_a)
    # A SKU the partner holds as one item only (others have a bottle and a case item).
    single = (
        SKUMapping.objects.filter(connection=connection)
        .values("catalog_sku")
        .annotate(n=Count("pk"))
        .filter(n=1)
        .values_list("catalog_sku", flat=True)
    )
    # ...under another name than the one a created item gets (QuickBooks keeps an inactive
    # item's name taken; that case fails with its own message), and which no other item
    # carries (by Sku or by that name): once it is deactivated, QuickBooks has none.

    def alone(m: SKUMapping) -> bool:
        name = push_selectors.item_name_for(m.catalog_sku)
        others = (
            QBOItem.objects.filter(connection=connection, active=True)
            .exclude(qbo_id=m.item_qbo_id)
            .filter(Q(sku__iexact=m.catalog_sku.code) | Q(name__iexact=name))
        )
        return m.item_name != name and not others.exists()

    mapping = next(
        m
        for m in SKUMapping.objects.filter(connection=connection, catalog_sku__in=single)
        .select_related("catalog_sku")
        .order_by("pk")
        if alone(m)
    )
    sku = mapping.catalog_sku
    # The mapped item is deactivated in QuickBooks: the next sync raises "item changed".
    item = books.read("Item", mapping.item_qbo_id)
    books.post(
        "Item", {"Id": item["Id"], "SyncToken": item["SyncToken"], "sparse": True, "Active": False}
    )
    services.connection_sync(connection_id=connection.pk, trigger="test")
    conflict = MappingConflict.objects.open().get(
        connection=connection,
        kind=MappingConflict.Kind.ITEM_CHANGED,
        item_qbo_id=mapping.item_qbo_id,
    )

    admin = signed_in(ada)
    queue = admin.get(reverse("inventory:conflicts")).content.decode()
    assert f"conflict={conflict.pk}" in queue  # the "Create in QuickBooks…" link
    form = admin.get(
        reverse("inventory:push_items_new"),
        {"partner": partner_a.slug, "conflict": conflict.pk, "sku": sku.code},
    )
    assert form.status_code == 200
    assert f'value="{sku.pk}" id="sku-{sku.pk}" checked' in form.content.decode(), (
        sku.code,
        [(c.sku.code, c.mapped_to) for c in push_selectors.item_candidates(connection=connection)],
    )
    response = admin.post(
        reverse("inventory:push_items_new"),
        {"partner": partner_a.slug, "conflict": str(conflict.pk), "sku": [str(sku.pk)]},
    )
    job = PushJob.objects.get()
    assert response.status_code == 302 and job.conflict_id == conflict.pk
    job = run_to_the_end(approved(job, ada))
    assert job.status == PushJob.Status.DONE
    [created] = job.items.all()

    conflict.refresh_from_db()
    assert conflict.status == MappingConflict.Status.RESOLVED
    decision = MappingDecision.objects.get(conflict=conflict)
    assert decision.action == MappingDecision.Action.CREATE and decision.actor == ada
    assert decision.before["mappings"][0]["item_qbo_id"] == mapping.item_qbo_id
    assert decision.after["created"]["item_qbo_id"] == created.result_qbo_id

    # The next sync maps the new item by its Sku and raises nothing about the old one.
    synced(connection)
    assert (
        SKUMapping.objects.get(connection=connection, item_qbo_id=created.result_qbo_id).catalog_sku
        == sku
    )
    assert not SKUMapping.objects.filter(
        connection=connection, item_qbo_id=mapping.item_qbo_id
    ).exists()
    assert (
        not MappingConflict.objects.open()
        .filter(connection=connection, item_qbo_id=mapping.item_qbo_id)
        .exists()
    )
    conflict.refresh_from_db()
    assert conflict.status == MappingConflict.Status.RESOLVED


# ------------------------------------------------------------------ who may see and do what


def csv_text(response: Any) -> str:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return b"".join(response.streaming_content).decode()


def test_a_partner_sees_only_its_own_pushes_and_cannot_act_on_them(
    sandbox_server: SandboxProcess, partner_a: Partner, partner_b: Partner, alice: User, bob: User,
    ada: User,
) -> None:  # fmt: skip
    connection, books = imported(sandbox_server, partner_a)
    wanted = warehouse_counts(connection, books, offsets=[1])
    job = push.push_stock_draft(
        user=ada, partner_id=partner_a.pk,
        sku_ids=WarehouseSnapshot.objects.values_list("sku_id", flat=True),
        item_choices=chosen(connection, wanted),
    )  # fmt: skip
    assert signed_in(alice).get(job.get_absolute_url()).status_code == 200
    assert signed_in(bob).get(job.get_absolute_url()).status_code == 404
    assert (
        job.get_absolute_url()
        in signed_in(alice).get(reverse("inventory:push_jobs")).content.decode()
    )
    assert (
        job.get_absolute_url()
        not in signed_in(bob).get(reverse("inventory:push_jobs")).content.decode()
    )
    assert (
        signed_in(alice).post(reverse("inventory:push_job_approve", args=[job.pk])).status_code
        == 403
    )
    listing = csv_text(signed_in(alice).get(reverse("inventory:push_jobs"), {"format": "csv"}))
    assert partner_a.name in listing
    bob_csv = csv_text(signed_in(bob).get(reverse("inventory:push_jobs"), {"format": "csv"}))
    assert partner_a.name not in bob_csv
    job.refresh_from_db()
    assert job.status == PushJob.Status.DRAFT


def test_beat_resumes_a_job_nobody_is_running(
    sandbox_server: SandboxProcess, celery_worker_process: subprocess.Popen[bytes],
    partner_a: Partner, ada: User,
) -> None:  # fmt: skip
    connection, books = imported(sandbox_server, partner_a)
    wanted = warehouse_counts(connection, books, offsets=[2])
    job = approved(
        push.push_stock_draft(
            user=ada,
            partner_id=partner_a.pk,
            sku_ids=[s.pk for s in wanted],
            item_choices=chosen(connection, wanted),
        ),
        ada,
    )
    # Approved while the broker was unreachable: queued, with no task behind it.
    PushJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert push.push_jobs_resume() == [job.pk]
    wait_for(lambda: PushJob.objects.get(pk=job.pk).status not in PushJob.ACTIVE, timeout=120)
    assert PushJob.objects.get(pk=job.pk).status == PushJob.Status.DONE
    for sku, bottles in wanted.items():
        assert sku_bottles(books, connection, sku) == bottles


def test_a_worker_child_killed_mid_batch_leaves_each_item_created_once(
    sandbox_faults: SandboxProcess, partner_a: Partner, ada: User
) -> None:
    """docs/reliability.md 19: kill -9 of the pool child while a batch is in flight. Celery
    hands the task back (acks_late, task_reject_on_worker_lost); the new run waits for the
    dead child's lease to lapse (PUSH_LOCK_TTL, 6 s in tests/sync/worker_settings.py),
    resends the unanswered batch under its requestid and carries on."""
    connection, books = imported(sandbox_faults, partner_a)
    skus = extra_skus(35)
    items_before = len(books.all("Item"))
    job = approved(
        push.push_items_draft(user=ada, partner_id=partner_a.pk, sku_ids=[s.pk for s in skus]), ada
    )
    worker = start_worker(queue="push-kill", concurrency=1, name="push-kill")
    try:
        # Every request takes 1.5 s, so the first batch is surely in flight when we strike.
        sandbox_faults.control("POST", "/_sandbox/config", {"fault_slow": 1.0, "slow_seconds": 1.5})
        push_job_task.apply_async((job.pk,), queue="push-kill")
        wait_for(lambda: job.batches.filter(sent_at__isnull=False).exists(), timeout=60, every=0.05)
        time.sleep(0.3)
        [child] = psutil.Process(worker.process.pid).children(recursive=True)
        child.send_signal(signal.SIGKILL)
        assert not job.batches.filter(answered_at__isnull=False).exists(), "struck too late"
        wait_for(lambda: PushJob.objects.get(pk=job.pk).status not in PushJob.ACTIVE, timeout=120)
    finally:
        sandbox_faults.control("POST", "/_sandbox/config", {"fault_slow": 0.0})
        worker.stop()
    job.refresh_from_db()
    assert job.status == PushJob.Status.DONE, list(job.items.values_list("message", flat=True))
    assert [b.items.count() for b in job.batches.order_by("pk")] == [30, 5]
    assert {i.status for i in job.items.all()} == {PushItem.Status.WRITTEN}
    names = [row["Name"] for row in books.all("Item")]
    assert len(names) == items_before + 35
    for item in job.items.all():
        assert names.count(item.item_name) == 1


def test_a_batch_formed_but_never_sent_is_planned_afresh(
    sandbox_server: SandboxProcess, partner_a: Partner, ada: User
) -> None:
    connection, books = imported(sandbox_server, partner_a)
    wanted = warehouse_counts(connection, books, offsets=[3])
    job = approved(
        push.push_stock_draft(
            user=ada,
            partner_id=partner_a.pk,
            sku_ids=[s.pk for s in wanted],
            item_choices=chosen(connection, wanted),
        ),
        ada,
    )
    # As a job stopped between forming its batch and sending it leaves things, with an
    # adjustment computed from a quantity that has moved since.
    stale = PushBatch.objects.create(job=job)
    job.items.update(status=PushItem.Status.SENT, batch=stale, bid="1", qty_diff=Decimal(1000))
    job = run_to_the_end(job)
    assert job.status == PushJob.Status.DONE
    assert not PushBatch.objects.filter(pk=stale.pk).exists()
    for sku, bottles in wanted.items():
        assert sku_bottles(books, connection, sku) == bottles


def test_429s_from_quickbooks_are_waited_out_and_nothing_is_written_twice(
    on_fast_sandbox: SandboxProcess, settings: Any, partner_a: Partner, ada: User
) -> None:
    """A QuickBooks that allows 2 batches a (scaled, one-second) minute: our limiter set far
    above it, so the batches meet 429s, wait Retry-After and go through once each."""
    settings.QBO_RATE_PER_WINDOW = 1000
    settings.QBO_BATCH_PER_WINDOW_APP = 1000
    settings.QBO_BATCH_PER_WINDOW_REALM = 1000
    connection, books = imported(on_fast_sandbox, partner_a)
    on_fast_sandbox.control("POST", "/_sandbox/config", {"limit_batch_per_minute_app": 2})
    skus = extra_skus(95)
    items_before = len(books.all("Item"))
    job = approved(
        push.push_items_draft(user=ada, partner_id=partner_a.pk, sku_ids=[s.pk for s in skus]), ada
    )
    job = run_to_the_end(job)
    assert job.status == PushJob.Status.DONE, job.error
    throttled = on_fast_sandbox.control("GET", "/_sandbox/status")["stats"]["throttled"]
    assert throttled.get(connection.realm_id, 0) >= 1
    # Four batches and four name lookups, plus one resend per 429.
    assert job.api_requests == 8 + throttled[connection.realm_id]
    assert [b.items.count() for b in job.batches.order_by("pk")] == [30, 30, 30, 5]
    assert {i.status for i in job.items.all()} == {PushItem.Status.WRITTEN}
    assert len(books.all("Item")) == items_before + 95


def test_approving_with_the_broker_hanging_answers_at_once_and_keeps_the_job_queued(
    sandbox_server: SandboxProcess, silent_server: SilentServer, settings: Any,
    partner_a: Partner, ada: User,
) -> None:  # fmt: skip
    connection, books = imported(sandbox_server, partner_a)
    wanted = warehouse_counts(connection, books, offsets=[2])
    job = push.push_stock_draft(
        user=ada, partner_id=partner_a.pk, sku_ids=[s.pk for s in wanted],
        item_choices=chosen(connection, wanted),
    )  # fmt: skip
    # A Redis that accepts the connection and never answers.
    broker = settings.CELERY_BROKER_URL
    settings.CELERY_BROKER_URL = silent_server.url.replace("http://", "redis://") + "/0"
    started = time.monotonic()
    response = signed_in(ada).post(reverse("inventory:push_job_approve", args=[job.pk]))
    elapsed = time.monotonic() - started
    assert response.status_code == 302 and elapsed < 3.0, elapsed
    job.refresh_from_db()
    # Approved and queued; beat's resume sweep starts it once the broker answers again.
    assert job.status == PushJob.Status.QUEUED and job.approved_by == ada
    # Once the broker is back, the job runs (here in-process, as beat's sweep would start it).
    settings.CELERY_BROKER_URL = broker
    assert run_to_the_end(job).status == PushJob.Status.DONE
