"""Inventory adjustments: imported, then followed through CDC (created, changed, deleted),
against qbo_sandbox over HTTP."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from accounts.models import Partner
from inventory.models import QBOInventoryAdjustment
from sync import services
from sync.models import QBOConnection, SyncRun
from tests.sync.books import Books, connection_for, mirrored, upstream

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

pytestmark = pytest.mark.django_db(transaction=True)

ENTITY = "InventoryAdjustment"
# A line as both sides are compared: (item id, qty diff).
Line = tuple[str, Decimal | None]


def sync(connection: QBOConnection, kind: str) -> SyncRun:
    run = services.connection_sync(connection_id=connection.pk, trigger="test")
    assert run is not None and run.kind == kind, run
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run


def sandbox_adjustments(books: Books) -> dict[str, tuple[Any, ...]]:
    """Each adjustment's typed columns and lines, as the sandbox's API sends them."""
    found: dict[str, tuple[Any, ...]] = {}
    for row in books.all(ENTITY):
        lines: list[Line] = []
        for line in row.get("Line", []):
            detail = line.get("ItemAdjustmentLineDetail", {})
            qty = detail.get("QtyDiff")
            lines.append(
                (
                    str(detail.get("ItemRef", {}).get("value", "")),
                    None if qty is None else Decimal(str(qty)),
                )
            )
        found[str(row["Id"])] = (
            row.get("DocNumber", ""),
            date.fromisoformat(row["TxnDate"]),
            row["AdjustAccountRef"]["value"],
            row.get("PrivateNote", ""),
            lines,
        )
    return found


def mirror_adjustments(connection: QBOConnection) -> dict[str, tuple[Any, ...]]:
    rows = QBOInventoryAdjustment.objects.filter(connection=connection).prefetch_related("lines")
    return {
        row.qbo_id: (
            row.doc_number,
            row.txn_date,
            row.adjust_account_qbo_id,
            row.private_note,
            [(line.item_qbo_id, line.qty_diff) for line in row.lines.all()],
        )
        for row in rows
    }


def assert_adjustments_mirrored(connection: QBOConnection, books: Books) -> None:
    assert mirrored(connection) == upstream(books)
    assert mirror_adjustments(connection) == sandbox_adjustments(books)


def adjustment_line(item: dict[str, Any], qty_diff: int) -> dict[str, Any]:
    return {
        "DetailType": "ItemAdjustmentLineDetail",
        "ItemAdjustmentLineDetail": {"ItemRef": {"value": item["Id"]}, "QtyDiff": qty_diff},
    }


def test_an_import_mirrors_every_inventory_adjustment_with_its_lines(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    realm = sandbox_server.new_company(seed="demo", scale=0.05)
    books = Books(sandbox_server, realm)
    connection = connection_for(sandbox_server, partner_a, realm, company_name="Adjustments")

    run = sync(connection, SyncRun.Kind.IMPORT)

    expected = upstream(books)
    assert expected.counts[ENTITY] > 0
    assert run.counts[ENTITY]["upserted"] == expected.counts[ENTITY]
    assert_adjustments_mirrored(connection, books)


def test_adjustments_created_changed_and_deleted_in_quickbooks_appear_after_one_poll(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    realm = sandbox_server.new_company(seed="demo", scale=0.05)
    books = Books(sandbox_server, realm)
    wine, other = books.query(
        "SELECT * FROM Item WHERE Type = 'Inventory' ORDERBY Id MAXRESULTS 2"
    )["Item"]
    account = books.all(ENTITY)[0]["AdjustAccountRef"]

    def create(lines: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        body = {"AdjustAccountRef": {"value": account["value"]}, "Line": lines, **fields}
        created: dict[str, Any] = books.post(ENTITY, body)[ENTITY]
        return created

    changed = create([adjustment_line(wine, 12)], PrivateNote="Count corrected")
    doomed = create([adjustment_line(other, -3)], PrivateNote="Breakage")
    connection = connection_for(sandbox_server, partner_a, realm, company_name="Adjustments")
    sync(connection, SyncRun.Kind.IMPORT)
    assert_adjustments_mirrored(connection, books)

    new = create([adjustment_line(wine, -2), adjustment_line(other, 30)], DocNumber="ADJ-77")
    # An adjustment is changed by sparse update only (its date cannot change).
    books.post(
        ENTITY,
        {"Id": changed["Id"], "SyncToken": changed["SyncToken"], "sparse": True,
         "Line": [adjustment_line(wine, 6), adjustment_line(other, -1)]},
    )  # fmt: skip
    books.post(ENTITY, {"Id": doomed["Id"], "SyncToken": doomed["SyncToken"]}, operation="delete")

    run = sync(connection, SyncRun.Kind.POLL)

    assert_adjustments_mirrored(connection, books)
    assert run.counts[ENTITY]["deleted"] == 1
    assert run.counts[ENTITY]["tombstone_requests"] == 1
    # One CDC request for every entity, and one query that confirmed the deletion.
    assert run.api_requests == 2
    rows = QBOInventoryAdjustment.objects.filter(connection=connection)
    assert not rows.filter(qbo_id=doomed["Id"]).exists()
    made = rows.get(qbo_id=new["Id"])
    assert made.doc_number == "ADJ-77"
    assert [(line.item_qbo_id, line.qty_diff) for line in made.lines.all()] == [
        (wine["Id"], Decimal(-2)),
        (other["Id"], Decimal(30)),
    ]
    assert [line.qty_diff for line in rows.get(qbo_id=changed["Id"]).lines.all()] == [
        Decimal(6),
        Decimal(-1),
    ]
