"""Onboarding a new distributor end to end in real Chromium, with no Django admin: an
admin adds the partner and invites the distributor's user from the app's own pages; the
invitee opens the link from the e-mail actually sent, sets a password, lands on the
first-run page, connects QuickBooks from its first step through qbo_sandbox's consent
page and watches the import finish.

The live server runs in this process, so the message it sends is in Django's locmem
outbox (``mail.outbox``), which the test reads as the invitee's mailbox.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect

from accounts.demo import DEMO_PARTNERS
from accounts.models import Partner, User
from accounts.roles import Role
from onboarding.models import Invitation
from sync.models import QBOConnection
from tests.browser.conftest import LiveApp, screenshot, sign_in, wait_for
from tests.browser.test_connect_quickbooks import IMPORT_TIMEOUT_MS, card_of, latest_run_shown
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

INVITEE = "buyer@harbor-point.test"
INVITEE_PASSWORD = "harbor point opens its books 2026"
LINK = re.compile(r"https?://[^\s\"<>]+/invite/[^\s\"<>/]+/")


def invitation_link_sent_to(address: str) -> str:
    """The link in the last message to ``address``, as the invitee's mail program shows it."""
    messages = wait_for(
        lambda: [m for m in mail.outbox if address in m.to],
        timeout=10,
        what=f"the invitation e-mail to {address}",
    )
    [link] = set(LINK.findall(messages[-1].body))
    return str(link)


def open_from_menu(page: Page, menu: str, label: str) -> None:
    """Open a page from a menu of the navigation (accounts/context_processors.py)."""
    nav = page.get_by_role("navigation", name="Main")
    nav.locator(f"summary:text-is({menu!r})").click()
    nav.get_by_role("link", name=label, exact=True).click()


def test_an_admin_invites_a_distributor_who_connects_quickbooks(
    page: Page,
    browser: Browser,
    browser_context_args: dict[str, Any],
    live_app: LiveApp,
) -> None:
    # A new distributor: qbo_sandbox's third demo company bears its name. Only an admin
    # exists so far.
    name, slug, _contact = DEMO_PARTNERS[2]
    admin = UserFactory(role=Role.ADMIN, email="ada@unefemmewines.test")

    # 1. The admin adds the partner on the Partners page.
    sign_in(page, admin.email, PASSWORD)
    open_from_menu(page, "Partners", "Partners")
    page.get_by_role("link", name="New partner").click()
    expect(page.get_by_role("heading", name="New partner", level=1)).to_be_visible()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Short name (slug)").fill(slug)
    page.get_by_role("button", name="Add partner").click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    screenshot(page, "onboarding-0-partner-added")
    partner = Partner.objects.get(slug=slug)

    # 2. Then invites the distributor's buyer from the People page.
    open_from_menu(page, "Partners", "People")
    page.get_by_role("link", name="Invite someone").click()
    expect(page.get_by_role("heading", name="Invite someone", level=1)).to_be_visible()
    page.get_by_label("E-mail").fill(INVITEE)
    page.get_by_label("Role").select_option(label="Partner user")
    page.get_by_label("Partner", exact=True).select_option(label=name)
    screenshot(page, "onboarding-1-invite")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("heading", name="Invitations", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has_text=INVITEE)
    expect(row).to_contain_text("Pending")
    expect(row).to_contain_text(name)
    screenshot(page, "onboarding-2-pending")
    invitation = Invitation.objects.get(email=INVITEE)
    assert (invitation.role, invitation.partner_id, invitation.invited_by_id) == (
        Role.PARTNER, partner.pk, admin.pk,
    )  # fmt: skip

    # 3. The invitee, in a browser of their own, opens the link from the e-mail.
    link = invitation_link_sent_to(INVITEE)
    assert link.startswith(live_app.url + "/invite/")
    invitee_context = browser.new_context(**browser_context_args)
    try:
        invitee = invitee_context.new_page()
        invitee.goto(link)
        expect(invitee.get_by_role("heading", name="Welcome to unefemme")).to_be_visible()
        expect(invitee.get_by_role("main")).to_contain_text(f"Partner user for {name}")
        expect(invitee.get_by_role("main")).to_contain_text(admin.email)
        invitee.get_by_label("Your name").fill("Harbor Buyer")
        invitee.get_by_label("Password", exact=True).fill(INVITEE_PASSWORD)
        invitee.get_by_label("Password again").fill(INVITEE_PASSWORD)
        screenshot(invitee, "onboarding-3-set-password")
        invitee.get_by_role("button", name="Set password and sign in").click()

        # 4. Signed in, on the first-run page: three steps, none done yet.
        expect(invitee).to_have_url(live_app.url + reverse("onboarding:welcome"))
        expect(invitee.get_by_role("banner")).to_contain_text(INVITEE)
        steps = invitee.locator("[data-step]")
        expect(steps).to_have_count(3)
        for step in ("connect", "mapping", "count"):
            expect(invitee.locator(f'[data-step="{step}"]')).to_have_attribute("data-done", "no")
        screenshot(invitee, "onboarding-4-welcome")
        user = User.objects.get(email=INVITEE)
        assert (user.role, user.partner_id) == (Role.PARTNER, partner.pk)

        # 5. The first step's button: QuickBooks' (qbo_sandbox's) consent page.
        invitee.get_by_role("button", name="Connect to QuickBooks").click()
        expect(invitee).to_have_url(
            re.compile("^" + re.escape(live_app.sandbox.base_url + "/connect/oauth2"))
        )
        choice = invitee.get_by_label(name)
        choice.check()
        screenshot(invitee, "onboarding-5-consent")
        invitee.get_by_role("button", name="Connect", exact=True).click()

        # 6. Back on Connections, the import runs to its end on the page itself.
        expect(invitee).to_have_url(live_app.url + reverse("sync:connections"))
        card = card_of(invitee, name)
        expect(card).to_be_visible()
        expect(card.get_by_role("status")).to_have_count(0, timeout=IMPORT_TIMEOUT_MS)
        expect(card.get_by_role("table", name="Recent syncs")).to_be_visible()
        run = latest_run_shown(card)
        assert run["Kind"] == "Initial import" and run["Result"].startswith("Succeeded"), run
        screenshot(invitee, "onboarding-6-imported")
        connection = QBOConnection.objects.get(partner=partner)
        assert connection.connected_by == user
        assert connection.status == QBOConnection.Status.CONNECTED

        # 7. The first-run page now marks the first step done.
        invitee.goto(reverse("onboarding:welcome"))
        expect(invitee.locator('[data-step="connect"]')).to_have_attribute("data-done", "yes")
        screenshot(invitee, "onboarding-7-welcome-connected")
    finally:
        invitee_context.close()

    invitation.refresh_from_db()
    assert invitation.accepted_user == user and invitation.accepted_at is not None
