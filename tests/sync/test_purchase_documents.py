"""Vendors, bills, purchase orders and vendor credits: imported, then followed through CDC,
against qbo_sandbox over HTTP."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from accounts.models import Partner
from inventory.models import QBOBill, QBOPurchaseOrder, QBOVendor, QBOVendorCredit
from sync import services
from sync.models import QBOConnection, SyncRun
from tests.sync.books import Books, connection_for, mirrored, upstream

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

pytestmark = pytest.mark.django_db(transaction=True)

DOCUMENTS: dict[str, Any] = {
    "Bill": QBOBill,
    "PurchaseOrder": QBOPurchaseOrder,
    "VendorCredit": QBOVendorCredit,
}
PURCHASING = ("Vendor", *DOCUMENTS)
# A line as both sides are compared: (item id, account id, qty, amount).
Line = tuple[str, str, Decimal | None, Decimal]


def sync(connection: QBOConnection, kind: str) -> SyncRun:
    run = services.connection_sync(connection_id=connection.pk, trigger="test")
    assert run is not None and run.kind == kind, run
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run


def number(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def sandbox_lines(books: Books, entity: str) -> dict[str, list[Line]]:
    """Each of the sandbox's documents of ``entity`` with its lines, as sent over its API."""
    result: dict[str, list[Line]] = {}
    for row in books.all(entity):
        lines: list[Line] = []
        for line in row.get("Line", []):
            detail = line.get(line["DetailType"], {})
            lines.append(
                (
                    detail.get("ItemRef", {}).get("value", ""),
                    detail.get("AccountRef", {}).get("value", ""),
                    number(detail.get("Qty")),
                    Decimal(str(line["Amount"])),
                )
            )
        result[str(row["Id"])] = lines
    return result


def mirror_lines(connection: QBOConnection, entity: str) -> dict[str, list[Line]]:
    result: dict[str, list[Line]] = {}
    for document in (
        DOCUMENTS[entity].objects.filter(connection=connection).prefetch_related("lines")
    ):
        result[document.qbo_id] = [
            (line.item_qbo_id, line.account_qbo_id, line.qty, line.amount)
            for line in document.lines.all()
        ]
    return result


def sandbox_columns(books: Books, entity: str) -> dict[str, tuple[Any, ...]]:
    """What pages will filter and sum on, per document, as the sandbox has it."""
    columns: dict[str, tuple[Any, ...]] = {}
    for row in books.all(entity):
        # A purchase order has a status where the others have a balance.
        status = (row["POStatus"],) if entity == "PurchaseOrder" else ()
        balance = () if status else (Decimal(str(row["Balance"])),)
        columns[str(row["Id"])] = (
            row.get("DocNumber", ""),
            row["VendorRef"]["value"],
            row["VendorRef"].get("name", ""),
            date.fromisoformat(row["TxnDate"]),
            Decimal(str(row["TotalAmt"])),
            *status,
            *balance,
        )
    return columns


def mirror_columns(connection: QBOConnection, entity: str) -> dict[str, tuple[Any, ...]]:
    extra = ("po_status",) if entity == "PurchaseOrder" else ("balance",)
    rows = DOCUMENTS[entity].objects.filter(connection=connection)
    return {
        row[0]: row[1:]
        for row in rows.values_list(
            "qbo_id", "doc_number", "vendor_qbo_id", "vendor_name", "txn_date", "total_amt", *extra
        )
    }


def sandbox_vendors(books: Books) -> dict[str, tuple[Any, ...]]:
    return {
        str(row["Id"]): (
            row["DisplayName"],
            row.get("PrimaryEmailAddr", {}).get("Address", ""),
            row["Active"],
            Decimal(str(row["Balance"])),
        )
        for row in books.all("Vendor")
    }


def mirror_vendors(connection: QBOConnection) -> dict[str, tuple[Any, ...]]:
    rows = QBOVendor.objects.filter(connection=connection)
    return {
        row[0]: row[1:]
        for row in rows.values_list("qbo_id", "display_name", "email", "active", "balance")
    }


def assert_purchasing_mirrored(connection: QBOConnection, books: Books) -> None:
    """Every vendor and purchase document of the sandbox is in the mirror, version for
    version, with its typed columns and its lines."""
    assert mirrored(connection) == upstream(books)
    assert mirror_vendors(connection) == sandbox_vendors(books)
    for entity in DOCUMENTS:
        assert mirror_columns(connection, entity) == sandbox_columns(books, entity), entity
        assert mirror_lines(connection, entity) == sandbox_lines(books, entity), entity


