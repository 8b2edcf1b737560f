"""OAuth: the consent URL, the code exchange, token refresh and revocation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import requests
from django.utils import timezone
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError

from . import retry
from .errors import OAuthCallbackError, QBOError, ReconnectRequired
from .http import OAuthClient, oauth_client
from .records import TokenSet
from .retry import Failure, by_status, no_answer

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


def _call(
    operation: str,
    send: Callable[[OAuthClient], Any],
    *,
    error: type[QBOError] = QBOError,
    invalid_grant: type[QBOError] = ReconnectRequired,
) -> OAuthClient:
    """One call to Intuit's OAuth endpoints, retried on 429/5xx and failed connections.

    Not retried: a read timeout or a connection dropped mid-answer (``resend=False``),
    because the token endpoint may already have rotated the refresh token, and a second
    try with the old one would be answered invalid_grant and cost the partner a reconnect.
    """

    def attempt() -> OAuthClient:
        client = oauth_client()
        try:
            send(client)
        except AuthClientError as exc:
            answer = client.last
            code = answer.fault_code if answer else None
            raise Failure(
                f"{operation}: Intuit answered {exc.status_code}",
                by_status(exc.status_code),
                status=exc.status_code,
                intuit_tid=exc.intuit_tid,
                code=code,
                retry_after=answer.retry_after if answer else None,
                error=invalid_grant if exc.status_code == 400 and code == "invalid_grant" else None,
            ) from None
        except requests.RequestException as exc:
            raise no_answer(operation, exc, peer="Intuit", resend=False) from None
        return client

    return retry.call(operation, attempt, error=error)


def exchange_code(*, code: str, realm_id: str) -> TokenSet:
    """Trade the callback's authorization code for tokens (a code works once)."""

    def send(client: OAuthClient) -> None:
        client.get_bearer_token(code, realm_id=realm_id)

    # An unknown, expired or reused code is invalid_grant too; there it means "start the
    # consent again", not "reconnect".
    client = _call(
        "exchange code", send, error=OAuthCallbackError, invalid_grant=OAuthCallbackError
    )
    return _token_set(client)


def refresh_tokens(*, refresh_token: str) -> TokenSet:
    """A new access token, and the refresh token to use from now on (it may rotate)."""

    def send(client: OAuthClient) -> None:
        client.refresh(refresh_token=refresh_token)

    return _token_set(_call("refresh token", send))


def revoke(*, token: str) -> None:
    """Revoke a token at Intuit (either one revokes the whole connection)."""

    def send(client: OAuthClient) -> None:
        client.revoke(token=token)

    _call("revoke", send)
