"""The pages finance opens first, for each role, at 1280 × 800 and on a phone (390 × 844), in
real Chromium against qbo_sandbox's demo companies as the real import brought them in
(tests/browser/demo_books.py): the dashboard, the Partners page (the scorecard), receivables
by customer, and from it the first customer's page and its statement. Each is reached
through the navigation or a link on the page before, as people reach them.

On every page: no response of the app's ≥ 400 (a page, an htmx request, a script or a
style), no script error, nothing of a partner the user may not see, and nothing wider than
the window: neither the navigation nor the page scrolls sideways. Full-page screenshots go
to test-artifacts/screenshots/finance-<role>-<width>-<page>.png. The figures themselves are
checked elsewhere (tests/billing/, tests/dashboard/).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import Locator, Page, Response, ViewportSize, expect

from accounts.context_processors import navigation_links
from accounts.roles import Role
from tests.browser.conftest import screenshot, sign_in
from tests.factories import PASSWORD

if TYPE_CHECKING:
    from pytest_django.live_server_helper import LiveServer

    from accounts.models import User
    from tests.browser.demo_books import Company, DemoBooks

pytestmark = pytest.mark.django_db(transaction=True)

ROLES = {"partner": Role.PARTNER, "staff": Role.STAFF, "admin": Role.ADMIN}
SIZES: dict[str, ViewportSize] = {
    "1280": {"width": 1280, "height": 800},
    "390": {"width": 390, "height": 844},
}
PARTNER_SLUG = "bubbles-brine"
# The pages this walk needs, with arguments of the right shape; another change builds them.
# Until their URL names reverse the walk cannot run, and says so.
BILLING_PAGES: dict[str, list[object]] = {
    "billing:receivables": [],
    "billing:receivables_customer": [1, "1"],
    "billing:statement": [1, "1"],
}
CUSTOMER_PAGE = re.compile(r"/billing/receivables/\d+/[^/]+/$")


def missing(pages: dict[str, list[object]]) -> list[str]:
    absent = []
    for name, args in pages.items():
        try:
            reverse(name, args=args)
        except NoReverseMatch:
            absent.append(name)
    return absent


class FinanceWalk:
    def __init__(
        self, page: Page, origin: str, role: str, user: User, hidden: list[Company]
    ) -> None:
        self.page, self.origin, self.role, self.user = page, origin, role, user
        self.hidden = hidden
        self.problems: list[str] = []
        self.shots: list[str] = []
        self.too_wide: list[str] = []
        page.on("response", self._on_response)
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))

    def _on_response(self, response: Response) -> None:
        # What the app serves (a browser asks for /favicon.ico on its own; the app has none).
        kind = response.request.resource_type
        if (response.url.startswith(self.origin) and response.status >= 400
                and kind in ("document", "xhr", "fetch", "script", "stylesheet")):  # fmt: skip
            self.problems.append(f"{response.status} {response.request.method} {response.url}")

    @property
    def nav(self) -> Locator:
        return self.page.locator('nav[aria-label="Main"]')

    def follow(self, width: str, label: str, url_name: str) -> None:
        """Follow the navigation's link to a page: on a phone through "Menu", wide through
        the link's menu if it is in one."""
        if width == "390":
            self.page.locator(".topbar-toggle").click()
        else:
            menu = self.nav.locator("li.nav-menu > details").filter(
                has=self.page.get_by_role("link", name=label, exact=True, include_hidden=True)
            )
            if menu.count():
                menu.locator("summary").click()
        self.nav.get_by_role("link", name=label, exact=True).click()
        expect(self.page).to_have_url(self.origin + reverse(url_name))

    def arrive(
        self, width: str, name: str, heading: str | re.Pattern[str], *, cells_in_view: bool = False
    ) -> None:
        """On a page just opened: its heading, nothing wrong, nothing of a partner the user
        may not see, nothing wider than the window; with ``cells_in_view``, every table cell
        inside the window too (an amount is read, not scrolled to inside its box); then its
        screenshot."""
        expect(self.page.get_by_role("heading", level=1)).to_have_text(heading)
        self.page.wait_for_load_state("load")
        assert not self.problems, f"{self.page.url}: {self.problems}"
        text = self.page.locator("body").text_content() or ""
        leaked = [c.name for c in self.hidden if c.name in text]
        assert not leaked, f"{self.role} sees {leaked} on {self.page.url}"
        widths = self.page.evaluate(
            """() => {
                const nav = document.querySelector('nav[aria-label="Main"]');
                const root = document.documentElement;
                const too = [...document.querySelectorAll('body *')]
                    .filter(e => e.checkVisibility()
                        && e.getBoundingClientRect().right > root.clientWidth + 0.5)
                    .slice(0, 5).map(e => e.tagName.toLowerCase()
                        + (e.id ? '#' + e.id : '') + [...e.classList].map(c => '.' + c).join(''));
                return {nav: nav.checkVisibility() ? [nav.scrollWidth, nav.clientWidth] : [0, 0],
                        page: [root.scrollWidth, root.clientWidth], too};
            }"""
        )
        # Recorded, not failed at once: the walk goes on, to name every page that is too wide.
        for part in ("nav", "page"):
            scroll, client = widths[part]
            if scroll > client:
                self.too_wide.append(
                    f"at {width} px on {self.page.url}: the {part} scrolls sideways"
                    f" ({scroll} > {client} px); too wide: {widths['too']}"
                )
        if cells_in_view:
            outside = self.page.evaluate(
                """() => [...document.querySelectorAll('main table td, main table th')]
                    .filter(e => e.checkVisibility()
                        && e.getBoundingClientRect().right
                            > document.documentElement.clientWidth + 0.5)
                    .slice(0, 5).map(e => e.textContent.trim())"""
            )
            if outside:
                self.too_wide.append(
                    f"at {width} px on {self.page.url}: table cells outside the window: {outside}"
                )
        shot = f"finance-{self.role}-{width}-{name}"
        screenshot(self.page, shot)
        self.shots.append(shot)


