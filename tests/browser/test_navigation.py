"""The main navigation in real Chromium, for every role, at 1280 × 800 and at 390 × 844.

With a dozen and more pages a flat row of links wrapped to two rows at 1280 px and was
unusable on a phone (issue 16); the pages are now in a few menus (``<details>`` drop-downs,
accounts/context_processors.py). Here, for a partner user, staff and an admin:

- the menus and links on the page are ``NAVIGATION`` for the role, worked out here on its
  own: a page the role may not open is not shown, nor a page whose URL name does not
  reverse (yet), nor a menu left empty; a menu left with one page is that page's link;
- wide, the top-level items share one row, and who is signed in is on it too (also at
  1024 px; at 768 and 900 px, a tablet, "Menu" as on a phone);
- nothing scrolls sideways: not the navigation, not the page (``scrollWidth`` against
  ``clientWidth``), with a menu open or not;
- every menu opens (by mouse; one also by keyboard, and Escape closes it) and each of its
  links is visible and clickable; each link is followed, and marks its page
  (``aria-current="page"``) and its menu (``aria-current="true"``);
- on a phone, "Menu" shows every link and who is signed in, stacked, within the screen.

No QuickBooks is needed: the pages open on an empty database. Full-page screenshots go to
test-artifacts/screenshots/nav-<role>-<width>-<state>.png.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import Locator, Page, Response, ViewportSize, expect

from accounts.context_processors import NAVIGATION, Menu
from accounts.models import User
from accounts.roles import Role
from tests.browser.conftest import screenshot, sign_in
from tests.factories import PASSWORD, PartnerFactory, UserFactory, partner_user

if TYPE_CHECKING:
    from pytest_django.live_server_helper import LiveServer

pytestmark = pytest.mark.django_db(transaction=True)

ROLES = {"partner": Role.PARTNER, "staff": Role.STAFF, "admin": Role.ADMIN}
WIDE: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


# --- what the role must be shown -------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """A top-level item: a link (``links`` empty) or a menu of links."""

    label: str
    href: str | None
    links: tuple[tuple[str, str], ...] = ()


def url_or_none(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        # A page another change has not landed yet: the navigation leaves it out.
        return None


def expected_for(role: Role) -> list[Shown]:
    shown: list[Shown] = []
    for entry in NAVIGATION:
        links = entry.links if isinstance(entry, Menu) else (entry,)
        visible = [(link.label, url) for link in links if role in link.roles
                   if (url := url_or_none(link.url_name))]  # fmt: skip
        if isinstance(entry, Menu) and len(visible) > 1:
            shown.append(Shown(entry.label, None, tuple(visible)))
        else:
            shown.extend(Shown(label, url) for label, url in visible)
    return shown


def all_links(shown: list[Shown]) -> list[tuple[str, str]]:
    return [pair for item in shown for pair in (item.links or ((item.label, item.href or ""),))]


# --- reading the page ------------------------------------------------------------------------


def nav_of(page: Page) -> Locator:
    # By its markup, not its role: on a phone it is inside the closed "Menu", out of the
    # accessibility tree until opened.
    return page.locator('nav[aria-label="Main"]')


def read_navigation(page: Page) -> list[Shown]:
    """The top-level items as the document has them, whether on screen or not."""
    items: list[dict[str, object]] = nav_of(page).evaluate(
        """nav => [...nav.querySelector('ul').children].map(li => {
            const summary = li.querySelector(':scope > details > summary');
            const pairs = [...li.querySelectorAll('a')]
                .map(a => [a.textContent.trim(), a.getAttribute('href')]);
            return summary
                ? {label: summary.textContent.trim(), href: null, links: pairs}
                : {label: pairs[0][0], href: pairs[0][1], links: []};
        })"""
    )
    return [
        Shown(str(i["label"]), i["href"] and str(i["href"]),  # type: ignore[arg-type]
              tuple((str(a), str(b)) for a, b in i["links"]))  # type: ignore[attr-defined]
        for i in items
    ]  # fmt: skip


# The elements whose right edge is past the window's (the first few), to say what to fix.
_TOO_WIDE = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.checkVisibility()
                 && e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
    .slice(0, 5)
    .map(e => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}.${[...e.classList].join('.')}`
              + ` (${Math.round(e.getBoundingClientRect().right)} px)`)"""


