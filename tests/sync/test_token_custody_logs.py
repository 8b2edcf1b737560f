"""No token in any log line: connect, refresh and failures, driven against qbo_sandbox
with every logger of ours at DEBUG.

The libraries' own loggers keep the levels settings.LOGGING gives them (python-quickbooks
and intuit-oauth log whole bodies at DEBUG, hence WARNING there): what is checked is what
this configuration writes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import User
from sync import services
from sync.models import QBOConnection
from tests.conftest import signed_in
from tests.sync.test_connect_flow import REDIRECT_URI, consent, press_connect

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess


@pytest.fixture(autouse=True)
def _everything_logged(
    caplog: pytest.LogCaptureFixture, settings: SettingsWrapper
) -> Iterator[None]:
    settings.QBO_REDIRECT_URI = REDIRECT_URI
    caplog.set_level(logging.DEBUG)
    for name in ("sync", "django", "celery", "unefemme", "accounts"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield


class Seen:
    """Every credential the test came across, to look for in the logs afterwards."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def connection(self) -> None:
        for row in QBOConnection.objects.all():
            for secret in (row.access_token, row.refresh_token):
                if secret is not None:
                    self.values.add(secret.reveal())

    def callback(self, path: str) -> None:
        code = parse_qs(urlsplit(path).query).get("code")
        if code:
            self.values.add(code[0])


def assert_not_logged(caplog: pytest.LogCaptureFixture, seen: Seen) -> None:
    assert seen.values, "the test saw no token"
    assert caplog.records, "nothing was logged at all"
    formatter = logging.Formatter()
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        lines.append(repr(record.args))
        if record.exc_info:
            lines.append(formatter.formatException(record.exc_info))
    everything = "\n".join([caplog.text, *lines])
    for value in seen.values:
        assert value not in everything


@pytest.mark.django_db
@pytest.mark.usefixtures("strict_rotation")
def test_connect_refresh_and_failures_log_no_token(
    alice: User, sandbox_server: SandboxProcess, caplog: pytest.LogCaptureFixture
) -> None:
    seen = Seen()
    realm = sandbox_server.new_company(seed="empty")
    client = signed_in(alice)

    # Connect: the whole dance.
    callback = consent(press_connect(client), realm)
    seen.callback(callback)
    assert client.get(callback).status_code == 302
    seen.connection()
    connection = QBOConnection.objects.get()
    # A replayed callback is refused on its state, before any exchange.
    assert client.get(callback).status_code == 400

    # Refresh: the stored access token is past its expiry, so the next call refreshes.
    QBOConnection.objects.filter(pk=connection.pk).update(
        access_token_expires_at=timezone.now() - timedelta(minutes=1)
    )
    services.connection_refresh_info(connection_id=connection.pk)
    seen.connection()
    assert len(seen.values) == 5  # the code, two tokens, two rotated ones

    # Failure at connect: a fresh state with the used code. Intuit refuses the exchange
    # and, taking the code for stolen, revokes everything it bought.
    state = parse_qs(urlsplit(press_connect(client)).query)["state"][0]
    used = parse_qs(urlsplit(callback).query)
    replay = client.get(
        reverse("sync:callback"),
        {"state": state, "code": used["code"][0], "realmId": used["realmId"][0]},
    )
    assert replay.status_code == 302

    # Failure in a sync: the next call meets a 401, the refresh meets invalid_grant, and
    # the connection needs reconnecting (its dead tokens deleted).
    with pytest.raises(Exception, match="invalid_grant|refused|401|answered"):
        services.connection_refresh_info(connection_id=connection.pk)
    connection.refresh_from_db()
    assert connection.status == QBOConnection.Status.NEEDS_RECONNECT
    assert connection.access_token is None and connection.refresh_token is None
    assert any("intuit_tid=" in r.getMessage() for r in caplog.records)

    assert_not_logged(caplog, seen)
