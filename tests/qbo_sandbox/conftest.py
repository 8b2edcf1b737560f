"""Session fixtures for the qbo_sandbox HTTP integration suite.

One sandbox process serves the whole session; every test gets its own fresh company (realm), so
tests cannot see each other's data or tokens. Tests that change server-wide settings (throttle
limits, fault injection, webhook format) start their own short-lived server instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from intuitlib.client import AuthClient
from quickbooks import QuickBooks

from .support import (
    BIG_REALM_NEW_ITEMS,
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    VERIFIER_TOKEN,
    Accounts,
    BigRealm,
    Connection,
    RealmApi,
    WebhookReceiver,
    connect,
    ensure_accounts,
    make_auth_client,
    non_inventory_item_body,
)

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

# python-quickbooks' OAuth2Session refuses plain http unless told otherwise (docs/qbo-api.md §11).
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def sandbox(webhook_receiver: WebhookReceiver) -> Iterator[SandboxProcess]:
    # Imported here so that this directory's unit tests (owned by others, not needing a server)
    # still collect while the launcher is being written.
    from qbo_sandbox.testing import start_sandbox

    process = start_sandbox(
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        CLIENT_SECRET,
        "--redirect-uri",
        REDIRECT_URI,
        "--webhook-url",
        webhook_receiver.url,
        "--webhook-verifier",
        VERIFIER_TOKEN,
    )
    yield process
    process.stop()


@pytest.fixture
def realm(sandbox: SandboxProcess) -> str:
    realm_id: str = sandbox.new_company(seed="empty")
    return realm_id


@pytest.fixture
def connection(sandbox: SandboxProcess, realm: str) -> Connection:
    return connect(sandbox, realm)


@pytest.fixture
def tokens(connection: Connection) -> dict[str, Any]:
    return connection.tokens


@pytest.fixture
def qb(connection: Connection) -> QuickBooks:
    return connection.qb


@pytest.fixture
def api(connection: Connection) -> RealmApi:
    return connection.api


@pytest.fixture
def accounts(api: RealmApi) -> Accounts:
    return ensure_accounts(api)


@pytest.fixture
def auth_client(sandbox: SandboxProcess) -> AuthClient:
    # Constructing the client downloads the discovery document from the sandbox.
    return make_auth_client(sandbox.discovery_url, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI)


@pytest.fixture(scope="session")
def big_realm(sandbox: SandboxProcess) -> BigRealm:
    """Built once through 30-item batches (34 requests, under the 40/min batch limit)."""
    realm_id = sandbox.new_company(seed="empty")
    conn = connect(sandbox, realm_id)
    accounts = ensure_accounts(conn.api)
    existing = conn.api.query("SELECT COUNT(*) FROM Item")["totalCount"]
    bodies = [
        non_inventory_item_body(f"Bulk Wine {number:04d}", accounts)
        for number in range(BIG_REALM_NEW_ITEMS)
    ]
    for start in range(0, len(bodies), 30):
        chunk = bodies[start : start + 30]
        response = conn.api.batch(
            [
                {"bId": str(index), "operation": "create", "Item": body}
                for index, body in enumerate(chunk)
            ]
        )
        assert response.status_code == 200, response.text
        results = response.json()["BatchItemResponse"]
        assert all("Item" in result for result in results), results
    return BigRealm(api=conn.api, qb=conn.qb, item_count=existing + BIG_REALM_NEW_ITEMS)
