"""Applying QuickBooks objects to the mirror: a version older than the stored one never
overwrites it, whatever order the changes arrive in (docs/reliability.md #15)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from accounts.models import Partner
from billing.models import QBOCustomer
from common.mirror import mirror_apply
from sync.models import QBOConnection

pytestmark = pytest.mark.django_db


def customer(sync_token: str, updated: str, balance: str) -> dict[str, Any]:
    return {
        "Id": "58",
        "SyncToken": sync_token,
        "DisplayName": "Cave de Reims",
        "Balance": Decimal(balance),
        "MetaData": {"LastUpdatedTime": updated},
    }


V1 = customer("1", "2025-03-01T10:00:00-08:00", "100.00")
V2 = customer("2", "2025-03-01T10:05:00-08:00", "250.00")


@pytest.fixture
def connection(partner_a: Partner) -> QBOConnection:
    made: QBOConnection = QBOConnection.objects.create(
        partner=partner_a, realm_id="4620000000000555"
    )
    return made


def stored(connection: QBOConnection) -> QBOCustomer:
    return QBOCustomer.objects.get(connection=connection, qbo_id="58")


def test_an_older_version_arriving_late_leaves_the_newer_one(connection: QBOConnection) -> None:
    mirror_apply(connection_id=connection.pk, entity="Customer", objects=[V2])

    late = mirror_apply(connection_id=connection.pk, entity="Customer", objects=[V1])

    assert (late.upserted, late.unchanged) == (0, 1)
    row = stored(connection)
    assert (row.sync_token, row.balance) == ("2", Decimal("250.00"))


def test_versions_out_of_order_within_one_answer_keep_the_newest(
    connection: QBOConnection,
) -> None:
    applied = mirror_apply(connection_id=connection.pk, entity="Customer", objects=[V2, V1])

    assert applied.upserted == 1
    assert stored(connection).balance == Decimal("250.00")


def test_a_re_read_of_the_same_version_writes_nothing(connection: QBOConnection) -> None:
    mirror_apply(connection_id=connection.pk, entity="Customer", objects=[V2])

    again = mirror_apply(connection_id=connection.pk, entity="Customer", objects=[V2])

    assert not again.wrote and again.unchanged == 1
