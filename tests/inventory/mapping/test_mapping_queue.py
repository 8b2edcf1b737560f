"""The mapping-conflicts queue page and its decision endpoints (admins only)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from accounts.models import Partner, User
from inventory.catalog.services import catalog_demo_load
from inventory.mapping import services as mapping
from inventory.mapping.models import MappingConflict, MappingDecision, SKUMapping
from sync.models import QBOConnection
from tests.billing.factories import ConnectionFactory, ItemFactory
from tests.conftest import signed_in

QUEUE = reverse("inventory:conflicts")


@pytest.fixture
def books_a(partner_a: Partner) -> QBOConnection:
    catalog_demo_load()
    connection: QBOConnection = ConnectionFactory(partner=partner_a, realm_id="4620000000000001")
    return connection


@pytest.fixture
def books_b(partner_b: Partner) -> QBOConnection:
    connection: QBOConnection = ConnectionFactory(partner=partner_b, realm_id="4620000000000002")
    return connection


@pytest.fixture
def duplicate(books_a: QBOConnection) -> MappingConflict:
    ItemFactory(connection=books_a, qbo_id="11", name="Une Femme Blanc de Blancs 2021 750ml",
                sku="UF-BDB-2021-750", qty_on_hand=Decimal("48"),
                qbo_updated_at=datetime(2025, 3, 4, 17, 30, tzinfo=UTC))  # fmt: skip
    ItemFactory(connection=books_a, qbo_id="12", sku="UF-BDB-2021-750",
                name="Une Femme Blanc de Blancs 2021 750ml (Library Release)")  # fmt: skip
    mapping.mapping_refresh(connection_id=books_a.pk)
    conflict: MappingConflict = MappingConflict.objects.get(connection=books_a)
    return conflict


@pytest.fixture
def unmatched_b(books_b: QBOConnection) -> MappingConflict:
    ItemFactory(connection=books_b, qbo_id="11", name="Une Femme Côte Rosé 1.5L", sku="")
    mapping.mapping_refresh(connection_id=books_b.pk)
    conflict: MappingConflict = MappingConflict.objects.get(connection=books_b)
    return conflict


def test_admins_see_open_conflicts_with_candidates_side_by_side(
    ada: User, duplicate: MappingConflict, unmatched_b: MappingConflict
) -> None:
    response = signed_in(ada).get(QUEUE)
    assert response.status_code == 200
    body = response.content.decode()
    assert "2 open conflicts" in body
    assert "Several items for one SKU" in body and "Looks like Une Femme&#x27;s" in body
    # Name, Sku, quantity on hand and last activity of each candidate.
    assert "Une Femme Blanc de Blancs 2021 750ml (Library Release)" in body
    assert "UF-BDB-2021-750" in body and ">48<" in body
    assert "March 4, 2025" in body
    assert "Une Femme Côte Rosé 1.5L" in body
    # A look-alike fitting no SKU can be settled by creating the SKU's item in QuickBooks
    # (a push job drafted for that partner); a contest between items cannot.
    assert f"conflict={unmatched_b.pk}" in body and "Create in QuickBooks" in body
    assert f"conflict={duplicate.pk}" not in body
    assert 'id="conflict-list"' in body and "Recent decisions" in body


def test_the_htmx_filter_returns_the_list_fragment_for_one_partner(
    ada: User, duplicate: MappingConflict, unmatched_b: MappingConflict, partner_b: Partner
) -> None:
    response = signed_in(ada).get(
        QUEUE, {"partner": partner_b.slug}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="conflict-list">')
    assert "<html" not in body and "Recent decisions" not in body
    assert "Une Femme Côte Rosé 1.5L" in body and "Library Release" not in body
    assert "1 open conflict" in body


def test_the_kind_filter(
    ada: User, duplicate: MappingConflict, unmatched_b: MappingConflict
) -> None:
    body = signed_in(ada).get(QUEUE, {"kind": "unmatched"}).content.decode()
    assert "Une Femme Côte Rosé 1.5L" in body and "Library Release" not in body


@pytest.mark.parametrize("who", ["alice", "bob", "sam"])
def test_staff_and_partner_users_get_403_on_the_queue_and_on_decisions(
    who: str, cast: dict[str, User], duplicate: MappingConflict
) -> None:
    client = signed_in(cast[who])
    assert client.get(QUEUE).status_code == 403
    for name, data in [
        ("inventory:conflict_choose", {"sku_code": "UF-BDB-2021-750", "item_qbo_id": "11"}),
        ("inventory:conflict_ignore", {}),
        ("inventory:conflict_unmap", {}),
    ]:
        assert client.post(reverse(name, args=[duplicate.pk]), data).status_code == 403
    duplicate.refresh_from_db()
    assert duplicate.is_open and not MappingDecision.objects.exists()
    assert not SKUMapping.objects.exists()


def test_choosing_an_item_maps_it_and_records_the_decision(
    ada: User, duplicate: MappingConflict
) -> None:
    client = signed_in(ada)
    response = client.post(
        reverse("inventory:conflict_choose", args=[duplicate.pk]),
        {"sku_code": "UF-BDB-2021-750", "item_qbo_id": "11"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == QUEUE
    body = response.content.decode()
    assert "Decision recorded" in body and "0 open conflicts" in body
    [row] = SKUMapping.objects.all()
    assert (row.item_qbo_id, row.method, row.decided_by) == ("11", "admin", ada)
    decision = MappingDecision.objects.get()
    assert decision.actor == ada and decision.action == "choose"
    assert "ada@unefemme.test" in body  # in the recent decisions


def test_ignoring_from_the_page(ada: User, unmatched_b: MappingConflict) -> None:
    response = signed_in(ada).post(reverse("inventory:conflict_ignore", args=[unmatched_b.pk]))
    assert response.status_code == 302
    unmatched_b.refresh_from_db()
    assert unmatched_b.status == MappingConflict.Status.IGNORED


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sku_code": "UF-NOPE-1"}, "is not a catalog SKU"),
        ({"sku_code": "UF-DEM-NV-750", "bottles_per_unit": "0"}, "Bottles per case"),
        ({"sku_code": "UF-DEM-NV-750", "bottles_per_unit": "twelve"}, "Enter a whole number"),
        ({}, "Catalog SKU"),
    ],
)
def test_bad_input_is_explained_and_nothing_is_lost(
    ada: User, unmatched_b: MappingConflict, data: dict[str, str], message: str
) -> None:
    response = signed_in(ada).post(
        reverse("inventory:conflict_choose", args=[unmatched_b.pk]), data, follow=True
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert message in body
    unmatched_b.refresh_from_db()
    assert unmatched_b.is_open
    assert not SKUMapping.objects.exists() and not MappingDecision.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sku_code": "UF-DEM\x1b[0m-NV-750"},
         "The SKU code contains a control character (U+001B); remove it"),
        ({"sku_code": "UF-DEM-NV-750\x00"}, "Null characters are not allowed."),
        ({"sku_code": "UF-DEM-NV-750", "item_qbo_id": "11\x7f"},
         "The item id contains a control character (U+007F); remove it"),
        ({"sku_code": "UF-DEM-NV-750", "unit": "case\x1b"},
         "Counted in: Choose bottle or case, or leave it to the name."),
    ],
)  # fmt: skip
def test_control_characters_are_refused_not_echoed(
    ada: User, unmatched_b: MappingConflict, data: dict[str, str], message: str
) -> None:
    # A made-up code used to come back inside "“…” is not a catalog SKU", escape and all.
    response = signed_in(ada).post(
        reverse("inventory:conflict_choose", args=[unmatched_b.pk]), data, follow=True
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Nothing was changed." in body and message in body
    assert "\x1b" not in body and "\x7f" not in body
    unmatched_b.refresh_from_db()
    assert unmatched_b.is_open
    assert not SKUMapping.objects.exists() and not MappingDecision.objects.exists()


def test_unmapping_is_only_for_changed_items(ada: User, unmatched_b: MappingConflict) -> None:
    response = signed_in(ada).post(
        reverse("inventory:conflict_unmap", args=[unmatched_b.pk]), follow=True
    )
    assert "Only a changed item" in response.content.decode()
    unmatched_b.refresh_from_db()
    assert unmatched_b.is_open


def test_a_get_changes_nothing_and_unknown_conflicts_are_404(
    ada: User, duplicate: MappingConflict
) -> None:
    client = signed_in(ada)
    response = client.get(reverse("inventory:conflict_ignore", args=[duplicate.pk]))
    assert response.status_code == 302
    assert response["Location"] == f"{QUEUE}#conflict-{duplicate.pk}"
    duplicate.refresh_from_db()
    assert duplicate.is_open and not MappingDecision.objects.exists()
    assert client.post(reverse("inventory:conflict_ignore", args=[999999])).status_code == 404


def test_the_queue_reads_a_bounded_number_of_queries(
    ada: User, books_a: QBOConnection, books_b: QBOConnection, django_assert_max_num_queries: object
) -> None:
    for connection in (books_a, books_b):
        for n in range(15):
            ItemFactory(connection=connection, name=f"Une Femme Mystery Cuvée {n}", sku="")
        mapping.mapping_refresh(connection_id=connection.pk)
    assert MappingConflict.objects.open().count() == 30
    client: Client = signed_in(ada)
    client.get(QUEUE)  # warm the session
    with django_assert_max_num_queries(8):  # type: ignore[operator]
        response = client.get(QUEUE)
    assert response.content.decode().count('class="conflict"') == 30


def conflict_header(body: str, conflict: MappingConflict) -> str:
    """The title and the line under it, that say what and whose a conflict is."""
    return body.split(f'id="conflict-{conflict.pk}"', 1)[1].split("</p>", 1)[0]


def test_a_conflicts_header_names_the_partner_once(
    ada: User,
    duplicate: MappingConflict,
    unmatched_b: MappingConflict,
    books_a: QBOConnection,
    partner_a: Partner,
    partner_b: Partner,
) -> None:
    # QuickBooks companies are usually named like the partner that owns them.
    books_a.company_name = partner_a.name
    books_a.save(update_fields=["company_name"])

    body = signed_in(ada).get(QUEUE).content.decode()

    header = conflict_header(body, duplicate)
    assert header.count(escape(partner_a.name)) == 1, header
    assert "raised" in header
    # A company named otherwise is still told apart from its partner.
    header = conflict_header(body, unmatched_b)
    assert escape(partner_b.name) in header
    assert escape(f"{partner_b.name} (QuickBooks)") in header
