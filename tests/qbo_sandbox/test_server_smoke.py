"""Smoke tests of the sandbox server: the stock clients, end to end, over HTTP only.

The thorough contract suite lives beside this file; these tests walk the paths the
simulator's contract names (docs/qbo-api.md §14), against a demo-seeded server started by
the public launcher.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urljoin, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import AuthorizationException, QuickbooksException
from quickbooks.objects.base import LinkedTxn, Ref
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.payment import Payment, PaymentLine

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

REDIRECT_URI = "http://localhost:8765/smoke/callback"
PACIFIC = ZoneInfo("America/Los_Angeles")
TIMEOUT = 30


@pytest.fixture(scope="module")
def demo() -> Iterator[SandboxProcess]:
    from qbo_sandbox.testing import start_sandbox

    # python-quickbooks refuses plain http without this (docs/qbo-api.md §11).
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    process = start_sandbox("--seed", "demo", "--scale", "0.25", "--redirect-uri", REDIRECT_URI)
    yield process
    process.stop()


class _Form(HTMLParser):
    """The consent form's fields, read the way a browser submits them."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.realms: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.action = attr.get("action", "")
        elif tag == "input" and attr.get("type") == "hidden":
            self.fields[attr["name"]] = attr.get("value", "")
        elif tag == "input" and attr.get("type") == "radio":
            self.realms.append(attr["value"])


def _auth_client(demo: SandboxProcess) -> AuthClient:
    return AuthClient(
        demo.client_id, demo.client_secret, REDIRECT_URI, environment=demo.discovery_url
    )


