"""The catalog page (staff read, admins change), the admin pages and the demo SKUs."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.models import User
from inventory.catalog.models import CatalogSKU
from inventory.catalog.services import DEMO_SKUS
from tests.conftest import signed_in


@pytest.fixture
def skus(db: None) -> None:
    call_command("catalog_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    CatalogSKU.objects.filter(code="UF-DEM-NV-750").update(active=False)


def test_the_demo_command_loads_eight_skus_idempotently(db: None) -> None:
    call_command("catalog_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert CatalogSKU.objects.count() == 8
    CatalogSKU.objects.filter(code="UF-CAL-NV-750").update(wine="Renamed by an admin")
    call_command("catalog_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert CatalogSKU.objects.count() == len(DEMO_SKUS) == 8
    assert CatalogSKU.objects.get(code="UF-CAL-NV-750").wine == "Renamed by an admin"
    magnum = CatalogSKU.objects.get(code="UF-BDB-2021-1500")
    assert (magnum.vintage, magnum.format_ml, magnum.bottles_per_case) == (2021, 1500, 6)
    assert CatalogSKU.objects.get(code="UF-CRB-NV-750").wine == "Crémant Brut"


@pytest.mark.parametrize("who", ["sam", "ada"])
def test_staff_and_admins_see_the_catalog(who: str, cast: dict[str, User], skus: None) -> None:
    response = signed_in(cast[who]).get(reverse("inventory:catalog"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "UF-BDB-2021-1500" in body and "The Callie Sparkling Rosé" in body
    assert "8 of 8 SKUs" in body
    # Only admins are offered changes.
    assert ("Import a CSV" in body or "CSV import" in body) == (who == "ada")
    assert (reverse("admin:inventory_catalogsku_changelist") in body) == (who == "ada")


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_partner_users_get_403_on_the_catalog(who: str, cast: dict[str, User]) -> None:
    client = signed_in(cast[who])
    assert client.get(reverse("inventory:catalog")).status_code == 403
    assert client.get(reverse("inventory:catalog_export")).status_code == 403
    assert client.get("/admin/inventory/catalogsku/").status_code in (302, 403)


def test_filters_by_active_and_search(sam: User, skus: None) -> None:
    client = signed_in(sam)
    body = client.get(reverse("inventory:catalog"), {"active": "no"}).content.decode()
    assert "UF-DEM-NV-750" in body and "UF-CAL-NV-750" not in body
    body = client.get(reverse("inventory:catalog"), {"q": "blanc"}).content.decode()
    assert "UF-BDB-2021-750" in body and "UF-BDB-2021-1500" in body
    assert "UF-CAL-NV-750" not in body and "2 of 8 SKUs" in body
    body = client.get(reverse("inventory:catalog"), {"q": "zzz"}).content.decode()
    assert "No SKU matches these filters." in body
    # A nonsense filter value is ignored rather than an error.
    assert client.get(reverse("inventory:catalog"), {"active": "maybe"}).status_code == 200


def test_htmx_gets_only_the_table(sam: User, skus: None) -> None:
    response = signed_in(sam).get(
        reverse("inventory:catalog"), {"q": "rosé"}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="catalog-table">')
    assert "<html" not in body and "UF-ROS-2023-750" in body


def test_the_export_honours_the_filters(sam: User, skus: None) -> None:
    response = signed_in(sam).get(reverse("inventory:catalog_export"), {"active": "no"})
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines == [
        "code,wine,vintage,format_ml,bottles_per_case,active",
        "UF-DEM-NV-750,Demi-Sec,NV,750,6,no",
    ]


def test_admins_edit_skus_in_the_admin_site_with_the_same_rules(ada: User, skus: None) -> None:
    client = signed_in(ada)
    assert client.get("/admin/inventory/catalogsku/").status_code == 200
    assert client.get("/admin/inventory/catalogimport/").status_code == 200
    response = client.post(
        "/admin/inventory/catalogsku/add/",
        {"code": "uf-lower", "wine": "W", "vintage": "", "format_ml": "0",
         "bottles_per_case": "12", "active": "on"},
    )  # fmt: skip
    assert response.status_code == 200  # the form again, with errors
    assert not CatalogSKU.objects.filter(wine="W").exists()
    response = client.post(
        "/admin/inventory/catalogsku/add/",
        {"code": "UF-NEW-750", "wine": "Crémant: Brut", "vintage": "", "format_ml": "750",
         "bottles_per_case": "12", "active": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    assert CatalogSKU.objects.get(code="UF-NEW-750").vintage is None


def test_the_database_refuses_what_the_import_would_refuse(db: None) -> None:
    bads: list[dict[str, object]] = [
        {"code": "uf-lower"}, {"format_ml": 0}, {"bottles_per_case": 0},
    ]  # fmt: skip
    for bad in bads:
        fields: dict[str, object] = {
            "code": "UF-OK-1", "wine": "W", "format_ml": 750, "bottles_per_case": 12,
        }  # fmt: skip
        fields.update(bad)
        with pytest.raises(IntegrityError), transaction.atomic():
            CatalogSKU.objects.create(**fields)
    with pytest.raises(ValidationError):
        CatalogSKU(code="UF-A-1", wine="W", vintage=1800, format_ml=750,
                   bottles_per_case=12).full_clean()  # fmt: skip


def test_the_navigation_links_the_catalog_for_une_femme_only(alice: User, sam: User) -> None:
    catalog_link = f'href="{reverse("inventory:catalog")}"'
    assert catalog_link in signed_in(sam).get(reverse("dashboard")).content.decode()
    assert catalog_link not in signed_in(alice).get(reverse("dashboard")).content.decode()
