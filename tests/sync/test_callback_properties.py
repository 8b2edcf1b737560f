"""GET /sync/qbo/callback/ and /sync/qbo/disconnected/ under arbitrary parameters.

The callback's promises (sync/services.py, sync/oauth.py): a ``state`` this session was not
issued is refused with 400 and the "cannot be completed" page; with a state it was
issued, Intuit's ``error`` is a redirect to Connections with a message, a missing code or
a realm id that is not digits is a 400, a realm live for another partner is a redirect with
a message before the code is used, and a code the token endpoint refuses is a redirect
with a message. In every one of those, no QBOConnection is created or changed.

The state is put in the session the way Connect puts it there (``oauth.state_issue``), so
that examples reach the code exchange; the token endpoint that refuses their made-up
codes is the package's real qbo_sandbox (tests/sync/conftest.py points settings at it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.messages import get_messages
from django.http import QueryDict
from django.test import Client
from django.urls import reverse
from hypothesis import event, given
from hypothesis import strategies as st
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import Partner, User
from sync import oauth
from sync.models import QBOConnection
from tests.billing.factories import ConnectionFactory
from tests.conftest import signed_in
from tests.sync.test_connect_flow import (
    REDIRECT_URI,
    SAYS_INCOMPLETE,
    SAYS_STATE,
    consent,
    exchange_ourselves,
    press_connect,
)
from tests.sync.test_webhooks_properties import changed_tables, writes_by_table
from tests.test_no_5xx_lists import (
    NASTY,
    NUMBERISH,
    RAW,
    encoded,
    htmx_headers,
    values,
    weighted,
)

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

pytestmark = pytest.mark.django_db

CALLBACK = reverse("sync:callback")
CONNECTIONS = reverse("sync:connections")
BOBS_REALM = "4620000000000002"


@pytest.fixture
def bobs_books(partner_b: Partner, bob: User) -> QBOConnection:
    """Partner B's live company: a callback naming its realm must not take it over."""
    connection: QBOConnection = ConnectionFactory(
        partner=partner_b, realm_id=BOBS_REALM, connected_by=bob
    )
    return connection


def issue_state(client: Client, user: User) -> str:
    """What pressing Connect leaves in the session: a state bound to this user."""
    session = client.session
    state = oauth.state_issue(session=session, user=user)
    session.save()
    return state


def connections_now() -> list[dict[str, Any]]:
    return list(QBOConnection.objects.order_by("pk").values())


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- Parameters ------------------------------------------------------------------------------

REALM_IDS = st.one_of(
    st.just(BOBS_REALM),
    st.from_regex(r"[0-9]{1,40}", fullmatch=True),
    st.from_regex(r"[0-9]{1,32}", fullmatch=True),
    st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=6),
    st.sampled_from(NUMBERISH),
    st.sampled_from(NASTY),
).map(encoded)
CODES = st.one_of(
    st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True).map(encoded),
    values([]),
)
ERRORS = st.one_of(
    st.sampled_from(["access_denied", "invalid_scope", "server_error"]).map(encoded),
    values([]),
)


def mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` in about four examples of five."""
    return weighted((4, usual), (1, rare))


def callback_query(state: str | None) -> st.SearchStrategy[str]:
    """code, state, realmId, error and error_description, sometimes repeated (the last
    wins) and among unknown names. ``state`` is the one this session holds: it is sent,
    mostly as it is, with a code and a realm id, so that most examples get past the state
    check; Intuit's error comes now and then. None: the session holds none, and every
    parameter is as likely as any other."""
    any_state = st.one_of(values([]), st.sampled_from(RAW))
    fields = {
        "code": CODES,
        "state": any_state,
        "realmId": REALM_IDS,
        "error": ERRORS,
        "error_description": values([]),
    }
    if state is None:
        pieces = st.fixed_dictionaries({}, optional=fields)
    else:
        mine = encoded(state)
        damaged = st.one_of(st.sampled_from([mine + "x", mine[:-1], mine.upper()]), any_state)
        sent = mostly(st.just(mine), damaged)
        pieces = st.fixed_dictionaries(
            {
                "state": sent,
                "code": CODES,
                "realmId": REALM_IDS,
                "error": mostly(st.none(), ERRORS),
            },
            optional={"error_description": fields["error_description"]},
        ).map(lambda chosen: {k: v for k, v in chosen.items() if v is not None})
    extra = st.lists(
        st.one_of(
            st.sampled_from(sorted(fields)).flatmap(
                lambda name: fields[name].map(lambda value: f"{name}={value}")
            ),
            st.tuples(st.text(max_size=8).map(encoded), values([])).map("=".join),
            st.sampled_from(["", "code", "state=", "realmId"]),
        ),
        max_size=2,
    )
    return (
        st.tuples(pieces.map(lambda chosen: [f"{k}={v}" for k, v in chosen.items()]), extra)
        .map(lambda parts: parts[0] + parts[1])
        .flatmap(st.permutations)
        .map("&".join)
    )


def check_refusal(response: Any, before: list[dict[str, Any]], tables: dict[str, int]) -> None:
    """What every answer to a callback that cannot connect must hold."""
    status = response.status_code
    event(f"answered {status}")
    assert status in (302, 400), status
    if status == 400:
        assert b"This QuickBooks connection cannot be completed" in response.content
        # It blames exactly one thing: this browser's state, or what QuickBooks sent back.
        assert (SAYS_STATE in response.content) != (SAYS_INCOMPLETE in response.content)
    else:
        assert response["Location"] == CONNECTIONS
        said = messages_of(response)
        assert said and all(len(m) > 20 for m in said), said
        event(f"said {said[0][:30]}")
    assert connections_now() == before
    # The session (the state used up, the message) is all a refused callback writes.
    assert changed_tables(tables) <= {"django_session"}


# --- Properties ------------------------------------------------------------------------------


@given(data=st.data())
def test_a_callback_without_a_state_from_this_session_is_refused_whatever_it_carries(
    data: st.DataObject, alice: User, bobs_books: QBOConnection
) -> None:
    client = signed_in(alice)
    query = data.draw(callback_query(None), label="query")
    headers = data.draw(htmx_headers(), label="headers")
    before, tables = connections_now(), writes_by_table()
    response = client.get(f"{CALLBACK}?{query}", headers=headers)
    check_refusal(response, before, tables)
    if "state" not in query:
        assert response.status_code == 400
    if response.status_code == 400:
        # No state of this session's was sent, so nothing else can be to blame.
        assert SAYS_STATE in response.content


@given(data=st.data())
def test_a_callback_with_this_sessions_state_and_a_made_up_code_connects_nothing(
    data: st.DataObject, alice: User, bobs_books: QBOConnection
) -> None:
    client = signed_in(alice)
    state = issue_state(client, alice)
    query = data.draw(callback_query(state), label="query")
    before, tables = connections_now(), writes_by_table()
    response = client.get(f"{CALLBACK}?{query}")
    check_refusal(response, before, tables)
    if QueryDict(query).get("state") == state:
        # Used up whatever happened: the same state cannot be brought back.
        again = urlencode({"state": state, "code": "x", "realmId": "1"})
        assert client.get(f"{CALLBACK}?{again}").status_code == 400


@given(data=st.data())
def test_the_disconnect_landing_page_ignores_any_parameters_and_changes_nothing(
    data: st.DataObject, cast: dict[str, User], bobs_books: QBOConnection
) -> None:
    query = data.draw(callback_query(None), label="query")
    headers = data.draw(htmx_headers(), label="headers")
    for who in ("alice", "bob", "sam", "ada"):
        client = signed_in(cast[who])  # signing in writes (a session, the last login)
        before, tables = connections_now(), writes_by_table()
        response = client.get(f"{reverse('sync:disconnected')}?{query}", headers=headers)
        assert response.status_code == 200, (who, response.status_code)
        assert b"disconnected" in response.content
        assert connections_now() == before
        assert changed_tables(tables) <= {"django_session"}


# --- Examples --------------------------------------------------------------------------------


@pytest.fixture
def consented(
    settings: SettingsWrapper, sandbox_server: SandboxProcess, alice: User
) -> tuple[Client, dict[str, str]]:
    """Alice pressed Connect and consented at the sandbox: her client, and the query of
    the callback Intuit sent her back with (a real, unused code)."""
    settings.QBO_REDIRECT_URI = REDIRECT_URI
    realm = sandbox_server.new_company(seed="empty")
    client = signed_in(alice)
    callback = consent(press_connect(client), realm)
    return client, {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}


@pytest.mark.parametrize("realm_id", ["²", "١٢٣", "１２３", "12 ", "1" * 33])
def test_a_realm_id_that_is_not_ascii_digits_is_refused_before_the_code_is_used(
    realm_id: str, consented: tuple[Client, dict[str, str]], sandbox_server: SandboxProcess
) -> None:
    # str.isdigit() let the superscript and the Arabic-Indic digits through: the code was
    # exchanged and a connection stored under a realm id that names no company.
    client, query = consented
    response = client.get(CALLBACK, {**query, "realmId": realm_id})
    assert response.status_code == 400
    assert b"This QuickBooks connection cannot be completed" in response.content
    assert SAYS_INCOMPLETE in response.content and SAYS_STATE not in response.content
    assert not QBOConnection.objects.exists()
    callback = f"{CALLBACK}?{urlencode(query)}"
    assert exchange_ourselves(sandbox_server, callback) == 200  # the code was never used