def no_sideways_scroll(page: Page, where: str) -> None:
    """Neither the navigation nor the page is wider than the window."""
    widths = page.evaluate(
        """() => {
            const nav = document.querySelector('nav[aria-label="Main"]');
            const root = document.documentElement;
            // In the closed "Menu" of a phone nothing of it is on screen to scroll.
            return {nav: nav.checkVisibility() ? [nav.scrollWidth, nav.clientWidth] : [0, 0],
                    page: [root.scrollWidth, root.clientWidth]};
        }"""
    )
    for part, (scroll, client) in widths.items():
        assert scroll <= client, (
            f"{where}: the {part} scrolls sideways ({scroll} > {client} px);"
            f" too wide: {page.evaluate(_TOO_WIDE)}"
        )


def within_width(locator: Locator, width: int, what: str) -> None:
    box = locator.bounding_box()
    assert box is not None, f"{what} is not laid out"
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, f"{what}: {box}"


def menu(page: Page, label: str) -> Locator:
    """A top-level menu's <details>, by the name on its button."""
    return (
        nav_of(page)
        .locator("li.nav-menu > details")
        .filter(has=page.locator(f"summary:text-is({label!r})"))
    )


def watch(page: Page, origin: str) -> list[str]:
    problems: list[str] = []

    def on_response(response: Response) -> None:
        # What the app serves: pages, htmx requests, scripts and styles (a browser asks for
        # /favicon.ico on its own; the app has none).
        kind = response.request.resource_type
        if (response.url.startswith(origin) and response.status >= 400
                and kind in ("document", "xhr", "fetch", "script", "stylesheet")):  # fmt: skip
            problems.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", on_response)
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    return problems


# --- the walks -------------------------------------------------------------------------------


def user_for(role: str) -> User:
    if role == "partner":
        partner = PartnerFactory(name="Bubbles & Brine Distributing Co.", slug="bubbles-brine")
        return partner_user(partner, email="purchasing.manager@bubbles-brine.test")
    # Long addresses on purpose: who is signed in must fit beside the menus too.
    emails = {"staff": "finance.operations@unefemme.test", "admin": "administrator@unefemme.test"}
    return UserFactory(email=emails[role], role=ROLES[role])


def check_wide(page: Page, role: str, expected: list[Shown], origin: str) -> None:
    nav = nav_of(page)
    expect(page.locator(".topbar-toggle")).to_be_hidden()
    tops = page.locator("nav[aria-label=Main] .nav-items > li").evaluate_all(
        "lis => lis.map(li => Math.round(li.getBoundingClientRect().top))"
    )
    assert len(tops) == len(expected) and len(set(tops)) == 1, f"not on one row: {tops}"
    # Who is signed in sits on the same row, inside the window.
    who = page.locator(".who")
    expect(who).to_be_visible()
    header = page.get_by_role("banner").bounding_box()
    who_box = who.bounding_box()
    assert header is not None and who_box is not None
    assert who_box["y"] < tops[0] + 40 and header["height"] < 80, (who_box, header, tops)
    within_width(page.get_by_role("button", name="Sign out"), WIDE["width"], "Sign out")
    no_sideways_scroll(page, f"{role} at 1280")
    screenshot(page, f"nav-{role}-1280-closed")

    for item in expected:
        if not item.links:
            continue
        details = menu(page, item.label)
        summary = details.locator("summary")
        # Closed, its links are in the document but not on screen.
        expect(details.get_by_role("link", include_hidden=True)).to_have_count(len(item.links))
        expect(details.get_by_role("link")).to_have_count(0)
        summary.click()
        expect(details).to_have_attribute("open", "")
        for label, _ in item.links:
            link = details.get_by_role("link", name=label, exact=True)
            expect(link).to_be_visible()
            within_width(link, WIDE["width"], f"{item.label} › {label}")
            link.click(trial=True)  # visible, enabled, not covered by anything
        # One menu open at a time: the others are closed.
        expect(nav.locator("li.nav-menu > details[open]")).to_have_count(1)
        no_sideways_scroll(page, f"{role} at 1280, {item.label} open")
        screenshot(page, f"nav-{role}-1280-{item.label.lower()}")
        # A click elsewhere closes it (static/js/nav.js).
        page.locator("main h1").click()
        expect(details).not_to_have_attribute("open", "")

    # The keyboard: a menu's button opens it with Enter, Tab reaches its first page, Escape
    # closes it and gives the focus back to the button.
    first = next(item for item in expected if item.links)
    summary = menu(page, first.label).locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(menu(page, first.label)).to_have_attribute("open", "")
    page.keyboard.press("Tab")
    expect(nav.get_by_role("link", name=first.links[0][0], exact=True)).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu(page, first.label)).not_to_have_attribute("open", "")
    expect(summary).to_be_focused()

    # Every link followed: its page opens, and it and its menu say they are current.
    for item in expected:
        for label, href in item.links or ((item.label, item.href or ""),):
            if item.links:
                menu(page, item.label).locator("summary").click()
            nav.get_by_role("link", name=label, exact=True).click()
            expect(page).to_have_url(origin + href)
            followed = nav.get_by_role("link", name=label, exact=True, include_hidden=True)
            expect(followed).to_have_attribute("aria-current", "page")
            current = nav.locator("summary[aria-current=true]")
            if item.links:
                expect(current).to_have_text(item.label)
            else:
                expect(current).to_have_count(0)
            no_sideways_scroll(page, f"{role} at 1280 on {href}")

    # Between a phone and a desk nothing scrolls sideways either: a tablet gets "Menu" (who
    # is signed in would be squeezed beside the menus), a small laptop the one row.
    page.goto(reverse("dashboard"))
    for width in (768, 900, 1024):
        page.set_viewport_size({"width": width, "height": 800})
        toggle = page.locator(".topbar-toggle")
        if width < 960:
            expect(toggle).to_be_visible()
            toggle.click()
        else:
            expect(toggle).to_be_hidden()
            tops = page.locator("nav[aria-label=Main] .nav-items > li").evaluate_all(
                "lis => lis.map(li => Math.round(li.getBoundingClientRect().top))"
            )
            assert len(set(tops)) == 1, f"{role} at {width}: not on one row: {tops}"
        within_width(page.get_by_role("button", name="Sign out"), width, f"Sign out at {width}")
        no_sideways_scroll(page, f"{role} at {width}")
        screenshot(page, f"nav-{role}-{width}")
        if width < 960:
            toggle.click()


