"""/inventory/warehouse/tokens/: admins issue (shown once) and revoke tokens; nobody else
reaches the page; the Django admin can issue and revoke as well."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.models import Partner, User
from inventory.warehouse import services as warehouse
from inventory.warehouse.models import WarehouseToken
from tests.conftest import signed_in

URL = reverse("inventory:warehouse_tokens")


def test_an_admin_issues_a_token_shown_once(ada: User, partner_a: Partner) -> None:
    client = signed_in(ada)
    response = client.post(URL, {"partner": partner_a.pk, "label": "WMS production"})
    assert response.status_code == 200
    match = re.search(rb'value="(ufwh_[^"]+)"', response.content)
    assert match
    secret = match.group(1).decode()
    token = WarehouseToken.objects.get()
    assert (token.partner, token.label, token.created_by) == (partner_a, "WMS production", ada)
    assert warehouse.warehouse_token_authenticate(authorization=f"Bearer {secret}") == token
    # Never again: the list shows the prefix only.
    listing = client.get(URL).content.decode()
    assert secret not in listing and f"{token.prefix}…" in listing


def test_an_admin_revokes_a_token(ada: User, partner_a: Partner) -> None:
    token, secret = warehouse.warehouse_token_issue(partner=partner_a, label="WMS", user=ada)
    response = signed_in(ada).post(reverse("inventory:warehouse_token_revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == ada
    assert warehouse.warehouse_token_authenticate(authorization=f"Bearer {secret}") is None


def test_a_blank_label_is_refused(ada: User, partner_a: Partner) -> None:
    response = signed_in(ada).post(URL, {"partner": partner_a.pk, "label": " "})
    assert response.status_code == 200
    assert b"This field is required." in response.content
    assert not WarehouseToken.objects.exists()


@pytest.mark.parametrize("who", ["alice", "bob", "sam"])
def test_partner_users_and_staff_get_403(
    who: str, cast: dict[str, User], partner_a: Partner
) -> None:
    token, _ = warehouse.warehouse_token_issue(partner=partner_a, label="WMS", user=cast["ada"])
    client = signed_in(cast[who])
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"partner": partner_a.pk, "label": "mine"}).status_code == 403
    revoke = reverse("inventory:warehouse_token_revoke", args=[token.pk])
    assert client.post(revoke).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None and WarehouseToken.objects.count() == 1


def test_the_django_admin_issues_and_revokes(ada: User, partner_a: Partner) -> None:
    client = signed_in(ada)
    response = client.post(
        reverse("admin:inventory_warehousetoken_add"),
        {"partner": partner_a.pk, "label": "WMS staging"},
        follow=True,
    )
    assert response.status_code == 200
    token = WarehouseToken.objects.get()
    assert (token.partner, token.label, token.created_by) == (partner_a, "WMS staging", ada)
    assert token.prefix.startswith("ufwh_")
    shown = [str(m) for m in response.context["messages"]]
    secret = re.search(r"(ufwh_\S+)", " ".join(shown))
    assert (
        secret
        and warehouse.warehouse_token_authenticate(authorization=f"Bearer {secret.group(1)}")
        == token
    )
    client.post(
        reverse("admin:inventory_warehousetoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_a_get_on_revoke_asks_and_changes_nothing(ada: User, partner_a: Partner) -> None:
    token, _ = warehouse.warehouse_token_issue(partner=partner_a, label="WMS", user=ada)
    response = signed_in(ada).get(reverse("inventory:warehouse_token_revoke", args=[token.pk]))
    assert response.status_code == 200
    assert b"Revoke this token" in response.content
    token.refresh_from_db()
    assert token.revoked_at is None
