"""Every entity added beside invoices (sales forms, purchases, classes, departments, employees)
goes through the batch endpoint, shows up in CDC (its deletions as tombstones), and is
answered by the query fast path exactly as by the general one (docs/qbo-api.md §3, §4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from .support import (
    Accounts,
    RealmApi,
    connect,
    decimal_json,
    inventory_item_body,
    invoice_body,
    sales_line,
)

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

# The two that Intuit voids (pyqb's VoidMixin); the others are deleted.
VOIDED = {"SalesReceipt", "BillPayment"}


def recent() -> str:
    return (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")


def expense(item_id: str, qty: int = 12, cost: float = 10.5) -> dict[str, Any]:
    return {
        "Amount": round(qty * cost, 2),
        "DetailType": "ItemBasedExpenseLineDetail",
        "ItemBasedExpenseLineDetail": {
            "ItemRef": {"value": item_id},
            "Qty": qty,
            "UnitPrice": cost,
        },
    }


@pytest.fixture
def bodies(api: RealmApi, accounts: Accounts) -> dict[str, dict[str, Any]]:
    """A valid body for each new transaction entity, in a company of its own."""
    item = api.create("Item", inventory_item_body("Une Femme Crémant Brut NV 750ml", accounts, 60))
    customer = api.create("Customer", {"DisplayName": "Ça Va Wine Bar"})
    vendor = api.create("Vendor", {"DisplayName": "Une Femme Wines"})
    bank = api.rows("SELECT * FROM Account WHERE AccountType = 'Bank'", "Account")[0]["Id"]
    sale = {
        "CustomerRef": {"value": customer["Id"]},
        "Line": [sales_line(item["Id"], "2", "10.00")],
    }
    bill = api.create("Bill", {"VendorRef": {"value": vendor["Id"]}, "Line": [expense(item["Id"])]})
    api.create("Invoice", invoice_body(customer["Id"], [sales_line(item["Id"], "1", "10.00")]))
    return {
        "SalesReceipt": sale,
        "CreditMemo": sale,
        "RefundReceipt": {**sale, "DepositToAccountRef": {"value": bank}},
        "Estimate": sale,
        "PurchaseOrder": {"VendorRef": {"value": vendor["Id"]}, "Line": [expense(item["Id"])]},
        "VendorCredit": {"VendorRef": {"value": vendor["Id"]}, "Line": [expense(item["Id"], 1)]},
        "BillPayment": {
            "VendorRef": {"value": vendor["Id"]},
            "PayType": "Check",
            "CheckPayment": {"BankAccountRef": {"value": bank}},
            "TotalAmt": 50,
            "Line": [{"Amount": 50, "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]}],
        },
        "Class": {"Name": "Events & tastings"},
        "Department": {"Name": "Cold room"},
        "Employee": {"GivenName": "Tomás", "FamilyName": "García"},
    }


def one(api: RealmApi, item: dict[str, Any]) -> dict[str, Any]:
    response = api.batch([{"bId": "1", **item}])
    assert response.status_code == 200, response.text
    (result,) = decimal_json(response)["BatchItemResponse"]
    assert "Fault" not in result, result
    return dict(result)


def changes(api: RealmApi, entity: str) -> list[dict[str, Any]]:
    response = api.request("GET", "cdc", params={"entities": entity, "changedSince": recent()})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = []
    for query_response in decimal_json(response)["CDCResponse"][0]["QueryResponse"]:
        found += query_response.get(entity, [])
    return found


@pytest.mark.parametrize(
    "entity",
    [
        "SalesReceipt", "CreditMemo", "RefundReceipt", "Estimate", "PurchaseOrder",
        "VendorCredit", "BillPayment", "Class", "Department", "Employee",
    ],
)  # fmt: skip
def test_batch_create_update_query_and_remove_with_cdc_seeing_each(
    api: RealmApi, bodies: dict[str, dict[str, Any]], entity: str
) -> None:
    created = one(api, {"operation": "create", entity: bodies[entity]})[entity]
    assert created["SyncToken"] == "0" and created["MetaData"]["CreateTime"]
    note = "Name" if entity in ("Class", "Department") else "PrivateNote"
    if entity == "Employee":
        note = "EmployeeNumber"
    update = {"Id": created["Id"], "SyncToken": "0", "sparse": True, note: "Seen in batch"}
    updated = one(api, {"operation": "update", entity: update})[entity]
    assert updated["SyncToken"] == "1" and updated[note] == "Seen in batch"

    queried = one(api, {"Query": f"SELECT * FROM {entity} WHERE Id = '{created['Id']}'"})
    assert queried["QueryResponse"][entity] == [updated]
    assert [row["SyncToken"] for row in changes(api, entity)] == ["1"]

    if entity in ("Class", "Department", "Employee"):
        # Name lists are deactivated: an update, seen by CDC like any other.
        gone = {"Id": created["Id"], "SyncToken": "1", "sparse": True, "Active": False}
        assert one(api, {"operation": "update", entity: gone})[entity]["Active"] is False
        assert [row["Active"] for row in changes(api, entity)] == [False]
    elif entity in VOIDED:
        voided = one(
            api,
            {
                "operation": "update",
                "optionsData": "void",
                entity: {"Id": created["Id"], "SyncToken": "1"},
            },
        )[entity]
        assert voided["TotalAmt"] == 0 and voided["PrivateNote"].startswith("Voided")
        assert [row["TotalAmt"] for row in changes(api, entity)] == [0]
    else:
        deleted = one(api, {"operation": "delete", entity: {"Id": created["Id"], "SyncToken": "1"}})
        assert deleted[entity]["status"] == "Deleted"
        tombstone = changes(api, entity)
        assert [(row["Id"], row["status"]) for row in tombstone] == [(created["Id"], "Deleted")]
        assert api.rows(f"SELECT * FROM {entity}", entity) == []


def test_one_batch_writes_a_cash_sale_and_a_credit_memo_each_with_its_own_fault(
    api: RealmApi, bodies: dict[str, dict[str, Any]]
) -> None:
    bad = {**bodies["CreditMemo"], "CustomerRef": {"value": "999999"}}
    response = api.batch(
        [
            {"bId": "1", "operation": "create", "SalesReceipt": bodies["SalesReceipt"]},
            {"bId": "2", "operation": "create", "CreditMemo": bad},
            {"bId": "3", "operation": "create", "CreditMemo": bodies["CreditMemo"]},
        ]
    )
    assert response.status_code == 200, response.text
    results = {r["bId"]: r for r in decimal_json(response)["BatchItemResponse"]}
    assert results["1"]["SalesReceipt"]["TotalAmt"] == 20
    assert results["2"]["Fault"]["Error"][0]["code"] == "2500"
    assert results["3"]["CreditMemo"]["RemainingCredit"] == 20


@pytest.fixture(scope="module")
def demo_api(sandbox: SandboxProcess) -> RealmApi:
    return connect(sandbox, sandbox.new_company(seed="demo", scale=2)).api


def test_query_pages_of_the_new_entities_are_answered_as_the_general_path_answers_them(
    demo_api: RealmApi,
) -> None:
    statements = []
    for entity, party in (
        ("SalesReceipt", "CustomerRef"), ("CreditMemo", "CustomerRef"),
        ("RefundReceipt", "CustomerRef"), ("Estimate", "CustomerRef"),
        ("PurchaseOrder", "VendorRef"), ("VendorCredit", "VendorRef"), ("BillPayment", "VendorRef"),
    ):  # fmt: skip
        statements += [
            f"SELECT * FROM {entity} WHERE Id > '0' ORDERBY Id MAXRESULTS 1000",
            f"SELECT * FROM {entity} WHERE TxnDate >= '2025-01-01' ORDERBY TxnDate DESC, Id DESC",
            f"SELECT * FROM {entity} WHERE {party} IN ('1', '2', '3', '4') STARTPOSITION 2",
            f"SELECT * FROM {entity} WHERE DocNumber = '1003'",
        ]
    for entity in ("TaxCode", "TaxRate", "Class", "Department", "Employee"):
        statements.append(f"SELECT * FROM {entity} ORDERBY Id MAXRESULTS 1000")
    statements.append("SELECT * FROM Bill WHERE DocNumber > '0'")
    for start in range(0, len(statements), 30):
        chunk = statements[start : start + 30]
        answers = demo_api.batch([{"bId": str(n), "Query": s} for n, s in enumerate(chunk)])
        assert answers.status_code == 200, answers.text
        general = {
            item["bId"]: item["QueryResponse"]
            for item in decimal_json(answers)["BatchItemResponse"]
        }
        for n, statement in enumerate(chunk):
            direct = decimal_json(demo_api.query_raw(statement))["QueryResponse"]
            assert direct == general[str(n)], statement
    first_page = demo_api.query(statements[0])
    assert len(first_page["SalesReceipt"]) > 50


def test_doc_numbers_of_bills_are_found_by_query(api: RealmApi, bodies: dict[str, Any]) -> None:
    # A bill's number is the vendor's: it may repeat, and a query finds it.
    vendor = bodies["PurchaseOrder"]["VendorRef"]
    line = bodies["PurchaseOrder"]["Line"]
    first = api.create("Bill", {"VendorRef": vendor, "Line": line, "DocNumber": "UFW-2611-0042"})
    second = api.create("Bill", {"VendorRef": vendor, "Line": line, "DocNumber": "UFW-2611-0042"})
    found = api.rows("SELECT * FROM Bill WHERE DocNumber = 'UFW-2611-0042'", "Bill")
    assert [row["Id"] for row in found] == [first["Id"], second["Id"]]
