"""The first-run page: a partner user's three steps, each done or not from the real data,
and the dashboard's pointer to it until all three are done."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Partner, User
from inventory.catalog.models import CatalogSKU
from inventory.mapping.models import MappingConflict, SKUMapping
from inventory.warehouse.models import WarehouseSnapshot, WarehouseSource
from onboarding.selectors import FirstRun, first_run
from sync.models import QBOConnection
from tests.billing.factories import ConnectionFactory, ItemFactory
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db


def _steps(page: str) -> dict[str, str]:
    import re

    return dict(re.findall(r'data-step="(\w+)" data-done="(\w+)"', page))


def test_a_new_partner_has_three_steps_to_do(alice: User) -> None:
    assert first_run(alice) == FirstRun(connected=False, mapped=False, counted=False)
    page = signed_in(alice).get(reverse("onboarding:welcome")).content.decode()
    assert _steps(page) == {"connect": "no", "mapping": "no", "count": "no"}
    # The first step's button starts the connect dance.
    assert f'action="{reverse("sync:connect")}"' in page
    dashboard = signed_in(alice).get(reverse("dashboard")).content.decode()
    assert reverse("onboarding:welcome") in dashboard


def test_each_step_is_done_from_the_real_data(
    alice: User, bob: User, partner_a: Partner, partner_b: Partner
) -> None:
    books = ConnectionFactory(partner=partner_a)
    assert first_run(alice) == FirstRun(connected=True, mapped=False, counted=False)
    sku = CatalogSKU.objects.create(
        code="UF-T-NV-750", wine="T", format_ml=750, bottles_per_case=12
    )
    item = ItemFactory(connection=books, qbo_id="7", name="Une Femme T", sku="UF-T-NV-750")
    SKUMapping.objects.create(
        connection=books, catalog_sku=sku, item_qbo_id=item.qbo_id,
        method=SKUMapping.Method.SKU, item_name=item.name, item_sku=item.sku,
    )  # fmt: skip
    assert first_run(alice) == FirstRun(connected=True, mapped=True, counted=False)
    # An open conflict is mapping still to check.
    conflict = MappingConflict.objects.create(
        connection=books, item_qbo_id="8", kind=MappingConflict.Kind.UNMATCHED, fingerprint="t",
    )  # fmt: skip
    assert first_run(alice) is not None and not first_run(alice).mapped  # type: ignore[union-attr]
    conflict.status = MappingConflict.Status.RESOLVED
    conflict.save()
    WarehouseSnapshot.objects.create(
        partner=partner_a, sku=sku, as_of=timezone.localdate() - timedelta(days=1),
        bottles=Decimal("12"), source=WarehouseSource.CSV,
    )  # fmt: skip
    assert first_run(alice) == FirstRun(connected=True, mapped=True, counted=True)
    page = signed_in(alice).get(reverse("onboarding:welcome")).content.decode()
    assert _steps(page) == {"connect": "yes", "mapping": "yes", "count": "yes"}
    dashboard = signed_in(alice).get(reverse("dashboard")).content.decode()
    assert reverse("onboarding:welcome") not in dashboard
    # Partner A's progress is not partner B's.
    assert first_run(bob) == FirstRun(connected=False, mapped=False, counted=False)
    # A disconnected company is no longer a live connection.
    QBOConnection.objects.filter(pk=books.pk).update(status=QBOConnection.Status.DISCONNECTED)
    assert first_run(alice) == FirstRun(connected=False, mapped=False, counted=True)


@pytest.mark.parametrize("who", ["sam", "ada"])
def test_une_femme_people_get_an_orientation(who: str, cast: dict[str, User]) -> None:
    assert first_run(cast[who]) is None
    page = signed_in(cast[who]).get(reverse("onboarding:welcome")).content.decode()
    assert "data-step" not in page and reverse("sync:connections") in page
    assert (reverse("onboarding:invite") in page) == (who == "ada")
    dashboard = signed_in(cast[who]).get(reverse("dashboard")).content.decode()
    assert reverse("onboarding:welcome") not in dashboard


def test_the_first_run_is_one_query(alice: User, django_assert_num_queries: object) -> None:
    with django_assert_num_queries(1):  # type: ignore[operator]
        first_run(alice)
