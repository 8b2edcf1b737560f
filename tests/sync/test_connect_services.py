"""connection_authorization_start and connection_connect_from_callback, called directly.

The HTTP side of the same flow is in test_connect_flow.py; here each refusal is checked
for what the views render from it (``ConnectRefused``: the 400 page and which problem it
explains, or the message and its level), and for being made before the code is
exchanged whenever it can be. The codes are real ones from the package's qbo_sandbox.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.conf import settings
from django.contrib.messages import constants as message_levels
from django.core.exceptions import ValidationError
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import Partner, User
from devtools.embedded import free_port
from sync import oauth, services
from sync.models import QBOConnection
from tests.billing.factories import ConnectionFactory
from tests.sync.test_connect_flow import REDIRECT_URI, consent, exchange_ourselves

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase

    from qbo_sandbox.testing import SandboxProcess

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def redirect_uri(settings: SettingsWrapper) -> None:
    # consent() checks that the sandbox sends the browser back to this callback.
    settings.QBO_REDIRECT_URI = REDIRECT_URI


@pytest.fixture
def session() -> SessionBase:
    store: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore()
    return store


@pytest.fixture
def realm(sandbox_server: SandboxProcess) -> str:
    return sandbox_server.new_company(seed="empty")


def consented(session: SessionBase, user: User, realm_id: str) -> dict[str, str]:
    """Connect pressed in ``session`` and consent given for ``realm_id``: the callback's
    query, with a real, unused code."""
    url = services.connection_authorization_start(user=user, session=session)
    callback = consent(url, realm_id)
    return {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}


def refusal(user: User, session: SessionBase, params: dict[str, str]) -> services.ConnectRefused:
    with pytest.raises(services.ConnectRefused) as caught:
        services.connection_connect_from_callback(user=user, session=session, params=params)
    return caught.value


def unused(sandbox: SandboxProcess, params: dict[str, str]) -> bool:
    """Whether the callback's code is still good: 200 proves nobody had exchanged it."""
    callback = f"/sync/qbo/callback/?{urlencode({'code': params['code']})}"
    return exchange_ourselves(sandbox, callback) == 200


# --- connection_authorization_start --------------------------------------------------------


def test_start_binds_a_state_to_the_user_and_partner_and_sends_it_to_intuit(
    alice: User, session: SessionBase, sandbox_server: SandboxProcess
) -> None:
    url = services.connection_authorization_start(user=alice, session=session)
    assert url.startswith(sandbox_server.base_url)
    state = parse_qs(urlsplit(url).query)["state"][0]
    pending = session[oauth.SESSION_KEY][state]
    assert (pending["user_id"], pending["partner_id"]) == (alice.pk, alice.partner_id)


def test_start_says_intuit_cannot_be_reached_when_its_discovery_fails(
    alice: User, session: SessionBase, settings: SettingsWrapper
) -> None:
    settings.QBO_ENVIRONMENT = f"http://127.0.0.1:{free_port()}/.well-known/openid_configuration"
    with pytest.raises(services.ConnectRefused) as caught:
        services.connection_authorization_start(user=alice, session=session)
    refused = caught.value
    assert refused.message == services.INTUIT_UNREACHABLE
    assert (refused.problem, refused.level) == (None, message_levels.ERROR)
    # A ValidationError like any refused rule, so a caller can treat it as one.
    assert isinstance(refused, ValidationError) and refused.messages == [refused.message]


# --- connection_connect_from_callback: the 400s ------------------------------------------


@pytest.mark.parametrize(
    "params",
    [{}, {"state": "made-up", "code": "x", "realmId": "1"}, {"code": "x", "realmId": "1"}],
    ids=["nothing", "unknown state", "no state"],
)
def test_a_state_this_session_did_not_issue_is_a_state_problem(
    params: dict[str, str], alice: User, session: SessionBase
) -> None:
    services.connection_authorization_start(user=alice, session=session)
    refused = refusal(alice, session, params)
    assert refused.problem == "state"
    assert not QBOConnection.objects.exists()


def test_a_state_issued_to_another_user_is_a_state_problem(
    alice: User, bob: User, session: SessionBase, realm: str, sandbox_server: SandboxProcess
) -> None:
    params = consented(session, bob, realm)
    assert refusal(alice, session, params).problem == "state"
    assert unused(sandbox_server, params)


