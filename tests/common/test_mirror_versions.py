"""The mirror's history as the write path keeps it: one version per change applied, none
for what changed nothing (docs/architecture.md, "The mirror's history")."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from accounts.models import Partner
from billing.models import QBOInvoice
from common.mirror import mirror_apply, mirror_prune
from common.models import MirrorVersion
from sync.models import QBOConnection

pytestmark = pytest.mark.django_db


def invoice(token: str, minute: int, balance: str, **extra: Any) -> dict[str, Any]:
    return {
        "Id": "130",
        "SyncToken": token,
        "DocNumber": "1042",
        "CustomerRef": {"value": "7", "name": "Cave de Reims"},
        "TxnDate": "2026-10-01",
        "DueDate": "2026-10-31",
        "TotalAmt": Decimal("1200.00"),
        "Balance": Decimal(balance),
        "Line": [{"Amount": Decimal("1200.00"), "DetailType": "SalesItemLineDetail",
                  "SalesItemLineDetail": {"ItemRef": {"value": "3"}, "Qty": 12}}],
        "MetaData": {"LastUpdatedTime": f"2026-11-02T10:{minute:02d}:00-08:00"},
        **extra,
    }  # fmt: skip


@pytest.fixture
def connection(partner_a: Partner) -> QBOConnection:
    made: QBOConnection = QBOConnection.objects.create(
        partner=partner_a, realm_id="4620000000000777"
    )
    return made


def versions(connection: QBOConnection) -> list[MirrorVersion]:
    return list(MirrorVersion.objects.filter(connection=connection).order_by("pk"))


def apply(connection: QBOConnection, *objects: dict[str, Any]) -> None:
    mirror_apply(connection_id=connection.pk, entity="Invoice", objects=list(objects))


def test_first_sight_is_one_created_version_with_the_document(connection: QBOConnection) -> None:
    apply(connection, invoice("0", 0, "1200.00"))

    [first] = versions(connection)
    assert (first.entity, first.qbo_id, first.kind, first.sync_token) == (
        "Invoice", "130", "created", "0",
    )  # fmt: skip
    assert first.changes == {}
    assert first.raw["DocNumber"] == "1042"
    assert first.seen_at.tzinfo is not None


def test_a_change_is_one_version_with_what_changed_before_and_after(
    connection: QBOConnection,
) -> None:
    apply(connection, invoice("0", 0, "1200.00"))
    apply(connection, invoice("1", 5, "700.00"))

    created, updated = versions(connection)
    assert updated.kind == "updated" and updated.sync_token == "1"
    # Money stays Decimal, cents included.
    assert updated.changes == {"balance": [Decimal("1200.00"), Decimal("700.00")]}
    assert str(updated.changes["balance"][1]) == "700.00"
    assert updated.raw["Balance"] == 700


def test_the_same_version_again_or_an_older_one_leaves_none(connection: QBOConnection) -> None:
    apply(connection, invoice("0", 0, "1200.00"))
    apply(connection, invoice("2", 9, "0.00"))
    apply(connection, invoice("2", 9, "0.00"))  # a quiet poll's overlap
    apply(connection, invoice("1", 5, "700.00"))  # an older version, late

    assert [v.kind for v in versions(connection)] == ["created", "updated"]


def test_a_void_is_a_voided_version(connection: QBOConnection) -> None:
    apply(connection, invoice("0", 0, "1200.00"))
    apply(
        connection,
        invoice("1", 5, "0", TotalAmt=0, PrivateNote="Voided", Line=[]),
    )

    voided = versions(connection)[-1]
    assert voided.kind == "voided"
    assert voided.changes["voided"] == [False, True]
    assert voided.changes["total_amt"] == [Decimal("1200.00"), Decimal("0.00")]


def test_a_tombstone_closes_the_history_and_keeps_it(connection: QBOConnection) -> None:
    apply(connection, invoice("0", 0, "1200.00"))
    tombstone = {"Id": "130", "status": "Deleted",
                 "MetaData": {"LastUpdatedTime": "2026-11-03T09:00:00-08:00"}}  # fmt: skip
    mirror_apply(
        connection_id=connection.pk,
        entity="Invoice",
        objects=[tombstone],
        texts=[json.dumps(tombstone)],
    )

    assert not QBOInvoice.objects.filter(connection=connection).exists()
    created, deleted = versions(connection)
    assert deleted.kind == "deleted" and deleted.sync_token == "0"
    assert deleted.raw == tombstone
    # A tombstone for a document never mirrored deletes nothing and records nothing.
    mirror_apply(connection_id=connection.pk, entity="Invoice", objects=[tombstone])
    assert len(versions(connection)) == 2


def test_a_reimport_that_finds_a_document_gone_records_its_deletion(
    connection: QBOConnection,
) -> None:
    apply(connection, invoice("0", 0, "1200.00"))

    gone = mirror_prune(
        connection_id=connection.pk, entity="Invoice", after_id="", last_id=None, keep=set()
    )

    assert gone == 1
    assert [(v.kind, v.raw) for v in versions(connection)] == [
        ("created", versions(connection)[0].raw),
        ("deleted", None),
    ]
