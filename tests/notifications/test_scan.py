"""The scan: each notification to exactly the right people, with the right content, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import User
from inventory.mapping.models import MappingConflict
from notifications.models import Delivery, Kind, NotificationDelivery, NotificationPreference
from notifications.services import notifications_scan
from sync.models import QBOConnection
from tests.notifications.conftest import conflict, days, failed_run, ok_run, recipients, snapshot

pytestmark = pytest.mark.django_db


def _reconnect(conn: QBOConnection) -> None:
    conn.status = QBOConnection.Status.NEEDS_RECONNECT
    conn.save(update_fields=["status"])


def test_a_reconnect_goes_to_the_partners_people_and_une_femme(
    people: dict[str, User], books_a: QBOConnection, books_b: QBOConnection
) -> None:
    _reconnect(books_a)
    result = notifications_scan()
    assert result.opened == 1
    # Alice and her colleague, staff and the admin; not bob (another partner), not the
    # inactive admin.
    assert recipients() == sorted(
        ["alice@bubbles.test", "alice2@bubbles.test", "sam@unefemme.test", "ada@unefemme.test"]
    )
    message = next(m for m in mail.outbox if m.to == ["alice@bubbles.test"])
    assert message.subject == (
        "[unefemme] A QuickBooks connection needs reconnecting: Bubbles & Brine Distributing"
    )
    assert "reconnects it from its connection page" in str(message.body)
    assert "Bubbles Books needs reconnecting" in str(message.body)
    link = f"https://unefemme.example/sync/connections/{books_a.pk}/"
    assert link in str(message.body)
    html = message.alternatives[0][0]  # type: ignore[attr-defined]
    assert f'href="{link}"' in html
    assert "https://unefemme.example/notifications/preferences/" in str(message.body)
    assert "Ouest" not in str(message.body) + html


def test_the_scan_twice_sends_once_and_a_recurrence_notifies_again(
    people: dict[str, User], books_a: QBOConnection
) -> None:
    _reconnect(books_a)
    notifications_scan()
    assert len(mail.outbox) == 4
    notifications_scan()
    assert len(mail.outbox) == 4

    # Reconnected: the condition clears; needing it again is a new occurrence.
    books_a.status = QBOConnection.Status.CONNECTED
    books_a.save(update_fields=["status"])
    assert notifications_scan().cleared == 1
    assert len(mail.outbox) == 4
    _reconnect(books_a)
    notifications_scan()
    assert len(mail.outbox) == 8


def test_preferences_off_and_digest(people: dict[str, User], books_a: QBOConnection) -> None:
    NotificationPreference.objects.create(
        user=people["alice"], kind=Kind.CONNECTION_RECONNECT, delivery=Delivery.OFF
    )
    NotificationPreference.objects.create(
        user=people["sam"], kind=Kind.CONNECTION_RECONNECT, delivery=Delivery.DIGEST
    )
    _reconnect(books_a)
    notifications_scan()
    assert recipients() == ["ada@unefemme.test", "alice2@bubbles.test"]
    held = NotificationDelivery.objects.get(user=people["sam"])
    assert held.delivery == Delivery.DIGEST and held.sent_at is None
    assert not NotificationDelivery.objects.filter(user=people["alice"]).exists()


def test_a_sync_failing_longer_than_the_setting_tells_staff_and_admins(
    people: dict[str, User], books_a: QBOConnection, settings: object
) -> None:
    now = timezone.now()
    ok_run(books_a, now - timedelta(hours=5))
    failed_run(books_a, now - timedelta(minutes=40))
    # The e-mail quotes the latest failure's first line.
    failed_run(books_a, now - timedelta(minutes=10), error="Intuit answered 503\nmore")
    # Failing for 40 minutes: not yet.
    notifications_scan(now=now)
    assert mail.outbox == []
    # An hour after the first failure since the last success.
    later = now + timedelta(minutes=21)
    notifications_scan(now=later)
    assert recipients() == ["ada@unefemme.test", "sam@unefemme.test"]
    body = str(mail.outbox[0].body)
    assert mail.outbox[0].subject.startswith("[unefemme] A sync keeps failing: Bubbles")
    assert "syncs of Bubbles Books have failed since" in body
    assert "Intuit answered 503" in body
    notifications_scan(now=later + timedelta(minutes=5))
    assert len(mail.outbox) == 2

    # A success ends the episode; failing again for an hour is a new one.
    ok_run(books_a, later + timedelta(minutes=6))
    notifications_scan(now=later + timedelta(minutes=7))
    failed_run(books_a, later + timedelta(minutes=8))
    notifications_scan(now=later + timedelta(minutes=70))
    assert len(mail.outbox) == 4


def test_new_conflicts_go_to_admins_at_most_once_an_hour(
    people: dict[str, User], books_a: QBOConnection, books_b: QBOConnection
) -> None:
    start = timezone.now()
    conflict(books_a, 1, sku="UF-ONE")
    notifications_scan(now=start)
    assert recipients() == ["ada@unefemme.test"]
    assert mail.outbox[0].subject == "[unefemme] 1 new mapping conflict"
    assert "UF-ONE" in str(mail.outbox[0].body)

    # Two more within the hour: held, then one e-mail listing both.
    conflict(books_b, 2, sku="UF-TWO")
    notifications_scan(now=start + timedelta(minutes=10))
    conflict(books_a, 3, sku="UF-THREE")
    notifications_scan(now=start + timedelta(minutes=40))
    assert len(mail.outbox) == 1
    notifications_scan(now=start + timedelta(minutes=61))
    assert len(mail.outbox) == 2
    second = mail.outbox[1]
    assert second.to == ["ada@unefemme.test"]
    assert second.subject == "[unefemme] 2 new mapping conflicts"
    assert "UF-TWO" in str(second.body) and "UF-THREE" in str(second.body)
    assert "UF-ONE" not in str(second.body)
    assert "https://unefemme.example/inventory/conflicts/#conflict-" in str(second.body)
    # Nothing new: nothing more.
    notifications_scan(now=start + timedelta(minutes=130))
    assert len(mail.outbox) == 2


def test_a_resolved_conflict_is_not_new_again(
    people: dict[str, User], books_a: QBOConnection
) -> None:
    row = conflict(books_a, 1)
    notifications_scan()
    row.status = MappingConflict.Status.RESOLVED
    row.save(update_fields=["status"])
    notifications_scan(now=timezone.now() + timedelta(hours=2))
    assert len(mail.outbox) == 1


def test_a_stale_warehouse_feed_tells_that_partners_people(
    people: dict[str, User], books_a: QBOConnection, books_b: QBOConnection
) -> None:
    today = timezone.localdate()
    snapshot(books_a.partner, today - days(9))
    snapshot(books_b.partner, today - days(2))
    notifications_scan()
    assert recipients() == ["alice2@bubbles.test", "alice@bubbles.test"]
    body = str(mail.outbox[0].body)
    assert "Une Femme's warehouse feed was last updated for" in body
    assert "9 days ago" in body
    assert f"/inventory/discrepancies/?partner={books_a.partner_id}" in body
    # A fresh count clears it.
    snapshot(books_a.partner, today)
    assert notifications_scan().cleared == 1
    assert len(mail.outbox) == 2


def test_a_deactivated_person_is_not_told(people: dict[str, User], books_a: QBOConnection) -> None:
    NotificationPreference.objects.create(
        user=people["ada"], kind=Kind.MAPPING_CONFLICT, delivery=Delivery.IMMEDIATELY
    )
    conflict(books_a, 1)
    people["ada"].is_active = False
    people["ada"].save(update_fields=["is_active"])
    notifications_scan()
    assert mail.outbox == []
