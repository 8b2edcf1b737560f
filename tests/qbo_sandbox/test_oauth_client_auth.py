"""How an app authenticates at the token and revoke endpoints: HTTP Basic (intuit-oauth's
way) or client_id and client_secret in the form (requests-oauthlib's), as Intuit's discovery
document advertises (`token_endpoint_auth_methods_supported`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from requests_oauthlib import OAuth2Session  # type: ignore[import-untyped]  # no type info

from .support import CLIENT_ID, CLIENT_SECRET, HTTP_TIMEOUT, REDIRECT_URI, make_auth_client
from .test_oauth import authorize, click, company_info_status, consent_page

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

OTHER_ID = "another-registered-app"
OTHER_SECRET = "another-app-secret"


@pytest.fixture(scope="module")
def two_apps() -> Iterator[SandboxProcess]:
    """A sandbox with two registered apps, so that a mixed request names two real ones."""
    from qbo_sandbox.testing import start_sandbox

    process = start_sandbox(
        "--seed", "empty",
        "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
        "--client-id", OTHER_ID, "--client-secret", OTHER_SECRET,
    )  # fmt: skip
    yield process
    process.stop()


def fresh_code(auth_client: AuthClient, realm: str) -> str:
    page = consent_page(auth_client, "state-client-auth", [Scopes.ACCOUNTING])
    return click(page, "Connect", realm)["code"]


def token_request(
    sandbox: SandboxProcess,
    form: dict[str, str],
    basic: tuple[str, str] | None = None,
) -> requests.Response:
    return requests.post(
        sandbox.base_url + "/oauth2/v1/tokens/bearer",
        data=form,
        auth=basic,
        headers={"Accept": "application/json"},
        timeout=HTTP_TIMEOUT,
    )


def assert_invalid_client(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "invalid_client"}
    assert response.headers.get("intuit_tid")


def test_discovery_documents_advertise_basic_and_post_client_authentication(
    sandbox: SandboxProcess,
) -> None:
    for path in ("openid_configuration", "openid_sandbox_configuration"):
        document = requests.get(
            f"{sandbox.base_url}/.well-known/{path}", timeout=HTTP_TIMEOUT
        ).json()
        assert sorted(document["token_endpoint_auth_methods_supported"]) == [
            "client_secret_basic",
            "client_secret_post",
        ]


def test_requests_oauthlib_exchanges_a_code_and_refreshes_with_credentials_in_the_form(
    sandbox: SandboxProcess, auth_client: AuthClient, realm: str
) -> None:
    session = OAuth2Session(CLIENT_ID, redirect_uri=REDIRECT_URI, scope=[Scopes.ACCOUNTING.value])
    url, state = session.authorization_url(auth_client.auth_endpoint, state="oauthlib-state")
    page = requests.get(url, timeout=HTTP_TIMEOUT)
    assert page.status_code == 200, page.text
    callback = click(page, "Connect", realm)
    assert callback["state"] == state

    seen: list[requests.PreparedRequest] = []
    session.hooks["response"].append(lambda response, **_: seen.append(response.request))
    token = session.fetch_token(
        auth_client.token_endpoint,
        code=callback["code"],
        client_secret=CLIENT_SECRET,
        include_client_id=True,
    )

    # The credentials went in the body, with no Authorization header at all.
    assert "Authorization" not in seen[-1].headers
    assert f"client_secret={CLIENT_SECRET}" in str(seen[-1].body)
    assert company_info_status(sandbox, realm, token["access_token"]) == 200

    refreshed = session.refresh_token(
        auth_client.token_endpoint,
        refresh_token=token["refresh_token"],
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    assert "Authorization" not in seen[-1].headers
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] == token["refresh_token"]  # within its first 24 hours
    assert company_info_status(sandbox, realm, refreshed["access_token"]) == 200


def test_basic_and_form_naming_the_same_app_are_accepted_together(
    sandbox: SandboxProcess, auth_client: AuthClient, realm: str
) -> None:
    code = fresh_code(auth_client, realm)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    response = token_request(sandbox, form, basic=(CLIENT_ID, CLIENT_SECRET))
    assert response.status_code == 200, response.text
    assert company_info_status(sandbox, realm, response.json()["access_token"]) == 200


def test_a_header_and_a_form_naming_two_apps_are_refused_before_the_code_is_spent(
    two_apps: SandboxProcess,
) -> None:
    realm = two_apps.new_company(seed="empty")
    auth_client = make_auth_client(two_apps.discovery_url, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI)
    code = fresh_code(auth_client, realm)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}

    # Each half alone would authenticate a registered app; together they name two.
    mixed = [
        (
            {**form, "client_id": OTHER_ID, "client_secret": OTHER_SECRET},
            (CLIENT_ID, CLIENT_SECRET),
        ),
        ({**form, "client_id": OTHER_ID}, (CLIENT_ID, CLIENT_SECRET)),
        (
            {**form, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
            (OTHER_ID, OTHER_SECRET),
        ),
    ]
    for body, basic in mixed:
        assert_invalid_client(token_request(two_apps, body, basic=basic))

    # The refusals happened before the code was looked at: it still buys tokens, once.
    auth_client.get_bearer_token(code, realm_id=realm)
    assert company_info_status(two_apps, realm, auth_client.access_token) == 200


@pytest.mark.parametrize(
    ("credentials", "basic"),
    [
        ({"client_id": CLIENT_ID, "client_secret": "wrong-secret"}, None),
        ({"client_id": CLIENT_ID, "client_secret": "wrong-secret"}, (CLIENT_ID, CLIENT_SECRET)),
        ({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, (CLIENT_ID, "wrong-secret")),
        ({"client_id": CLIENT_ID}, None),
        ({"client_secret": CLIENT_SECRET}, None),
        ({"client_id": "not-a-registered-app", "client_secret": CLIENT_SECRET}, None),
        ({}, None),
    ],
    ids=[
        "wrong-form-secret",
        "wrong-form-secret-beside-good-basic",
        "wrong-basic-secret-beside-good-form",
        "form-id-without-secret",
        "form-secret-without-id",
        "unknown-form-id",
        "no-credentials",
    ],
)
def test_a_refresh_with_bad_credentials_is_401_invalid_client(
    sandbox: SandboxProcess,
    auth_client: AuthClient,
    realm: str,
    credentials: dict[str, str],
    basic: tuple[str, str] | None,
) -> None:
    authorize(auth_client, realm)
    form = {"grant_type": "refresh_token", "refresh_token": auth_client.refresh_token}
    assert_invalid_client(token_request(sandbox, {**form, **credentials}, basic=basic))
    # The refresh token is untouched by the refusal.
    assert token_request(sandbox, form, basic=(CLIENT_ID, CLIENT_SECRET)).status_code == 200


def revoke_request(
    sandbox: SandboxProcess,
    *,
    json_body: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
    basic: tuple[str, str] | None = None,
) -> requests.Response:
    return requests.post(
        sandbox.base_url + "/v2/oauth2/tokens/revoke",
        json=json_body,
        data=form,
        auth=basic,
        headers={"Accept": "application/json"},
        timeout=HTTP_TIMEOUT,
    )


def refresh_status(sandbox: SandboxProcess, refresh_token: str) -> int:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return token_request(sandbox, form, basic=(CLIENT_ID, CLIENT_SECRET)).status_code


def test_revoke_takes_the_same_two_ways_of_authenticating(two_apps: SandboxProcess) -> None:
    def minted_refresh_token() -> str:
        realm = two_apps.new_company(seed="empty")
        token: str = two_apps.mint_tokens(realm)["refresh_token"]
        return token

    # Mixed apps, or a missing or wrong secret, revoke nothing.
    token = minted_refresh_token()
    refused = [
        revoke_request(
            two_apps, form={"token": token, "client_id": OTHER_ID}, basic=(CLIENT_ID, CLIENT_SECRET)
        ),
        revoke_request(two_apps, form={"token": token, "client_id": CLIENT_ID}),
        revoke_request(
            two_apps,
            json_body={"token": token, "client_id": CLIENT_ID, "client_secret": "wrong-secret"},
        ),
    ]
    for response in refused:
        assert_invalid_client(response)
    assert refresh_status(two_apps, token) == 200

    # RFC 7009's form, with the credentials in it (client_secret_post).
    token = minted_refresh_token()
    form = {"token": token, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert revoke_request(two_apps, form=form).status_code == 200
    assert refresh_status(two_apps, token) == 400

    # Intuit's JSON body with Basic, as intuit-oauth sends it.
    token = minted_refresh_token()
    auth_client = make_auth_client(
        two_apps.discovery_url, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, refresh_token=token
    )
    assert auth_client.revoke() is True
    assert refresh_status(two_apps, token) == 400
