"""Create, read, full and sparse update, delete, void and the validation faults of writes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from quickbooks import QuickBooks
from quickbooks.exceptions import (
    ObjectNotFoundException,
    QuickbooksException,
    ValidationException,
)
from quickbooks.objects.base import EmailAddress
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.payment import Payment

from .support import (
    Accounts,
    RealmApi,
    assert_validation_fault,
    invoice_body,
    non_inventory_item_body,
    payment_body,
    sales_line,
)


@pytest.fixture
def wine(api: RealmApi, accounts: Accounts) -> dict[str, Any]:
    return api.create("Item", non_inventory_item_body("Veuve Clicquot Brut NV", accounts))


@pytest.fixture
def customer(api: RealmApi) -> dict[str, Any]:
    return api.create("Customer", {"DisplayName": "O'Malley's Wine & Spirits"})


def test_customer_create_read_and_full_update_through_pyqb(qb: QuickBooks) -> None:
    created = Customer()
    created.DisplayName = "Le Bistrot d'Émile"
    created.PrimaryEmailAddr = EmailAddress()
    created.PrimaryEmailAddr.Address = "emile@example.com"
    saved = created.save(qb=qb)
    assert saved.Id
    assert saved.SyncToken == "0"

    fetched = Customer.get(saved.Id, qb=qb)
    assert fetched.DisplayName == "Le Bistrot d'Émile"
    assert fetched.PrimaryEmailAddr.Address == "emile@example.com"

    fetched.CompanyName = "Bistrot Émile SARL"
    updated = fetched.save(qb=qb)
    assert updated.SyncToken == "1"
    assert Customer.get(saved.Id, qb=qb).CompanyName == "Bistrot Émile SARL"


def test_pyqb_invoice_with_decimal_amounts_and_default_fields_is_accepted(
    qb: QuickBooks, wine: dict[str, Any], customer: dict[str, Any]
) -> None:
    # python-quickbooks sends every default ("" dates, TotalAmt "", Balance 0) and, with Decimal
    # money as the app uses it, amounts as JSON strings; QBO takes all of that.
    line = SalesItemLine()
    line.Amount = Decimal("37.50")
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Item.get(wine["Id"], qb=qb).to_ref()
    line.SalesItemLineDetail.Qty = Decimal("2.5")
    line.SalesItemLineDetail.UnitPrice = Decimal("15.00")
    invoice = Invoice()
    invoice.CustomerRef = Customer.get(customer["Id"], qb=qb).to_ref()
    invoice.Line = [line]

    saved = invoice.save(qb=qb)

    assert saved.TotalAmt == Decimal("37.50")
    assert saved.Balance == Decimal("37.50")
    assert saved.DocNumber
    assert saved.CustomerRef.value == customer["Id"]


def test_sync_token_is_a_string_that_grows_with_every_write(
    api: RealmApi, wine: dict[str, Any]
) -> None:
    assert wine["SyncToken"] == "0"
    tokens = [wine["SyncToken"]]
    current = wine
    for price in ("11.00", "12.00"):
        current = api.update(
            "Item",
            {
                "Id": current["Id"],
                "SyncToken": current["SyncToken"],
                "sparse": True,
                "UnitPrice": float(Decimal(price)),
            },
        )
        tokens.append(current["SyncToken"])
    assert tokens == ["0", "1", "2"]
    assert api.read("Item", wine["Id"])["SyncToken"] == "2"


def test_full_update_nulls_omitted_fields_while_sparse_keeps_them(
    api: RealmApi, accounts: Accounts
) -> None:
    item = api.create(
        "Item",
        non_inventory_item_body(
            "Domaine Weinbach Riesling Cuvée Théo 2020",
            accounts,
            Description="Dry, floral, long finish",
            PurchaseCost=18.25,
        ),
    )

    sparse = api.update(
        "Item",
        {"Id": item["Id"], "SyncToken": item["SyncToken"], "sparse": True, "Name": "Weinbach Théo"},
    )
    assert sparse["Name"] == "Weinbach Théo"
    assert sparse["Description"] == "Dry, floral, long finish"
    assert sparse["PurchaseCost"] == Decimal("18.25")

    full = api.update(
        "Item",
        {
            "Id": item["Id"],
            "SyncToken": sparse["SyncToken"],
            "Name": "Weinbach Théo 2020",
            "Type": "NonInventory",
            "IncomeAccountRef": {"value": accounts.income},
        },
    )
    assert full["Name"] == "Weinbach Théo 2020"
    assert full.get("Description") is None
    assert full.get("PurchaseCost") is None
    reread = api.read("Item", item["Id"])
    assert reread.get("Description") is None
    assert reread.get("PurchaseCost") is None


def test_a_stale_sync_token_is_fault_5010(
    qb: QuickBooks, api: RealmApi, wine: dict[str, Any]
) -> None:
    mine = Item.get(wine["Id"], qb=qb)
    theirs = Item.get(wine["Id"], qb=qb)
    mine.Description = "Edited first"
    mine.save(qb=qb)

    theirs.Description = "Edited second, from an old copy"
    with pytest.raises(QuickbooksException) as stale:
        theirs.save(qb=qb)
    # 5010 falls outside every range python-quickbooks maps, so it raises the base class.
    assert type(stale.value) is QuickbooksException
    assert stale.value.error_code == 5010

    raw = api.request(
        "POST",
        "item",
        json_body={"Id": wine["Id"], "SyncToken": "0", "sparse": True, "Description": "x"},
    )
    assert_validation_fault(raw, "5010")
    assert api.read("Item", wine["Id"])["Description"] == "Edited first"


def test_delete_removes_an_invoice_for_good(
    qb: QuickBooks, api: RealmApi, wine: dict[str, Any], customer: dict[str, Any]
) -> None:
    created = api.create(
        "Invoice", invoice_body(customer["Id"], [sales_line(wine["Id"], "1", "25.00")])
    )
    invoice = Invoice.get(created["Id"], qb=qb)

    result = invoice.delete(qb=qb)

    # The delete response's shape is unconfirmed (docs/qbo-api.md §6); the documented guess is a
    # stub of the entity with status "Deleted", the same stub CDC reports.
    assert result["Invoice"]["status"] == "Deleted"
    assert result["Invoice"]["Id"] == created["Id"]
    with pytest.raises(ObjectNotFoundException) as missing:
        Invoice.get(created["Id"], qb=qb)
    assert missing.value.error_code == 610
    assert api.rows(f"SELECT * FROM Invoice WHERE Id = '{created['Id']}'", "Invoice") == []


def test_void_keeps_an_invoice_with_zero_amounts(
    qb: QuickBooks, api: RealmApi, wine: dict[str, Any], customer: dict[str, Any]
) -> None:
    created = api.create(
        "Invoice", invoice_body(customer["Id"], [sales_line(wine["Id"], "3", "25.00")])
    )
    assert created["TotalAmt"] == Decimal("75.00")

    Invoice.get(created["Id"], qb=qb).void(qb=qb)

    voided = api.read("Invoice", created["Id"])
    assert voided["TotalAmt"] == 0
    assert voided["Balance"] == 0
    assert int(voided["SyncToken"]) > int(created["SyncToken"])
    rows = api.rows(f"SELECT * FROM Invoice WHERE Id = '{created['Id']}'", "Invoice")
    assert [row["Id"] for row in rows] == [created["Id"]]


def test_void_of_a_payment_zeroes_it_and_gives_the_invoice_its_balance_back(
    qb: QuickBooks, api: RealmApi, wine: dict[str, Any], customer: dict[str, Any]
) -> None:
    invoice = api.create(
        "Invoice", invoice_body(customer["Id"], [sales_line(wine["Id"], "4", "25.00")])
    )
    payment = api.create(
        "Payment", payment_body(customer["Id"], "40.00", [(invoice["Id"], "40.00")])
    )
    assert api.read("Invoice", invoice["Id"])["Balance"] == Decimal("60.00")

    Payment.get(payment["Id"], qb=qb).void(qb=qb)

    voided = api.read("Payment", payment["Id"])
    assert voided["TotalAmt"] == 0
    assert "Voided" in voided.get("PrivateNote", "")
    assert api.read("Invoice", invoice["Id"])["Balance"] == Decimal("100.00")


def test_items_cannot_be_deleted_only_deactivated(api: RealmApi, wine: dict[str, Any]) -> None:
    refused = api.request(
        "POST",
        "item",
        params={"operation": "delete"},
        json_body={"Id": wine["Id"], "SyncToken": wine["SyncToken"]},
    )
    assert refused.status_code == 400, refused.text
    assert "Fault" in refused.json()
    assert api.read("Item", wine["Id"])["Active"] is True

    deactivated = api.update(
        "Item",
        {"Id": wine["Id"], "SyncToken": wine["SyncToken"], "sparse": True, "Active": False},
    )
    assert deactivated["Active"] is False
    assert api.read("Item", wine["Id"])["Active"] is False
    assert wine["Id"] not in [row["Id"] for row in api.rows("SELECT * FROM Item", "Item")]


@pytest.mark.parametrize(
    ("entity", "body"),
    [
        ("Item", {"Name": "Veuve Clicquot Brut NV", "Type": "NonInventory"}),
        ("Customer", {"DisplayName": "O'Malley's Wine & Spirits"}),
    ],
)
def test_a_duplicate_name_is_fault_6240(
    qb: QuickBooks,
    api: RealmApi,
    accounts: Accounts,
    wine: dict[str, Any],
    customer: dict[str, Any],
    entity: str,
    body: dict[str, Any],
) -> None:
    if entity == "Item":
        body = {**body, "IncomeAccountRef": {"value": accounts.income}}
    assert_validation_fault(api.request("POST", entity.lower(), json_body=body), "6240")

    if entity == "Item":
        again = Item()
        again.Name = "Veuve Clicquot Brut NV"
        again.Type = "NonInventory"
        again.IncomeAccountRef = Item.get(wine["Id"], qb=qb).IncomeAccountRef
        with pytest.raises(QuickbooksException) as duplicate:
            again.save(qb=qb)
        assert duplicate.value.error_code == 6240
    field = "Name" if entity == "Item" else "DisplayName"
    name = body[field].replace("'", "\\'")
    count = api.query(f"SELECT COUNT(*) FROM {entity} WHERE {field} = '{name}'")
    assert count["totalCount"] == 1


def test_a_missing_required_field_is_fault_2020(
    qb: QuickBooks, api: RealmApi, wine: dict[str, Any]
) -> None:
    response = api.request(
        "POST", "invoice", json_body={"Line": [sales_line(wine["Id"], "1", "10.00")]}
    )
    error = assert_validation_fault(response, "2020")
    assert "CustomerRef" in error["Message"] + error["Detail"]

    invoice = Invoice()
    invoice.Line = []
    with pytest.raises(ValidationException) as missing:
        invoice.save(qb=qb)
    assert missing.value.error_code == 2020
    assert api.query("SELECT COUNT(*) FROM Invoice")["totalCount"] == 0


@pytest.mark.parametrize("bad", ["customer", "item"])
def test_a_reference_to_nothing_is_fault_2500(
    api: RealmApi, wine: dict[str, Any], customer: dict[str, Any], bad: str
) -> None:
    customer_id = "987654" if bad == "customer" else customer["Id"]
    item_id = "987654" if bad == "item" else wine["Id"]
    response = api.request(
        "POST", "invoice", json_body=invoice_body(customer_id, [sales_line(item_id, "1", "9.99")])
    )
    assert_validation_fault(response, "2500")
    assert api.query("SELECT COUNT(*) FROM Invoice")["totalCount"] == 0


def test_reading_an_unknown_id_is_fault_610(qb: QuickBooks, api: RealmApi) -> None:
    assert_validation_fault(api.request("GET", "item/424242"), "610")
    with pytest.raises(ObjectNotFoundException):
        Item.get("424242", qb=qb)
