"""Roles: one field decides, views deny by default, querysets are scoped."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

from accounts.models import Partner, User
from accounts.roles import Role
from accounts.services import user_create
from inventory.catalog.models import CatalogSKU
from tests.conftest import signed_in


def _undeclared(request: HttpRequest) -> HttpResponse:
    return HttpResponse("should never be served")


# Pretend the view lives in one of our apps, as a forgotten decorator would.
_undeclared.__module__ = "billing.views"
urlpatterns = [path("undeclared/", _undeclared)]


@pytest.mark.django_db
@pytest.mark.urls("tests.test_roles")
def test_a_view_of_ours_without_declared_roles_is_refused_even_to_admins(ada: User) -> None:
    assert signed_in(ada).get("/undeclared/").status_code == 403


@pytest.mark.django_db
def test_partners_are_scoped_to_what_the_user_may_see(
    alice: User, sam: User, partner_a: Partner, partner_b: Partner
) -> None:
    assert list(Partner.objects.visible_to(alice)) == [partner_a]
    assert set(Partner.objects.visible_to(sam)) == {partner_a, partner_b}


@pytest.mark.django_db
def test_the_partner_list_shows_staff_every_partner(
    sam: User, partner_a: Partner, partner_b: Partner
) -> None:
    page = signed_in(sam).get("/partners/").content.decode()
    assert partner_a.name.replace("&", "&amp;") in page and partner_b.name in page


@pytest.mark.django_db
def test_a_partner_user_needs_exactly_one_partner(partner_a: Partner) -> None:
    with pytest.raises(ValidationError):
        user_create(email="p@x.test", password="x", role=Role.PARTNER, partner=None)
    with pytest.raises(ValidationError):
        user_create(email="s@x.test", password="x", role=Role.STAFF, partner=partner_a)
    # The database holds the rule too, whatever code path writes the row.
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.bulk_create([User(email="q@x.test", role=Role.PARTNER)])


@pytest.mark.django_db
def test_only_admins_get_the_django_admin(alice: User, sam: User, ada: User) -> None:
    assert not alice.is_staff and not sam.is_staff and ada.is_staff
    assert signed_in(ada).get("/admin/accounts/partner/").status_code == 200
    response = signed_in(sam).get("/admin/accounts/partner/")
    assert response.status_code in (302, 403)


@pytest.mark.django_db
def test_demo_setup_is_idempotent(settings: object) -> None:
    settings.DEBUG = True  # type: ignore[attr-defined]
    call_command("demo_setup")
    call_command("demo_setup")
    assert Partner.objects.count() == 3
    assert User.objects.filter(role=Role.PARTNER).count() == 3
    assert User.objects.filter(role=Role.ADMIN).count() == 1
    assert CatalogSKU.objects.filter(code="UF-CAL-NV-750").exists()
    assert Client().login(email="admin@unefemme.test", password="unefemme-demo")


@pytest.mark.django_db
def test_demo_setup_refuses_to_run_in_production() -> None:
    with pytest.raises(CommandError):
        call_command("demo_setup")


@pytest.mark.django_db
def test_the_admin_shows_when_a_person_joined_and_last_signed_in(ada: User, sam: User) -> None:
    page = signed_in(ada).get(f"/admin/accounts/user/{sam.pk}/change/").content.decode()
    assert "Date joined" in page and "Last login" in page
