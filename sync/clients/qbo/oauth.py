"""OAuth: the consent URL, the code exchange, token refresh and revocation."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import requests
from django.utils import timezone
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from urllib3.exceptions import ConnectTimeoutError

from sync import conf

from .errors import OAuthCallbackError, QBOError, ReconnectRequired
from .http import OAuthClient, oauth_client
from .records import TokenSet
from .retry import Failure, backoff

# The package's one logger, under the name it has always had.
logger = logging.getLogger("sync.clients.qbo")

ACCOUNTING_SCOPE = Scopes.ACCOUNTING


def authorization_url(*, state: str) -> str:
    """Where to send the partner for Intuit's consent (accounting scope only)."""
    url: str = oauth_client().get_authorization_url([ACCOUNTING_SCOPE], state_token=state)
    return url


def _token_set(client: OAuthClient) -> TokenSet:
    now = timezone.now()
    return TokenSet(
        access_token=str(client.access_token),
        refresh_token=str(client.refresh_token),
        access_expires_at=now + timedelta(seconds=int(client.expires_in or 3600)),
        refresh_expires_at=now
        + timedelta(seconds=int(client.x_refresh_token_expires_in or 8_640_000)),
    )


def _oauth_call(
    operation: str,
    send: Callable[[OAuthClient], Any],
    *,
    error: type[QBOError] = QBOError,
    invalid_grant: type[QBOError] = ReconnectRequired,
) -> OAuthClient:
    """One call to Intuit's OAuth endpoints, retried on 429/5xx and failed connections.

    Not retried: a read timeout or a connection dropped mid-answer, because the token
    endpoint may already have rotated the refresh token, and a second try with the old
    one would be answered invalid_grant and cost the partner a reconnect.
    """
    max_retries = conf.integer("QBO_MAX_RETRIES")
    retries = 0
    while True:
        client = oauth_client()
        try:
            send(client)
            return client
        except AuthClientError as exc:
            answer = client.last
            code = answer.fault_code if answer else None
            failure = Failure(
                f"{operation}: Intuit answered {exc.status_code}",
                status=exc.status_code,
                intuit_tid=exc.intuit_tid,
                code=code,
                retry_after=answer.retry_after if answer else None,
            )
            if exc.status_code == 400 and code == "invalid_grant":
                logger.warning(
                    "QBO %s: invalid_grant (intuit_tid=%s)", operation, failure.intuit_tid
                )
                raise failure.error(invalid_grant, transient=False) from None
            retryable = exc.status_code == 429 or exc.status_code >= 500
        except requests.ConnectionError as exc:
            failure = Failure(f"{operation}: Intuit unreachable ({type(exc).__name__})")
            retryable = not _maybe_delivered(exc)
        except requests.RequestException as exc:
            failure = Failure(f"{operation}: Intuit did not answer ({type(exc).__name__})")
            retryable = False
        retries += 1
        if not retryable or retries > max_retries:
            logger.warning(
                "QBO %s failed: status=%s code=%s intuit_tid=%s",
                operation,
                failure.status,
                failure.code,
                failure.intuit_tid,
            )
            raise failure.error(error, transient=retryable) from None
        delay = max(backoff(retries - 1), failure.retry_after or 0.0)
        logger.warning(
            "QBO %s failed: status=%s intuit_tid=%s; retry %d in %.1fs",
            operation,
            failure.status,
            failure.intuit_tid,
            retries,
            delay,
        )
        time.sleep(delay)


def _maybe_delivered(exc: requests.ConnectionError) -> bool:
    # A connection that was refused or never opened (urllib3's NewConnectionError is a
    # ConnectTimeoutError) never reached the server; anything else ("connection
    # aborted", a reset mid-answer) may have been processed.
    if isinstance(exc, requests.ConnectTimeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return not isinstance(reason, ConnectTimeoutError)


def exchange_code(*, code: str, realm_id: str) -> TokenSet:
    """Trade the callback's authorization code for tokens (a code works once)."""

    def send(client: OAuthClient) -> None:
        client.get_bearer_token(code, realm_id=realm_id)

    # An unknown, expired or reused code is invalid_grant too; there it means "start the
    # consent again", not "reconnect".
    client = _oauth_call(
        "exchange code", send, error=OAuthCallbackError, invalid_grant=OAuthCallbackError
    )
    return _token_set(client)


def refresh_tokens(*, refresh_token: str) -> TokenSet:
    """A new access token, and the refresh token to use from now on (it may rotate)."""

    def send(client: OAuthClient) -> None:
        client.refresh(refresh_token=refresh_token)

    return _token_set(_oauth_call("refresh token", send))


def revoke(*, token: str) -> None:
    """Revoke a token at Intuit (either one revokes the whole connection)."""

    def send(client: OAuthClient) -> None:
        client.revoke(token=token)

    _oauth_call("revoke", send)
