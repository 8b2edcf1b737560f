"""The stock ledger in real Chromium, against qbo_sandbox's demo companies as the real
import brought them in (tests/browser/demo_books.py).

Staff and a partner user each sign in through the real form, reach the ledger by clicking
a row of the pages that lead there (sell-through and discrepancies), narrow it with a
filter (htmx: the URL is pushed, the document is not reloaded), and open a SKU's documents.
Full-page screenshots go to test-artifacts/screenshots/ledger-<role>-<step>.png. The partner
user sees only its own partner, on the ledger, in its links and on another partner's
drill-down (a 404). The figures themselves are checked against QuickBooks' reports in
tests/inventory/reports/test_stock_ledger.py.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.factories import PASSWORD

if TYPE_CHECKING:
    from pytest_django.live_server_helper import LiveServer

    from accounts.models import User
    from tests.browser.demo_books import DemoBooks

pytestmark = pytest.mark.django_db(transaction=True)

PARTNER_SLUG = "bubbles-brine"
LEDGER_TABLE = "Stock ledger by partner and SKU"
LINES_TABLE = "Document lines"
DRILL_DOWN = re.compile(r"/inventory/ledger/(\d+)/([^/?]+)/")


def headers(table: Locator) -> list[str]:
    texts: list[str] = table.evaluate(
        "t => [...t.querySelectorAll('thead th')]"
        ".map(th => th.innerText.replace(/[▲▼]/g, '').trim())"
    )
    return texts


def drill_down_partners(table: Locator) -> set[int]:
    """The partner ids of every drill-down link in the table."""
    hrefs = [a.get_attribute("href") or "" for a in table.locator("tbody a").all()]
    found = {int(m.group(1)) for h in hrefs if (m := DRILL_DOWN.search(h))}
    return found


def mark(page: Page) -> None:
    # Set on the document: an htmx swap keeps it, a full reload loses it.
    page.evaluate("window.__ledgerMark = 'not reloaded'")


def not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__ledgerMark") == "not reloaded"


def walk_ledger(page: Page, live_server: LiveServer, user: User, role: str, own: set[int]) -> None:
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
    sign_in(page, user.email, PASSWORD)

    # From sell-through: a row's SKU opens that partner × SKU's ledger for the row's month.
    page.goto(live_server.url + reverse("inventory:sell_through"))
    sell_through = page.get_by_role(
        "table", name="Sell-in and sell-through by partner, SKU and period", exact=True
    )
    first = sell_through.locator("tbody a").first
    code = first.inner_text().strip()
    first.click()
    expect(page).to_have_url(DRILL_DOWN)
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Stock ledger: {code}")
    lines = page.get_by_role("table", name=LINES_TABLE, exact=True)
    expect(lines).to_be_visible()
    assert int(DRILL_DOWN.search(page.url).group(1)) in own  # type: ignore[union-attr]
    screenshot(page, f"ledger-{role}-from-sell-through")

    # Back to the whole ledger, narrowed to that SKU and month.
    page.get_by_role("link", name="← Stock ledger").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Stock ledger")
    table = page.get_by_role("table", name=LEDGER_TABLE, exact=True)
    expect(table.locator("tbody tr").first).to_be_visible()
    if role == "partner":
        assert "Partner" not in headers(table)
        expect(page.get_by_label("Partner", exact=True)).to_have_count(0)
    assert drill_down_partners(table) <= own

    # A filter, through htmx: every SKU from three months back to today.
    mark(page)
    page.get_by_label("SKU", exact=True).select_option("")
    start = timezone.localdate() - timedelta(days=90)
    page.get_by_label("From", exact=True).fill(f"{start:%Y-%m-%d}")
    page.get_by_label("To", exact=True).fill(f"{timezone.localdate():%Y-%m-%d}")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(rf"[?&]start={start:%Y-%m-%d}(&|$)"))
    expect(page.locator(".stock-ledger-range")).to_contain_text(
        f"{start:%b} {start.day}, {start.year}"
    )
    not_reloaded(page)
    rows = table.locator("tbody tr")
    assert rows.count() >= 1
    partners = drill_down_partners(table)
    assert partners and partners <= own, partners
    screenshot(page, f"ledger-{role}-filtered")

    # A drill-down from the ledger: the documents of the period and after it.
    link = table.locator("tbody a").first
    code = link.inner_text().strip()
    link.click()
    expect(page).to_have_url(DRILL_DOWN)
    expect(page.get_by_role("heading", level=1)).to_contain_text(code)
    lines = page.get_by_role("table", name=LINES_TABLE, exact=True)
    expect(lines.locator("tbody tr").first).to_be_visible()
    expect(page.get_by_role("table", name=f"The ledger of {code}")).to_contain_text(
        "Expected closing"
    )
    screenshot(page, f"ledger-{role}-drill-down")

    # From the discrepancies page: a mapped row's SKU opens its ledger too.
    page.goto(live_server.url + reverse("inventory:discrepancies"))
    discrepancies = page.get_by_role("table", name="Stock discrepancies", exact=True)
    assert drill_down_partners(discrepancies) <= own
    discrepancies.locator("tbody a[href^='/inventory/ledger/']").first.click()
    expect(page).to_have_url(DRILL_DOWN)
    expect(page.get_by_role("table", name=LINES_TABLE, exact=True)).to_be_visible()
    screenshot(page, f"ledger-{role}-from-discrepancies")

    assert not problems, problems


def test_staff_walk_the_ledger_of_every_partner(
    page: Page, demo_books: DemoBooks, live_server: LiveServer
) -> None:
    own = {company.partner.pk for company in demo_books.companies}
    walk_ledger(page, live_server, demo_books.staff, "staff", own)


def test_a_partner_user_walks_only_its_own_ledger(
    page: Page, demo_books: DemoBooks, live_server: LiveServer
) -> None:
    company = demo_books.company(PARTNER_SLUG)
    walk_ledger(page, live_server, company.user, "partner", {company.partner.pk})
    # Another partner's drill-down, even by its address: not there.
    other = next(c for c in demo_books.companies if c.partner != company.partner)
    code = other.connection.sku_mappings.values_list("catalog_sku__code", flat=True).first()
    response = page.goto(
        live_server.url + reverse("inventory:stock_ledger_row", args=[other.partner.pk, code])
    )
    assert response is not None and response.status == 404
    assert other.partner.name not in page.content()
