"""Reconciliation in real Chromium, against qbo_sandbox's demo companies as the real
import brought them in (tests/browser/demo_books.py), with the real worker running the
reconciliation task.

Staff signs in through the real form, opens the reconciliation page from the dashboard's
Reconciliation check, opens a company, presses "Run now" and watches htmx poll the run
until its result is on the page; then a corrupted mirror row shows up as a difference on
the next run, with both figures. A partner user sees only its own company, and another
partner's page answers 404. Full-page screenshots go to
test-artifacts/screenshots/reconciliation-<role>-<step>.png.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from inventory.mapping.models import QBOItem
from tests.browser.conftest import screenshot, sign_in
from tests.factories import PASSWORD

if TYPE_CHECKING:
    from pytest_django.live_server_helper import LiveServer

    from tests.browser.demo_books import DemoBooks

pytestmark = pytest.mark.django_db(transaction=True)

# A run is two report requests, then the comparison; the worker is shared with a busy
# machine's live server, sandbox and database.
RUN_TIMEOUT_MS = 60_000


def watch_for_errors(page: Page, live_server: LiveServer) -> list[str]:
    problems: list[str] = []
    page.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}")
            if r.url.startswith(live_server.url) and r.status >= 500
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    return problems


def run_now(page: Page) -> None:
    """Press "Run now" and wait for htmx to swap in the finished run (it polls the
    status every second until the worker is done)."""
    page.evaluate("window.__reconciliationMark = 'not reloaded'")
    page.get_by_role("button", name="Run now").click()
    finished = page.locator('[data-run-status="succeeded"], [data-run-status="failed"]')
    expect(finished).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(page.locator('[data-run-status="succeeded"]')).to_be_visible()
    # Polled in place: the page was never reloaded.
    assert page.evaluate("window.__reconciliationMark") == "not reloaded"


def test_staff_runs_a_reconciliation_from_the_dashboard_and_sees_the_result(
    page: Page, live_server: LiveServer, demo_books: DemoBooks
) -> None:
    problems = watch_for_errors(page, live_server)
    sign_in(page, demo_books.staff.email, PASSWORD)
    company = demo_books.companies[0]
    name = company.connection.company_name

    page.goto(live_server.url + reverse("dashboard"))
    check = page.locator('[data-tile="reconciliation"]')
    expect(check).to_contain_text("Reconciliation")
    screenshot(page, "reconciliation-staff-1-dashboard")
    check.click()
    expect(page).to_have_url(re.compile(r"/reconciliation/$"))
    overview = page.get_by_role("table", name="QuickBooks companies")
    expect(overview.locator("tbody tr")).to_have_count(len(demo_books.companies))
    expect(overview).to_contain_text("Never run")
    screenshot(page, "reconciliation-staff-2-overview")

    overview.get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    expect(page.locator('[data-run-status="never"]')).to_be_visible()
    run_now(page)
    screenshot(page, "reconciliation-staff-3-run")

    page.get_by_role("link", name="Show the result").click()
    result = page.locator("[data-agrees]").or_(page.get_by_role("table", name="Differences"))
    expect(result).to_be_visible()
    screenshot(page, "reconciliation-staff-4-result")

    # A mirror row corrupted behind the sync's back is a difference after the next run,
    # with our figure and QuickBooks' side by side.
    item = QBOItem.objects.filter(
        connection=company.connection, item_type="Inventory", qty_on_hand__gt=10
    ).first()
    assert item is not None and item.qty_on_hand is not None
    QBOItem.objects.filter(pk=item.pk).update(qty_on_hand=item.qty_on_hand - 7)
    run_now(page)
    page.get_by_role("link", name="Show the result").click()
    row = page.locator(f'[data-difference="stock:{item.qbo_id}:"]')
    expect(row).to_contain_text(item.name)
    expect(row).to_contain_text("−7")
    screenshot(page, "reconciliation-staff-5-difference")

    # Back on the overview, the company's run and its differences.
    page.get_by_role("link", name="← All companies").click()
    expect(overview.locator(f'[data-connection="{company.connection.pk}"]')).to_contain_text(
        "Succeeded"
    )
    assert not problems, problems


def test_a_partner_user_sees_only_its_own_company(
    page: Page, live_server: LiveServer, demo_books: DemoBooks
) -> None:
    problems = watch_for_errors(page, live_server)
    own, other = demo_books.companies[0], demo_books.companies[1]
    sign_in(page, own.user.email, PASSWORD)

    page.goto(live_server.url + reverse("reconciliation:index"))
    overview = page.get_by_role("table", name="QuickBooks companies")
    expect(overview.locator("tbody tr")).to_have_count(1)
    expect(overview).to_contain_text(own.connection.company_name)
    for company in demo_books.companies[1:]:
        expect(page.locator("main")).not_to_contain_text(company.connection.company_name)
    screenshot(page, "reconciliation-partner-1-overview")

    overview.get_by_role("link", name=own.connection.company_name).click()
    run_now(page)
    screenshot(page, "reconciliation-partner-2-run")

    for name in ("reconciliation:connection", "reconciliation:status"):
        response = page.goto(live_server.url + reverse(name, args=[other.connection.pk]))
        assert response is not None and response.status == 404, name
    assert not problems, problems
