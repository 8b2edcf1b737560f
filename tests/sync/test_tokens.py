"""Token custody in use: one refresh for many workers, the rotation kept, invalid_grant."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from accounts.models import Partner
from sync import services
from sync.clients import qbo
from sync.errors import RECONNECT_MESSAGE
from sync.models import QBOConnection, SyncRun
from sync.tokens import ConnectionTokens
from tests.sync.books import connection_for, stats
from tests.sync.conftest import start_worker
from unefemme.celery import app

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

pytestmark = pytest.mark.django_db(transaction=True)


def refreshes(sandbox: SandboxProcess) -> int:
    return int(stats(sandbox)["token_requests"]["refresh_token"])


@pytest.mark.usefixtures("strict_rotation")
def test_twenty_tasks_meeting_an_expired_token_make_one_refresh(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    realm = sandbox_server.new_company(seed="empty")
    connection = connection_for(sandbox_server, partner_a, realm)
    first_refresh_token = connection.refresh_token.reveal()
    worker = start_worker(queue="sync-burst", concurrency=20, name="burst")
    try:
        before = refreshes(sandbox_server)
        # Intuit expires the token while our clock still thinks it is good: every task's
        # first call is answered 401, and each one asks for a refresh at the same moment.
        sandbox_server.control("POST", f"/_sandbox/companies/{realm}/expire-access-tokens")
        # Twenty tasks holding the token, released together (tests/sync/worker_tasks.py).
        results = [
            app.send_task(
                "tests.sync.worker_tasks.refresh_info_together",
                args=(connection.pk, f"barrier-{connection.pk}", 20),
                queue="sync-burst",
            )
            for _ in range(20)
        ]
        names = [result.get(timeout=90) for result in results]
    finally:
        worker.stop()

    assert len(names) == 20 and len(set(names)) == 1 and names[0]
    assert refreshes(sandbox_server) - before == 1
    # They really met it together: every first call was refused with a 401, every second
    # one succeeded, and the limiter kept all forty clear of 429s.
    assert stats(sandbox_server)["requests"][realm] == 40
    assert stats(sandbox_server)["throttled"].get(realm, 0) == 0
    connection.refresh_from_db()
    stored = connection.refresh_token.reveal()
    assert stored != first_refresh_token
    # The rotated token is the one stored: the old one is dead, the stored one works.
    with pytest.raises(qbo.ReconnectRequired):
        qbo.refresh_tokens(refresh_token=first_refresh_token)
    assert qbo.refresh_tokens(refresh_token=stored).access_token


def test_threads_finding_the_stored_token_expired_make_one_refresh(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    realm = sandbox_server.new_company(seed="empty")
    connection = connection_for(
        sandbox_server,
        partner_a,
        realm,
        access_token_expires_at=timezone.now() - timedelta(minutes=1),
    )
    before = refreshes(sandbox_server)
    tokens: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(20)

    def use() -> None:
        try:
            start.wait()
            tokens.append(ConnectionTokens(connection.pk).access_token())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=use) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert refreshes(sandbox_server) - before == 1
    connection.refresh_from_db()
    assert set(tokens) == {connection.access_token.reveal()}
    expires = connection.access_token_expires_at
    assert expires is not None and expires > timezone.now() + timedelta(minutes=30)


def test_invalid_grant_asks_the_partner_to_reconnect_and_stops_every_call(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    realm = sandbox_server.new_company(seed="demo")
    connection = connection_for(sandbox_server, partner_a, realm)
    # Disconnected from inside QuickBooks: every token of the grant is dead.
    sandbox_server.control("POST", f"/_sandbox/companies/{realm}/revoke-tokens")

    run = services.connection_sync(connection_id=connection.pk, trigger="schedule")

    assert run is not None and run.status == SyncRun.Status.FAILED
    assert run.error == RECONNECT_MESSAGE and run.intuit_tid
    connection.refresh_from_db()
    assert connection.status == QBOConnection.Status.NEEDS_RECONNECT
    assert connection.last_error == RECONNECT_MESSAGE
    assert connection.last_error_tid
    assert connection.access_token is None and connection.refresh_token is None
    assert connection.next_sync_at is None

    before = stats(sandbox_server)
    assert services.connection_sync(connection_id=connection.pk, trigger="manual") is None
    assert services.connection_schedule_due(now=timezone.now() + timedelta(days=1)) == []
    with pytest.raises(qbo.ReconnectRequired):
        ConnectionTokens(connection.pk).access_token()
    after = stats(sandbox_server)
    assert after["requests"].get(realm) == before["requests"].get(realm)
    assert after["token_requests"] == before["token_requests"]
