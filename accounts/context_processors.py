from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from .access import user_has_role
from .demo import DEMO_PASSWORD, DEMO_USERS
from .roles import ADMINS, EVERYONE, UNE_FEMME

# (label, url name, roles that see it). The views enforce the same roles; this only
# keeps people from being shown links they cannot follow.
NAVIGATION = [
    ("Dashboard", "dashboard", EVERYONE),
    ("Discrepancies", "inventory:discrepancies", EVERYONE),
    ("Depletion", "inventory:depletion", EVERYONE),
    ("Sell-through", "inventory:sell_through", EVERYONE),
    ("Invoices", "billing:invoices", EVERYONE),
    ("Payments", "billing:payments", EVERYONE),
    ("Connections", "sync:connections", EVERYONE),
    ("Partners", "partners", EVERYONE),
    ("Catalog", "inventory:catalog", UNE_FEMME),
    ("Warehouse feed", "inventory:warehouse_upload", ADMINS),
    ("Mapping conflicts", "inventory:conflicts", ADMINS),
    ("QuickBooks pushes", "inventory:push_jobs", EVERYONE),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    # An error page can be rendered for a request refused before AuthenticationMiddleware
    # ran (a bad Host header is a 400 from CommonMiddleware): it has no user, and no links.
    user = getattr(request, "user", None)
    items = [
        {"label": label, "url": url, "active": _is_active(request, name)}
        for label, name, roles in NAVIGATION
        if user is not None and user_has_role(user, roles) and (url := _url(name))
    ]
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
