"""Access tokens for a stored connection: use, refresh once, persist the rotation.

Intuit's access token lasts an hour and a refresh may rotate the refresh token, after
which the old one answers invalid_grant (docs/qbo-api.md §10). Many workers use one connection
at once, so a refresh happens under ``SELECT ... FOR UPDATE`` on the connection row, and
whoever gets the lock second re-reads the row first: if a fresh token is already there,
it uses that one instead of refreshing again. Twenty workers meeting an expired token make
one refresh call between them, and all of them go on with the rotated tokens, which are
saved (encrypted, with their expiries) in the same transaction.

The refresh call is made while holding the row lock. That is deliberate: it is what makes
the refresh happen exactly once. It is bounded by the client's timeouts, and waiters only
wait for it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from . import conf
from .clients import qbo
from .crypto import Secret
from .errors import RECONNECT_MESSAGE
from .models import QBOConnection

logger = logging.getLogger(__name__)


def _fresh(expires_at: datetime | None) -> bool:
    return expires_at is not None and expires_at > timezone.now() + conf.duration(
        "QBO_TOKEN_REFRESH_MARGIN"
    )


def _refuse(connection: QBOConnection) -> qbo.ReconnectRequired:
    return qbo.ReconnectRequired(
        f"connection {connection.pk} is {connection.status}; no call is made for it",
        intuit_tid=connection.last_error_tid or None,
    )


def access_token_refresh(*, connection_id: int, failed_token: str | None = None) -> str:
    """Refresh the connection's tokens unless another worker just did; return the one to use.

    ``failed_token`` is the token Intuit just refused with a 401: a different stored
    token means someone else refreshed while we waited for the lock.
    """
    reconnect: qbo.ReconnectRequired | None = None
    with transaction.atomic():
        connection = QBOConnection.objects.select_for_update().get(pk=connection_id)
        if connection.status != QBOConnection.Status.CONNECTED or connection.refresh_token is None:
            raise _refuse(connection)
        current = str(connection.access_token.reveal()) if connection.access_token else None
        if (
            current is not None
            and current != failed_token
            and _fresh(connection.access_token_expires_at)
        ):
            return current
        try:
            tokens = qbo.refresh_tokens(refresh_token=str(connection.refresh_token.reveal()))
        except qbo.ReconnectRequired as exc:
            # The refresh token is dead (revoked in QuickBooks, expired, or rotated away).
            # Nothing but the partner reconnecting can fix that; say so where they look,
            # and stop every further call and sync for this connection.
            logger.warning(
                "QBO connection %s (realm %s) needs reconnecting: invalid_grant intuit_tid=%s",
                connection.pk,
                connection.realm_id,
                exc.intuit_tid,
            )
            connection.status = QBOConnection.Status.NEEDS_RECONNECT
            connection.access_token = None
            connection.access_token_expires_at = None
            connection.refresh_token = None
            connection.refresh_token_expires_at = None
            connection.next_sync_at = None
            connection.last_error = RECONNECT_MESSAGE
            connection.last_error_tid = exc.intuit_tid or ""
            connection.save(
                update_fields=[
                    "status",
                    "access_token",
                    "access_token_expires_at",
                    "refresh_token",
                    "refresh_token_expires_at",
                    "next_sync_at",
                    "last_error",
                    "last_error_tid",
                ]
            )
            reconnect = exc
        else:
            connection.access_token = Secret(tokens.access_token)
            connection.access_token_expires_at = tokens.access_expires_at
            connection.refresh_token = Secret(tokens.refresh_token)
            connection.refresh_token_expires_at = tokens.refresh_expires_at
            connection.save(
                update_fields=[
                    "access_token",
                    "access_token_expires_at",
                    "refresh_token",
                    "refresh_token_expires_at",
                ]
            )
            logger.info("QBO connection %s: access token refreshed", connection.pk)
            return tokens.access_token
    # Raised after the block so the needs_reconnect status above is committed.
    assert reconnect is not None
    raise reconnect


class ConnectionTokens:
    """``qbo.TokenSource`` for a stored connection, for the length of one job."""

    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id
        self._token: str | None = None
        self._expires_at: datetime | None = None

    def access_token(self) -> str:
        if self._token is not None and _fresh(self._expires_at):
            return self._token
        connection = QBOConnection.objects.only(
            "status", "access_token", "access_token_expires_at", "last_error_tid", "refresh_token"
        ).get(pk=self.connection_id)
        if connection.status != QBOConnection.Status.CONNECTED:
            raise _refuse(connection)
        if connection.access_token is not None and _fresh(connection.access_token_expires_at):
            self._token = connection.access_token.reveal()
            self._expires_at = connection.access_token_expires_at
            return self._token
        return self._refreshed(failed_token=None)

    def refresh_after_401(self, *, failed_token: str) -> str:
        return self._refreshed(failed_token=failed_token)

    def _refreshed(self, *, failed_token: str | None) -> str:
        token = access_token_refresh(connection_id=self.connection_id, failed_token=failed_token)
        self._token = token
        self._expires_at = QBOConnection.objects.values_list(
            "access_token_expires_at", flat=True
        ).get(pk=self.connection_id)
        return token
