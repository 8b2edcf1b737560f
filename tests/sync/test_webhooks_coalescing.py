"""Webhook polls are coalesced per realm (sync.services.webhook_events_received): the first
notification in a window enqueues a poll at once, and the rest of the window's make the
connection due at its end, so beat's next tick polls them once.

Found by bench/webhook_storm.py: a poll takes a fraction of a second, so the realm's lease
was free again before the next notification and 200 deliveries cost 167 polls.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import Partner
from qbo_sandbox.webhooks import ChangeEvent, render_cloudevents, sign
from sync import services
from sync.models import QBOConnection, WebhookEvent

URL = "/sync/qbo/webhooks/"
REALM, OTHER_REALM = "9130350000000123", "9130350000000456"
WHEN = datetime(2026, 11, 21, 8, 30, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def connection_for(partner: Partner, realm_id: str = REALM) -> QBOConnection:
    now = timezone.now()
    return QBOConnection.objects.create(
        partner=partner, realm_id=realm_id, company_name="Webhook Books",
        access_token="a", access_token_expires_at=now + timedelta(hours=1),
        refresh_token="r", refresh_token_expires_at=now + timedelta(days=100),
        next_sync_at=now + timedelta(minutes=5),
    )  # fmt: skip


def deliver(intuit: Client, *changes: tuple[str, str]) -> float:
    """POST one signed CloudEvents body of (realm, invoice id) updates; its answer time."""
    body = render_cloudevents([ChangeEvent(r, "Invoice", i, "Update", WHEN) for r, i in changes])
    started = time.monotonic()
    response = intuit.post(
        URL,
        body,
        content_type="application/json",
        headers={"intuit-signature": sign(body, settings.QBO_WEBHOOK_VERIFIER_TOKEN)},
    )
    assert response.status_code == 200, response.content
    return time.monotonic() - started


@pytest.fixture
def intuit() -> Client:
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Every sync the webhook path publishes (to the real broker, as before)."""
    calls: list[tuple[int, str]] = []
    publish = services._publish_quietly

    def recorded(connection_id: int, trigger: str) -> bool:
        calls.append((connection_id, trigger))
        return publish(connection_id, trigger)

    monkeypatch.setattr(services, "_publish_quietly", recorded)
    return calls


def test_a_burst_for_one_realm_polls_at_once_and_once_more_at_the_end_of_its_window(
    intuit: Client,
    partner_a: Partner,
    published: list[tuple[int, str]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    connection = connection_for(partner_a)
    before = timezone.now()
    for n in range(20):
        # Each delivery's on-commit callbacks run as its block ends, as COMMIT would.
        with django_capture_on_commit_callbacks(execute=True):
            deliver(intuit, (REALM, str(n)))
    after = timezone.now()

    assert published == [(connection.pk, "webhook")]
    # The other nineteen made the connection due when the window closes, not in 5 minutes.
    spacing = timedelta(seconds=services.webhook_poll_spacing())
    connection.refresh_from_db()
    assert connection.next_sync_at is not None
    assert before + spacing <= connection.next_sync_at <= after + spacing
    events = WebhookEvent.objects.filter(realm_id=REALM)
    assert events.count() == 20
    assert set(events.values_list("status", flat=True)) == {WebhookEvent.Status.ENQUEUED}

    # Beat's tick after the window polls them, once.
    with django_capture_on_commit_callbacks(execute=True):
        assert services.connection_schedule_due(now=connection.next_sync_at) == [connection.pk]
        assert services.connection_schedule_due(now=connection.next_sync_at) == []
    assert published == [(connection.pk, "webhook"), (connection.pk, "schedule")]


def test_the_first_webhook_after_the_window_polls_at_once_again(
    intuit: Client,
    partner_a: Partner,
    published: list[tuple[int, str]],
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.SYNC_WEBHOOK_POLL_SPACING = 1
    connection = connection_for(partner_a)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(intuit, (REALM, "1"))
    time.sleep(1.2)  # Redis expires the window
    with django_capture_on_commit_callbacks(execute=True):
        deliver(intuit, (REALM, "2"))
    assert published == [(connection.pk, "webhook"), (connection.pk, "webhook")]


def test_each_realm_has_a_window_of_its_own(
    intuit: Client,
    partner_a: Partner,
    partner_b: Partner,
    published: list[tuple[int, str]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    first, second = connection_for(partner_a), connection_for(partner_b, OTHER_REALM)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(intuit, (REALM, "1"), (OTHER_REALM, "1"))  # CloudEvents may mix realms
        deliver(intuit, (OTHER_REALM, "2"))
    assert sorted(published) == sorted([(first.pk, "webhook"), (second.pk, "webhook")])


def test_with_redis_unreachable_the_answer_is_quick_and_the_events_wait_for_the_schedule(
    intuit: Client,
    partner_a: Partner,
    published: list[tuple[int, str]],
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    connection = connection_for(partner_a)
    scheduled = connection.next_sync_at
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(intuit, (REALM, "1")) < 3
    assert published == []
    assert WebhookEvent.objects.get(realm_id=REALM).status == WebhookEvent.Status.RECEIVED
    connection.refresh_from_db()
    assert connection.next_sync_at == scheduled
