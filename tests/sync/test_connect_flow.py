"""Connect, reconnect and disconnect, driven over HTTP against a real qbo_sandbox.

The browser's part is played by the Django test client (our pages) and ``requests`` (the
sandbox's consent page, submitted as a browser would). Nothing between them is faked: the
callback exchanges a real authorization code at the sandbox's token endpoint, and
Disconnect calls its real revocation endpoint.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import Partner, User
from devtools.embedded import free_port
from sync import oauth
from sync.models import QBOConnection
from tests.conftest import signed_in
from tests.qbo_sandbox.support import form_with_button, parse_forms

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

HTTP_TIMEOUT = 30
# The sandbox accepts any loopback callback when started without --redirect-uri; the test
# client ignores the host and follows the path.
REDIRECT_URI = "http://127.0.0.1:8000" + "/sync/qbo/callback/"
COMPANY_NAME = "Cave d'Émile & Fils"


@pytest.fixture
def sandbox(sandbox_server: SandboxProcess) -> SandboxProcess:
    # The package's sandbox (tests/sync/conftest.py), which settings already point at.
    return sandbox_server


@pytest.fixture(autouse=True)
def qbo_settings(settings: SettingsWrapper, sandbox: SandboxProcess) -> None:
    assert sandbox.discovery_url == settings.QBO_ENVIRONMENT
    settings.QBO_REDIRECT_URI = REDIRECT_URI


@pytest.fixture
def realm(sandbox: SandboxProcess) -> str:
    body = {"seed": "empty", "name": COMPANY_NAME}
    created = sandbox.control("POST", "/_sandbox/companies", body)
    realm_id: str = created["realm_id"]
    return realm_id


# --- the dance ---------------------------------------------------------------------------


def press_connect(client: Client, data: dict[str, str] | None = None) -> str:
    """POST Connect; return the Intuit authorize URL we were sent to."""
    response = client.post(reverse("sync:connect"), data or {})
    assert response.status_code == 302, response.status_code
    return str(response["Location"])


def consent(authorize_url: str, realm_id: str, *, button: str = "Connect") -> str:
    """Play the person at Intuit's consent page; return the callback path and query."""
    page = requests.get(authorize_url, timeout=HTTP_TIMEOUT)
    assert page.status_code == 200, page.text
    form, clicked = form_with_button(parse_forms(page.text), button)
    answer = requests.request(
        form.method.upper(),
        urljoin(page.url, form.action),
        data=form.submission(clicked, {"realm_id": realm_id}),
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    return f"{location.path}?{location.query}"


def connect(client: Client, realm_id: str) -> Any:
    return client.get(consent(press_connect(client), realm_id))


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def exchange_ourselves(sandbox: SandboxProcess, callback: str) -> int:
    """Exchange the callback's code at the sandbox; 200 proves nobody had used it."""
    code = parse_qs(urlsplit(callback).query)["code"][0]
    token_url = sandbox.base_url + "/oauth2/v1/tokens/bearer"
    answer = requests.post(
        token_url,
        auth=(sandbox.client_id, sandbox.client_secret),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        timeout=HTTP_TIMEOUT,
    )
    return answer.status_code


def refresh_ourselves(sandbox: SandboxProcess, refresh_token: str) -> requests.Response:
    return requests.post(
        sandbox.base_url + "/oauth2/v1/tokens/bearer",
        auth=(sandbox.client_id, sandbox.client_secret),
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        timeout=HTTP_TIMEOUT,
    )


def company_info(sandbox: SandboxProcess, realm_id: str, access_token: str) -> int:
    answer = requests.get(
        f"{sandbox.api_url}/company/{realm_id}/companyinfo/{realm_id}",
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        timeout=HTTP_TIMEOUT,
    )
    return answer.status_code


@pytest.mark.django_db
def test_a_partner_user_connects_through_intuits_consent(
    alice: User, partner_a: Partner, sandbox: SandboxProcess, realm: str
) -> None:
    client = signed_in(alice)
    authorize_url = press_connect(client)
    sent = urlsplit(authorize_url)
    query = {k: v[0] for k, v in parse_qs(sent.query).items()}
    assert authorize_url.startswith(sandbox.base_url)
    assert query["client_id"] == sandbox.client_id
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["response_type"] == "code"
    assert "com.intuit.quickbooks.accounting" in query["scope"].split()
    assert len(query["state"]) >= 32

    response = client.get(consent(authorize_url, realm))
    assert response.status_code == 302
    assert response["Location"] == reverse("sync:connections")
    assert any(COMPANY_NAME in m for m in messages_of(response))

    connection = QBOConnection.objects.get()
    assert (connection.partner, connection.realm_id) == (partner_a, realm)
    assert connection.status == QBOConnection.Status.CONNECTED
    assert connection.company_name == COMPANY_NAME
    assert connection.connected_by == alice
    assert connection.access_token is not None and connection.refresh_token is not None
    # The stored tokens are the real ones the sandbox issued for this company.
    assert company_info(sandbox, realm, connection.access_token.reveal()) == 200
    now = timezone.now()
    assert connection.access_token_expires_at is not None
    assert now < connection.access_token_expires_at <= now + timedelta(hours=1)

    page = client.get(reverse("sync:connections")).content.decode()
    assert "Cave d&#x27;Émile &amp; Fils" in page and realm in page
    assert "Disconnect" in page and "Sync now" in page


@pytest.mark.django_db
def test_cancel_at_intuit_comes_back_with_a_clear_message_and_nothing_stored(
    alice: User, realm: str
) -> None:
    client = signed_in(alice)
    callback = consent(press_connect(client), realm, button="Cancel")
    assert "error=access_denied" in callback
    response = client.get(callback)
    assert response.status_code == 302
    assert response["Location"] == reverse("sync:connections")
    assert any("cancelled" in m for m in messages_of(response))
    assert not QBOConnection.objects.exists()


# --- the state rules -------------------------------------------------------------------------


# What callback_refused.html says for each kind of 400: this browser's state, or what
# QuickBooks sent back.
SAYS_STATE = b"was not for this browser session, was already used, or is more than ten"
SAYS_INCOMPLETE = b"The link back from QuickBooks was incomplete"


def _refused(response: Any) -> None:
    assert response.status_code == 400
    assert b"cannot be completed" in response.content
    assert not QBOConnection.objects.exists()


@pytest.mark.django_db
def test_a_callback_without_state_is_refused(
    alice: User, sandbox: SandboxProcess, realm: str
) -> None:
    client = signed_in(alice)
    callback = consent(press_connect(client), realm)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    del query["state"]
    _refused(client.get(reverse("sync:callback"), query))
    assert exchange_ourselves(sandbox, callback) == 200  # the code was never used


@pytest.mark.django_db
def test_a_mismatched_state_is_refused_and_the_code_is_not_used(
    alice: User, sandbox: SandboxProcess, realm: str
) -> None:
    client = signed_in(alice)
    callback = consent(press_connect(client), realm)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    _refused(client.get(reverse("sync:callback"), {**query, "state": query["state"] + "x"}))
    assert exchange_ourselves(sandbox, callback) == 200


@pytest.mark.django_db
def test_a_state_works_once(alice: User, realm: str) -> None:
    client = signed_in(alice)
    callback = consent(press_connect(client), realm)
    assert client.get(callback).status_code == 302
    first = QBOConnection.objects.get()
    tokens = (first.access_token, first.refresh_token)
    replay = client.get(callback)
    assert replay.status_code == 400
    assert QBOConnection.objects.count() == 1
    first.refresh_from_db()
    assert (first.access_token, first.refresh_token) == tokens


@pytest.mark.django_db
def test_a_state_refused_once_is_gone(alice: User, realm: str) -> None:
    # Even a refusal uses the state up: after a callback with Intuit's error, the same
    # state cannot be brought back with a code.
    client = signed_in(alice)
    authorize_url = press_connect(client)
    state = parse_qs(urlsplit(authorize_url).query)["state"][0]
    client.get(reverse("sync:callback"), {"state": state, "error": "access_denied"})
    callback = consent(authorize_url, realm)
    _refused(client.get(callback))


@pytest.mark.django_db
def test_a_state_older_than_ten_minutes_is_refused(
    alice: User, sandbox: SandboxProcess, realm: str
) -> None:
    client = signed_in(alice)
    callback = consent(press_connect(client), realm)
    session = client.session
    for entry in session[oauth.SESSION_KEY].values():
        entry["issued_at"] = (timezone.now() - timedelta(minutes=10, seconds=5)).timestamp()
    session.save()
    _refused(client.get(callback))
    assert exchange_ourselves(sandbox, callback) == 200


@pytest.mark.django_db
def test_a_state_issued_to_another_session_is_refused(
    alice: User, bob: User, sandbox: SandboxProcess, realm: str
) -> None:
    # Bob's browser started the flow; its callback (state and code) replayed in Alice's
    # browser must not attach Bob's realm to Alice's partner, nor Bob's to anything.
    callback = consent(press_connect(signed_in(bob)), realm)
    _refused(signed_in(alice).get(callback))
    # A second browser of Alice's own is another session too.
    alice_callback = consent(press_connect(signed_in(alice)), realm)
    _refused(signed_in(alice).get(alice_callback))
    assert exchange_ourselves(sandbox, callback) == 200


@pytest.mark.django_db
def test_a_state_is_bound_to_the_partner_it_was_issued_for(
    alice: User, partner_b: Partner, realm: str
) -> None:
    client = signed_in(alice)
    callback = consent(press_connect(client), realm)
    # Alice moves to partner B between pressing Connect and coming back.
    User.objects.filter(pk=alice.pk).update(partner=partner_b)
    _refused(client.get(callback))


@pytest.mark.django_db
def test_tampered_form_fields_are_ignored(
    alice: User, partner_a: Partner, partner_b: Partner, realm: str, sandbox: SandboxProcess
) -> None:
    other_realm = sandbox.new_company(seed="empty")
    client = signed_in(alice)
    authorize_url = press_connect(
        client, {"partner": str(partner_b.pk), "partner_id": str(partner_b.pk),
                 "realm_id": other_realm, "realmId": other_realm}
    )  # fmt: skip
    assert client.get(consent(authorize_url, realm)).status_code == 302
    connection = QBOConnection.objects.get()
    assert (connection.partner, connection.realm_id) == (partner_a, realm)


@pytest.mark.django_db
def test_a_callback_naming_no_realm_is_refused(alice: User, realm: str) -> None:
    client = signed_in(alice)
    callback = consent(press_connect(client), realm)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    del query["realmId"]
    _refused(client.get(reverse("sync:callback"), query))


@pytest.mark.django_db
def test_a_refused_state_is_explained_as_another_session_a_reuse_or_too_old(
    alice: User, realm: str
) -> None:
    client = signed_in(alice)
    callback = consent(press_connect(client), realm)
    assert client.get(callback).status_code == 302
    replay = client.get(callback)  # its state is used up
    assert replay.status_code == 400
    assert SAYS_STATE in replay.content
    assert SAYS_INCOMPLETE not in replay.content


@pytest.mark.django_db
@pytest.mark.parametrize("missing", ["code", "realmId"])
def test_a_callback_lacking_a_code_or_realm_is_explained_as_an_incomplete_link_back(
    missing: str, alice: User, realm: str, sandbox: SandboxProcess
) -> None:
    # The state was this session's, fresh and unused: blaming the session, a reuse or the
    # time taken would send the person looking for the wrong problem.
    client = signed_in(alice)
    callback = consent(press_connect(client), realm)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    del query[missing]
    response = client.get(reverse("sync:callback"), query)
    _refused(response)
    assert SAYS_INCOMPLETE in response.content
    assert SAYS_STATE not in response.content
    if missing == "realmId":
        assert exchange_ourselves(sandbox, callback) == 200  # the code was never used


# --- who may connect -------------------------------------------------------------------------


@pytest.mark.django_db
def test_une_femme_people_cannot_start_or_finish_a_connection(sam: User, ada: User) -> None:
    for user in (sam, ada):
        client = signed_in(user)
        assert client.post(reverse("sync:connect")).status_code == 403
        assert client.get(reverse("sync:callback"), {"state": "x", "code": "y"}).status_code == 403
    assert not QBOConnection.objects.exists()


@pytest.mark.django_db
def test_a_realm_live_for_another_partner_is_refused_before_the_code_is_used(
    alice: User, bob: User, partner_a: Partner, partner_b: Partner, realm: str,
    sandbox: SandboxProcess,
) -> None:  # fmt: skip
    assert connect(signed_in(bob), realm).status_code == 302
    theirs = QBOConnection.objects.get()
    tokens = (theirs.access_token, theirs.refresh_token)

    client = signed_in(alice)
    callback = consent(press_connect(client), realm)
    response = client.get(callback)
    assert response.status_code == 302
    assert response["Location"] == reverse("sync:connections")
    assert any("already connected to another partner" in m for m in messages_of(response))
    assert not QBOConnection.objects.filter(partner=partner_a).exists()
    theirs.refresh_from_db()
    assert (theirs.partner, theirs.access_token, theirs.refresh_token) == (partner_b, *tokens)
    assert exchange_ourselves(sandbox, callback) == 200  # never exchanged


@pytest.mark.django_db
def test_a_partner_with_a_live_company_cannot_add_a_second_one(
    alice: User, partner_a: Partner, realm: str, sandbox: SandboxProcess
) -> None:
    client = signed_in(alice)
    assert connect(client, realm).status_code == 302
    response = connect(client, sandbox.new_company(seed="empty"))
    assert response.status_code == 302
    assert messages_of(response), "the refusal is explained"
    assert list(QBOConnection.objects.values_list("realm_id", flat=True)) == [realm]


# --- reconnect ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_reconnect_revives_the_same_connection_with_new_tokens(
    alice: User, realm: str, sandbox: SandboxProcess
) -> None:
    client = signed_in(alice)
    connect(client, realm)
    connection = QBOConnection.objects.get()
    old_refresh = connection.refresh_token
    assert old_refresh is not None
    # What a refused refresh leaves behind (sync's job; here set directly).
    sandbox.control("POST", f"/_sandbox/companies/{realm}/revoke-tokens")
    QBOConnection.objects.filter(pk=connection.pk).update(
        status=QBOConnection.Status.NEEDS_RECONNECT, last_error="QuickBooks refused the sign-in."
    )
    page = client.get(reverse("sync:connections")).content.decode()
    assert "Reconnect to QuickBooks" in page and "Sync now" not in page

    assert connect(client, realm).status_code == 302
    revived = QBOConnection.objects.get()
    assert revived.pk == connection.pk
    assert revived.status == QBOConnection.Status.CONNECTED
    assert revived.refresh_token is not None and revived.refresh_token != old_refresh
    assert revived.access_token is not None
    assert company_info(sandbox, realm, revived.access_token.reveal()) == 200


