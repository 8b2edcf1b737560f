"""The batch endpoint through `quickbooks.batch` and raw POSTs (docs/qbo-api.md §4)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from quickbooks import QuickBooks
from quickbooks.batch import batch_create, batch_delete
from quickbooks.objects.base import Ref
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item

from .support import (
    Accounts,
    RealmApi,
    fault_codes,
    invoice_body,
    non_inventory_item_body,
    sales_line,
)


def unsaved_item(name: str, accounts: Accounts) -> Item:
    item = Item()
    item.Name = name
    item.Type = "NonInventory"
    item.IncomeAccountRef = Ref()
    item.IncomeAccountRef.value = accounts.income
    return item


def names_like(api: RealmApi, prefix: str) -> list[str]:
    rows = api.rows(f"SELECT * FROM Item WHERE Name LIKE '{prefix}%' MAXRESULTS 1000", "Item")
    return sorted(row["Name"] for row in rows)


def by_bid(response_body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {result["bId"]: result for result in response_body["BatchItemResponse"]}


def test_pyqb_batch_create_of_30_items(qb: QuickBooks, api: RealmApi, accounts: Accounts) -> None:
    wanted = [f"Batch Wine {number:02d}" for number in range(30)]

    result = batch_create([unsaved_item(name, accounts) for name in wanted], qb=qb)

    assert result.faults == []
    assert sorted(item.Name for item in result.successes) == wanted
    assert len({item.Id for item in result.successes}) == 30
    assert names_like(api, "Batch Wine ") == wanted


def test_pyqb_sends_31_items_as_two_batches_that_both_succeed(
    qb: QuickBooks, api: RealmApi, accounts: Accounts
) -> None:
    wanted = [f"Split Wine {number:02d}" for number in range(31)]
    result = batch_create([unsaved_item(name, accounts) for name in wanted], qb=qb)
    assert result.faults == []
    assert names_like(api, "Split Wine ") == wanted


def test_31_items_in_one_request_is_fault_1040_and_nothing_is_written(
    api: RealmApi, accounts: Accounts
) -> None:
    response = api.batch(
        [
            {
                "bId": str(number),
                "operation": "create",
                "Item": non_inventory_item_body(f"Too Many {number:02d}", accounts),
            }
            for number in range(31)
        ]
    )
    assert response.status_code == 400, response.text
    assert fault_codes(response) == ["1040"]
    assert response.headers.get("intuit_tid")
    assert names_like(api, "Too Many ") == []


def test_one_bad_item_faults_alone_and_the_good_ones_are_created(
    qb: QuickBooks, api: RealmApi, accounts: Accounts
) -> None:
    api.create("Item", non_inventory_item_body("Already Here", accounts))
    response = api.batch(
        [
            {
                "bId": "1",
                "operation": "create",
                "Item": non_inventory_item_body("Good One", accounts),
            },
            {
                "bId": "2",
                "operation": "create",
                "Item": non_inventory_item_body("Already Here", accounts),
            },
            {
                "bId": "3",
                "operation": "create",
                "Item": non_inventory_item_body("Good Two", accounts),
            },
        ]
    )

    assert response.status_code == 200, response.text
    results = by_bid(response.json())
    assert results["1"]["Item"]["Name"] == "Good One"
    assert results["3"]["Item"]["Name"] == "Good Two"
    fault = results["2"]["Fault"]
    assert fault["type"] == "ValidationFault"
    assert fault["Error"][0]["code"] == "6240"
    assert "Item" not in results["2"]
    assert names_like(api, "Good ") == ["Good One", "Good Two"]

    # python-quickbooks sorts the same mix into successes and faults.
    mixed = batch_create(
        [unsaved_item("Good Three", accounts), unsaved_item("Already Here", accounts)], qb=qb
    )
    assert [item.Name for item in mixed.successes] == ["Good Three"]
    assert [fault.Error[0].code for fault in mixed.faults] == ["6240"]


def test_delete_void_update_and_query_operations_in_one_batch(
    api: RealmApi, accounts: Accounts
) -> None:
    item = api.create("Item", non_inventory_item_body("Batch Ops Wine", accounts))
    customer = api.create("Customer", {"DisplayName": "Batch Ops Cellar"})
    to_delete, to_void = (
        api.create("Invoice", invoice_body(customer["Id"], [sales_line(item["Id"], "1", amount)]))
        for amount in ("10.00", "20.00")
    )

    response = api.batch(
        [
            {
                "bId": "del",
                "operation": "delete",
                "Invoice": {"Id": to_delete["Id"], "SyncToken": to_delete["SyncToken"]},
            },
            {
                "bId": "void",
                "operation": "update",
                "optionsData": "void",
                "Invoice": {"Id": to_void["Id"], "SyncToken": to_void["SyncToken"]},
            },
            {
                "bId": "upd",
                "operation": "update",
                "Item": {
                    "Id": item["Id"],
                    "SyncToken": item["SyncToken"],
                    "sparse": True,
                    "Description": "Updated in a batch",
                },
            },
            {"bId": "q", "Query": "SELECT * FROM Customer WHERE DisplayName = 'Batch Ops Cellar'"},
        ]
    )

    assert response.status_code == 200, response.text
    results = by_bid(response.json())
    assert all("Fault" not in result for result in results.values()), results
    assert results["del"]["Invoice"]["status"] == "Deleted"
    assert results["void"]["Invoice"]["TotalAmt"] == 0
    assert results["upd"]["Item"]["Description"] == "Updated in a batch"
    assert [row["Id"] for row in results["q"]["QueryResponse"]["Customer"]] == [customer["Id"]]

    assert api.request("GET", f"invoice/{to_delete['Id']}").status_code == 400
    assert api.read("Invoice", to_void["Id"])["TotalAmt"] == 0
    assert api.read("Invoice", to_void["Id"])["Balance"] == 0
    assert api.read("Item", item["Id"])["Description"] == "Updated in a batch"


def test_pyqb_batch_delete_of_invoices(qb: QuickBooks, api: RealmApi, accounts: Accounts) -> None:
    item = api.create("Item", non_inventory_item_body("Delete Me Wine", accounts))
    customer = api.create("Customer", {"DisplayName": "Batch Delete Shop"})
    ids = [
        api.create("Invoice", invoice_body(customer["Id"], [sales_line(item["Id"], "1", "5.00")]))[
            "Id"
        ]
        for _ in range(3)
    ]

    result = batch_delete([Invoice.get(invoice_id, qb=qb) for invoice_id in ids[:2]], qb=qb)

    assert result.faults == []
    remaining = api.rows("SELECT * FROM Invoice", "Invoice")
    assert [(row["Id"], row["TotalAmt"]) for row in remaining] == [(ids[2], Decimal("5.00"))]


def test_an_empty_batch_is_a_validation_fault(api: RealmApi) -> None:
    response = api.batch([])
    assert response.status_code == 400, response.text
    assert response.json()["Fault"]["type"] == "ValidationFault"
