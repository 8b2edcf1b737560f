"""Preferences in Intuit's full standard shape, and an invoice's InvoiceLink on request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from quickbooks import QuickBooks
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.preferences import Preferences

from .support import (
    Accounts,
    RealmApi,
    connect,
    ensure_accounts,
    invoice_body,
    non_inventory_item_body,
    sales_line,
)

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

BLOCKS = {
    "AccountingInfoPrefs",
    "ProductAndServicesPrefs",
    "SalesFormsPrefs",
    "EmailMessagesPrefs",
    "VendorAndPurchasesPrefs",
    "TimeTrackingPrefs",
    "TaxPrefs",
    "CurrencyPrefs",
    "ReportPrefs",
    "OtherPrefs",
}
MESSAGES = ("InvoiceMessage", "EstimateMessage", "SalesReceiptMessage", "StatementMessage")


def company_name(api: RealmApi) -> str:
    name: str = api.ok("GET", f"companyinfo/{api.realm_id}")["CompanyInfo"]["CompanyName"]
    return name


def test_python_quickbooks_reads_every_standard_block(qb: QuickBooks, api: RealmApi) -> None:
    prefs = Preferences.get(qb=qb)

    name = company_name(api)
    for message in MESSAGES:
        found = getattr(prefs.EmailMessagesPrefs, message)
        assert found.Subject.endswith(f"from {name}") and found.Message, message
    assert prefs.EmailMessagesPrefs.EstimateMessage.Subject == f"Estimate from {name}"
    # What the sandbox does: it tracks stock, auto-numbers forms, has no sales tax or
    # multi-currency, no classes or locations, and applies payments only as told.
    products = prefs.ProductAndServicesPrefs
    assert (products.QuantityOnHand, products.ForSales, products.ForPurchase) == (True,) * 3
    assert prefs.SalesFormsPrefs.CustomTxnNumbers is False
    assert prefs.SalesFormsPrefs.AutoApplyPayments is False
    assert prefs.TaxPrefs.UsingSalesTax is False
    assert prefs.CurrencyPrefs.MultiCurrencyEnabled is False
    assert prefs.CurrencyPrefs.HomeCurrency.value == "USD"
    assert prefs.AccountingInfoPrefs.TrackDepartments is False
    assert prefs.AccountingInfoPrefs.ClassTrackingPerTxn is False
    assert prefs.ReportPrefs.ReportBasis == "Accrual"
    assert prefs.TimeTrackingPrefs.WorkWeekStartDate == "Monday"
    assert prefs.VendorAndPurchasesPrefs.BillableExpenseTracking is False


def test_every_way_of_reading_preferences_gives_the_full_shape(api: RealmApi) -> None:
    read = api.ok("GET", "preferences")["Preferences"]
    assert set(read) >= BLOCKS
    assert set(MESSAGES) <= set(read["EmailMessagesPrefs"])
    # The company's own values stay: its default terms, and its default customer message,
    # shown in both places QBO shows it.
    assert read["SalesFormsPrefs"]["DefaultTerms"]["value"]
    pairs = {pair["Name"]: pair["Value"] for pair in read["OtherPrefs"]["NameValue"]}
    message = pairs["SalesFormsPrefs.DefaultCustomerMessage"]
    assert read["SalesFormsPrefs"]["DefaultCustomerMessage"] == message
    assert {"DateFormat", "NumberFormat", "WarnDuplicateCheckNumber"} <= set(pairs)

    queried = api.rows("SELECT * FROM Preferences", "Preferences")
    assert queried == [read]
    assert api.ok("GET", f"preferences/{api.realm_id}")["Preferences"] == read


def test_an_update_keeps_every_standard_key(api: RealmApi) -> None:
    before = api.ok("GET", "preferences")["Preferences"]
    body = {
        "Id": before["Id"],
        "SyncToken": before["SyncToken"],
        "sparse": True,
        "EmailMessagesPrefs": {
            "InvoiceMessage": {"Subject": "Your invoice", "Message": "Merci !"},
        },
        "SalesFormsPrefs": {"AllowDiscount": False},
    }
    updated = api.ok("POST", "preferences", json_body=body)["Preferences"]

    assert int(updated["SyncToken"]) == int(before["SyncToken"]) + 1
    messages = updated["EmailMessagesPrefs"]
    assert messages["InvoiceMessage"] == {"Subject": "Your invoice", "Message": "Merci !"}
    assert messages["EstimateMessage"] == before["EmailMessagesPrefs"]["EstimateMessage"]
    assert updated["SalesFormsPrefs"]["AllowDiscount"] is False
    # A section sent is replaced; the standard keys it left out take their standard values.
    assert set(updated["SalesFormsPrefs"]) >= set(before["SalesFormsPrefs"]) - {
        "DefaultTerms",
        "DefaultDiscountAccount",
    }
    assert api.ok("GET", "preferences")["Preferences"] == updated
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    changes = api.ok("GET", "cdc", params={"entities": "Preferences", "changedSince": since})
    assert changes["CDCResponse"][0]["QueryResponse"][0]["Preferences"] == [updated]


def make_invoice(api: RealmApi, accounts: Accounts, label: str) -> dict[str, Any]:
    item = api.create("Item", non_inventory_item_body(f"Sauternes {label}", accounts))
    customer = api.create("Customer", {"DisplayName": f"Cave {label}"})
    created: dict[str, Any] = api.create(
        "Invoice", invoice_body(customer["Id"], [sales_line(item["Id"], "2", "45.00")])
    )
    return created


def test_invoice_link_comes_with_include_invoice_link_only(
    qb: QuickBooks, api: RealmApi, accounts: Accounts
) -> None:
    invoice = make_invoice(api, accounts, "Lien")
    other = make_invoice(api, accounts, "Autre")

    linked = Invoice.get(invoice["Id"], qb=qb, params={"include": "invoiceLink"})
    assert linked.InvoiceLink.startswith("https://")
    assert Invoice.get(invoice["Id"], qb=qb, params={"include": "invoiceLink"}).InvoiceLink == (
        linked.InvoiceLink
    )
    assert Invoice.get(other["Id"], qb=qb, params={"include": "invoiceLink"}).InvoiceLink != (
        linked.InvoiceLink
    )
    # Without asking, no link (pyqb leaves its default, an empty string).
    assert Invoice.get(invoice["Id"], qb=qb).InvoiceLink == ""

    plain = api.ok("GET", f"invoice/{invoice['Id']}")["Invoice"]
    assert "InvoiceLink" not in plain
    asked = api.ok("GET", f"invoice/{invoice['Id']}", params={"include": "InvoiceLink"})
    assert asked["Invoice"]["InvoiceLink"] == linked.InvoiceLink
    assert {k: v for k, v in asked["Invoice"].items() if k != "InvoiceLink"} == plain
    # The link is the customer's: it names neither the realm nor the invoice.
    assert api.realm_id not in linked.InvoiceLink
    assert f"/{invoice['Id']}" not in linked.InvoiceLink


def test_the_same_invoice_id_in_another_company_has_another_link(
    sandbox: SandboxProcess, api: RealmApi, accounts: Accounts
) -> None:
    invoice = make_invoice(api, accounts, "Premier")
    other_api = connect(sandbox, sandbox.new_company(seed="empty")).api
    other_accounts = ensure_accounts(other_api)
    twin = make_invoice(other_api, other_accounts, "Second")
    params = {"include": "invoiceLink"}
    mine = api.ok("GET", f"invoice/{invoice['Id']}", params=params)["Invoice"]
    theirs = other_api.ok("GET", f"invoice/{twin['Id']}", params=params)["Invoice"]
    assert mine["InvoiceLink"] != theirs["InvoiceLink"]
