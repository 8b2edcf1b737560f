"""sync/clients/qbo/ against qbo_sandbox over HTTP: query text, faults, retries, timeouts.

The one fake here is ``silent_server``: a socket that accepts and never answers, which
the sandbox cannot be made to do forever.
"""

from __future__ import annotations

import logging
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
import requests

from devtools.embedded import free_port
from sync.clients import qbo
from sync.clients.qbo import QBOClient, QBOError, StaticToken, quote, statement
from tests.sync.books import Books, stats

if TYPE_CHECKING:
    from collections.abc import Iterator

    from qbo_sandbox.testing import SandboxProcess
    from tests.sync.conftest import SilentServer

pytestmark = pytest.mark.django_db


def client_for(sandbox: SandboxProcess, realm_id: str) -> QBOClient:
    token = sandbox.mint_tokens(realm_id)["access_token"]
    return QBOClient(realm_id=realm_id, tokens=StaticToken(token))


# ---------------------------------------------------------------- query text


def test_quote_escapes_quotes_and_backslashes_and_nothing_else() -> None:
    assert quote("Château d'Yquem 2015") == "'Château d\\'Yquem 2015'"
    assert quote("Crémant: Brut") == "'Crémant: Brut'"
    assert quote("C:\\wines\\") == "'C:\\\\wines\\\\'"
    assert quote("' OR Id > '0") == "'\\' OR Id > \\'0'"


def test_statement_puts_every_value_through_quote() -> None:
    text = statement(
        "Item",
        where=[("Name", "=", "Château d'Yquem 2015"), ("Active", "IN", (True, False))],
        order_by="Id",
        max_results=1000,
        extra_fields=("Sku",),
    )
    assert text == (
        "SELECT *, Sku FROM Item WHERE Name = 'Château d\\'Yquem 2015' "
        "AND Active IN (true, false) ORDERBY Id MAXRESULTS 1000"
    )
    assert statement("Invoice", where=[("Id", ">", "41")], count=True) == (
        "SELECT COUNT(*) FROM Invoice WHERE Id > '41'"
    )


@pytest.mark.parametrize("name", ["Name = 'x' --", "Item; DROP", "", "1Name"])
def test_statement_refuses_anything_but_identifiers_as_names(name: str) -> None:
    with pytest.raises(ValueError):
        statement("Item", where=[(name, "=", "x")])
    with pytest.raises(ValueError):
        statement(name)


def test_names_with_apostrophes_accents_colons_and_backslashes_round_trip(
    sandbox_server: SandboxProcess,
) -> None:
    realm = sandbox_server.new_company(seed="empty")
    books = Books(sandbox_server, realm)
    income = books.query("SELECT * FROM Account WHERE AccountType = 'Income'")["Account"][0]
    description = "Crémant: Brut \\ réserve d'Alsace"
    created = books.post(
        "Item",
        {
            "Name": "Château d'Yquem 2015",
            "Type": "NonInventory",
            "Description": description,
            "Sku": "CH-D'YQ-2015",
            "IncomeAccountRef": {"value": income["Id"]},
        },
    )["Item"]
    client = client_for(sandbox_server, realm)

    by_name = client.find("Item", where=[("Name", "=", "Château d'Yquem 2015")])
    by_description = client.find("Item", where=[("Description", "=", description)])
    by_sku = client.find("Item", where=[("Sku", "=", "CH-D'YQ-2015")])

    assert [row["Id"] for row in by_name] == [created["Id"]]
    assert [row["Id"] for row in by_description] == [created["Id"]]
    assert [row["Sku"] for row in by_sku] == ["CH-D'YQ-2015"]
    assert client.find("Item", where=[("Name", "=", "Chateau d'Yquem 2015")]) == []


def test_amounts_come_back_as_decimals(sandbox_server: SandboxProcess) -> None:
    realm = sandbox_server.new_company(seed="demo")
    page = client_for(sandbox_server, realm).query_page("Invoice", after_id="")
    assert page.rows and all(isinstance(row["TotalAmt"], Decimal | int) for row in page.rows)


# ---------------------------------------------------------------- faults