@pytest.mark.parametrize(
    "change",
    [{"code": None}, {"code": ""}, {"realmId": None}, {"realmId": "²"}, {"realmId": "1" * 33}],
    ids=["no code", "empty code", "no realm", "superscript realm", "realm too long"],
)
def test_a_callback_lacking_a_code_or_a_realm_id_is_incomplete_and_the_code_stays_unused(
    change: dict[str, str | None],
    alice: User,
    session: SessionBase,
    realm: str,
    sandbox_server: SandboxProcess,
) -> None:
    params = consented(session, alice, realm)
    sent = {k: v for k, v in {**params, **change}.items() if v is not None}
    refused = refusal(alice, session, sent)
    assert refused.problem == "incomplete"
    assert not QBOConnection.objects.exists()
    if params["code"] == sent.get("code"):
        assert unused(sandbox_server, params)
    # The state was used up all the same: the complete callback cannot follow it.
    assert refusal(alice, session, params).problem == "state"


# --- connection_connect_from_callback: back to Connections with a message ----------------


def test_cancelling_at_intuit_is_news_not_an_error(alice: User, session: SessionBase) -> None:
    url = services.connection_authorization_start(user=alice, session=session)
    state = parse_qs(urlsplit(url).query)["state"][0]
    refused = refusal(alice, session, {"state": state, "error": "access_denied"})
    assert refused.problem is None and refused.level == message_levels.INFO
    assert "cancelled" in refused.message


def test_another_error_from_intuit_is_an_error(alice: User, session: SessionBase) -> None:
    url = services.connection_authorization_start(user=alice, session=session)
    state = parse_qs(urlsplit(url).query)["state"][0]
    refused = refusal(alice, session, {"state": state, "error": "server_error"})
    assert refused.problem is None and refused.level == message_levels.ERROR
    assert "did not complete the connection" in refused.message


def test_a_realm_live_for_another_partner_is_refused_before_the_code_is_exchanged(
    alice: User,
    partner_b: Partner,
    session: SessionBase,
    realm: str,
    sandbox_server: SandboxProcess,
) -> None:
    theirs = ConnectionFactory(partner=partner_b, realm_id=realm)
    params = consented(session, alice, realm)
    refused = refusal(alice, session, params)
    assert (refused.message, refused.problem) == (services.REALM_TAKEN, None)
    assert list(QBOConnection.objects.all()) == [theirs]
    assert unused(sandbox_server, params)


def test_a_code_intuit_refuses_connects_nothing_and_says_so(
    alice: User, session: SessionBase, realm: str
) -> None:
    params = consented(session, alice, realm)
    refused = refusal(alice, session, {**params, "code": "not-a-code-intuit-issued"})
    assert refused.problem is None and refused.level == message_levels.ERROR
    assert "did not accept the connection" in refused.message
    assert not QBOConnection.objects.exists()


def test_a_refusal_by_connection_connect_is_passed_on_as_its_message(
    alice: User, partner_a: Partner, session: SessionBase, sandbox_server: SandboxProcess
) -> None:
    ConnectionFactory(partner=partner_a, company_name="First Books")
    params = consented(session, alice, sandbox_server.new_company(seed="empty"))
    refused = refusal(alice, session, params)
    assert refused.problem is None
    assert "First Books" in refused.message and "Disconnect it" in refused.message
    assert QBOConnection.objects.filter(partner=partner_a).count() == 1


# --- connection_connect_from_callback: connected -------------------------------------------


def test_a_complete_callback_connects_the_users_own_partner(
    alice: User,
    partner_a: Partner,
    session: SessionBase,
    realm: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    params = consented(session, alice, realm)
    with django_capture_on_commit_callbacks() as enqueued:
        made = services.connection_connect_from_callback(user=alice, session=session, params=params)
    assert (made.partner, made.realm_id, made.connected_by) == (partner_a, realm, alice)
    assert made.status == QBOConnection.Status.CONNECTED
    assert len(enqueued) == 1  # the first import, once committed
    # Used up: the same callback again is a state problem, not a second exchange.
    assert refusal(alice, session, params).problem == "state"