def check_phone(page: Page, role: str, expected: list[Shown], origin: str) -> None:
    nav = nav_of(page)
    toggle = page.locator(".topbar-toggle")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_text("Menu")
    # Closed, no page's link is on screen.
    for label, _ in all_links(expected):
        expect(nav.get_by_role("link", name=label, exact=True, include_hidden=True)).to_be_hidden()
    within_width(toggle, PHONE["width"], "Menu")
    no_sideways_scroll(page, f"{role} at 390")
    screenshot(page, f"nav-{role}-390-closed")

    toggle.click()
    expect(page.locator(".topbar-menu")).to_have_attribute("open", "")
    for label, _ in all_links(expected):
        link = nav.get_by_role("link", name=label, exact=True)
        expect(link).to_be_visible()
        within_width(link, PHONE["width"], label)
        link.click(trial=True)
    # Stacked: one link under another, never two side by side.
    lefts = nav.get_by_role("link").evaluate_all(
        "links => links.map(a => Math.round(a.getBoundingClientRect().top))"
    )
    assert lefts == sorted(lefts) and len(set(lefts)) == len(lefts), lefts
    # Who is signed in, and signing out, in the opened menu and within the screen.
    who = page.locator(".who")
    expect(who).to_be_visible()
    within_width(who, PHONE["width"], "who is signed in")
    within_width(page.get_by_role("button", name="Sign out"), PHONE["width"], "Sign out")
    no_sideways_scroll(page, f"{role} at 390, Menu open")
    screenshot(page, f"nav-{role}-390-open")
    # Escape closes it again.
    nav.get_by_role("link").first.focus()
    page.keyboard.press("Escape")
    expect(page.locator(".topbar-menu")).not_to_have_attribute("open", "")
    expect(toggle).to_be_focused()

    for label, href in all_links(expected):
        toggle.click()
        nav.get_by_role("link", name=label, exact=True).click()
        expect(page).to_have_url(origin + href)
        no_sideways_scroll(page, f"{role} at 390 on {href}")


@pytest.mark.parametrize("size", [WIDE, PHONE], ids=["1280", "390"])
@pytest.mark.parametrize("role", list(ROLES))
def test_the_navigation_fits_and_every_link_is_reachable(
    page: Page, live_server: LiveServer, role: str, size: ViewportSize
) -> None:
    user = user_for(role)
    problems = watch(page, live_server.url)
    page.set_viewport_size(size)
    sign_in(page, user.email, PASSWORD)
    page.goto(reverse("dashboard"))

    expected = expected_for(ROLES[role])
    assert read_navigation(page) == expected
    if role == "partner":
        # What a partner user may not open is not offered.
        offered = {label for label, _ in all_links(expected)}
        assert not {"Catalog", "Warehouse feed", "Mapping conflicts"} & offered
    if size is WIDE:
        check_wide(page, role, expected, live_server.url)
    else:
        check_phone(page, role, expected, live_server.url)
    assert not problems, problems