def walk_at(walk: FinanceWalk, width: str) -> None:
    page = walk.page
    page.set_viewport_size(SIZES[width])
    page.goto(reverse("dashboard"))
    walk.arrive(width, "dashboard", "Dashboard")

    # The Partners page (the scorecard), for a role the navigation offers it to.
    partners = next((link for link in navigation_links() if link.label == "Partners"), None)
    if partners and ROLES[walk.role] in partners.roles and not missing({partners.url_name: []}):
        walk.follow(width, "Partners", partners.url_name)
        walk.arrive(width, "partners", "Partners")

    walk.follow(width, "Receivables", "billing:receivables")
    walk.arrive(width, "receivables", "Receivables by customer")

    # The first customer's page, from its row; its statement from there.
    first = page.locator("#receivables-table tbody a[href*='/billing/receivables/']").first
    customer = first.inner_text().strip()
    first.click()
    expect(page).to_have_url(CUSTOMER_PAGE)
    # A customer's account and statement are read on a phone too (a rep at the customer's
    # door): their tables become cards, every amount in view.
    walk.arrive(width, "customer", customer, cells_in_view=True)
    page.get_by_role("link", name="Statement", exact=True).click()
    expect(page).to_have_url(re.compile(r"/statement/"))
    walk.arrive(width, "statement", "Statement", cells_in_view=True)
    expect(page.locator(".statement")).to_contain_text(customer)


@pytest.mark.parametrize("role", list(ROLES))
def test_finance_pages_at_desk_and_phone_widths(
    page: Page, demo_books: DemoBooks, live_server: LiveServer, role: str
) -> None:
    absent = missing(BILLING_PAGES)
    if absent:
        pytest.skip(f"the receivables pages are not in the URLconf yet: {absent}")
    if role == "partner":
        user = demo_books.company(PARTNER_SLUG).user
    else:
        user = demo_books.staff if role == "staff" else demo_books.admin
    hidden = [
        c for c in demo_books.companies if not (user.sees_all_partners or c.partner == user.partner)
    ]
    walk = FinanceWalk(page, live_server.url, role, user, hidden)
    sign_in(page, user.email, PASSWORD)
    for width in SIZES:
        walk_at(walk, width)
    assert not walk.problems, walk.problems
    assert not walk.too_wide, "\n".join(walk.too_wide)