# --- disconnect ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_disconnect_revokes_at_intuit_deletes_the_tokens_and_offers_connect_again(
    alice: User, realm: str, sandbox: SandboxProcess
) -> None:
    client = signed_in(alice)
    connect(client, realm)
    connection = QBOConnection.objects.get()
    assert connection.refresh_token is not None
    old_refresh = connection.refresh_token.reveal()

    confirm = client.get(reverse("sync:disconnect", args=[connection.pk]))
    assert confirm.status_code == 200 and b"mirrored are kept" in confirm.content
    response = client.post(reverse("sync:disconnect", args=[connection.pk]))
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.status == QBOConnection.Status.DISCONNECTED
    assert connection.access_token is None and connection.refresh_token is None
    assert connection.next_sync_at is None and connection.disconnected_at is not None
    # Revoked at the sandbox: the old refresh token is dead.
    refused = refresh_ourselves(sandbox, old_refresh)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"

    page = client.get(reverse("sync:connections")).content.decode()
    assert "Connect to QuickBooks" in page
    assert "Sync now" not in page


@pytest.mark.django_db
def test_only_the_partners_people_and_admins_can_disconnect(
    alice: User, bob: User, sam: User, ada: User, realm: str
) -> None:
    connect(signed_in(alice), realm)
    connection = QBOConnection.objects.get()
    url = reverse("sync:disconnect", args=[connection.pk])
    assert signed_in(bob).post(url).status_code == 404  # another partner's: not even there
    assert signed_in(bob).get(url).status_code == 404
    assert signed_in(sam).post(url).status_code == 403  # staff read and sync, never disconnect
    connection.refresh_from_db()
    assert connection.status == QBOConnection.Status.CONNECTED
    assert signed_in(ada).post(url).status_code == 302
    connection.refresh_from_db()
    assert connection.status == QBOConnection.Status.DISCONNECTED


