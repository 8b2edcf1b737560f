"""400, 403, 404 and 500 answer in the site's layout with what happened and what to do,
and a refused request is logged on one line, never with a traceback."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views.defaults import server_error

from accounts.models import User
from tests.conftest import signed_in


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the configured console handler (settings.LOGGING) writes during the test."""
    [handler] = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


def _in_layout(html: str) -> None:
    assert '<header class="topbar">' in html
    assert '<link rel="stylesheet" href="/static/css/app.css">' in html
    assert f'href="{reverse("dashboard")}">Go to the dashboard</a>' in html


@pytest.mark.django_db
def test_a_403_is_a_page_in_the_layout_and_one_warning_line(
    alice: User, console: io.StringIO
) -> None:
    response = signed_in(alice).get(reverse("inventory:conflicts"))
    assert response.status_code == 403
    html = response.content.decode()
    _in_layout(html)
    assert 'aria-label="Main"' in html  # the signed-in navigation is there
    assert "You do not have access to this page" in html
    assert "alice@bubbles.test" in html and "ask one of Une Femme's admins" in html
    # One line at WARNING: before, each 403 wrote its whole traceback to the log.
    logged = console.getvalue().splitlines()
    assert [line.split(" ", 2)[2] for line in logged] == [
        "WARNING django.request Forbidden (Permission denied): /inventory/conflicts/"
    ]
    assert "Traceback" not in console.getvalue()


@pytest.mark.django_db
def test_a_403_from_a_role_check_shows_the_users_own_navigation(sam: User) -> None:
    # Staff may not open the admins' warehouse upload: refused, the menu still takes
    # them anywhere their role may go (the pages it lists are the navigation's own).
    response = signed_in(sam).get(reverse("inventory:warehouse_upload"))

    assert response.status_code == 403
    html = response.content.decode()
    nav = html[html.index('aria-label="Main"') : html.index("</nav>")]
    for name in ("billing:invoices", "billing:payments", "inventory:discrepancies"):
        assert f'href="{reverse(name)}"' in nav, name
    assert f'href="{reverse("inventory:warehouse_upload")}"' not in nav
    assert "sam@unefemme.test" in html


@pytest.mark.django_db
def test_a_404_is_a_page_in_the_layout_and_one_warning_line(
    alice: User, console: io.StringIO
) -> None:
    response = signed_in(alice).get("/billing/invoices/999999999/")
    assert response.status_code == 404
    html = response.content.decode()
    _in_layout(html)
    assert "There is nothing here" in html and "another partner" in html
    assert "Traceback" not in console.getvalue()
    assert len(console.getvalue().splitlines()) == 1


@pytest.mark.django_db
def test_a_400_is_a_page_in_the_layout(console: io.StringIO) -> None:
    # A Host header not in ALLOWED_HOSTS is Django's SuspiciousOperation: a 400.
    response = Client().get(reverse("account_login"), HTTP_HOST="evil.example")
    assert response.status_code == 400
    html = response.content.decode()
    _in_layout(html)
    assert "This request could not be understood" in html
    assert "Traceback" not in console.getvalue()


@pytest.mark.django_db
def test_a_form_sent_without_its_token_gets_the_expired_form_page(alice: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(reverse("account_logout"))
    assert response.status_code == 403
    html = response.content.decode()
    assert "This form has expired" in html and "reload the page" in html
    assert '<header class="topbar">' in html


def test_the_500_page_needs_no_request_context() -> None:
    # Django renders 500.html with no context at all (the database may be what failed).
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    html = response.content.decode()
    _in_layout(html)
    assert "Something went wrong on our side" in html
    assert 'aria-label="Main"' not in html
