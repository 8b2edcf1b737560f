"""The demo seed's documents beyond invoices and payments, read over HTTP from the three
session companies: a wine distributor's cash sales, returns and credits, orders to Une Femme
billed on receipt, breakage credits and bill payments, in believable proportions, and the
balances they leave agreeing with the documents (qbo_sandbox/seed.py)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from .support import RealmApi, connect

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

ZERO = Decimal(0)


@dataclass(frozen=True)
class Books:
    name: str
    api: RealmApi
    rows: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def companies(sandbox: SandboxProcess) -> list[Books]:
    found = []
    for realm_id, name in sorted(sandbox.realms.items()):
        api = connect(sandbox, realm_id).api
        rows = {
            entity: api.rows(f"SELECT * FROM {entity} {where} MAXRESULTS 1000", entity)
            for entity, where in (
                ("Invoice", ""),
                ("Payment", ""),
                ("SalesReceipt", ""),
                ("CreditMemo", ""),
                ("RefundReceipt", ""),
                ("Estimate", ""),
                ("PurchaseOrder", ""),
                ("Bill", ""),
                ("VendorCredit", ""),
                ("BillPayment", ""),
                ("Customer", "WHERE Active IN (true, false)"),
                ("Vendor", "WHERE Active IN (true, false)"),
            )
        }
        found.append(Books(name, api, rows))
    return found


def dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else ZERO


def test_cash_sales_returns_and_quotes_in_a_distributors_proportions(
    companies: list[Books],
) -> None:
    for books in companies:
        invoices, receipts = books.rows["Invoice"], books.rows["SalesReceipt"]
        # About one sale in eight is cash on delivery, to on-premise accounts.
        assert len(invoices) / 12 < len(receipts) < len(invoices) / 5, books.name
        assert all(r["Balance"] == 0 and r["DepositToAccountRef"] for r in receipts)
        assert any(r["TotalAmt"] == 0 and r["PrivateNote"].startswith("Voided") for r in receipts)
        # A few credit memos a month over six months, and a refund about monthly.
        assert 10 <= len(books.rows["CreditMemo"]) <= 30, books.name
        assert 3 <= len(books.rows["RefundReceipt"]) <= 10, books.name
        assert all(memo["RemainingCredit"] > 0 for memo in books.rows["CreditMemo"])
        assert {e["TxnStatus"] for e in books.rows["Estimate"]} >= {"Pending", "Accepted"}


def test_orders_to_une_femme_are_billed_on_receipt_and_bills_get_paid(
    companies: list[Books],
) -> None:
    for books in companies:
        une_femme = next(v for v in books.rows["Vendor"] if v["DisplayName"] == "Une Femme Wines")
        orders = {o["Id"]: o for o in books.rows["PurchaseOrder"]}
        assert all(o["VendorRef"]["value"] == une_femme["Id"] for o in orders.values())
        bills = {b["Id"]: b for b in books.rows["Bill"]}
        status = defaultdict(list)
        for order in orders.values():
            status[order["POStatus"]].append(order)
        # Most orders arrived and were billed; the latest is still on its way.
        assert len(status["Closed"]) > len(status["Open"]) >= 1, books.name
        for order in status["Closed"]:
            ((bill_id, kind),) = [(link["TxnId"], link["TxnType"]) for link in order["LinkedTxn"]]
            assert kind == "Bill"
            assert {"TxnId": order["Id"], "TxnType": "PurchaseOrder"} in bills[bill_id]["LinkedTxn"]
            assert bills[bill_id]["TotalAmt"] == order["TotalAmt"]
        assert all(order["LinkedTxn"] == [] for order in status["Open"])
        # Bills are paid by check within about 40 days.
        paid: dict[str, Decimal] = defaultdict(Decimal)
        for payment in books.rows["BillPayment"]:
            assert payment["PayType"] == "Check" and payment["CheckPayment"]["BankAccountRef"]
            for line in payment["Line"]:
                (link,) = line["LinkedTxn"]
                paid[link["TxnId"]] += dec(line["Amount"])
        today = max(date.fromisoformat(i["TxnDate"]) for i in books.rows["Invoice"])
        for bill in bills.values():
            assert dec(bill["Balance"]) == dec(bill["TotalAmt"]) - paid[bill["Id"]]
            if date.fromisoformat(bill["TxnDate"]) < today - timedelta(days=45):
                assert bill["Balance"] == 0, (books.name, bill["Id"])
        assert any(dec(b["Balance"]) > 0 for b in bills.values()), books.name


def test_every_balance_agrees_with_the_documents(companies: list[Books]) -> None:
    for books in companies:
        owed: dict[str, Decimal] = defaultdict(Decimal)
        for invoice in books.rows["Invoice"]:
            owed[invoice["CustomerRef"]["value"]] += dec(invoice["Balance"])
        for payment in books.rows["Payment"]:
            owed[payment["CustomerRef"]["value"]] -= dec(payment["UnappliedAmt"])
        for memo in books.rows["CreditMemo"]:
            owed[memo["CustomerRef"]["value"]] -= dec(memo["RemainingCredit"])
        for customer in books.rows["Customer"]:
            assert dec(customer["Balance"]) == owed[customer["Id"]], customer["DisplayName"]
        due: dict[str, Decimal] = defaultdict(Decimal)
        for bill in books.rows["Bill"]:
            due[bill["VendorRef"]["value"]] += dec(bill["Balance"])
        for credit in books.rows["VendorCredit"]:
            due[credit["VendorRef"]["value"]] -= dec(credit["Balance"])
        for vendor in books.rows["Vendor"]:
            assert dec(vendor["Balance"]) == due[vendor["Id"]], vendor["DisplayName"]
