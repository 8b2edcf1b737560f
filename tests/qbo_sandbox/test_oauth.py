"""The OAuth 2.0 dance with the stock intuit-oauth client, and what the API does with tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks.exceptions import AuthorizationException
from quickbooks.objects.company_info import CompanyInfo

from .support import (
    CLIENT_ID,
    CLIENT_SECRET,
    HTTP_TIMEOUT,
    REDIRECT_URI,
    RealmApi,
    fault_codes,
    form_with_button,
    make_auth_client,
    make_qb,
    parse_forms,
)

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

DISCOVERY_PATHS = {
    "authorization_endpoint": "/connect/oauth2",
    "token_endpoint": "/oauth2/v1/tokens/bearer",
    "revocation_endpoint": "/v2/oauth2/tokens/revoke",
    "jwks_uri": "/op/v1/jwks",
    "userinfo_endpoint": "/v1/openid_connect/userinfo",
}

# A company name with the apostrophe and accents real distributors have, to check the label.
COMPANY_NAME = "Cave d'Émile & Fils"


@pytest.fixture
def named_realm(sandbox: SandboxProcess) -> str:
    created = sandbox.control(
        "POST", "/_sandbox/companies", {"seed": "empty", "name": COMPANY_NAME}
    )
    assert created["name"] == COMPANY_NAME
    realm_id: str = created["realm_id"]
    return realm_id


def consent_page(auth_client: AuthClient, state: str, scopes: list[Scopes]) -> requests.Response:
    url = auth_client.get_authorization_url(scopes, state_token=state)
    page = requests.get(url, timeout=HTTP_TIMEOUT)
    assert page.status_code == 200, page.text
    return page


def click(page: requests.Response, button_text: str, realm_id: str | None) -> dict[str, str]:
    """Submit the consent form as a browser would and return the callback's query parameters."""
    forms = parse_forms(page.text)
    form, button = form_with_button(forms, button_text)
    choices = {"realm_id": realm_id} if realm_id is not None else {}
    response = requests.request(
        form.method.upper(),
        urljoin(page.url, form.action),
        data=form.submission(button, choices),
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 302, f"{response.status_code} {response.text}"
    assert response.headers.get("intuit_tid")
    location = urlsplit(response.headers["Location"])
    redirect = urlsplit(REDIRECT_URI)
    assert (location.scheme, location.netloc, location.path) == (
        redirect.scheme,
        redirect.netloc,
        redirect.path,
    )
    return dict(parse_qsl(location.query))


def authorize(
    auth_client: AuthClient,
    realm_id: str,
    state: str = "csrf-state-123",
    scopes: list[Scopes] | None = None,
) -> str:
    """Run consent and the code exchange; return the authorization code that was used."""
    page = consent_page(auth_client, state, scopes or [Scopes.ACCOUNTING])
    callback = click(page, "Connect", realm_id)
    assert callback["state"] == state
    assert callback["realmId"] == realm_id
    auth_client.get_bearer_token(callback["code"], realm_id=callback["realmId"])
    return callback["code"]


def api_for(sandbox: SandboxProcess, realm_id: str, access_token: str) -> RealmApi:
    return RealmApi(sandbox.api_url, realm_id, access_token)


def company_info_status(sandbox: SandboxProcess, realm_id: str, access_token: str) -> int:
    response = api_for(sandbox, realm_id, access_token).request("GET", f"companyinfo/{realm_id}")
    return response.status_code


def assert_invalid_grant(error: AuthClientError) -> None:
    assert error.status_code == 400
    assert error.response.json()["error"] == "invalid_grant"
    assert error.intuit_tid


def test_discovery_documents_list_six_endpoints_on_this_server(
    sandbox: SandboxProcess, auth_client: AuthClient
) -> None:
    for path in ("openid_configuration", "openid_sandbox_configuration"):
        response = requests.get(f"{sandbox.base_url}/.well-known/{path}", timeout=HTTP_TIMEOUT)
        assert response.status_code == 200
        assert response.headers.get("intuit_tid")
        document = response.json()
        assert {"issuer", *DISCOVERY_PATHS} <= set(document)
        for key, endpoint_path in DISCOVERY_PATHS.items():
            assert document[key] == sandbox.base_url + endpoint_path, key
    # AuthClient construction downloaded the production document and took its endpoints.
    assert auth_client.token_endpoint == sandbox.base_url + DISCOVERY_PATHS["token_endpoint"]
    assert auth_client.auth_endpoint == sandbox.base_url + DISCOVERY_PATHS["authorization_endpoint"]
    jwks = requests.get(auth_client.jwks_uri, timeout=HTTP_TIMEOUT)
    assert jwks.json() == {"keys": []}


def test_consent_page_lists_every_company_by_name_with_connect_and_cancel(
    sandbox: SandboxProcess, auth_client: AuthClient, named_realm: str
) -> None:
    page = consent_page(auth_client, "state-1", [Scopes.ACCOUNTING])
    assert page.headers.get("intuit_tid")
    forms = parse_forms(page.text)
    form, _ = form_with_button(forms, "Connect")
    form_with_button(forms, "Cancel")
    labels = form.radio_labels("realm_id")
    for realm_id, name in sandbox.realms.items():
        assert name in labels[realm_id]
    assert COMPANY_NAME in labels[named_realm]


def test_connect_redirects_with_code_state_and_realm_and_the_code_buys_working_tokens(
    sandbox: SandboxProcess, auth_client: AuthClient, named_realm: str
) -> None:
    state = "state with spaces & symbols/+="
    page = consent_page(auth_client, state, [Scopes.ACCOUNTING])
    callback = click(page, "Connect", named_realm)
    assert set(callback) == {"code", "state", "realmId"}
    assert callback["state"] == state
    assert callback["realmId"] == named_realm

    auth_client.get_bearer_token(callback["code"], realm_id=callback["realmId"])

    assert auth_client.realm_id == named_realm
    assert auth_client.access_token and auth_client.refresh_token
    assert auth_client.expires_in == 3600
    assert auth_client.x_refresh_token_expires_in == 8726400
    # intuitlib would validate an id_token against JWKS, so the sandbox must not send one.
    assert auth_client.id_token is None
    qb = make_qb(sandbox.api_url, auth_client, named_realm)
    info = CompanyInfo.get(named_realm, qb=qb)
    assert info.CompanyName == COMPANY_NAME


def test_cancel_redirects_with_access_denied_and_the_state(
    auth_client: AuthClient, named_realm: str
) -> None:
    page = consent_page(auth_client, "cancel-state", [Scopes.ACCOUNTING])
    callback = click(page, "Cancel", None)
    assert callback == {"error": "access_denied", "state": "cancel-state"}


@pytest.mark.parametrize(
    "override",
    [
        {"client_id": "not-a-registered-app"},
        {"redirect_uri": "https://attacker.example.com/callback"},
        {"response_type": "token"},
    ],
    ids=["client_id", "redirect_uri", "response_type"],
)
def test_a_bad_authorization_request_gets_an_error_page_never_a_redirect(
    sandbox: SandboxProcess, override: dict[str, str]
) -> None:
    params = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": Scopes.ACCOUNTING.value,
        "redirect_uri": REDIRECT_URI,
        "state": "s",
        **override,
    }
    response = requests.get(
        sandbox.base_url + "/connect/oauth2",
        params=params,
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.headers.get("intuit_tid")


def test_a_reused_code_is_invalid_grant_and_kills_the_tokens_it_bought(
    sandbox: SandboxProcess, auth_client: AuthClient, realm: str
) -> None:
    code = authorize(auth_client, realm)
    first_access = auth_client.access_token
    first_refresh = auth_client.refresh_token
    assert company_info_status(sandbox, realm, first_access) == 200

    with pytest.raises(AuthClientError) as reused:
        auth_client.get_bearer_token(code, realm_id=realm)
    assert_invalid_grant(reused.value)

    # Intuit treats a replayed code as a stolen one and revokes what it issued.
    assert company_info_status(sandbox, realm, first_access) == 401
    with pytest.raises(AuthClientError) as refreshed:
        auth_client.refresh(refresh_token=first_refresh)
    assert_invalid_grant(refreshed.value)


def test_refresh_reports_the_hard_expiry_only_when_asked(
    sandbox: SandboxProcess, auth_client: AuthClient, realm: str
) -> None:
    authorize(auth_client, realm)

    def refresh(headers: dict[str, str]) -> dict[str, Any]:
        response = requests.post(
            auth_client.token_endpoint,
            data={"grant_type": "refresh_token", "refresh_token": auth_client.refresh_token},
            auth=(CLIENT_ID, CLIENT_SECRET),
            headers={"Accept": "application/json", **headers},
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        auth_client.refresh_token = body["refresh_token"]
        return body

    plain = refresh({})
    assert plain["token_type"] == "bearer"
    assert "x_refresh_token_hard_expires_in" not in plain
    assert "id_token" not in plain
    asked = refresh({"x-include-refresh-token-hard-expires-in": "true"})
    assert 0 < asked["x_refresh_token_hard_expires_in"] <= 157_680_000


def test_revoke_kills_the_access_token_and_the_refresh_token(
    sandbox: SandboxProcess, auth_client: AuthClient, realm: str
) -> None:
    authorize(auth_client, realm)
    access = auth_client.access_token
    assert company_info_status(sandbox, realm, access) == 200

    assert auth_client.revoke() is True

    assert company_info_status(sandbox, realm, access) == 401
    with pytest.raises(AuthClientError) as refreshed:
        auth_client.refresh()
    assert_invalid_grant(refreshed.value)


def test_disconnecting_inside_quickbooks_kills_every_token_of_the_realm(
    sandbox: SandboxProcess, auth_client: AuthClient, realm: str
) -> None:
    authorize(auth_client, realm)
    sandbox.control("POST", f"/_sandbox/companies/{realm}/revoke-tokens")
    assert company_info_status(sandbox, realm, auth_client.access_token) == 401
    with pytest.raises(AuthClientError) as refreshed:
        auth_client.refresh()
    assert_invalid_grant(refreshed.value)


def test_userinfo_returns_the_connected_user(auth_client: AuthClient, realm: str) -> None:
    authorize(
        auth_client,
        realm,
        scopes=[Scopes.ACCOUNTING, Scopes.OPENID, Scopes.EMAIL, Scopes.PROFILE],
    )
    response = auth_client.get_user_info()
    assert response.headers.get("intuit_tid")
    info = response.json()
    assert {"sub", "email", "emailVerified", "givenName", "familyName"} <= set(info)
    assert "@" in info["email"]


def test_a_bad_client_secret_is_401_invalid_client(
    sandbox: SandboxProcess, auth_client: AuthClient, realm: str
) -> None:
    page = consent_page(auth_client, "s", [Scopes.ACCOUNTING])
    code = click(page, "Connect", realm)["code"]
    impostor = make_auth_client(sandbox.discovery_url, CLIENT_ID, "wrong-secret", REDIRECT_URI)

    with pytest.raises(AuthClientError) as exchanged:
        impostor.get_bearer_token(code, realm_id=realm)
    assert exchanged.value.status_code == 401
    assert exchanged.value.response.json()["error"] == "invalid_client"
    assert exchanged.value.intuit_tid

    authorize(auth_client, realm)
    with pytest.raises(AuthClientError) as refreshed:
        impostor.refresh(refresh_token=auth_client.refresh_token)
    assert refreshed.value.status_code == 401


def test_an_expired_access_token_gets_an_authentication_fault_and_refresh_recovers(
    sandbox: SandboxProcess, auth_client: AuthClient, realm: str
) -> None:
    authorize(auth_client, realm)
    qb = make_qb(sandbox.api_url, auth_client, realm)
    assert CompanyInfo.get(realm, qb=qb).Id

    sandbox.control("POST", f"/_sandbox/companies/{realm}/expire-access-tokens")

    response = api_for(sandbox, realm, auth_client.access_token).request(
        "GET", f"companyinfo/{realm}"
    )
    assert response.status_code == 401
    assert response.headers.get("intuit_tid")
    assert fault_codes(response) == ["3200"]
    body = response.json()
    fault = body.get("Fault") or body.get("fault")
    # Intuit's gateway writes "AUTHENTICATION"; the XSD's name for it is AuthenticationFault.
    assert fault["type"] in ("AUTHENTICATION", "AuthenticationFault")
    with pytest.raises(AuthorizationException):
        CompanyInfo.get(realm, qb=qb)

    # The documented recovery: refresh through the AuthClient, then rebuild the QuickBooks client.
    auth_client.refresh()
    assert CompanyInfo.get(realm, qb=make_qb(sandbox.api_url, auth_client, realm)).Id


def test_a_token_for_one_realm_is_refused_on_another(
    sandbox: SandboxProcess, auth_client: AuthClient, realm: str
) -> None:
    other_realm = sandbox.new_company(seed="empty")
    authorize(auth_client, realm)

    response = api_for(sandbox, other_realm, auth_client.access_token).request(
        "GET", f"companyinfo/{other_realm}"
    )

    assert response.status_code == 403
    assert fault_codes(response) == ["3100"]
    assert response.headers.get("intuit_tid")


def test_every_response_carries_an_intuit_tid(
    sandbox: SandboxProcess, auth_client: AuthClient, realm: str
) -> None:
    authorize(auth_client, realm)
    api = api_for(sandbox, realm, auth_client.access_token)
    responses = [
        requests.get(sandbox.discovery_url, timeout=HTTP_TIMEOUT),
        requests.get(auth_client.jwks_uri, timeout=HTTP_TIMEOUT),
        requests.post(
            auth_client.token_endpoint,
            data={"grant_type": "refresh_token", "refresh_token": "nonsense"},
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=HTTP_TIMEOUT,
        ),
        api.request("GET", f"companyinfo/{realm}"),
        api.request("GET", "preferences"),
        api.query_raw("SELECT * FROM Item"),
        api.query_raw("SELECT * FROM Nonsense"),
        api.request("GET", "item/999999"),
        api_for(sandbox, realm, "garbage-token").request("GET", f"companyinfo/{realm}"),
    ]
    tids = [response.headers.get("intuit_tid") for response in responses]
    assert all(tids), list(zip([r.url for r in responses], tids, strict=True))
    # A transaction id identifies one request, so no two responses share one.
    assert len(set(tids)) == len(tids)
    for response in responses[3:]:
        assert "time" in response.json(), response.text
