"""Facts the demo seed promises (the contract's "Demo seed"), read over HTTP.

These tests only read the three companies the session sandbox was seeded with.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from .support import RealmApi, connect

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

UF_CODES = {
    "UF-CAL-NV-750",
    "UF-JUL-NV-750",
    "UF-CAL-NV-375",
    "UF-BDB-2021-750",
    "UF-BDB-2021-1500",
    "UF-ROS-2023-750",
    "UF-CRB-NV-750",
    "UF-DEM-NV-750",
}
EVERYTHING = "WHERE Active IN (true, false) MAXRESULTS 1000"


@dataclass(frozen=True)
class Company:
    realm_id: str
    name: str
    api: RealmApi
    items: list[dict[str, Any]]
    customers: list[dict[str, Any]]
    invoices: list[dict[str, Any]]
    payments: list[dict[str, Any]]


@pytest.fixture(scope="module")
def companies(sandbox: SandboxProcess) -> list[Company]:
    found = []
    for realm_id, name in sorted(sandbox.realms.items()):
        api = connect(sandbox, realm_id).api
        found.append(
            Company(
                realm_id=realm_id,
                name=name,
                api=api,
                items=api.rows(f"SELECT *, Sku FROM Item {EVERYTHING}", "Item"),
                customers=api.rows(f"SELECT * FROM Customer {EVERYTHING}", "Customer"),
                invoices=api.rows("SELECT * FROM Invoice MAXRESULTS 1000", "Invoice"),
                payments=api.rows("SELECT * FROM Payment MAXRESULTS 1000", "Payment"),
            )
        )
    return found


def test_three_distributor_companies_with_16_digit_realm_ids(
    sandbox: SandboxProcess, companies: list[Company]
) -> None:
    assert len(companies) == 3
    assert all(re.fullmatch(r"\d{16}", company.realm_id) for company in companies)
    assert len({company.name for company in companies}) == 3
    status = sandbox.control("GET", "/_sandbox/status")
    listed = {company["realm_id"]: company for company in status["companies"]}
    for company in companies:
        assert listed[company.realm_id]["name"] == company.name
        assert listed[company.realm_id]["counts"]["Item"] >= 40


def test_items_carry_une_femme_codes_with_a_collision_and_a_disagreement(
    companies: list[Company],
) -> None:
    for company in companies:
        items = company.items
        assert 40 <= len(items) <= 80, company.name
        skus = Counter(item["Sku"] for item in items if item.get("Sku") in UF_CODES)
        assert skus, company.name
        assert any(count >= 2 for count in skus.values()), f"{company.name}: no Sku collision"
        assert any(
            "Juliette" in item["Name"] and item.get("Sku", "").startswith("UF-CAL")
            for item in items
        ), f"{company.name}: no Juliette item carrying a Callie code"
        assert any(
            item["Name"].startswith("Une Femme") and not item.get("Sku") for item in items
        ), f"{company.name}: no Une Femme item matchable only by name"


def test_items_include_the_awkward_names_sub_items_and_inactive_ones(
    companies: list[Company],
) -> None:
    for company in companies:
        by_name = {item["Name"]: item for item in company.items}
        assert "Château d'Yquem 2015" in by_name
        assert any(
            item["FullyQualifiedName"] == "Crémant:Crémant de Loire" for item in company.items
        )
        assert all(":" not in name for name in by_name)
        assert any(item["Active"] is False for item in company.items)
        types = Counter(item["Type"] for item in company.items)
        assert types["Inventory"] > types["NonInventory"] + types["Service"] > 0
        for item in company.items:
            if item["Type"] == "Inventory":
                assert item["TrackQtyOnHand"] is True
                assert "QtyOnHand" in item and item.get("InvStartDate")
                for ref in ("IncomeAccountRef", "AssetAccountRef", "ExpenseAccountRef"):
                    assert item[ref]["value"], (item["Name"], ref)


def test_customers_are_many_and_some_have_apostrophes_and_accents(
    companies: list[Company],
) -> None:
    for company in companies:
        names = [customer["DisplayName"] for customer in company.customers]
        assert len(names) >= 100
        assert any("'" in name for name in names)
        assert any(not name.isascii() for name in names)


def test_invoices_are_paid_partly_paid_open_and_voided(companies: list[Company]) -> None:
    for company in companies:
        invoices = company.invoices
        assert len(invoices) >= 300, company.name
        totals = [(Decimal(i["TotalAmt"]), Decimal(i["Balance"])) for i in invoices]
        voided = [t for t in totals if t[0] == 0]
        paid = [t for t in totals if t[0] > 0 and t[1] == 0]
        partly = [t for t in totals if 0 < t[1] < t[0]]
        assert voided, f"{company.name}: no voided invoices"
        assert partly, f"{company.name}: no partially paid invoices"
        assert len(paid) > len(invoices) / 2, f"{company.name}: most invoices should be paid"
        oldest = min(datetime.fromisoformat(i["TxnDate"]) for i in invoices)
        assert oldest.date() <= (datetime.now(UTC) - timedelta(days=150)).date()


def test_deleted_invoices_are_visible_through_cdc(companies: list[Company]) -> None:
    since = (datetime.now(UTC) - timedelta(days=29)).strftime("%Y-%m-%dT%H:%M:%S")
    for company in companies:
        response = company.api.request(
            "GET", "cdc", params={"entities": "Invoice", "changedSince": since}
        )
        assert response.status_code == 200, response.text
        rows = [
            row
            for query_response in response.json()["CDCResponse"][0]["QueryResponse"]
            for row in query_response.get("Invoice", [])
        ]
        deleted = {row["Id"] for row in rows if row.get("status") == "Deleted"}
        assert deleted, company.name
        assert deleted.isdisjoint(invoice["Id"] for invoice in company.invoices)


def test_payments_include_unapplied_credit_and_two_invoice_payments(
    companies: list[Company],
) -> None:
    for company in companies:
        payments = company.payments
        assert any(Decimal(payment.get("UnappliedAmt", 0)) > 0 for payment in payments)
        assert any(
            len(
                {
                    linked["TxnId"]
                    for line in payment.get("Line", [])
                    for linked in line.get("LinkedTxn", [])
                    if linked["TxnType"] == "Invoice"
                }
            )
            >= 2
            for payment in payments
        ), f"{company.name}: no payment covering two invoices"


def test_chart_of_accounts_payment_methods_and_terms(companies: list[Company]) -> None:
    for company in companies:
        api = company.api
        sub_types = {
            account.get("AccountSubType")
            for account in api.rows("SELECT * FROM Account MAXRESULTS 1000", "Account")
        }
        assert {
            "SalesOfProductIncome",
            "SuppliesMaterialsCogs",
            "Inventory",
            "AccountsReceivable",
            "Checking",
            "UndepositedFunds",
        } <= sub_types
        methods = {row["Name"] for row in api.rows("SELECT * FROM PaymentMethod", "PaymentMethod")}
        assert {"Cash", "Check", "Visa", "MasterCard", "ACH"} <= methods
        terms = {row["Name"] for row in api.rows("SELECT * FROM Term", "Term")}
        assert {"Net 30", "Net 60", "Due on receipt"} <= terms
