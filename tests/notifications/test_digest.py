"""The daily digest: once per person per day of their own calendar, after 07:00 there, only
when there is something to say."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import User
from inventory.mapping.models import SKUMapping
from notifications.models import (
    Delivery,
    DigestSent,
    Kind,
    NotificationDelivery,
    NotificationPreference,
)
from notifications.services import digests_send, notifications_scan
from sync.models import QBOConnection
from tests.billing.factories import InvoiceFactory, ItemFactory
from tests.inventory.reports.test_placements import account, mapped_item, sale
from tests.notifications.conftest import conflict, failed_run, recipients, sku, snapshot

pytestmark = pytest.mark.django_db

# 05:30 UTC on Friday 4 December: 06:30 in Paris, 21:30 on the 3rd in Los Angeles.
EARLY = datetime(2026, 12, 4, 5, 30, tzinfo=UTC)


def _zones(sam: User, ada: User) -> None:
    sam.time_zone = "Europe/Paris"
    sam.save(update_fields=["time_zone"])
    ada.time_zone = "America/Los_Angeles"
    ada.save(update_fields=["time_zone"])


def test_each_person_gets_one_digest_a_day_after_seven_in_their_zone(
    people: dict[str, User], books_a: QBOConnection
) -> None:
    _zones(people["sam"], people["ada"])
    failed_run(books_a, EARLY - timedelta(days=2))  # something to say every day

    digests_send(now=EARLY)
    # Los Angeles is past 07:00 on the 3rd; Paris is not yet at 07:00 on the 4th.
    assert recipients() == ["ada@unefemme.test"]
    assert DigestSent.objects.get(user=people["ada"]).local_date == date(2026, 12, 3)
    # Beat runs again (and again within the hour): nothing more.
    digests_send(now=EARLY)
    digests_send(now=EARLY + timedelta(minutes=20))
    assert recipients() == ["ada@unefemme.test"]

    digests_send(now=EARLY + timedelta(hours=1))  # 07:30 in Paris
    assert recipients() == ["ada@unefemme.test", "sam@unefemme.test"]
    digests_send(now=EARLY + timedelta(hours=2))
    assert len(mail.outbox) == 2

    digests_send(now=EARLY + timedelta(hours=10))  # 07:30 on the 4th in Los Angeles
    assert recipients() == ["ada@unefemme.test", "ada@unefemme.test", "sam@unefemme.test"]
    assert mail.outbox[-1].subject == "[unefemme] Your daily digest for Friday 4 December"
    # Partner users get no summary digest.
    assert not DigestSent.objects.filter(user__role="partner").exists()


def test_no_digest_when_there_is_nothing_to_say(people: dict[str, User]) -> None:
    digests_send(now=EARLY + timedelta(hours=10))  # 07:30 in Los Angeles, the site's zone
    assert mail.outbox == []
    # The day is done all the same: a later run does not look again.
    assert DigestSent.objects.filter(items=0).count() == 2
    digests_send(now=EARLY + timedelta(hours=11))
    assert mail.outbox == []


def test_the_digest_lists_what_changed_each_line_a_link(
    people: dict[str, User], books_a: QBOConnection, books_b: QBOConnection
) -> None:
    sam, ada = people["sam"], people["ada"]
    sam.time_zone = ada.time_zone = "Europe/Paris"
    sam.save(update_fields=["time_zone"])
    ada.save(update_fields=["time_zone"])
    now = EARLY + timedelta(hours=2)  # 08:30 in Paris on the 4th
    newly = InvoiceFactory(
        connection=books_a, doc_number="INV-NEW", customer_name="Le Bar",
        txn_date=date(2026, 11, 3), due_date=date(2026, 12, 3), balance=Decimal("250.00"),
    )  # fmt: skip
    InvoiceFactory(
        connection=books_b, doc_number="INV-OLD", txn_date=date(2026, 10, 1),
        due_date=date(2026, 11, 1),
    )  # fmt: skip
    # A discrepancy out of tolerance: QuickBooks holds 500 bottles, the warehouse 120.
    ItemFactory(connection=books_a, qbo_id="900", sku="UF-CAL-NV-750", qty_on_hand=500)
    SKUMapping.objects.create(
        connection=books_a, catalog_sku=sku(), item_qbo_id="900", bottles_per_unit=1,
        method=SKUMapping.Method.ADMIN, item_name="The Callie",
    )  # fmt: skip
    snapshot(books_a.partner, date(2026, 12, 3), bottles=120)
    conflict(books_b, 1, sku="UF-CONFLICT")
    failed_run(books_b, now - timedelta(minutes=20))
    notifications_scan(now=now - timedelta(hours=3))

    digests_send(now=now)
    by_person = {m.to[0]: m for m in mail.outbox if m.extra_headers["X-Unefemme-Kind"] == "digest"}
    assert set(by_person) == {"sam@unefemme.test", "ada@unefemme.test"}
    text = str(by_person["ada@unefemme.test"].body)
    html = by_person["ada@unefemme.test"].alternatives[0][0]  # type: ignore[attr-defined]
    assert "New overdue receivables" in text
    assert "Le Bar, invoice INV-NEW, 250.00" in text
    assert "INV-OLD" not in text  # overdue for a month: not new
    invoice_url = f"https://unefemme.example/billing/invoices/{newly.pk}/"
    assert invoice_url in text and f'href="{invoice_url}"' in html
    assert "Discrepancies that went out of tolerance" in text
    assert "UF-CAL-NV-750" in text and "over by 380" in text
    assert "Failing syncs" in text
    assert f"https://unefemme.example/sync/connections/{books_b.pk}/" in text
    assert "New mapping conflicts" in text and "UF-CONFLICT" in text
    # Staff cannot open the conflicts queue: their digest leaves it out.
    assert "UF-CONFLICT" not in str(by_person["sam@unefemme.test"].body)


def test_notifications_held_for_the_digest_go_out_in_it_once(
    people: dict[str, User], books_a: QBOConnection
) -> None:
    for who in ("sam", "alice"):
        NotificationPreference.objects.create(
            user=people[who], kind=Kind.CONNECTION_RECONNECT, delivery=Delivery.DIGEST
        )
    books_a.status = QBOConnection.Status.NEEDS_RECONNECT
    books_a.save(update_fields=["status"])
    notifications_scan(now=EARLY)
    assert "sam@unefemme.test" not in recipients()
    assert "alice@bubbles.test" not in recipients()
    mail.outbox = []

    digests_send(now=EARLY + timedelta(hours=10))  # 07:30 in Los Angeles, the site's zone
    digested = {m.to[0]: str(m.body) for m in mail.outbox}
    # Alice (a partner user) gets a digest of what she held, nothing else.
    assert "Held for your digest" in digested["alice@bubbles.test"]
    assert "Bubbles Books needs reconnecting" in digested["alice@bubbles.test"]
    assert "Failing syncs" not in digested["alice@bubbles.test"]
    assert "Held for your digest" in digested["sam@unefemme.test"]
    assert not NotificationDelivery.objects.filter(sent_at__isnull=True).exists()
    assert "alice2@bubbles.test" not in digested  # told at once by the scan

    mail.outbox = []
    digests_send(now=EARLY + timedelta(days=1, hours=10))
    assert "Held for your digest" not in "".join(str(m.body) for m in mail.outbox)


def test_the_digest_names_the_accounts_lost_since_the_last_one(
    people: dict[str, User], books_a: QBOConnection
) -> None:
    ada = people["ada"]
    ada.time_zone = "Europe/Paris"
    ada.save(update_fields=["time_zone"])
    now = EARLY + timedelta(hours=2)  # 08:30 in Paris on the 4th: the day before is the 3rd
    item = mapped_item(books_a, "UF-CAL-NV-750")
    # 90 days before 3 December is 4 September: lost yesterday. 1 September: lost on
    # 30 November, in an earlier digest.
    sale("invoice", item, account(books_a, "Gone Yesterday Bistro"), 6, date(2026, 9, 4))
    sale("invoice", item, account(books_a, "Gone Last Week Bar"), 6, date(2026, 9, 1))
    still = account(books_a, "Still Buying Shop")
    sale("invoice", item, still, 6, date(2026, 9, 4))
    sale("invoice", item, still, 2, date(2026, 11, 20))

    digests_send(now=now)
    [digest] = [m for m in mail.outbox if m.to == ["ada@unefemme.test"]]
    text = str(digest.body)
    assert "Accounts lost" in text
    assert "Gone Yesterday Bistro has not reordered UF-CAL-NV-750 since 2026-09-04" in text
    assert "Gone Last Week Bar" not in text and "Still Buying Shop" not in text
    url = reverse("inventory:placements_row", args=[books_a.partner_id, "UF-CAL-NV-750"])
    assert f"https://unefemme.example{url}?month=2026-12" in text
