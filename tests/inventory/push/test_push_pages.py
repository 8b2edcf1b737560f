"""The push drafting pages with nothing or little to push: what they say and refuse.
(Pushes themselves, against qbo_sandbox, are in tests/sync/test_push_jobs.py.)"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import Partner, User
from inventory.catalog.models import CatalogSKU
from inventory.catalog.services import catalog_demo_load
from inventory.mapping import services as mapping
from inventory.mapping.models import MappingConflict
from inventory.push import selectors as push_selectors
from inventory.push import services as push
from inventory.push.models import PushJob
from sync.models import QBOConnection
from tests.billing.factories import ConnectionFactory, ItemFactory
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db

PAGES = ["inventory:push_stock_new", "inventory:push_items_new"]


@pytest.mark.parametrize("name", PAGES)
def test_with_no_partner_connected_the_page_says_where_to_start(name: str, ada: User) -> None:
    catalog_demo_load()
    html = signed_in(ada).get(reverse(name)).content.decode()
    assert "No partner has connected QuickBooks yet" in html
    assert 'name="partner"' not in html


@pytest.mark.parametrize("name", PAGES)
def test_only_partners_with_a_live_connection_are_offered(
    name: str, ada: User, partner_a: Partner, partner_b: Partner
) -> None:
    catalog_demo_load()
    ConnectionFactory(partner=partner_a, status=QBOConnection.Status.DISCONNECTED)
    ConnectionFactory(partner=partner_a)  # reconnected since
    ConnectionFactory(partner=partner_b, status=QBOConnection.Status.DISCONNECTED)
    html = signed_in(ada).get(reverse(name)).content.decode()
    assert f'value="{partner_a.slug}"' in html
    assert f'value="{partner_b.slug}"' not in html


def test_a_sku_quickbooks_already_carries_is_not_offered_for_creation(
    ada: User, partner_a: Partner
) -> None:
    catalog_demo_load()
    connection = ConnectionFactory(partner=partner_a)
    # Unmapped (say, in an open conflict) but carrying the code as its Sku, and another
    # under exactly the name a created item would get.
    ItemFactory(connection=connection, name="Callie, our way", sku="UF-CAL-NV-750")
    juliette = CatalogSKU.objects.get(code="UF-JUL-NV-750")
    ItemFactory(connection=connection, name=push_selectors.item_name_for(juliette), sku="")
    ItemFactory(connection=connection, name="Old Demi-Sec", sku="UF-DEM-NV-750", active=False)

    offered = {c.sku.code: c for c in push_selectors.item_candidates(connection=connection)}
    assert offered["UF-CAL-NV-750"].mapped_to == ["Callie, our way"]
    assert offered["UF-JUL-NV-750"].mapped_to == [push_selectors.item_name_for(juliette)]
    assert offered["UF-DEM-NV-750"].pushable  # an inactive item does not count
    html = (
        signed_in(ada)
        .get(reverse("inventory:push_items_new"), {"partner": partner_a.slug})
        .content.decode()
    )
    assert "Yes: “Callie, our way”" in html
    sku = CatalogSKU.objects.get(code="UF-CAL-NV-750")
    with pytest.raises(ValidationError, match="already in this QuickBooks"):
        push.push_items_draft(user=ada, partner_id=partner_a.pk, sku_ids=[sku.pk])
    assert not PushJob.objects.exists()


def test_a_second_draft_of_the_same_kind_waits_for_the_first(ada: User, partner_a: Partner) -> None:
    catalog_demo_load()
    ConnectionFactory(partner=partner_a)
    sku = CatalogSKU.objects.get(code="UF-CAL-NV-750")
    first = push.push_items_draft(user=ada, partner_id=partner_a.pk, sku_ids=[sku.pk])
    with pytest.raises(ValidationError, match=f"Job #{first.pk}"):
        push.push_items_draft(user=ada, partner_id=partner_a.pk, sku_ids=[sku.pk])
    push.push_job_discard(job_id=first.pk, user=ada)
    push.push_items_draft(user=ada, partner_id=partner_a.pk, sku_ids=[sku.pk])
    assert PushJob.objects.count() == 2


# No input reaches a 5xx, and a refusal says why.


def test_a_conflict_id_that_is_not_a_number_is_refused_not_a_500(
    ada: User, partner_a: Partner
) -> None:
    # "²".isdigit() is True but int("²") raises: both the page and the draft were a 500.
    catalog_demo_load()
    ConnectionFactory(partner=partner_a)
    sku = CatalogSKU.objects.get(code="UF-CAL-NV-750")
    client = signed_in(ada)
    url = reverse("inventory:push_items_new")
    for named in ["²", "9" * 5000, "١٢", " 1 "]:
        page = client.get(url, {"partner": partner_a.slug, "conflict": named})
        assert page.status_code == 200
        response = client.post(url, {"partner": partner_a.slug, "sku": [str(sku.pk)],
                                     "conflict": named}, follow=True)  # fmt: skip
        assert response.status_code == 200
        assert "Nothing was started. The conflict to settle was not understood" in (
            response.content.decode()
        )
    assert not PushJob.objects.exists()


def test_a_conflict_of_another_partner_is_refused_not_dropped(
    ada: User, partner_a: Partner, partner_b: Partner
) -> None:
    # The draft used to be made without the conflict, which then stayed open for good.
    catalog_demo_load()
    ConnectionFactory(partner=partner_a)
    books_b = ConnectionFactory(partner=partner_b)
    ItemFactory(connection=books_b, name="Une Femme Côte Rosé 1.5L", sku="")
    mapping.mapping_refresh(connection_id=books_b.pk)
    conflict = MappingConflict.objects.get()
    sku = CatalogSKU.objects.get(code="UF-CAL-NV-750")
    response = signed_in(ada).post(
        reverse("inventory:push_items_new"),
        {"partner": partner_a.slug, "sku": [str(sku.pk)], "conflict": str(conflict.pk)},
    )
    assert response.status_code == 200
    assert (
        "That conflict is not one of Bubbles &amp; Brine Distributing&#x27;s; nothing was started."
        in response.content.decode()
    )
    assert not PushJob.objects.exists()


@pytest.mark.parametrize("sku", ["١", " 1 ", "1_0", "+1", "9" * 19, "²"])
def test_sku_ids_are_plain_digits_within_a_bigint(ada: User, partner_a: Partner, sku: str) -> None:
    catalog_demo_load()
    ConnectionFactory(partner=partner_a)
    response = signed_in(ada).post(
        reverse("inventory:push_items_new"), {"partner": partner_a.slug, "sku": [sku]}
    )
    assert response.status_code == 200
    assert (
        "The SKU list was not understood: each ticked SKU is sent as its id, a whole number "
        "of at most 18 digits." in response.content.decode()
    )
    assert not PushJob.objects.exists()


@pytest.mark.parametrize("name", PAGES)
def test_an_empty_post_says_the_partner_is_missing(
    name: str, ada: User, partner_a: Partner
) -> None:
    catalog_demo_load()
    ConnectionFactory(partner=partner_a)
    response = signed_in(ada).post(reverse(name), {})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not PushJob.objects.exists()
