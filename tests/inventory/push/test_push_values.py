"""Stock pushes at cost, and the choice of item when several are mapped to one SKU, without
QuickBooks (the push itself, against qbo_sandbox, is in test_push_jobs.py): what the draft
form offers and refuses, the value each adjustment carries and the job's total, who sees
it, and what the pages cost in queries at N and 10N SKUs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Partner, User
from inventory.catalog.models import CatalogSKU
from inventory.push import selectors as push_selectors
from inventory.push import services as push
from inventory.push.models import PushItem, PushJob
from inventory.push.split import Part, SplitRefused, split_by_stock
from sync.models import QBOConnection
from tests.billing.factories import ConnectionFactory
from tests.conftest import signed_in
from tests.inventory.reports.test_discrepancies_selectors import mapped, sku, snap
from tests.inventory.reports.test_value_at_cost import bill

pytestmark = pytest.mark.django_db

URL = reverse("inventory:push_stock_new")


@pytest.fixture
def books_a(partner_a: Partner) -> QBOConnection:
    connection: QBOConnection = ConnectionFactory(partner=partner_a, realm_id="4620000000000001")
    return connection


@pytest.fixture
def books_b(partner_b: Partner) -> QBOConnection:
    connection: QBOConnection = ConnectionFactory(partner=partner_b, realm_id="4620000000000002")
    return connection


@pytest.fixture
def stock(partner_a: Partner, books_a: QBOConnection) -> dict[str, CatalogSKU]:
    """Callie: a bottle item (11 at $9.00) and a case of 12 (4 at $100.00), 59 bottles in
    QuickBooks against 35 in the warehouse: −24 bottles, two cases, which either item could
    take. Juliette: one bottle item without a purchase cost, valued from its bills."""
    callie, juliette = sku("UF-CAL-NV-750"), sku("UF-JUL-NV-750", wine="The Juliette")
    snap(partner_a, callie, 35)
    mapped(books_a, callie, "11", qbo_id="10", cost="9.00")
    mapped(books_a, callie, "4", qbo_id="11", per_unit=12, cost="100.00")
    snap(partner_a, juliette, 40)
    mapped(books_a, juliette, "50", qbo_id="20")  # 10 bottles over
    bill(books_a, ("20", "12", "120.00"), ("20", "12", "150.00"))  # $11.25 on average
    return {"callie": callie, "juliette": juliette}


def post(client: Client, partner: Partner, *skus: CatalogSKU, **items: str) -> Any:
    form: dict[str, Any] = {"partner": partner.slug, "sku": [str(s.pk) for s in skus]}
    form.update({f"item-{name}": value for name, value in items.items()})
    return client.post(URL, form, follow=True)


def test_the_form_asks_which_item_and_shows_what_each_would_book(
    ada: User, partner_a: Partner, stock: dict[str, CatalogSKU]
) -> None:
    callie = stock["callie"]
    html = signed_in(ada).get(URL, {"partner": partner_a.slug}).content.decode()
    assert "1 SKU has several QuickBooks items mapped" in html
    # Neither item is chosen for the admin.
    assert f'name="item-{callie.pk}" value="10">' in html
    assert f'name="item-{callie.pk}" value="11">' in html
    assert "checked" not in html.split(f'name="item-{callie.pk}"')[1].split(">")[0]
    assert "−$216.00" in html  # −24 bottles on the bottle item at $9.00
    assert "−$200.00" in html  # −2 cases at $100.00
    assert "−$112.50" in html  # Juliette: −10 at the bills' $11.25


def test_a_draft_without_a_choice_is_refused_with_a_clear_message(
    ada: User, partner_a: Partner, stock: dict[str, CatalogSKU]
) -> None:
    response = post(signed_in(ada), partner_a, stock["callie"], stock["juliette"])
    html = response.content.decode()
    assert "Nothing was started." in html
    assert "UF-CAL-NV-750: 2 QuickBooks items are mapped to this SKU" in html
    assert "choose which one takes the adjustment" in html
    assert not PushJob.objects.exists()


def test_an_item_of_another_sku_or_another_partner_is_refused(
    ada: User, partner_a: Partner, partner_b: Partner, books_b: QBOConnection,
    stock: dict[str, CatalogSKU],
) -> None:  # fmt: skip
    callie = stock["callie"]
    snap(partner_b, callie, 10)
    mapped(books_b, callie, "5", qbo_id="77", cost="9.00")  # B's own Callie item
    client = signed_in(ada)
    for item in ["20", "77", "11111"]:  # Juliette's item; B's item; no item at all
        html = post(client, partner_a, callie, **{str(callie.pk): item}).content.decode()
        assert f"UF-CAL-NV-750: item {item} is not mapped to this SKU in Bubbles" in html
    assert not PushJob.objects.exists()


@pytest.mark.parametrize("value", ["", " 10", "1_0", "١٠", "10\x00", "9" * 33, "abc"])
def test_an_item_choice_that_is_not_an_id_is_refused_not_a_500(
    ada: User, partner_a: Partner, stock: dict[str, CatalogSKU], value: str
) -> None:
    callie = stock["callie"]
    response = post(signed_in(ada), partner_a, callie, **{str(callie.pk): value})
    assert response.status_code == 200
    assert "The item chosen for a SKU was not understood" in response.content.decode()
    assert not PushJob.objects.exists()


def test_two_choices_for_one_sku_are_refused(
    ada: User, partner_a: Partner, stock: dict[str, CatalogSKU]
) -> None:
    callie = stock["callie"]
    response = signed_in(ada).post(
        URL,
        {"partner": partner_a.slug, "sku": [str(callie.pk)], f"item-{callie.pk}": ["10", "11"]},
    )
    assert "The item chosen for a SKU was not understood" in response.content.decode()
    assert not PushJob.objects.exists()


def test_the_chosen_item_takes_the_adjustment_at_its_cost_fixed_when_drafted(
    ada: User, alice: User, bob: User, partner_a: Partner, stock: dict[str, CatalogSKU],
    books_a: QBOConnection,
) -> None:  # fmt: skip
    callie, juliette = stock["callie"], stock["juliette"]
    response = post(signed_in(ada), partner_a, callie, juliette, **{str(callie.pk): "11"})
    job = PushJob.objects.get()
    assert response.redirect_chain[-1][0] == job.get_absolute_url()
    items = {i.catalog_sku.code: i for i in job.items.select_related("catalog_sku")}
    case = items["UF-CAL-NV-750"]
    assert (case.item_qbo_id, case.unit, case.bottles_per_unit, case.item_chosen) == (
        "11", "case", 12, True,
    )  # fmt: skip
    assert (case.unit_cost, case.cost_source) == (Decimal("100.0000"), "purchase_cost")
    assert case.planned_qty_diff == -2
    assert case.value == Decimal("-2") * Decimal("100.00")
    only = items["UF-JUL-NV-750"]  # one item: nothing to choose
    assert (only.item_qbo_id, only.item_chosen, only.cost_source) == ("20", False, "bills")
    assert only.value == Decimal("-10") * Decimal("11.25") == Decimal("-112.50")

    # A later cost in the mirror does not move the drafted value.
    books_a.items.filter(qbo_id="11").update(purchase_cost=Decimal("300"))
    case.refresh_from_db()
    assert case.value == Decimal("-200.00")

    # Sent: the value follows the adjustment actually sent, at the drafted cost.
    PushItem.objects.filter(pk=case.pk).update(qty_diff=Decimal("-3"), status="written")
    PushItem.objects.filter(pk=only.pk).update(qty_diff=Decimal("-10"), status="failed")
    PushJob.objects.filter(pk=job.pk).update(status=PushJob.Status.DONE_WITH_FAILURES)
    job.refresh_from_db()
    value = push_selectors.job_value(job, list(job.items.all()))
    assert value is not None and value.booked
    assert value.total == Decimal("-300.00")  # the failed adjustment booked nothing
    html = signed_in(alice).get(job.get_absolute_url()).content.decode()
    assert "<strong>−$300.00</strong>" in html
    assert "Chosen by the admin" in html
    assert signed_in(bob).get(job.get_absolute_url()).status_code == 404


def test_a_draft_totals_what_it_plans_and_says_what_has_no_cost(
    ada: User, partner_a: Partner, books_a: QBOConnection
) -> None:
    cremant = sku("UF-CRE-NV-750", wine="Crémant")
    snap(partner_a, cremant, 20)
    mapped(books_a, cremant, "15", qbo_id="30")  # no cost and no bills
    rose = sku("UF-ROS-NV-750", wine="Rosé")
    snap(partner_a, rose, 20)
    mapped(books_a, rose, "30", qbo_id="31", cost="4.10")
    job = push.push_stock_draft(user=ada, partner_id=partner_a.pk, sku_ids=[cremant.pk, rose.pk])
    value = push_selectors.job_value(job, list(job.items.all()))
    assert value is not None and not value.booked
    assert (value.total, value.unvalued) == (Decimal("-41.00"), 1)
    html = signed_in(ada).get(job.get_absolute_url()).content.decode()
    assert "Value at cost of the adjustments planned: <strong>−$41.00</strong>" in html
    assert "1 adjustment with no cost known, not counted" in html
    assert "no cost known" in html


# --- split by stock --------------------------------------------------------------------------


def test_split_shares_by_stock_in_whole_units_and_the_bottle_item_takes_the_rest() -> None:
    bottle, case = Part("1", Decimal(30), 1), Part("2", Decimal(5), 12)  # 30 and 60 bottles
    assert split_by_stock(Decimal(36), [bottle, case]) == {"1": 12, "2": 2}
    assert split_by_stock(Decimal(-24), [bottle, case]) == {"1": -12, "2": -1}  # −1.33 → −1
    assert split_by_stock(Decimal(-30), [bottle, case]) == {"1": -6, "2": -2}  # −1.67 → −2
    # Below zero in QuickBooks weighs nothing.
    assert split_by_stock(Decimal(24), [Part("1", Decimal(-5), 1), case]) == {"1": 0, "2": 2}


@pytest.mark.parametrize(
    ("difference", "parts", "says"),
    [
        (Decimal(12), [Part("1", Decimal(0), 1), Part("2", Decimal(0), 12)], "no stock to split"),
        (Decimal(12), [Part("1", Decimal(3), 1)], "Only one item"),
        # Two case items: 18 bottles leave 6 for a case of 12 after rounding.
        (Decimal(18), [Part("1", Decimal(1), 12), Part("2", Decimal(1), 24)], "cases of 12"),
    ],
)
def test_a_split_that_cannot_be_made_in_whole_units_says_why(
    difference: Decimal, parts: list[Part], says: str
) -> None:
    with pytest.raises(SplitRefused, match=says):
        split_by_stock(difference, parts)


def test_a_split_draft_plans_each_items_part_and_its_value(
    ada: User, partner_a: Partner, stock: dict[str, CatalogSKU]
) -> None:
    callie = stock["callie"]
    client = signed_in(ada)
    html = client.get(URL, {"partner": partner_a.slug}).content.decode()
    # 11 bottles and 48 in cases: the cases' share, −24 × 48/59 = −19.5 bottles, is −2 cases
    # to the nearest, which leaves nothing for the bottle item.
    assert "now: -2 cases of 12 on “" in html
    assert "bottles on “" not in html
    post(client, partner_a, callie, **{str(callie.pk): "split"})
    [item] = PushJob.objects.get().items.all()
    assert (item.split, item.item_qbo_id, item.item_chosen) == (True, "", True)
    assert {(s.item_qbo_id, s.qty_diff, s.unit_cost) for s in item.share_rows} == {
        ("10", Decimal(0), Decimal("9.0000")),
        ("11", Decimal(-2), Decimal("100.0000")),
    }
    assert item.value == Decimal("-200.00")


def test_split_is_refused_where_only_one_item_can_take_the_adjustment(
    ada: User, partner_a: Partner, stock: dict[str, CatalogSKU]
) -> None:
    juliette = stock["juliette"]
    html = post(signed_in(ada), partner_a, juliette, **{str(juliette.pk): "split"}).content
    assert "UF-JUL-NV-750: only one QuickBooks item can take" in html.decode()
    assert not PushJob.objects.exists()


# --- queries at N and 10N -------------------------------------------------------------------


def _grow(partner: Partner, connection: QBOConnection, rows: range) -> None:
    """SKUs each mapped to a bottle item and a case item; half of them cost from bills."""
    for n in rows:
        catalog_sku = sku(f"UF-Q{n:03d}-NV-750")
        snap(partner, catalog_sku, 100)
        cost = None if n % 2 else "8.00"
        mapped(connection, catalog_sku, "40", qbo_id=f"{n}01", cost=cost)
        mapped(connection, catalog_sku, "2", qbo_id=f"{n}02", per_unit=12, cost=cost)
        if cost is None:
            bill(connection, (f"{n}01", "6", "50.00"), (f"{n}02", "1", "96.00"))


def _queries(client: Client, url: str, data: dict[str, str]) -> int:
    with CaptureQueriesContext(db_connection) as ctx:
        response = client.get(url, data)
        assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_stock_form_costs_the_same_queries_at_n_and_10n(
    ada: User, partner_a: Partner, books_a: QBOConnection
) -> None:
    client = signed_in(ada)
    counts = []
    for rows in (range(0, 3), range(3, 30)):
        _grow(partner_a, books_a, rows)
        _queries(client, URL, {"partner": partner_a.slug})
        counts.append(_queries(client, URL, {"partner": partner_a.slug}))
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("who", ["alice", "ada"])
def test_a_stock_job_page_costs_the_same_queries_at_n_and_10n(
    who: str, cast: dict[str, User], partner_a: Partner, books_a: QBOConnection
) -> None:
    client = signed_in(cast[who])
    counts = []
    job = None
    for rows in (range(0, 3), range(3, 30)):
        _grow(partner_a, books_a, rows)
        if job is not None:
            PushJob.objects.filter(pk=job.pk).update(status=PushJob.Status.DISCARDED)
        skus = list(CatalogSKU.objects.all())
        job = push.push_stock_draft(
            user=cast["ada"], partner_id=partner_a.pk, sku_ids=[s.pk for s in skus],
            item_choices={s.pk: _case_of(s) for s in skus},
        )  # fmt: skip
        assert job.items.count() == len(skus)
        _queries(client, job.get_absolute_url(), {})
        counts.append(_queries(client, job.get_absolute_url(), {}))
    assert counts[0] == counts[1], counts


def _case_of(catalog_sku: CatalogSKU) -> str:
    """The case item _grow mapped to the SKU (UF-Q007-NV-750 → 702)."""
    return f"{int(catalog_sku.code[4:7])}02"
