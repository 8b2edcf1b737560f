"""What every response promises a browser (reliability.md 33): HSTS, no-store behind sign-in,
cookie flags, a Content-Security-Policy, and no TRACE."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.conftest import signed_in
from tests.factories import PASSWORD
from tests.test_settings import PRODUCTION_ENV, _start


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/partners/", "/accounts/login/", "/healthz", "/nowhere/"])
def test_trace_is_refused_on_every_url(path: str, sam: User) -> None:
    for client in (Client(), signed_in(sam)):
        for method in ("TRACE", "TRACK"):
            response = client.generic(method, path)
            assert response.status_code == 405, (method, path, response.status_code)
            assert "TRACE" not in response["Allow"]


@pytest.mark.django_db
def test_https_responses_carry_a_year_of_hsts_for_every_subdomain(client: Client) -> None:
    response = client.get(reverse("account_login"), secure=True)
    directives = [d.strip() for d in response["Strict-Transport-Security"].split(";")]
    max_age = next(int(d.split("=")[1]) for d in directives if d.startswith("max-age="))
    assert max_age >= 31536000
    assert "includeSubDomains" in directives


@pytest.mark.django_db
def test_the_session_and_csrf_cookies_are_httponly_and_same_site(client: Client, sam: User) -> None:
    client.get(reverse("account_login"))
    response = client.post(reverse("account_login"), {"login": sam.email, "password": PASSWORD})
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    assert client.cookies["csrftoken"]["samesite"] == "Lax"


def test_production_cookies_are_secure_only() -> None:
    # The test settings turn these off to run over plain http; production keeps them on.
    result = _start(
        PRODUCTION_ENV,
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; "
        "print(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, "
        "settings.SESSION_COOKIE_HTTPONLY)",
    )
    assert result.stdout.split() == ["True", "True", "True"], result.stderr
