"""Sales receipts, credit memos and refund receipts reach the mirror as invoices do, lines
included: through the import and through the poll's one CDC request, against qbo_sandbox
over HTTP. What the mirror holds is compared with what the sandbox answers, read
independently (tests/sync/books.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from accounts.models import Partner
from billing.models import QBOCreditMemo, QBOInvoice, QBOPayment, QBOSalesReceipt
from common import mirror
from sync import services
from sync.models import QBOConnection, SyncRun
from tests.sync.books import Books, connection_for, mirrored, upstream
from tests.sync.test_import import minimum_requests
from tests.sync.test_poll import poll

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

pytestmark = pytest.mark.django_db(transaction=True)

DOCUMENTS = ("SalesReceipt", "CreditMemo", "RefundReceipt")
# A third of the demo: a few of each document, at least two refund receipts (one to
# change and one to delete) and a voided sales receipt, imported in a few seconds.
SCALE = 0.3


def imported(sandbox: SandboxProcess, partner: Partner) -> tuple[QBOConnection, Books, SyncRun]:
    realm = sandbox.new_company(seed="demo", scale=SCALE)
    # Named already, so the import asks QuickBooks for nothing but the mirrored entities.
    connection = connection_for(sandbox, partner, realm, company_name="Sales documents")
    run = services.connection_sync(connection_id=connection.pk, trigger="test")
    assert run is not None and run.kind == SyncRun.Kind.IMPORT, run
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return connection, Books(sandbox, realm), run


def cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def fourth(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.0001"))


def in_quickbooks(books: Books, entity: str) -> dict[str, Any]:
    """Each document of ``entity`` as the sandbox has it: the columns pages read, and its
    lines in order."""
    found = {}
    for doc in books.all(entity):
        total = cents(doc.get("TotalAmt", 0))
        columns = [
            doc.get("DocNumber", ""),
            doc.get("CustomerRef", {}).get("value", ""),
            doc["TxnDate"],
            total,
            str(doc.get("PrivateNote", "")).startswith("Voided") and total == 0,
        ]
        if entity == "CreditMemo":
            columns.append(cents(doc["RemainingCredit"]))
        lines = []
        for position, line in enumerate(doc.get("Line", [])):
            kind = line["DetailType"]
            detail = line.get(kind) or {}
            lines.append(
                (
                    position,
                    str(line.get("Id", "")),
                    kind,
                    str((detail.get("ItemRef") or {}).get("value", "")),
                    str(line.get("Description", "")),
                    fourth(detail.get("Qty")),
                    fourth(detail.get("UnitPrice")),
                    cents(line.get("Amount", 0)),
                )
            )
        found[str(doc["Id"])] = (tuple(columns), lines)
    return found


def in_mirror(connection: QBOConnection, entity: str) -> dict[str, Any]:
    spec = mirror.spec_for(entity)
    assert spec.child_model is not None
    columns = ["doc_number", "customer_qbo_id", "txn_date", "total_amt", "voided"]
    if entity == "CreditMemo":
        columns.append("balance")
    found: dict[str, Any] = {}
    for qbo_id, *values in spec.model._default_manager.filter(connection=connection).values_list(
        "qbo_id", *columns
    ):
        values[2] = values[2].isoformat()
        found[qbo_id] = (tuple(values), [])
    parent = spec.child_parent
    lines = spec.child_model._default_manager.filter(**{f"{parent}__connection": connection})
    for qbo_id, *line in lines.order_by(f"{parent}__qbo_id", "position").values_list(
        f"{parent}__qbo_id",
        "position",
        "line_id",
        "detail_type",
        "item_qbo_id",
        "description",
        "qty",
        "unit_price",
        "amount",
    ):
        found[qbo_id][1].append(tuple(line))
    return found


def test_an_import_mirrors_every_sales_receipt_credit_memo_and_refund_with_its_lines(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    connection, books, run = imported(sandbox_server, partner_a)

    expected = upstream(books)
    assert mirrored(connection) == expected
    assert all(expected.counts[entity] > 0 for entity in DOCUMENTS)
    # Each new entity costs its COUNT and its page, no more.
    assert run.api_requests == minimum_requests(expected.counts)
    assert {e: c["upserted"] for e, c in run.counts.items()} == expected.counts
    for entity in DOCUMENTS:
        sandbox = in_quickbooks(books, entity)
        assert in_mirror(connection, entity) == sandbox, entity
        assert sum(len(lines) for _, lines in sandbox.values()) > len(sandbox)
    # The seed voids a sales receipt: it stays, zeroed and marked.
    voided = QBOSalesReceipt.objects.filter(connection=connection, voided=True)
    assert voided.exists() and all(receipt.total_amt == 0 for receipt in voided)


def test_sales_documents_created_changed_voided_and_deleted_appear_after_one_poll(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    connection, books, _ = imported(sandbox_server, partner_a)
    customer = books.query("SELECT * FROM Customer WHERE Active = true MAXRESULTS 1")["Customer"][0]
    item = books.query("SELECT * FROM Item WHERE Type = 'Inventory' MAXRESULTS 1")["Item"][0]

    def line(qty: int, price: float) -> dict[str, Any]:
        return {
            "DetailType": "SalesItemLineDetail",
            "Description": "Crémant d'Alsace, retour",
            "SalesItemLineDetail": {
                "ItemRef": {"value": item["Id"]},
                "Qty": qty,
                "UnitPrice": price,
            },
        }

    created: dict[str, str] = {}
    changed: dict[str, str] = {}
    deleted: dict[str, str] = {}
    for entity in DOCUMENTS:
        existing = books.all(entity)
        body: dict[str, Any] = {"CustomerRef": {"value": customer["Id"]}, "Line": [line(3, 21.5)]}
        if entity == "RefundReceipt":
            body["DepositToAccountRef"] = existing[0]["DepositToAccountRef"]
        created[entity] = books.post(entity, body)[entity]["Id"]
        # Not a voided receipt; not a credit memo a payment used, which cannot be deleted
        # (the seed leaves them all unused).
        live = [
            doc
            for doc in existing
            if doc["TotalAmt"] > 0
            and doc.get("RemainingCredit", doc["TotalAmt"]) == doc["TotalAmt"]
        ]
        update, doomed = live[0], live[-1]
        assert update["Id"] != doomed["Id"]
        changed[entity] = update["Id"]
        books.post(
            entity,
            {
                "Id": update["Id"],
                "SyncToken": update["SyncToken"],
                "sparse": True,
                "Line": [line(2, 30.0), line(1, 12.25)],
            },
        )
        deleted[entity] = doomed["Id"]
        books.post(
            entity, {"Id": doomed["Id"], "SyncToken": doomed["SyncToken"]}, operation="delete"
        )
    # A sales receipt is voided too. qbo_sandbox voids no credit memo or refund receipt
    # (their Spec has no void: it answers "unsupported operation"), so those two are only
    # created, changed and deleted.
    untouched = {created["SalesReceipt"], changed["SalesReceipt"]}
    voided = next(
        r for r in books.all("SalesReceipt") if r["TotalAmt"] > 0 and r["Id"] not in untouched
    )
    books.post(
        "SalesReceipt", {"Id": voided["Id"], "SyncToken": voided["SyncToken"]}, operation="void"
    )

    run = poll(connection)

    assert mirrored(connection) == upstream(books)
    for entity in DOCUMENTS:
        assert in_mirror(connection, entity) == in_quickbooks(books, entity), entity
        rows: Any = mirror.spec_for(entity).model._default_manager.filter(connection=connection)
        assert rows.get(qbo_id=created[entity]).total_amt == Decimal("64.50")
        assert rows.get(qbo_id=changed[entity]).total_amt == Decimal("72.25")
        assert not rows.filter(qbo_id=deleted[entity]).exists()
        counts = run.counts[entity]
        assert counts["deleted"] == 1 and counts["upserted"] >= 2, (entity, counts)
        assert counts["tombstone_requests"] == 1 and counts.get("tombstones_live", 0) == 0
    receipt = QBOSalesReceipt.objects.get(connection=connection, qbo_id=voided["Id"])
    assert receipt.voided and receipt.total_amt == 0
    assert all(amount == 0 for amount in receipt.lines.values_list("amount", flat=True))
    # The poll's one CDC request for every entity, and one query per entity with deletions
    # that confirmed them before their rows went.
    tombstone_requests = sum(c.get("tombstone_requests", 0) for c in run.counts.values())
    assert tombstone_requests >= len(DOCUMENTS)
    assert run.api_requests == 1 + tombstone_requests


def test_a_payment_that_uses_a_credit_memo_keeps_that_application(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    connection, books, _ = imported(sandbox_server, partner_a)
    memo = next(m for m in books.all("CreditMemo") if m["RemainingCredit"] > 1)
    credit = (cents(memo["RemainingCredit"]) / 2).quantize(Decimal("0.01"))
    customer = memo["CustomerRef"]["value"]
    item = books.query("SELECT * FROM Item WHERE Type = 'Inventory' MAXRESULTS 1")["Item"][0]
    invoice = books.post(
        "Invoice",
        {
            "CustomerRef": {"value": customer},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": item["Id"]},
                        "Qty": 1,
                        "UnitPrice": float(credit + Decimal("40.00")),
                    },
                }
            ],
        },
    )["Invoice"]
    owed = cents(invoice["TotalAmt"])
    # The invoice paid in full: part with money, part with the memo's credit.
    payment = books.post(
        "Payment",
        {
            "CustomerRef": {"value": customer},
            "TotalAmt": float(owed - credit),
            "Line": [
                {
                    "Amount": float(owed),
                    "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}],
                },
                {
                    "Amount": float(credit),
                    "LinkedTxn": [{"TxnId": memo["Id"], "TxnType": "CreditMemo"}],
                },
            ],
        },
    )["Payment"]

    poll(connection)

    assert mirrored(connection) == upstream(books)
    mirrored_payment = QBOPayment.objects.get(connection=connection, qbo_id=payment["Id"])
    assert mirrored_payment.total_amt == owed - credit and mirrored_payment.unapplied_amt == 0
    assert sorted(
        mirrored_payment.applications.values_list("txn_type", "txn_qbo_id", "amount")
    ) == sorted([("CreditMemo", memo["Id"], credit), ("Invoice", invoice["Id"], owed)])
    # The memo's remaining credit went down by what the payment used; the invoice is paid.
    left = QBOCreditMemo.objects.get(connection=connection, qbo_id=memo["Id"])
    assert left.balance == cents(memo["RemainingCredit"]) - credit
    assert left.balance == cents(books.read("CreditMemo", memo["Id"])["RemainingCredit"])
    assert QBOInvoice.objects.get(connection=connection, qbo_id=invoice["Id"]).balance == 0
