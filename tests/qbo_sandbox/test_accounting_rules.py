"""The bookkeeping QBO does on writes: totals, doc numbers, stock and payment application."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from quickbooks import QuickBooks
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.payment import Payment

from .support import (
    Accounts,
    RealmApi,
    assert_validation_fault,
    inventory_item_body,
    invoice_body,
    non_inventory_item_body,
    payment_body,
    sales_line,
    today,
)


@pytest.fixture
def customer(api: RealmApi) -> dict[str, Any]:
    return api.create("Customer", {"DisplayName": "Harbor Point Wine Shop"})


@pytest.fixture
def service(api: RealmApi, accounts: Accounts) -> dict[str, Any]:
    return api.create("Item", non_inventory_item_body("Delivery fee", accounts))


@pytest.fixture
def callie(api: RealmApi, accounts: Accounts) -> dict[str, Any]:
    return api.create(
        "Item",
        inventory_item_body(
            "Une Femme The Callie Sparkling Rosé NV 750ml",
            accounts,
            qty=48,
            unit_price="24.00",
            Sku="UF-CAL-NV-750",
        ),
    )


def qty_on_hand(api: RealmApi, item_id: str) -> Decimal:
    return Decimal(api.read("Item", item_id)["QtyOnHand"])


def balance(api: RealmApi, invoice_id: str) -> Decimal:
    return Decimal(api.read("Invoice", invoice_id)["Balance"])


def make_invoice(api: RealmApi, customer_id: str, item_id: str, *amounts: str) -> dict[str, Any]:
    return api.create(
        "Invoice",
        invoice_body(customer_id, [sales_line(item_id, "1", amount) for amount in amounts]),
    )


def test_total_and_balance_are_the_sum_of_the_lines_to_the_cent(
    qb: QuickBooks, api: RealmApi, customer: dict[str, Any], service: dict[str, Any]
) -> None:
    # 0.10 + 0.20 is where binary floats drift; QBO's totals do not.
    lines = [("3", "19.99"), ("1", "0.10"), ("1", "0.20"), ("2", "617.28"), ("7", "0.01")]
    expected = sum((Decimal(qty) * Decimal(price) for qty, price in lines), Decimal("0"))
    assert expected == Decimal("1294.90")

    created = api.create(
        "Invoice",
        invoice_body(customer["Id"], [sales_line(service["Id"], q, p) for q, p in lines]),
    )

    assert created["TotalAmt"] == expected
    assert created["Balance"] == expected
    fetched = Invoice.get(created["Id"], qb=qb)
    assert isinstance(fetched.TotalAmt, Decimal)
    assert fetched.TotalAmt == expected
    assert fetched.Balance == expected
    line_amounts = [
        Decimal(str(line.Amount))
        for line in fetched.Line
        if line.DetailType == "SalesItemLineDetail"
    ]
    assert line_amounts == [Decimal(q) * Decimal(p) for q, p in lines]


def test_doc_numbers_are_assigned_unique_and_kept_when_given(
    api: RealmApi, customer: dict[str, Any], service: dict[str, Any]
) -> None:
    assigned = [make_invoice(api, customer["Id"], service["Id"], "10.00") for _ in range(3)]
    numbers = [invoice.get("DocNumber") for invoice in assigned]
    assert all(numbers), numbers
    assert len(set(numbers)) == 3

    given = api.create(
        "Invoice",
        invoice_body(customer["Id"], [sales_line(service["Id"], "1", "5.00")], DocNumber="UF-1001"),
    )
    assert given["DocNumber"] == "UF-1001"
    duplicate = api.request(
        "POST",
        "invoice",
        json_body=invoice_body(
            customer["Id"], [sales_line(service["Id"], "1", "5.00")], DocNumber="UF-1001"
        ),
    )
    assert_validation_fault(duplicate, "6140")


@pytest.mark.parametrize("undo", ["delete", "void"])
def test_invoice_lines_lower_qty_on_hand_and_undoing_the_invoice_restores_it(
    api: RealmApi, customer: dict[str, Any], callie: dict[str, Any], undo: str
) -> None:
    assert qty_on_hand(api, callie["Id"]) == 48
    invoice = api.create(
        "Invoice",
        invoice_body(
            customer["Id"],
            [sales_line(callie["Id"], "5", "24.00"), sales_line(callie["Id"], "2", "24.00")],
        ),
    )
    assert qty_on_hand(api, callie["Id"]) == 41

    # That undoing the sale puts the stock back is unconfirmed (docs/qbo-api.md §14), but it is what
    # QBO's inventory valuation implies: a deleted or voided invoice no longer sells anything.
    api.request(
        "POST",
        "invoice",
        params={"operation": undo},
        json_body={"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]},
    ).raise_for_status()

    assert qty_on_hand(api, callie["Id"]) == 48


def test_changing_invoice_lines_moves_qty_on_hand_by_the_difference(
    api: RealmApi, customer: dict[str, Any], callie: dict[str, Any]
) -> None:
    invoice = api.create(
        "Invoice", invoice_body(customer["Id"], [sales_line(callie["Id"], "5", "24.00")])
    )
    assert qty_on_hand(api, callie["Id"]) == 43

    # Lines are all-or-none: the update sends the one line it wants, now with 3 bottles.
    updated = api.update(
        "Invoice",
        {
            "Id": invoice["Id"],
            "SyncToken": invoice["SyncToken"],
            "sparse": True,
            "Line": [sales_line(callie["Id"], "3", "24.00")],
        },
    )

    assert updated["TotalAmt"] == Decimal("72.00")
    assert qty_on_hand(api, callie["Id"]) == 45


def test_inventory_adjustment_changes_qty_on_hand(
    api: RealmApi, accounts: Accounts, callie: dict[str, Any]
) -> None:
    juliette = api.create(
        "Item", inventory_item_body("Une Femme The Juliette Brut NV 750ml", accounts, qty=12)
    )

    def adjust(*diffs: tuple[str, int]) -> dict[str, Any]:
        return api.create(
            "InventoryAdjustment",
            {
                "TxnDate": today(),
                "AdjustAccountRef": {"value": accounts.cogs},
                "Line": [
                    {
                        "DetailType": "ItemAdjustmentLineDetail",
                        "ItemAdjustmentLineDetail": {"ItemRef": {"value": item_id}, "QtyDiff": qty},
                    }
                    for item_id, qty in diffs
                ],
            },
        )

    adjustment = adjust((callie["Id"], 6), (juliette["Id"], -4))
    assert adjustment["Id"]
    assert qty_on_hand(api, callie["Id"]) == 54
    assert qty_on_hand(api, juliette["Id"]) == 8

    adjust((callie["Id"], -10))
    assert qty_on_hand(api, callie["Id"]) == 44


def test_a_linked_payment_lowers_the_invoice_balance(
    api: RealmApi, customer: dict[str, Any], service: dict[str, Any]
) -> None:
    invoice = make_invoice(api, customer["Id"], service["Id"], "100.00")

    payment = api.create(
        "Payment", payment_body(customer["Id"], "60.00", [(invoice["Id"], "60.00")])
    )

    assert payment["TotalAmt"] == Decimal("60.00")
    assert payment["UnappliedAmt"] == 0
    assert balance(api, invoice["Id"]) == Decimal("40.00")
    linked = api.read("Invoice", invoice["Id"]).get("LinkedTxn", [])
    assert {"TxnId": payment["Id"], "TxnType": "Payment"}.items() <= linked[0].items()


def test_what_a_payment_does_not_apply_becomes_unapplied_credit(
    api: RealmApi, customer: dict[str, Any], service: dict[str, Any]
) -> None:
    invoice = make_invoice(api, customer["Id"], service["Id"], "100.00")

    over = api.create(
        "Payment", payment_body(customer["Id"], "150.00", [(invoice["Id"], "100.00")])
    )
    unlinked = api.create("Payment", payment_body(customer["Id"], "35.50", []))

    assert balance(api, invoice["Id"]) == 0
    assert over["UnappliedAmt"] == Decimal("50.00")
    assert unlinked["UnappliedAmt"] == Decimal("35.50")


def test_one_payment_over_two_invoices_and_deleting_it_restores_both(
    qb: QuickBooks, api: RealmApi, customer: dict[str, Any], service: dict[str, Any]
) -> None:
    first = make_invoice(api, customer["Id"], service["Id"], "80.25")
    second = make_invoice(api, customer["Id"], service["Id"], "100.00", "19.75")

    payment = api.create(
        "Payment",
        payment_body(customer["Id"], "200.00", [(first["Id"], "80.25"), (second["Id"], "100.00")]),
    )

    assert balance(api, first["Id"]) == 0
    assert balance(api, second["Id"]) == Decimal("19.75")
    assert payment["UnappliedAmt"] == Decimal("19.75")

    Payment.get(payment["Id"], qb=qb).delete(qb=qb)

    assert balance(api, first["Id"]) == Decimal("80.25")
    assert balance(api, second["Id"]) == Decimal("119.75")


@pytest.mark.parametrize(
    "missing", ["QtyOnHand", "InvStartDate", "IncomeAccountRef", "AssetAccountRef"]
)
def test_an_inventory_item_without_its_stock_fields_is_fault_2020(
    api: RealmApi, accounts: Accounts, missing: str
) -> None:
    body = inventory_item_body("Incomplete Inventory Wine", accounts, qty=10)
    del body[missing]

    assert_validation_fault(api.request("POST", "item", json_body=body), "2020")
    count = api.query("SELECT COUNT(*) FROM Item WHERE Name = 'Incomplete Inventory Wine'")
    assert count["totalCount"] == 0
