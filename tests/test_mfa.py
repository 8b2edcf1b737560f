"""With REQUIRE_STAFF_MFA on, staff and admins reach nothing without a second factor."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyotp
import pytest
import time_machine
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import User
from tests.conftest import signed_in
from tests.factories import PASSWORD
from tests.test_access_by_url import OWN_PAGES


@pytest.fixture(autouse=True)
def _mfa_on(settings: SettingsWrapper) -> None:
    settings.REQUIRE_STAFF_MFA = True


PERIOD = 30  # seconds a TOTP code lasts (allauth's default, and authenticator apps')


@pytest.fixture(autouse=True)
def totp_clock() -> Iterator[time_machine.Traveller]:
    """The clock stands still, ten seconds into a TOTP window, for the whole test.

    A code computed by the test and the code allauth expects must come from the same
    window; on a real clock a test that crosses a 30-second boundary between the two got
    200 (code refused) instead of 302, now and then. Tests that need another moment move
    the traveller.
    """
    start = (int(time.time()) // PERIOD + 1) * PERIOD + 10
    with time_machine.travel(start, tick=False) as traveller:
        yield traveller


def code_now(secret: str) -> str:
    """The code an authenticator app shows at the (frozen) current time."""
    return str(pyotp.TOTP(secret, interval=PERIOD).now())


def _sign_in(client: Client, user: User) -> None:
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]


def _enrol(user: User) -> str:
    secret = pyotp.random_base32()
    TOTP.activate(user, secret)
    return secret


@pytest.mark.django_db
@pytest.mark.parametrize("url", [*(u.path for u in OWN_PAGES), "/admin/"])
@pytest.mark.parametrize("who", ["sam", "ada"])
def test_unenrolled_staff_are_sent_to_enrol_from_every_page(
    url: str, who: str, cast: dict[str, User]
) -> None:
    client = Client()
    _sign_in(client, cast[who])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_activate_totp"))


# transaction=True: allauth records the enrolment in an on-commit callback, which must run
# inside the request as it does in production, not after the test's wrapping transaction.
@pytest.mark.django_db(transaction=True)
def test_enrolling_finishes_the_second_factor(sam: User) -> None:
    client = Client()
    _sign_in(client, sam)
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = client.session["mfa.totp.secret"]
    response = client.post(reverse("mfa_activate_totp"), {"code": code_now(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=sam, type=Authenticator.Type.TOTP).exists()
    assert client.get(reverse("dashboard")).status_code == 200


@pytest.mark.django_db
def test_a_wrong_code_does_not_enrol(sam: User) -> None:
    client = Client()
    _sign_in(client, sam)
    client.get(reverse("mfa_activate_totp"))
    response = client.post(reverse("mfa_activate_totp"), {"code": "000000"})
    assert response.status_code == 200
    assert not Authenticator.objects.filter(user=sam).exists()
    assert client.get(reverse("dashboard")).status_code == 302


@pytest.mark.django_db
def test_enrolled_admin_must_give_the_code_at_sign_in(ada: User) -> None:
    secret = _enrol(ada)
    client = Client()
    _sign_in(client, ada)
    # Password alone: allauth holds the sign-in at the two-factor stage.
    assert client.get(reverse("dashboard"))["Location"].startswith(reverse("account_login"))
    assert client.get("/admin/").status_code == 302
    response = client.post(reverse("mfa_authenticate"), {"code": code_now(secret)})
    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_a_session_that_skipped_the_second_factor_is_sent_to_give_it(ada: User) -> None:
    # e.g. a session that signed in before the admin enrolled.
    _enrol(ada)
    response = signed_in(ada).get(reverse("inventory:conflicts"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_reauthenticate"))


@pytest.mark.django_db
def test_htmx_requests_are_redirected_as_whole_pages(sam: User) -> None:
    response = signed_in(sam).get(reverse("dashboard"), headers={"HX-Request": "true"})
    assert response["HX-Redirect"].startswith(reverse("mfa_activate_totp"))


@pytest.mark.django_db
def test_partner_users_are_not_asked_for_a_second_factor(alice: User) -> None:
    client = Client()
    _sign_in(client, alice)
    assert client.get(reverse("dashboard")).status_code == 200


@pytest.mark.django_db
def test_a_code_given_in_the_last_moment_of_its_window_is_accepted(
    ada: User, totp_clock: time_machine.Traveller
) -> None:
    # The boundary the flaky run crossed: the code is computed and checked at the same
    # instant, a millisecond before its window closes.
    secret = _enrol(ada)
    client = Client()
    _sign_in(client, ada)
    window_end = (int(time.time()) // PERIOD + 1) * PERIOD
    totp_clock.move_to(window_end - 0.001)
    response = client.post(reverse("mfa_authenticate"), {"code": code_now(secret)})
    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200


@pytest.mark.django_db
def test_a_code_from_the_window_before_is_refused(
    ada: User, totp_clock: time_machine.Traveller
) -> None:
    secret = _enrol(ada)
    client = Client()
    _sign_in(client, ada)
    stale = code_now(secret)
    totp_clock.shift(PERIOD)
    response = client.post(reverse("mfa_authenticate"), {"code": stale})
    assert response.status_code == 200  # the form again, with its error
    assert client.get(reverse("dashboard")).status_code == 302


@pytest.mark.django_db
def test_a_code_cannot_be_used_twice(ada: User) -> None:
    secret = _enrol(ada)
    first, second = Client(), Client()
    _sign_in(first, ada)
    _sign_in(second, ada)
    code = code_now(secret)
    assert first.post(reverse("mfa_authenticate"), {"code": code}).status_code == 302
    # The same code within its window, from another browser: allauth refuses a replay.
    assert second.post(reverse("mfa_authenticate"), {"code": code}).status_code == 200