def _consent(demo: SandboxProcess, auth: AuthClient, realm_id: str) -> dict[str, str]:
    page = requests.get(
        auth.get_authorization_url([Scopes.ACCOUNTING], "smoke-state"), timeout=TIMEOUT
    )
    assert page.status_code == 200
    form = _Form()
    form.feed(page.text)
    assert realm_id in form.realms
    answer = requests.post(
        urljoin(page.url, form.action),
        data={**form.fields, "realm_id": realm_id, "action": "connect"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    return dict(parse_qsl(location.query))


def _qb(demo: SandboxProcess, auth: AuthClient, realm_id: str) -> QuickBooks:
    qb = QuickBooks(
        auth_client=auth,
        refresh_token=auth.refresh_token,
        company_id=realm_id,
        minorversion=75,
        use_decimal=True,
    )
    qb.api_url_v3 = demo.api_url
    return qb


def _connected(demo: SandboxProcess, realm_id: str) -> QuickBooks:
    auth = _auth_client(demo)
    callback = _consent(demo, auth, realm_id)
    auth.get_bearer_token(callback["code"], realm_id=realm_id)
    return _qb(demo, auth, realm_id)


def test_the_launcher_reports_three_demo_companies(demo: SandboxProcess) -> None:
    assert demo.base_url.startswith("http://127.0.0.1:")
    assert demo.api_url == f"{demo.base_url}/v3"
    assert len(demo.realms) == 3
    assert all(re.fullmatch(r"\d{16}", realm_id) for realm_id in demo.realms)
    status = demo.control("GET", "/_sandbox/status")
    counts = {company["realm_id"]: company["counts"] for company in status["companies"]}
    for realm_id in demo.realms:
        assert 40 <= counts[realm_id]["Item"] <= 80
        assert counts[realm_id]["Customer"] >= 100
        assert counts[realm_id]["Invoice"] >= 50


def test_oauth_dance_refresh_and_revoke_with_intuit_oauth(demo: SandboxProcess) -> None:
    realm_id = next(iter(demo.realms))
    auth = _auth_client(demo)
    callback = _consent(demo, auth, realm_id)
    assert callback["state"] == "smoke-state"
    assert callback["realmId"] == realm_id

    auth.get_bearer_token(callback["code"], realm_id=realm_id)
    assert auth.expires_in == 3600
    first_access, first_refresh = auth.access_token, auth.refresh_token
    auth.refresh()
    # Within its first 24 hours the same refresh token comes back (docs/qbo-api.md §10);
    # what happens after, and strict rotation, is tests/qbo_sandbox/test_oauth_refresh.py.
    assert auth.refresh_token == first_refresh
    assert auth.access_token != first_access
    with pytest.raises(AuthClientError) as unknown:
        auth.refresh(refresh_token="AB11-not-a-token")
    assert unknown.value.status_code == 400

    qb = _qb(demo, auth, realm_id)
    assert Item.count(qb=qb) > 0
    assert auth.revoke() is True
    with pytest.raises(AuthorizationException):
        Item.count(qb=qb)


def test_pyqb_queries_over_the_demo_catalog(demo: SandboxProcess) -> None:
    qb = _connected(demo, next(iter(demo.realms)))

    everything = Item.all(max_results=1000, qb=qb)
    by_name = {item.Name: item for item in everything}
    assert "Crémant:Crémant de Loire" in {item.FullyQualifiedName for item in everything}
    skus = [getattr(item, "Sku", None) for item in everything]
    assert skus.count("UF-BDB-2021-750") >= 2, "the demo's deliberate Sku collision"

    yquem = Item.filter(Name="Château d'Yquem 2015", qb=qb)
    assert [item.Name for item in yquem] == ["Château d'Yquem 2015"]
    assert yquem[0].Id == by_name["Château d'Yquem 2015"].Id

    inventory = Item.where("Type = 'Inventory'", order_by="Name", qb=qb)
    names = [item.Name for item in inventory]
    assert names == sorted(names, key=str.casefold)
    assert Item.count("Type = 'Inventory'", qb=qb) == len(inventory)
    assert Item.count(qb=qb) == len(everything)


def test_pyqb_invoice_payment_and_delete_move_stock_and_balances(demo: SandboxProcess) -> None:
    qb = _connected(demo, list(demo.realms)[1])
    wine = Item.where("Type = 'Inventory' AND Name LIKE 'Une Femme%'", qb=qb)[0]
    customer = Customer.filter(DisplayName="O'Malley's Wine & Spirits", qb=qb)[0]
    stock = Decimal(wine.QtyOnHand)

    line = SalesItemLine()
    line.Amount = Decimal(6) * Decimal(str(wine.UnitPrice))
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = wine.to_ref()
    line.SalesItemLineDetail.Qty = 6
    line.SalesItemLineDetail.UnitPrice = Decimal(str(wine.UnitPrice))
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    invoice.Line = [line]
    invoice = invoice.save(qb=qb)
    assert invoice.DocNumber
    assert invoice.Balance == invoice.TotalAmt == line.Amount
    assert Item.get(wine.Id, qb=qb).QtyOnHand == stock - 6

    payment = Payment()
    payment.CustomerRef = customer.to_ref()
    payment.TotalAmt = Decimal("50.00")
    applied = PaymentLine()
    applied.Amount = Decimal("20.00")
    link = LinkedTxn()
    link.TxnId = invoice.Id
    link.TxnType = "Invoice"
    applied.LinkedTxn = [link]
    payment.Line = [applied]
    payment = payment.save(qb=qb)
    assert payment.UnappliedAmt == Decimal("30.00")
    paid = Invoice.get(invoice.Id, qb=qb)
    assert paid.Balance == invoice.TotalAmt - Decimal("20.00")
    assert [txn.TxnId for txn in paid.LinkedTxn] == [payment.Id]

    # The copy saved before the payment is stale now.
    invoice.PrivateNote = "edited from an old copy"
    with pytest.raises(QuickbooksException) as stale:
        invoice.save(qb=qb)
    assert stale.value.error_code == 5010

    assert paid.delete(qb=qb)["Invoice"]["status"] == "Deleted"
    assert Item.get(wine.Id, qb=qb).QtyOnHand == stock
    assert Payment.get(payment.Id, qb=qb).UnappliedAmt == Decimal("50.00")


def test_cdc_reports_changes_and_batch_create_writes_items(demo: SandboxProcess) -> None:
    qb = _connected(demo, list(demo.realms)[2])
    income = Item.filter(Name="Delivery fee", qb=qb)[0].IncomeAccountRef
    # pyqb sends changedSince without a zone, which QBO reads as company (Pacific) time.
    since = datetime.now(PACIFIC) - timedelta(minutes=5)

    items = []
    for number in range(3):
        item = Item()
        item.Name = f"Smoke Batch Wine {number}"
        item.Type = "Service"
        item.IncomeAccountRef = Ref()
        item.IncomeAccountRef.value = income.value
        items.append(item)
    result = batch_create(items, qb=qb)
    assert result.faults == []
    created = {item.Id for item in result.successes}
    assert len(created) == 3

    changes = change_data_capture([Item, Invoice], since, qb=qb)
    assert created <= {item.Id for item in changes.Item}
    deleted = change_data_capture([Invoice], datetime.now(PACIFIC) - timedelta(days=29), qb=qb)
    assert any(getattr(invoice, "status", None) == "Deleted" for invoice in deleted.Invoice)


def test_html_views_show_escaped_names_and_page(demo: SandboxProcess) -> None:
    realm_id = next(iter(demo.realms))
    home = requests.get(demo.base_url + "/", timeout=TIMEOUT)
    assert home.status_code == 200
    assert home.headers.get("intuit_tid")
    assert f"/companies/{realm_id}/invoices" in home.text

    customers = requests.get(f"{demo.base_url}/companies/{realm_id}/customers", timeout=TIMEOUT)
    assert "O&#x27;Malley&#x27;s Wine &amp; Spirits" in customers.text
    invoices = requests.get(
        f"{demo.base_url}/companies/{realm_id}/invoices", params={"page": 2}, timeout=TIMEOUT
    )
    assert invoices.status_code == 200
    assert "page 2 of" in invoices.text
