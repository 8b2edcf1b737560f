"""The local demo's people: one list used by `demo_setup` and by the sign-in page."""

from __future__ import annotations

from .roles import Role

DEMO_PASSWORD = "unefemme-demo"

# The same three distributors qbo_sandbox seeds as QuickBooks companies.
DEMO_PARTNERS = [
    ("Bubbles & Brine Distributing", "bubbles-brine", "orders@bubbles-brine.test"),
    ("Côte Ouest Wine Co.", "cote-ouest", "compta@cote-ouest.test"),
    ("Harbor Point Beverage", "harbor-point", "ap@harbor-point.test"),
]

# (role, e-mail, partner slug or None)
DEMO_USERS: list[tuple[Role, str, str | None]] = [
    (Role.ADMIN, "admin@unefemme.test", None),
    (Role.STAFF, "staff@unefemme.test", None),
    *[(Role.PARTNER, f"{slug}@partner.test", slug) for _, slug, _ in DEMO_PARTNERS],
]
