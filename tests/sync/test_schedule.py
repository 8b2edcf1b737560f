"""Beat's tick: which connections get a sync enqueued, when, and only once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.models import Partner
from sync import services
from sync.models import QBOConnection
from sync.services import LAST_TICK_KEY
from sync.tasks import connection_sync
from tests.factories import PartnerFactory

pytestmark = pytest.mark.django_db


def connection(partner: Partner, realm: str, **fields: Any) -> QBOConnection:
    made: QBOConnection = QBOConnection.objects.create(partner=partner, realm_id=realm, **fields)
    return made


def enqueued(callbacks: list[Any], monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Run captured on-commit callbacks with the task's publish recording its arguments."""
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        connection_sync, "apply_async", lambda args, **kwargs: sent.append(tuple(args))
    )
    for callback in callbacks:
        callback()
    return sent


def test_tick_enqueues_every_connected_connection_that_is_due_and_keeps_its_heartbeat(
    django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = timezone.now()
    due = connection(PartnerFactory(), "1", next_sync_at=now - timedelta(seconds=1))
    never_scheduled = connection(PartnerFactory(), "2", next_sync_at=None)
    connection(PartnerFactory(), "3", next_sync_at=now + timedelta(minutes=3))
    connection(
        PartnerFactory(), "4", next_sync_at=now - timedelta(hours=1), status="needs_reconnect"
    )
    connection(PartnerFactory(), "5", next_sync_at=now - timedelta(hours=1), status="disconnected")

    with django_capture_on_commit_callbacks() as callbacks:
        ticked = services.tick_run()

    assert cache.get(LAST_TICK_KEY) == ticked.isoformat()
    assert sorted(enqueued(callbacks, monkeypatch)) == sorted(
        [(due.pk, "schedule"), (never_scheduled.pk, "schedule")]
    )
    # Each is claimed for its next slot: the interval plus up to 10 % jitter.
    for claimed in QBOConnection.objects.filter(pk__in=[due.pk, never_scheduled.pk]):
        assert claimed.next_sync_at is not None
        delay = claimed.next_sync_at - ticked
        assert timedelta(minutes=5) <= delay <= timedelta(minutes=5, seconds=30)


def test_a_second_tick_right_after_enqueues_nothing(
    django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection(PartnerFactory(), "1", next_sync_at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks() as first:
        services.tick_run()
    with django_capture_on_commit_callbacks() as second:
        services.tick_run()
    assert len(enqueued(first, monkeypatch)) == 1
    assert enqueued(second, monkeypatch) == []


def test_jitter_spreads_connections_made_at_the_same_moment() -> None:
    now = timezone.now()
    times = {services.next_sync_time(interval=timedelta(minutes=5), now=now) for _ in range(20)}
    assert len(times) > 15
    assert all(now + timedelta(minutes=5) <= t <= now + timedelta(minutes=5.5) for t in times)


def test_each_connection_has_its_own_interval(
    django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hourly = connection(
        PartnerFactory(),
        "1",
        next_sync_at=timezone.now() - timedelta(seconds=1),
        sync_interval=timedelta(hours=1),
    )
    with django_capture_on_commit_callbacks():
        services.tick_run()
    hourly.refresh_from_db()
    assert hourly.next_sync_at is not None
    assert hourly.next_sync_at - timezone.now() > timedelta(minutes=59)


def test_sync_now_enqueues_a_sync_on_commit(
    partner_a: Partner,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = connection(partner_a, "1", next_sync_at=timezone.now() + timedelta(minutes=4))
    with django_capture_on_commit_callbacks() as callbacks:
        services.connection_sync_now(connection=made)
    assert enqueued(callbacks, monkeypatch) == [(made.pk, "manual")]
    made.refresh_from_db()
    assert made.next_sync_at is not None and made.next_sync_at > timezone.now()


class _RolledBack(Exception):
    pass


def test_a_sync_enqueued_in_a_rolled_back_transaction_never_runs(
    partner_a: Partner,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # docs/reliability.md #26: enqueueing happens on commit, so a rollback takes it back too.
    made = connection(partner_a, "4620000000000666", next_sync_at=None)
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        connection_sync, "apply_async", lambda args, **kwargs: sent.append(tuple(args))
    )
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(_RolledBack),
        transaction.atomic(),
    ):
        assert services.connection_schedule_due(now=timezone.now()) == [made.pk]
        services.connection_sync_now(connection=made)
        raise _RolledBack
    assert callbacks == [] and sent == []
    made.refresh_from_db()
    assert made.next_sync_at is None  # the claim was rolled back with the enqueue


def test_a_sync_requested_while_the_realm_was_busy_is_not_left_for_the_schedule(
    partner_a: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sync import locks

    made = connection(partner_a, "4620000000000777")
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        connection_sync, "apply_async", lambda args, **kwargs: sent.append(tuple(args))
    )

    def a_run_during_which_a_webhook_arrives(*args: Any) -> None:
        # The webhook's task found the realm locked and left its request for the holder;
        # this run then ends without seeing it (here: it failed).
        locks.realm_rerun_request(realm_id=made.realm_id)

    monkeypatch.setattr(services, "_sync_once", a_run_during_which_a_webhook_arrives)
    services.connection_sync(connection_id=made.pk, trigger="schedule")
    assert sent == [(made.pk, "rerun")]
    # The request was handed over once, not left behind to fire again.
    assert not locks.realm_rerun_take(realm_id=made.realm_id)
