"""What every response promises a browser (docs/reliability.md 33): HSTS, no-store behind sign-in,
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


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "sam"])
def test_pages_carry_a_content_security_policy(who: str, sam: User) -> None:
    client = Client() if who == "anonymous" else signed_in(sam)
    url = reverse("account_login") if who == "anonymous" else reverse("dashboard")
    response = client.get(url)
    assert response.status_code == 200
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in response["Content-Security-Policy"].split(";")
        if directive.strip()
    }
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    # No inline script, no eval: only our own files.
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]


@pytest.mark.django_db
def test_no_page_of_ours_has_inline_script_or_style(sam: User) -> None:
    # What the policy would block in a browser: a <script> without src, a <style>, or a
    # style attribute (tests/browser checks the pages in Chromium).
    page = signed_in(sam).get(reverse("dashboard")).content.decode()
    assert "<style" not in page and " style=" not in page
    assert all(" src=" in tag.split(">")[0] for tag in page.split("<script")[1:])