def test_a_validation_fault_is_not_retried_and_is_logged_with_its_intuit_tid(
    sandbox_server: SandboxProcess, caplog: pytest.LogCaptureFixture
) -> None:
    realm = sandbox_server.new_company(seed="empty")
    client = client_for(sandbox_server, realm)
    caplog.set_level(logging.INFO)

    with pytest.raises(QBOError) as raised:
        client.find("Item", where=[("Colour", "=", "secret-looking-value")])

    error = raised.value
    assert error.status == 400 and error.code and not error.transient
    assert error.intuit_tid and error.intuit_tid.startswith("1-")
    assert client.meter.requests == 1  # no retry
    # The library's exception (which embeds the response body) is neither chained nor shown.
    assert error.__cause__ is None and error.__suppress_context__
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert error.intuit_tid in logged
    assert "Colour" not in logged and "Colour" not in str(error)


def test_429s_wait_for_retry_after_and_are_counted(
    on_fast_sandbox: SandboxProcess, settings: Any
) -> None:
    # Our limiter set far above the sandbox's 3 requests per (scaled) minute, so the
    # sandbox answers 429 and the client has to cope.
    settings.QBO_RATE_PER_WINDOW = 1000
    settings.QBO_RATE_PER_SECOND = 1000
    sandbox = on_fast_sandbox
    realm = sandbox.new_company(seed="empty")
    sandbox.control("POST", "/_sandbox/config", {"limit_per_minute": 3})
    client = client_for(sandbox, realm)

    started = time.monotonic()
    counts = [client.count("Customer") for _ in range(6)]

    assert len(set(counts)) == 1
    throttled = stats(sandbox)["throttled"].get(realm, 0)
    assert throttled >= 1
    assert client.meter.throttled == throttled
    assert client.meter.requests == 6 + throttled
    # Retry-After is 1 s at this time scale: each 429 cost at least that long.
    assert time.monotonic() - started >= 1.0


def test_5xx_answers_are_retried_with_backoff(
    on_fast_sandbox: SandboxProcess, settings: Any
) -> None:
    settings.QBO_MAX_RETRIES = 12
    settings.QBO_BACKOFF_BASE = 0.005
    settings.QBO_BACKOFF_CAP = 0.05
    sandbox = on_fast_sandbox
    realm = sandbox.new_company(seed="empty")
    client = client_for(sandbox, realm)
    expected = client.count("Customer")
    sandbox.control("POST", "/_sandbox/config", {"fault_5xx": 0.3})

    assert [client.count("Customer") for _ in range(30)] == [expected] * 30
    assert client.meter.requests > 31  # some were 500/503 and sent again
    assert client.meter.throttled == 0
    # Every request beyond the 31 calls was a retry, and the meter says so.
    faults = sandbox.control("GET", "/_sandbox/faults")
    assert client.meter.retries == client.meter.requests - 31 == sum(faults["5xx"].values())


def test_a_refused_connection_is_retried_then_reported(settings: Any) -> None:
    settings.QBO_API_URL = f"http://127.0.0.1:{free_port()}/v3"  # nothing listens there
    settings.QBO_MAX_RETRIES = 3
    settings.QBO_BACKOFF_BASE = 0.01
    client = QBOClient(realm_id="123", tokens=StaticToken("t"))
    with pytest.raises(QBOError) as raised:
        client.count("Item")
    assert raised.value.transient and raised.value.status is None
    assert client.meter.requests == 4
    assert client.meter.retries == 3


# ---------------------------------------------------------------- timeouts


def test_an_api_call_to_a_socket_that_never_answers_fails_within_the_timeout(
    silent_server: SilentServer, settings: Any
) -> None:
    settings.QBO_API_URL = silent_server.url + "/v3"
    settings.QBO_READ_TIMEOUT = 1.0
    settings.QBO_MAX_RETRIES = 0
    client = QBOClient(realm_id="123", tokens=StaticToken("t"))

    started = time.monotonic()
    with pytest.raises(QBOError) as raised:
        client.count("Item")
    elapsed = time.monotonic() - started

    assert 1.0 <= elapsed < 2.5
    assert raised.value.transient
    assert "ReadTimeout" in raised.value.message
    assert silent_server.connections  # it really connected and waited


