from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from .access import user_has_role
from .demo import DEMO_PASSWORD, DEMO_USERS
from .roles import ADMINS, EVERYONE, UNE_FEMME, Role


@dataclass(frozen=True)
class Link:
    """A page in the navigation. ``roles`` are the roles its view admits (its
    ``@role_required``; tests/test_navigation.py holds the two equal): the navigation only
    keeps people from being shown links they cannot follow, the view enforces."""

    label: str
    url_name: str
    roles: tuple[Role, ...]


@dataclass(frozen=True)
class Menu:
    """A drop-down of pages. With twelve and more pages a flat row of links wrapped to two
    rows at 1280 px and was unusable on a phone; a few menus stay on one row."""

    label: str
    links: tuple[Link, ...]


NAVIGATION: tuple[Link | Menu, ...] = (
    Link("Dashboard", "dashboard", EVERYONE),
    Menu(
        "Stock",
        (
            Link("Discrepancies", "inventory:discrepancies", EVERYONE),
            Link("Depletion", "inventory:depletion", EVERYONE),
            Link("Sell-through", "inventory:sell_through", EVERYONE),
            Link("Accounts", "inventory:placements", EVERYONE),
            Link("Stock ledger", "inventory:stock_ledger", EVERYONE),
            Link("Catalog", "inventory:catalog", UNE_FEMME),
            Link("Warehouse feed", "inventory:warehouse_upload", ADMINS),
            Link("QuickBooks pushes", "inventory:push_jobs", EVERYONE),
        ),
    ),
    Menu(
        "Money",
        (
            Link("Receivables", "billing:receivables", EVERYONE),
            Link("Invoices", "billing:invoices", EVERYONE),
            Link("Payments", "billing:payments", EVERYONE),
            Link("Trends", "history:trends", EVERYONE),
            Link("Reconciliation", "reconciliation:index", EVERYONE),
            # Depletion allowances: the programs and what the books say they owe, and the
            # distributors' claims against them.
            Link("Allowance programs", "allowances:programs", EVERYONE),
            Link("Billback claims", "allowances:claims", EVERYONE),
        ),
    ),
    Menu(
        "Partners",
        (
            Link("Partners", "partners", EVERYONE),
            Link("People", "accounts:people", UNE_FEMME),
            # Beside the people: what the app e-mailed them (invitations included), and
            # what each person wants to be e-mailed about.
            Link("Sent e-mails", "notifications:sent", ADMINS),
            Link("Notifications", "notifications:preferences", EVERYONE),
            Link("Connections", "sync:connections", EVERYONE),
            Link("Mapping conflicts", "inventory:conflicts", ADMINS),
        ),
    ),
)


def navigation_links() -> Iterator[Link]:
    """Every page of the navigation, menus opened, in order."""
    for entry in NAVIGATION:
        yield from entry.links if isinstance(entry, Menu) else (entry,)


def navigation(request: HttpRequest) -> dict[str, Any]:
    # An error page can be rendered for a request refused before AuthenticationMiddleware
    # ran (a bad Host header is a 400 from CommonMiddleware): it has no user, and no links.
    user = getattr(request, "user", None)
    items: list[dict[str, Any]] = []
    for entry in NAVIGATION if user is not None else ():
        links = [
            {"label": link.label, "url": url, "active": _is_active(request, link.url_name)}
            for link in (entry.links if isinstance(entry, Menu) else (entry,))
            if user_has_role(user, link.roles) and (url := _url(link.url_name))
        ]
        if isinstance(entry, Menu) and len(links) > 1:
            active = any(link["active"] for link in links)
            items.append({"label": entry.label, "links": links, "active": active})
        else:
            # A menu the role sees one page of is that page's link: a drop-down of one is a
            # click for nothing (a partner user's "Partners" menu is only its connection).
            # A menu it sees nothing of is not shown.
            items.extend(links)
    return {
        "nav_items": items,
        "require_staff_mfa": settings.REQUIRE_STAFF_MFA,
        # The sign-in page lists the demo logins only in the local demo.
        "demo_logins": [(email, role.label) for role, email, _ in DEMO_USERS]
        if settings.DEMO
        else [],
        "demo_password": DEMO_PASSWORD,
    }


def _url(name: str) -> str | None:
    # A page's error response is rendered whatever URLconf answered it (a test's own, a
    # mounted app's): a link that URLconf lacks is left out rather than failing the page.
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def _is_active(request: HttpRequest, url_name: str) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and match.view_name == url_name
