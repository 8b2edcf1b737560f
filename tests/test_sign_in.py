"""E-mail + password sign-in, its lockout, sign-out and password reset."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.factories import PASSWORD


def _sign_in(client: Client, email: str, password: str) -> object:
    return client.post(reverse("account_login"), {"login": email, "password": password})


@pytest.mark.django_db
def test_signs_in_with_email_and_password(client: Client, sam: User) -> None:
    response = _sign_in(client, "SAM@unefemme.test", PASSWORD)
    assert response.status_code == 302  # type: ignore[attr-defined]
    assert client.get(reverse("dashboard")).status_code == 200


@pytest.mark.django_db
def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    client: Client, sam: User
) -> None:
    response = _sign_in(client, sam.email, "not the password")
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert b"not correct" in response.content  # type: ignore[attr-defined]
    assert client.get(reverse("dashboard")).status_code == 302


@pytest.mark.django_db
def test_the_sixth_failure_within_five_minutes_locks_the_account(client: Client, sam: User) -> None:
    for _ in range(5):
        _sign_in(Client(REMOTE_ADDR="10.0.0.1"), sam.email, "guess")
    # Even the right password, from another address, is refused until the window passes.
    response = _sign_in(Client(REMOTE_ADDR="10.0.0.2"), sam.email, PASSWORD)
    assert response.status_code in (200, 429)  # type: ignore[attr-defined]
    assert b"Too many failed login attempts" in response.content  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_the_admin_login_is_no_way_around_the_lockout(client: Client, ada: User) -> None:
    # The admin's own form would check passwords without allauth's rate limits; it is
    # wrapped (unefemme/urls.py) so that it never checks one and hands over to allauth.
    admin_login = reverse("admin:login")
    for _ in range(6):
        response = client.post(admin_login, {"username": ada.email, "password": "guess"})
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))
    for _ in range(5):
        _sign_in(Client(REMOTE_ADDR="10.0.0.1"), ada.email, "guess")
    # Locked out on allauth's sign-in; the right password through the admin's login
    # still signs nobody in.
    locked = _sign_in(Client(REMOTE_ADDR="10.0.0.2"), ada.email, PASSWORD)
    assert b"Too many failed login attempts" in locked.content  # type: ignore[attr-defined]
    client.post(admin_login, {"username": ada.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_sign_up_is_closed(client: Client) -> None:
    response = client.get(reverse("account_signup"))
    assert b"Sign Up Closed" in response.content or b"closed" in response.content.lower()
    client.post(reverse("account_signup"), {"email": "new@x.test", "password1": "x" * 12})
    assert not User.objects.filter(email="new@x.test").exists()


@pytest.mark.django_db
def test_sign_out_ends_the_session(client: Client, sam: User) -> None:
    _sign_in(client, sam.email, PASSWORD)
    old_session = client.cookies["sessionid"].value
    client.post(reverse("account_logout"))
    assert client.get(reverse("dashboard")).status_code == 302
    replay = Client()
    replay.cookies["sessionid"] = old_session
    assert replay.get(reverse("dashboard")).status_code == 302


@pytest.mark.django_db
def test_sign_in_rotates_the_session_key(client: Client, sam: User) -> None:
    client.get(reverse("account_login"))
    before = client.session.session_key
    _sign_in(client, sam.email, PASSWORD)
    assert client.session.session_key != before


@pytest.mark.django_db
def test_a_deactivated_user_is_signed_out(client: Client, sam: User) -> None:
    _sign_in(client, sam.email, PASSWORD)
    sam.is_active = False
    sam.save()
    assert client.get(reverse("dashboard")).status_code == 302


@pytest.mark.django_db
def test_password_reset_by_email(client: Client, sam: User) -> None:
    client.post(reverse("account_reset_password"), {"email": sam.email})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/password/reset/key/\S+)", str(mail.outbox[0].body))
    assert link, mail.outbox[0].body
    form_page = client.get(link.group(1), follow=True)
    assert form_page.status_code == 200
    new_password = "a brand new passphrase 42"
    client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else link.group(1),
        {"password1": new_password, "password2": new_password},
    )
    sam.refresh_from_db()
    assert sam.check_password(new_password)


@pytest.mark.django_db
def test_authenticated_pages_are_never_cached(client: Client, sam: User) -> None:
    client.force_login(sam)
    assert client.get(reverse("dashboard"))["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_the_sign_in_page_says_when_two_factor_is_off(client: Client, settings: object) -> None:
    settings.REQUIRE_STAFF_MFA = False  # type: ignore[attr-defined]
    assert b"Two-factor sign-in is off here" in client.get(reverse("account_login")).content
    settings.REQUIRE_STAFF_MFA = True  # type: ignore[attr-defined]
    assert b"Two-factor sign-in is off here" not in client.get(reverse("account_login")).content


# --- Per-IP limits behind proxies ------------------------------------------------------------

PROXY = "10.9.9.9"  # every request reaches the app from the proxy's address


def _through_proxy(client_address: str) -> Client:
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=client_address)


def _fail_ten_times_from(address_of: list[Client], emails: list[str]) -> None:
    # Ten failures for ten different accounts (so no per-account lockout): only the
    # per-address limit (10 a minute) can refuse what follows.
    for client, email in zip(address_of, emails, strict=True):
        _sign_in(client, email, "guess")


@pytest.mark.django_db
def test_behind_a_trusted_proxy_one_address_failing_does_not_lock_out_another(
    sam: User, settings: object
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1  # type: ignore[attr-defined]
    attacker = _through_proxy("203.0.113.66")
    _fail_ten_times_from([attacker] * 10, [f"nobody{n}@example.com" for n in range(10)])
    locked = _sign_in(attacker, sam.email, PASSWORD)
    assert b"Too many failed login attempts" in locked.content  # type: ignore[attr-defined]
    # Before, every user behind the proxy shared its address and was locked out too.
    colleague = _through_proxy("198.51.100.7")
    assert _sign_in(colleague, sam.email, PASSWORD).status_code == 302  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_without_a_trusted_proxy_a_forged_forwarded_for_changes_nothing(sam: User) -> None:
    # TRUSTED_PROXY_COUNT = 0 (the default): X-Forwarded-For is the client's own writing, and
    # a new value per attempt must not buy a fresh allowance.
    forged = [_through_proxy(f"192.0.2.{n}") for n in range(10)]
    _fail_ten_times_from(forged, [f"nobody{n}@example.com" for n in range(10)])
    locked = _sign_in(_through_proxy("192.0.2.200"), sam.email, PASSWORD)
    assert b"Too many failed login attempts" in locked.content  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_a_forwarded_for_shorter_than_the_proxy_chain_is_no_500(
    sam: User, settings: object
) -> None:
    # allauth's own reading raises ImproperlyConfigured here; any client can send this.
    settings.TRUSTED_PROXY_COUNT = 3  # type: ignore[attr-defined]
    response = _sign_in(_through_proxy("198.51.100.7, not-an-address"), sam.email, PASSWORD)
    assert response.status_code == 302  # type: ignore[attr-defined]