# --- Intuit's disconnect landing page ----------------------------------------------------


@pytest.mark.django_db
def test_the_disconnect_landing_page_explains_and_offers_reconnect_without_changing_anything(
    alice: User, sam: User, realm: str
) -> None:
    client = signed_in(alice)
    connect(client, realm)
    before = QBOConnection.objects.values().get()
    response = client.get(reverse("sync:disconnected"), {"realmId": realm})
    assert response.status_code == 200
    html = response.content.decode()
    assert "disconnected" in html and "Reconnect to QuickBooks" in html
    form, _ = form_with_button(parse_forms(html), "Reconnect to QuickBooks")
    assert (form.method.lower(), form.action) == ("post", reverse("sync:connect"))
    assert QBOConnection.objects.values().get() == before
    assert client.post(reverse("sync:disconnected")).status_code == 405

    staff_page = signed_in(sam).get(reverse("sync:disconnected"))
    assert staff_page.status_code == 200
    assert b"Reconnect to QuickBooks" not in staff_page.content


def test_the_callback_is_where_the_default_redirect_uri_points() -> None:
    # QBO_REDIRECT_URI is registered with Intuit; the route must not drift from it.
    assert reverse("sync:callback") == "/sync/qbo/callback/" == urlsplit(REDIRECT_URI).path


@pytest.mark.django_db
def test_several_tabs_may_each_start_the_flow_but_only_a_few_stay_pending(
    alice: User, realm: str
) -> None:
    client = signed_in(alice)
    first = press_connect(client)
    second = press_connect(client)
    # The first tab finishes even though a second one was opened after it.
    assert client.get(consent(first, realm)).status_code == 302
    assert QBOConnection.objects.count() == 1
    # Opening many more pushes the oldest pending state out.
    for _ in range(oauth.MAX_PENDING_STATES):
        press_connect(client)
    QBOConnection.objects.all().delete()
    _refused(client.get(consent(second, realm)))


@pytest.mark.django_db
def test_connect_explains_when_intuit_cannot_be_reached(
    alice: User, settings: SettingsWrapper
) -> None:
    port = free_port()  # nothing listens there
    settings.QBO_ENVIRONMENT = f"http://127.0.0.1:{port}/.well-known/openid_configuration"
    response = signed_in(alice).post(reverse("sync:connect"))
    assert response.status_code == 302 and response["Location"] == reverse("sync:connections")
    assert any("cannot be reached right now" in m for m in messages_of(response))
