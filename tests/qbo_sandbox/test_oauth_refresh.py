"""A refresh token's life, as Intuit lives it (docs/qbo-api.md §10), with the stock AuthClient.

For about 24 hours a refresh token comes back unchanged from every refresh; after that a
refresh hands out a new value and the old one answers invalid_grant. `--rotate-every-refresh`
(or `rotate_every_refresh` in /_sandbox/config) replaces it on every refresh instead.

Tests that move the sandbox clock run on a sandbox of their own: moving the session
sandbox's clock a day ahead would expire every other test's access tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.exceptions import AuthClientError

from .support import CLIENT_ID, CLIENT_SECRET, HTTP_TIMEOUT, REDIRECT_URI, make_auth_client
from .test_oauth import assert_invalid_grant, authorize, company_info_status

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

DAY = 86_400
REFRESH_LIFETIME = 8_726_400


def start(*extra: str) -> SandboxProcess:
    from qbo_sandbox.testing import start_sandbox

    return start_sandbox(
        "--seed", "empty", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET, *extra
    )


@pytest.fixture(scope="module")
def clocked() -> Iterator[SandboxProcess]:
    """A sandbox whose clock the tests move; each test mints its tokens after any move."""
    process = start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def strict() -> Iterator[SandboxProcess]:
    process = start("--rotate-every-refresh")
    yield process
    process.stop()


def connected(sandbox: SandboxProcess) -> tuple[str, AuthClient]:
    """A new company and an AuthClient holding tokens minted for it just now."""
    realm = sandbox.new_company(seed="empty")
    minted = sandbox.mint_tokens(realm)
    auth_client = make_auth_client(
        sandbox.discovery_url,
        CLIENT_ID,
        CLIENT_SECRET,
        REDIRECT_URI,
        access_token=minted["access_token"],
        refresh_token=minted["refresh_token"],
        realm_id=realm,
    )
    return realm, auth_client


def advance(sandbox: SandboxProcess, seconds: float) -> None:
    sandbox.control("POST", "/_sandbox/clock", {"advance_seconds": seconds})


def refresh_over_http(sandbox: SandboxProcess, refresh_token: str) -> requests.Response:
    return requests.post(
        sandbox.base_url + "/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(CLIENT_ID, CLIENT_SECRET),
        headers={"Accept": "application/json"},
        timeout=HTTP_TIMEOUT,
    )


def test_within_24_hours_two_refreshes_with_one_token_both_succeed_and_return_it(
    sandbox: SandboxProcess, auth_client: AuthClient, realm: str
) -> None:
    authorize(auth_client, realm)
    refresh_token = auth_client.refresh_token
    first_access = auth_client.access_token

    auth_client.refresh(refresh_token=refresh_token)
    second_access = auth_client.access_token
    assert auth_client.refresh_token == refresh_token
    auth_client.refresh(refresh_token=refresh_token)

    assert auth_client.refresh_token == refresh_token
    assert len({first_access, second_access, auth_client.access_token}) == 3
    assert auth_client.expires_in == 3600
    # The value keeps its own expiry: what is left of it, never more than a new one gets.
    assert 0 < auth_client.x_refresh_token_expires_in <= REFRESH_LIFETIME
    assert company_info_status(sandbox, realm, auth_client.access_token) == 200
    # Earlier access tokens live out their hour; a refresh does not cut them short.
    assert company_info_status(sandbox, realm, second_access) == 200


def test_past_24_hours_a_refresh_issues_a_new_token_and_the_old_one_is_invalid_grant(
    clocked: SandboxProcess,
) -> None:
    realm, auth_client = connected(clocked)
    old = auth_client.refresh_token
    advance(clocked, DAY - 600)
    auth_client.refresh(refresh_token=old)
    assert auth_client.refresh_token == old

    advance(clocked, 601)
    auth_client.refresh(refresh_token=old)

    new = auth_client.refresh_token
    assert new != old
    assert auth_client.x_refresh_token_expires_in == REFRESH_LIFETIME
    assert company_info_status(clocked, realm, auth_client.access_token) == 200
    with pytest.raises(AuthClientError) as stale:
        auth_client.refresh(refresh_token=old)
    assert_invalid_grant(stale.value)
    # The new value starts a 24-hour window of its own.
    auth_client.refresh(refresh_token=new)
    assert auth_client.refresh_token == new


def test_the_same_token_reports_what_is_left_of_its_own_expiry(clocked: SandboxProcess) -> None:
    _, auth_client = connected(clocked)
    token = auth_client.refresh_token
    advance(clocked, 3 * 3600)

    response = refresh_over_http(clocked, token)

    assert response.status_code == 200, response.text
    assert response.headers.get("intuit_tid")
    body = response.json()
    assert body["refresh_token"] == token
    # Returned again, the value is not extended (an assumption; qbo_sandbox/README.md).
    left = REFRESH_LIFETIME - 3 * 3600
    assert left - 60 <= body["x_refresh_token_expires_in"] <= left


def test_the_moved_clock_expires_access_tokens_and_refresh_tokens(clocked: SandboxProcess) -> None:
    realm, auth_client = connected(clocked)
    assert company_info_status(clocked, realm, auth_client.access_token) == 200

    advance(clocked, 3601)
    assert company_info_status(clocked, realm, auth_client.access_token) == 401
    auth_client.refresh()
    assert company_info_status(clocked, realm, auth_client.access_token) == 200

    advance(clocked, REFRESH_LIFETIME + 1)
    refused = refresh_over_http(clocked, auth_client.refresh_token)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_rotate_every_refresh_retires_the_token_on_every_refresh(strict: SandboxProcess) -> None:
    realm, auth_client = connected(strict)
    assert strict.control("GET", "/_sandbox/config")["rotate_every_refresh"] is True
    old_refresh = auth_client.refresh_token
    old_access = auth_client.access_token

    auth_client.refresh()

    new_refresh = auth_client.refresh_token
    assert new_refresh != old_refresh
    assert auth_client.access_token != old_access
    assert auth_client.x_refresh_token_expires_in == REFRESH_LIFETIME
    assert company_info_status(strict, realm, auth_client.access_token) == 200
    with pytest.raises(AuthClientError) as stale:
        auth_client.refresh(refresh_token=old_refresh)
    assert_invalid_grant(stale.value)

    auth_client.refresh(refresh_token=new_refresh)
    assert auth_client.refresh_token not in (old_refresh, new_refresh)
    assert company_info_status(strict, realm, auth_client.access_token) == 200


def test_rotate_every_refresh_is_a_switch_in_the_control_endpoint(
    clocked: SandboxProcess,
) -> None:
    assert clocked.control("GET", "/_sandbox/config")["rotate_every_refresh"] is False
    changed: dict[str, Any] = clocked.control(
        "POST", "/_sandbox/config", {"rotate_every_refresh": True}
    )
    try:
        assert changed["rotate_every_refresh"] is True
        _, auth_client = connected(clocked)
        old = auth_client.refresh_token
        auth_client.refresh()
        assert auth_client.refresh_token != old
        assert refresh_over_http(clocked, old).status_code == 400
    finally:
        clocked.control("POST", "/_sandbox/config", {"rotate_every_refresh": False})

    _, auth_client = connected(clocked)
    kept = auth_client.refresh_token
    auth_client.refresh()
    assert auth_client.refresh_token == kept


def test_a_bad_switch_value_changes_nothing(clocked: SandboxProcess) -> None:
    before = clocked.control("GET", "/_sandbox/config")
    for bad in ({"rotate_every_refresh": "yes"}, {"rotate_every_refresh": True, "nonsense": 1}):
        with pytest.raises(RuntimeError, match="400"):
            clocked.control("POST", "/_sandbox/config", bad)
    assert clocked.control("GET", "/_sandbox/config") == before
    with pytest.raises(RuntimeError, match="400"):
        clocked.control("POST", "/_sandbox/clock", {"advance_seconds": -1})
