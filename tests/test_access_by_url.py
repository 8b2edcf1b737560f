"""Deny by default, proven for every URL the project serves."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.middleware import OWN_VIEW_MODULES
from accounts.models import User
from tests.conftest import signed_in
from tests.urlwalk import walk

# The only views an anonymous visitor may reach: signing in and its recovery steps,
# the two-factor step of signing in, and the health probe.
PUBLIC_URL_NAMES = {
    "healthz",
    "account_login",
    "account_signup",  # answers "sign-up is closed"
    "account_reset_password",
    "account_reset_password_done",
    "account_reset_password_from_key",
    "account_reset_password_from_key_done",
    "account_confirm_email",
    "account_email_verification_sent",
    "account_inactive",
    "account_login_code_confirm",
    "account_request_login_code",
    "mfa_authenticate",
    "mfa_login_webauthn",
    "mfa_signup_webauthn",
    "admin:login",  # redirects to account_login (see unefemme/urls.py)
    "sync:webhooks",  # Intuit's POSTs, authenticated by their intuit-signature (401 without)
    "inventory:warehouse_api_snapshots",  # warehouse pushes, by API token (401 without)
}

ALL_URLS = list(walk())


def test_the_walk_finds_our_pages() -> None:
    names = {u.name for u in ALL_URLS}
    assert {"dashboard", "healthz", "billing:invoices", "inventory:conflicts"} <= names


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", [u for u in ALL_URLS if u.name not in PUBLIC_URL_NAMES], ids=lambda u: u.path
)
def test_anonymous_is_sent_to_sign_in(url: object, client: Client) -> None:
    response = client.get(url.path, follow=True)  # type: ignore[attr-defined]
    # The admin hops through its own login URL first, which hands over to allauth's.
    assert response.redirect_chain, f"{url} answered {response.status_code} to a stranger"
    assert response.redirect_chain[-1][0].startswith(reverse("account_login")), url
    assert response.status_code == 200


@pytest.mark.django_db
def test_public_urls_answer_without_signing_in(client: Client) -> None:
    assert client.get(reverse("account_login")).status_code == 200
    assert client.get(reverse("account_reset_password")).status_code == 200
    # The admin's login is not a second way in: it hands over to allauth's sign-in.
    admin_login = client.get(reverse("admin:login"))
    assert admin_login.status_code == 302
    assert admin_login["Location"].startswith(reverse("account_login"))
    # The webhook endpoint is public but takes only signed POSTs.
    assert client.get(reverse("sync:webhooks")).status_code == 405
    unsigned = client.post(reverse("sync:webhooks"), b"[]", content_type="application/json")
    assert unsigned.status_code == 401


@pytest.mark.parametrize(
    "url", [u for u in ALL_URLS if u.module.startswith(OWN_VIEW_MODULES)], ids=lambda u: u.path
)
def test_every_view_of_ours_declares_who_may_use_it(url: object) -> None:
    view = url.view  # type: ignore[attr-defined]
    public = getattr(view, "login_required", True) is False
    assert public or getattr(view, "allowed_roles", None), (
        f"{url.path} has neither @role_required nor @login_not_required"  # type: ignore[attr-defined]
    )


OWN_PAGES = [
    u
    for u in ALL_URLS
    if u.module.startswith(OWN_VIEW_MODULES) and getattr(u.view, "allowed_roles", None)
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", OWN_PAGES, ids=lambda u: u.path)
@pytest.mark.parametrize("who", ["alice", "sam", "ada"])
def test_each_role_gets_exactly_the_pages_its_role_allows(
    url: object, who: str, cast: dict[str, User]
) -> None:
    user = cast[who]
    response = signed_in(user).get(url.path)  # type: ignore[attr-defined]
    allowed = user.role in url.view.allowed_roles  # type: ignore[attr-defined]
    # The OAuth callback without a state from this session is a bad request by design.
    ok = (200, 404, 400) if url.name == "sync:callback" else (200, 404)  # type: ignore[attr-defined]
    if allowed:
        assert response.status_code in ok, (url, who, response.status_code)
    else:
        assert response.status_code == 403, (url, who, response.status_code)


@pytest.mark.django_db
def test_a_partner_user_gets_403_on_staff_pages(alice: User) -> None:
    client = signed_in(alice)
    assert client.get(reverse("accounts:partners")).status_code == 403
    assert client.get(reverse("inventory:conflicts")).status_code == 403
    # ...and the Django admin is for admins only.
    assert client.get("/admin/").status_code in (302, 403)


@pytest.mark.django_db
def test_staff_cannot_use_admin_pages_but_admins_can(sam: User, ada: User) -> None:
    assert signed_in(sam).get(reverse("inventory:conflicts")).status_code == 403
    assert signed_in(ada).get(reverse("inventory:conflicts")).status_code == 200
    assert signed_in(ada).get("/admin/").status_code == 200