def test_retries_of_a_silent_socket_stop_at_the_call_deadline(
    silent_server: SilentServer, settings: Any
) -> None:
    settings.QBO_API_URL = silent_server.url + "/v3"
    settings.QBO_READ_TIMEOUT = 0.5
    settings.QBO_MAX_RETRIES = 50
    settings.QBO_BACKOFF_BASE = 0.1
    settings.QBO_CALL_DEADLINE = 2.0
    client = QBOClient(realm_id="123", tokens=StaticToken("t"))

    started = time.monotonic()
    with pytest.raises(QBOError):
        client.count("Item")

    assert time.monotonic() - started < 3.5
    assert 2 <= client.meter.requests < 10


def test_oauth_calls_to_a_silent_discovery_endpoint_fail_within_the_timeout(
    silent_server: SilentServer, settings: Any
) -> None:
    settings.QBO_ENVIRONMENT = silent_server.url + "/.well-known/openid_configuration"
    settings.QBO_READ_TIMEOUT = 1.0

    started = time.monotonic()
    with pytest.raises(QBOError) as raised:
        qbo.authorization_url(state="abc")

    assert time.monotonic() - started < 2.5
    assert raised.value.transient


# ---------------------------------------------------------------- OAuth


class _DiscoveryServer:
    """Serves one discovery document and counts how often it is asked for."""

    def __init__(self, document: dict[str, str]) -> None:
        import json

        body = json.dumps(document).encode()
        self.hits = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's dispatch name)
                owner.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = (
            f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/openid_configuration"
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def discovery_copy(sandbox_server: SandboxProcess) -> Iterator[_DiscoveryServer]:
    document = requests.get(sandbox_server.discovery_url, timeout=10).json()
    server = _DiscoveryServer(document)
    yield server
    server.close()


def test_the_discovery_document_is_fetched_once_per_process(
    discovery_copy: _DiscoveryServer, settings: Any
) -> None:
    settings.QBO_ENVIRONMENT = discovery_copy.url

    urls = [qbo.authorization_url(state=f"state-{n}") for n in range(3)]

    assert discovery_copy.hits == 1
    assert all("scope=com.intuit.quickbooks.accounting" in url for url in urls)
    assert "state=state-2" in urls[2]


def test_a_bad_authorization_code_is_an_oauth_callback_error_with_its_tid(
    sandbox_server: SandboxProcess,
) -> None:
    with pytest.raises(qbo.OAuthCallbackError) as raised:
        qbo.exchange_code(code="not-a-code", realm_id="1")
    assert raised.value.status == 400
    assert raised.value.code == "invalid_grant"
    assert raised.value.intuit_tid


@pytest.mark.usefixtures("strict_rotation")
def test_a_refresh_rotates_the_refresh_token(sandbox_server: SandboxProcess) -> None:
    realm = sandbox_server.new_company(seed="empty")
    minted = sandbox_server.mint_tokens(realm)

    tokens = qbo.refresh_tokens(refresh_token=minted["refresh_token"])

    assert tokens.refresh_token != minted["refresh_token"]
    assert "access_token" not in repr(tokens) and tokens.access_token not in repr(tokens)
    with pytest.raises(qbo.ReconnectRequired) as raised:
        qbo.refresh_tokens(refresh_token=minted["refresh_token"])
    assert raised.value.intuit_tid
    assert QBOClient(realm_id=realm, tokens=StaticToken(tokens.access_token)).count("Item") >= 0


def test_company_name_is_read_with_a_fresh_token(sandbox_server: SandboxProcess) -> None:
    realm = sandbox_server.new_company(seed="demo")
    token = sandbox_server.mint_tokens(realm)["access_token"]
    name = qbo.fetch_company_name(realm_id=realm, access_token=token)
    companies = sandbox_server.control("GET", "/_sandbox/status")["companies"]
    assert name and name == next(c["name"] for c in companies if c["realm_id"] == realm)
