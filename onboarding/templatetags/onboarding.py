"""``{% pending_invitations %}``: the pending invitations and the "Invite someone" button,
for the People page (accounts/templates/accounts/_invitations_slot.html).

A template tag rather than a context variable because accounts sits below onboarding
(tests/test_architecture.py): the People view cannot import this app, its template can
load a tag library by name.
"""

from __future__ import annotations

from typing import Any

from django import template

from accounts.roles import UNE_FEMME
from onboarding.selectors import pending_invitations as pending

register = template.Library()


@register.inclusion_tag("onboarding/_pending.html", takes_context=True)
def pending_invitations(context: template.Context) -> dict[str, Any]:
    user = context["user"]
    # The People page is Une Femme's; should the tag land on another page, a partner user
    # still sees no one's invitations.
    rows = list(pending()) if user.is_authenticated and user.role in UNE_FEMME else []
    return {"user": user, "invitations": rows}
