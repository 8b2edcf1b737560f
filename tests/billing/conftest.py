from __future__ import annotations

import pytest

from accounts.models import Partner
from sync.models import QBOConnection
from tests.billing.factories import ConnectionFactory


@pytest.fixture
def books_a(partner_a: Partner) -> QBOConnection:
    """Partner A's (alice's) QuickBooks company."""
    connection: QBOConnection = ConnectionFactory(partner=partner_a, realm_id="4620000000000001")
    return connection


@pytest.fixture
def books_b(partner_b: Partner) -> QBOConnection:
    """Partner B's (bob's) QuickBooks company."""
    connection: QBOConnection = ConnectionFactory(partner=partner_b, realm_id="4620000000000002")
    return connection
