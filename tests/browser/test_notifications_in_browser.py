"""Notifications in real Chromium, at a phone's width: an admin reads on "Sent e-mails"
the e-mail the scan sent about a connection that needs reconnecting, follows its link to
the connection; a partner user turns that kind of e-mail off on their own settings page.

The recording backend is put back in front of Django's locmem outbox (the test set-up
replaces EMAIL_BACKEND), as production has it in front of SMTP.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from accounts.roles import Role
from notifications.models import Delivery, Kind
from notifications.selectors import preferences_for
from notifications.services import notifications_scan
from sync.models import QBOConnection
from tests.billing.factories import ConnectionFactory
from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_navigation import no_sideways_scroll
from tests.factories import PASSWORD, PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_admin_reads_a_notification_and_a_partner_user_turns_it_off(
    page: Page, settings: Any, live_server: Any
) -> None:
    settings.EMAIL_BACKEND = "notifications.backends.RecordingEmailBackend"
    settings.EMAIL_DELIVERY_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = live_server.url
    partner = PartnerFactory(name="Harbor Point Beverage", slug="harbor-point")
    books: QBOConnection = ConnectionFactory(
        partner=partner, company_name="Harbor Point Books", status="needs_reconnect"
    )
    admin = UserFactory(role=Role.ADMIN, email="ada@unefemme.test")
    buyer = UserFactory(role=Role.PARTNER, partner=partner, email="buyer@harbor.test")
    notifications_scan()

    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, admin.email, PASSWORD)
    page.goto(reverse("notifications:sent"))
    expect(page.get_by_role("heading", name="Sent e-mails", level=1)).to_be_visible()
    listing = page.get_by_role("list", name="Sent e-mails")
    expect(listing.locator("> li")).to_have_count(2)  # the admin's and the buyer's
    mine = listing.locator("> li").filter(has_text=admin.email)
    mine.locator("summary").click()
    expect(mine.locator("summary")).to_contain_text(
        "A QuickBooks connection needs reconnecting: Harbor Point Beverage"
    )
    expect(mine.get_by_role("region", name="Text part")).to_contain_text(
        "Harbor Point Books needs reconnecting"
    )
    expect(mine.get_by_role("region", name="HTML part")).to_be_visible()
    no_sideways_scroll(page, "the sent e-mails page at 390")
    screenshot(page, "notifications-sent-390")
    link = live_server.url + reverse("sync:connection", kwargs={"pk": books.pk})
    mine.get_by_role("region", name="Text part").get_by_role("link", name=link).click()
    expect(page).to_have_url(link)

    page.context.clear_cookies()
    sign_in(page, buyer.email, PASSWORD)
    page.goto(reverse("notifications:preferences"))
    reconnect = page.get_by_role("group", name=Kind.CONNECTION_RECONNECT.label)
    expect(reconnect.get_by_role("radio", name="Immediately")).to_be_checked()
    reconnect.get_by_role("radio", name="Off").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your notification settings are saved.")).to_be_visible()
    no_sideways_scroll(page, "the notifications page at 390")
    screenshot(page, "notifications-preferences-390")
    assert preferences_for(buyer)[Kind.CONNECTION_RECONNECT] == Delivery.OFF
