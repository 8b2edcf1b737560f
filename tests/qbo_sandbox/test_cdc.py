"""Change data capture through `quickbooks.cdc.change_data_capture` and raw GETs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from quickbooks import QuickBooks
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import ValidationException
from quickbooks.objects.billpayment import BillPayment
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.customer import Customer
from quickbooks.objects.estimate import Estimate
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.salesreceipt import SalesReceipt

# The rule modules register the modelled entities in SPECS when imported (operations.py).
import qbo_sandbox.operations  # noqa: F401
from qbo_sandbox.books import SPECS
from qbo_sandbox.cdc import CDC_ENTITIES

from .support import (
    Accounts,
    BigRealm,
    RealmApi,
    assert_validation_fault,
    decimal_json,
    invoice_body,
    non_inventory_item_body,
    parse_qbo_time,
    sales_line,
)

# The Accounting API entities CDC does not cover (docs/qbo-api.md §3).
NOT_IN_CDC = ("JournalCode", "TaxAgency", "TimeActivity", "TaxCode", "TaxRate")
# Modelled entities whether CDC covers is [unconfirmed]; the sandbox refuses them with 2010
# like NOT_IN_CDC (docs/qbo-api.md §6, "CustomerType"; test_customer_types.py).
CDC_UNCONFIRMED = ("CustomerType",)


def yesterday() -> datetime:
    # python-quickbooks formats a datetime without a zone; a day back is "recent" in any zone.
    return datetime.now(UTC) - timedelta(days=1)


def cdc(api: RealmApi, entities: str, since: str) -> requests.Response:
    return api.request("GET", "cdc", params={"entities": entities, "changedSince": since})


def cdc_rows(response: requests.Response) -> dict[str, list[dict[str, Any]]]:
    assert response.status_code == 200, response.text
    body = decimal_json(response)
    assert "time" in body
    rows: dict[str, list[dict[str, Any]]] = {}
    for query_response in body["CDCResponse"][0]["QueryResponse"]:
        for key, value in query_response.items():
            if isinstance(value, list):
                rows[key] = value
    return rows


def test_changes_since_a_time_include_creates_and_updates_of_two_entities(
    qb: QuickBooks, api: RealmApi, accounts: Accounts
) -> None:
    untouched = api.create("Item", non_inventory_item_body("Untouched Before Cutoff", accounts))
    renamed = api.create("Item", non_inventory_item_body("Renamed After Cutoff", accounts))
    stamps = [parse_qbo_time(item["MetaData"]["LastUpdatedTime"]) for item in (untouched, renamed)]
    cutoff = max(stamps) + timedelta(seconds=1)
    while datetime.now(UTC) <= cutoff + timedelta(milliseconds=100):
        time.sleep(0.05)

    renamed = api.update(
        "Item",
        {
            "Id": renamed["Id"],
            "SyncToken": renamed["SyncToken"],
            "sparse": True,
            "Name": "Renamed After Cutoff (v2)",
        },
    )
    created = api.create("Item", non_inventory_item_body("Created After Cutoff", accounts))
    customer = api.create("Customer", {"DisplayName": "Cdc Wine Bar"})
    invoice = api.create(
        "Invoice", invoice_body(customer["Id"], [sales_line(created["Id"], "2", "12.50")])
    )

    changes = change_data_capture([Item, Invoice], cutoff.isoformat(), qb=qb)

    items = {item.Id: item for item in changes.Item}
    assert set(items) == {renamed["Id"], created["Id"]}
    assert items[renamed["Id"]].Name == "Renamed After Cutoff (v2)"
    assert items[renamed["Id"]].SyncToken == "1"
    assert [(found.Id, found.TotalAmt) for found in changes.Invoice] == [
        (invoice["Id"], invoice["TotalAmt"])
    ]
    assert not hasattr(changes, "Customer")


def test_a_deleted_invoice_comes_back_as_deleted(
    qb: QuickBooks, api: RealmApi, accounts: Accounts
) -> None:
    item = api.create("Item", non_inventory_item_body("Crémant de Loire", accounts))
    customer = api.create("Customer", {"DisplayName": "Le Bistrot d'Émile"})
    kept = api.create(
        "Invoice", invoice_body(customer["Id"], [sales_line(item["Id"], "1", "20.00")])
    )
    doomed = api.create(
        "Invoice", invoice_body(customer["Id"], [sales_line(item["Id"], "1", "30.00")])
    )
    Invoice.get(doomed["Id"], qb=qb).delete(qb=qb)

    changes = change_data_capture([Invoice, Customer], yesterday(), qb=qb)

    statuses = {invoice.Id: getattr(invoice, "status", None) for invoice in changes.Invoice}
    assert set(statuses) == {kept["Id"], doomed["Id"]}
    assert statuses[doomed["Id"]] == "Deleted"
    assert statuses[kept["Id"]] != "Deleted"
    assert customer["Id"] in [found.Id for found in changes.Customer]

    raw = cdc_rows(cdc(api, "Invoice", yesterday().strftime("%Y-%m-%dT%H:%M:%S")))
    deleted = [row for row in raw["Invoice"] if row["Id"] == doomed["Id"]]
    assert len(deleted) == 1
    assert deleted[0]["status"] == "Deleted"
    assert "LastUpdatedTime" in deleted[0]["MetaData"]


def test_changed_since_older_than_30_days_is_a_fault(api: RealmApi) -> None:
    old = (datetime.now(UTC) - timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%S")
    response = cdc(api, "Item", old)

    # Status and code are unconfirmed (docs/qbo-api.md §3); a ValidationFault is the documented
    # guess.
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["Fault"]["type"] == "ValidationFault"
    error = body["Fault"]["Error"][0]
    assert "older than" in (error["Message"] + " " + error["Detail"]).lower()

    recent = (datetime.now(UTC) - timedelta(days=29)).strftime("%Y-%m-%dT%H:%M:%S")
    assert cdc(api, "Item", recent).status_code == 200


def test_more_than_1000_changes_of_one_entity_return_exactly_1000(big_realm: BigRealm) -> None:
    assert big_realm.item_count > 1000
    changes = change_data_capture([Item], yesterday(), qb=big_realm.qb)
    assert len(changes.Item) == 1000
    assert len({item.Id for item in changes.Item}) == 1000


def test_nothing_changed_is_an_empty_query_response(qb: QuickBooks, api: RealmApi) -> None:
    rows = cdc_rows(cdc(api, "Payment", yesterday().strftime("%Y-%m-%dT%H:%M:%S")))
    assert rows == {}
    assert not hasattr(change_data_capture([Invoice], yesterday(), qb=qb), "Invoice")


def recent() -> str:
    return yesterday().strftime("%Y-%m-%dT%H:%M:%S")


def test_pyqb_asks_for_entities_the_sandbox_does_not_model_and_gets_the_modelled_changes(
    qb: QuickBooks, api: RealmApi, accounts: Accounts
) -> None:
    item = api.create("Item", non_inventory_item_body("Blanc de Blancs", accounts))
    customer = api.create("Customer", {"DisplayName": "Cave Saint-Roch"})
    invoice = api.create(
        "Invoice", invoice_body(customer["Id"], [sales_line(item["Id"], "3", "18.00")])
    )

    changes = change_data_capture(
        [Invoice, BillPayment, SalesReceipt, CreditMemo, Estimate], yesterday(), qb=qb
    )

    assert [found.Id for found in changes.Invoice] == [invoice["Id"]]
    for unmodelled in ("BillPayment", "SalesReceipt", "CreditMemo", "Estimate"):
        assert not hasattr(changes, unmodelled)


def test_an_unmodelled_cdc_entity_answers_like_one_that_did_not_change(
    api: RealmApi, accounts: Accounts
) -> None:
    item = api.create("Item", non_inventory_item_body("Pinot Meunier", accounts))

    response = cdc(api, "Item,BillPayment", recent())
    assert response.headers.get("intuit_tid")
    body = response.json()
    query_responses = body["CDCResponse"][0]["QueryResponse"]
    assert query_responses == [
        {"Item": query_responses[0]["Item"], "startPosition": 1, "maxResults": 1}
    ]
    assert query_responses[0]["Item"][0]["Id"] == item["Id"]

    nothing = cdc(api, "BillPayment,Deposit,RecurringTransaction", recent())
    assert nothing.status_code == 200, nothing.text
    assert nothing.json()["CDCResponse"] == [{"QueryResponse": [{}]}]
    assert "time" in nothing.json()


def test_every_intuit_cdc_entity_name_is_answered_in_one_request(api: RealmApi) -> None:
    response = cdc(api, ",".join(CDC_ENTITIES), recent())
    assert response.status_code == 200, response.text
    assert "CDCResponse" in response.json()


def test_entity_names_match_whatever_their_case_and_come_back_in_intuits_spelling(
    api: RealmApi, accounts: Accounts
) -> None:
    api.create("Item", non_inventory_item_body("Chardonnay Réserve", accounts))
    rows = cdc_rows(cdc(api, "item, BILLPAYMENT ,salesReceipt", recent()))
    assert set(rows) == {"Item"}


@pytest.mark.parametrize(
    "entities", ["Nonsense", "Invoice,Nonsense", "Invoice,", *NOT_IN_CDC], ids=str
)
def test_a_name_cdc_does_not_cover_is_fault_2010(api: RealmApi, entities: str) -> None:
    error = assert_validation_fault(cdc(api, entities, recent()), "2010")
    assert error["element"] == "entities"


def test_python_quickbooks_gets_a_validation_fault_for_a_name_that_is_no_entity(
    qb: QuickBooks,
) -> None:
    with pytest.raises(ValidationException) as raised:
        qb.change_data_capture("Invoice,Nonsense", recent())
    assert raised.value.error_code == 2010


def test_a_batch_cdc_query_takes_the_same_names(api: RealmApi, accounts: Accounts) -> None:
    item = api.create("Item", non_inventory_item_body("Crémant Extra Brut", accounts))
    response = api.batch(
        [
            {"bId": "1", "CDCQuery": {"Entities": "Item,BillPayment", "ChangedSince": recent()}},
            {"bId": "2", "CDCQuery": {"Entities": "Nonsense", "ChangedSince": recent()}},
        ]
    )
    assert response.status_code == 200, response.text
    first, second = response.json()["BatchItemResponse"]
    (changes,) = first["CDCResponse"][0]["QueryResponse"]
    assert [row["Id"] for row in changes["Item"]] == [item["Id"]]
    assert second["Fault"]["Error"][0]["code"] == "2010"


def test_every_modelled_entity_cdc_covers_is_among_the_cdc_names() -> None:
    # An entity added to the sandbox reports its changes as soon as it is registered, unless
    # §3 says CDC does not cover it.
    modelled = set(SPECS) - set(NOT_IN_CDC) - set(CDC_UNCONFIRMED)
    assert {"Item", "Customer", "Invoice", "Payment", "Bill"} <= modelled
    assert modelled <= set(CDC_ENTITIES)
    assert not set(NOT_IN_CDC) & set(CDC_ENTITIES)
    assert set(CDC_UNCONFIRMED) <= set(SPECS) and not set(CDC_UNCONFIRMED) & set(CDC_ENTITIES)