def item_line(item: dict[str, Any], qty: int, price: str) -> dict[str, Any]:
    return {
        "Amount": float(Decimal(price) * qty),
        "DetailType": "ItemBasedExpenseLineDetail",
        "ItemBasedExpenseLineDetail": {
            "ItemRef": {"value": item["Id"]},
            "Qty": qty,
            "UnitPrice": float(price),
        },
    }


def account_line(account: dict[str, Any], amount: str) -> dict[str, Any]:
    return {
        "Amount": float(amount),
        "DetailType": "AccountBasedExpenseLineDetail",
        "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account["value"]}},
    }


def test_an_import_mirrors_every_vendor_and_purchase_document_with_its_lines(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    realm = sandbox_server.new_company(seed="demo", scale=0.05)
    books = Books(sandbox_server, realm)
    connection = connection_for(sandbox_server, partner_a, realm, company_name="Purchases")

    run = sync(connection, SyncRun.Kind.IMPORT)

    expected = upstream(books)
    assert all(expected.counts[entity] > 0 for entity in PURCHASING), expected.counts
    assert {entity: run.counts[entity]["upserted"] for entity in PURCHASING} == {
        entity: expected.counts[entity] for entity in PURCHASING
    }
    assert_purchasing_mirrored(connection, books)
    # The demo's documents have both kinds of line, and orders both received and not.
    lines = [line for entity in DOCUMENTS for doc in mirror_lines(connection, entity).values()
             for line in doc]  # fmt: skip
    assert any(item and qty for item, _, qty, _ in lines)
    assert any(account and not item and qty is None for item, account, qty, _ in lines)
    statuses = QBOPurchaseOrder.objects.filter(connection=connection).values_list(
        "po_status", flat=True
    )
    assert set(statuses) == {"Open", "Closed"}


def test_purchases_created_changed_and_deleted_in_quickbooks_appear_after_one_poll(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    realm = sandbox_server.new_company(seed="demo", scale=0.05)
    books = Books(sandbox_server, realm)
    une_femme, glass = (
        books.query(f"SELECT * FROM Vendor WHERE DisplayName = '{name}'")["Vendor"][0]
        for name in ("Une Femme Wines", "Golden State Glass & Packaging")
    )
    wine, other = books.query(
        "SELECT * FROM Item WHERE Type = 'Inventory' ORDERBY Id MAXRESULTS 2"
    )["Item"]
    freight = next(
        line["AccountBasedExpenseLineDetail"]["AccountRef"]
        for bill in books.all("Bill")
        for line in bill["Line"]
        if line["DetailType"] == "AccountBasedExpenseLineDetail"
    )
    vendor = {"value": une_femme["Id"]}

    def create(entity: str, lines: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        created: dict[str, Any] = books.post(
            entity, {"VendorRef": vendor, "Line": lines, **fields}
        )[entity]
        return created

    # Documents the import mirrors, to be changed, received and deleted afterwards.
    po_changed = create("PurchaseOrder", [item_line(wine, 24, "11.50")])
    po_doomed = create("PurchaseOrder", [item_line(other, 12, "9.25")])
    po_received = create("PurchaseOrder", [item_line(wine, 60, "11.50"), item_line(other, 6, "9")])
    bill_changed = create("Bill", [item_line(wine, 12, "11.50"), account_line(freight, "45.00")])
    bill_doomed = create("Bill", [account_line(freight, "80.00")])
    credit_changed = create("VendorCredit", [item_line(wine, 2, "11.50")])
    credit_doomed = create("VendorCredit", [item_line(other, 1, "9.25")])
    connection = connection_for(sandbox_server, partner_a, realm, company_name="Purchases")
    sync(connection, SyncRun.Kind.IMPORT)
    orders = QBOPurchaseOrder.objects.filter(connection=connection)
    assert orders.get(qbo_id=po_received["Id"]).po_status == "Open"

    # Created: a vendor, and one of each document; the bill receives an open order.
    new_vendor = books.post(
        "Vendor",
        {"DisplayName": "Cave d'Émile", "PrimaryEmailAddr": {"Address": "achats@emile.example"}},
    )["Vendor"]
    new_po = create("PurchaseOrder", [item_line(other, 36, "9.25"), item_line(wine, 12, "11.5")])
    new_bill = create(
        "Bill",
        [item_line(wine, 60, "11.50"), item_line(other, 6, "9"), account_line(freight, "30")],
        LinkedTxn=[{"TxnId": po_received["Id"], "TxnType": "PurchaseOrder"}],
    )
    new_credit = create("VendorCredit", [item_line(wine, 3, "11.50")])
    # Changed: a vendor renamed, and each document's lines (one more, one fewer, new amounts).
    books.post(
        "Vendor",
        {"Id": glass["Id"], "SyncToken": glass["SyncToken"], "sparse": True,
         "DisplayName": "Golden State Glass", "PrimaryEmailAddr": {"Address": "ar@gsg.example"}},
    )  # fmt: skip
    for entity, document, lines in (
        ("PurchaseOrder", po_changed, [item_line(wine, 48, "11.25"), item_line(other, 12, "9.25")]),
        ("Bill", bill_changed, [account_line(freight, "52.40")]),
        ("VendorCredit", credit_changed, [item_line(wine, 4, "11.50"), item_line(other, 1, "9")]),
    ):
        books.post(
            entity,
            {"Id": document["Id"], "SyncToken": document["SyncToken"], "sparse": True,
             "Line": lines},
        )  # fmt: skip
    # Deleted: one of each document (QBO deletes no vendor: it deactivates it, see below).
    for entity, document in (
        ("PurchaseOrder", po_doomed),
        ("Bill", bill_doomed),
        ("VendorCredit", credit_doomed),
    ):
        books.post(
            entity, {"Id": document["Id"], "SyncToken": document["SyncToken"]}, operation="delete"
        )

    run = sync(connection, SyncRun.Kind.POLL)

    assert_purchasing_mirrored(connection, books)
    # One CDC request for every entity, and per entity with deletions one query that
    # confirmed them before the rows went.
    for entity in DOCUMENTS:
        assert run.counts[entity]["deleted"] == 1, entity
        assert run.counts[entity]["tombstone_requests"] == 1, entity
    tombstone_requests = sum(c.get("tombstone_requests", 0) for c in run.counts.values())
    assert run.api_requests == 1 + tombstone_requests == 1 + len(DOCUMENTS)
    # The received order is closed, no longer on order; the new one is.
    assert orders.get(qbo_id=po_received["Id"]).po_status == "Closed"
    assert orders.get(qbo_id=new_po["Id"]).po_status == "Open"
    bill = QBOBill.objects.get(connection=connection, qbo_id=new_bill["Id"])
    assert bill.vendor_qbo_id == une_femme["Id"] and bill.total_amt == Decimal("774.00")
    assert [line.qty for line in bill.lines.all()] == [Decimal("60"), Decimal("6"), None]
    credit = QBOVendorCredit.objects.get(connection=connection, qbo_id=new_credit["Id"])
    assert credit.total_amt == Decimal("34.50")
    vendors = QBOVendor.objects.filter(connection=connection)
    assert vendors.get(qbo_id=new_vendor["Id"]).email == "achats@emile.example"
    assert vendors.get(qbo_id=glass["Id"]).display_name == "Golden State Glass"
    for entity, document in (
        ("PurchaseOrder", po_doomed),
        ("Bill", bill_doomed),
        ("VendorCredit", credit_doomed),
    ):
        rows = DOCUMENTS[entity].objects.filter(connection=connection)
        assert not rows.filter(qbo_id=document["Id"]).exists(), entity


def test_an_inactive_vendor_is_mirrored_as_inactive(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    realm = sandbox_server.new_company(seed="empty")
    books = Books(sandbox_server, realm)
    closed, kept = (books.post("Vendor", {"DisplayName": name})["Vendor"]
                    for name in ("Négociant Fermé", "Tonnellerie Ouverte"))  # fmt: skip
    # QBO hides inactive vendors from a query that does not ask for them: the import must.
    books.post(
        "Vendor",
        {"Id": closed["Id"], "SyncToken": closed["SyncToken"], "sparse": True, "Active": False},
    )
    connection = connection_for(sandbox_server, partner_a, realm, company_name="Vendors")

    sync(connection, SyncRun.Kind.IMPORT)

    vendors = QBOVendor.objects.filter(connection=connection)
    assert dict(vendors.values_list("qbo_id", "active")) == {closed["Id"]: False, kept["Id"]: True}

    # Deactivated after the import: the poll brings the change.
    books.post(
        "Vendor",
        {"Id": kept["Id"], "SyncToken": kept["SyncToken"], "sparse": True, "Active": False},
    )
    sync(connection, SyncRun.Kind.POLL)

    assert dict(vendors.values_list("qbo_id", "active")) == {closed["Id"]: False, kept["Id"]: False}
    assert mirrored(connection) == upstream(books)
