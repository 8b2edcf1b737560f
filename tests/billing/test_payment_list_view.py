"""/billing/payments/: payments with the invoices they paid, totals, filters, export."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from accounts.models import User
from sync.models import QBOConnection
from tests.billing.factories import InvoiceFactory, PaymentApplicationFactory, PaymentFactory, pay
from tests.conftest import signed_in

URL = reverse("billing:payments")

pytestmark = pytest.mark.django_db


def _csv(response: Any) -> list[dict[str, str]]:
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body)))


def test_each_payment_lists_the_invoices_it_paid_with_links(
    alice: User, books_a: QBOConnection
) -> None:
    first = InvoiceFactory(connection=books_a, qbo_id="1", doc_number="A-1")
    second = InvoiceFactory(connection=books_a, qbo_id="2", doc_number="A-2")
    payment = PaymentFactory(
        connection=books_a, reference="CHK-77", payment_method="Check",
        total_amt=Decimal("80.00"), unapplied_amt=Decimal("10.00"),
    )  # fmt: skip
    PaymentApplicationFactory(payment=payment, txn_qbo_id="1", amount=Decimal("50.00"))
    PaymentApplicationFactory(payment=payment, txn_qbo_id="2", amount=Decimal("20.00"))

    html = signed_in(alice).get(URL).content.decode()

    assert f'href="{reverse("billing:invoice", args=[first.pk])}">A-1</a>' in html
    assert f'href="{reverse("billing:invoice", args=[second.pk])}">A-2</a>' in html
    assert "CHK-77" in html and "Check" in html
    assert ">$70.00<" in html and ">$10.00<" in html  # applied, unapplied


def test_partner_isolation_on_page_and_export(
    alice: User, bob: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    PaymentFactory(connection=books_a, reference="ALICE-PAY")
    PaymentFactory(connection=books_b, reference="BOB-PAY")

    alice_page = signed_in(alice).get(URL, {"partner": books_b.partner_id}).content.decode()
    bob_export = _csv(signed_in(bob).get(URL, {"format": "csv"}))

    assert "ALICE-PAY" in alice_page and "BOB-PAY" not in alice_page
    assert [r["Reference"] for r in bob_export] == ["BOB-PAY"]


def test_totals_reconcile_and_export_matches_the_filtered_rows(
    sam: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    invoice_a = InvoiceFactory(connection=books_a)
    invoice_b = InvoiceFactory(connection=books_b)
    pay(invoice_a, Decimal("0.10"), Decimal("0.20"), unapplied=Decimal("0.01"),
        txn_date=date(2025, 3, 1), reference="IN-1")  # fmt: skip
    pay(invoice_b, Decimal("1234.56"), unapplied=Decimal("99.99"), txn_date=date(2025, 3, 31),
        reference="IN-2")  # fmt: skip
    pay(invoice_a, Decimal("7.00"), txn_date=date(2025, 3, 15), voided=True, reference="VOID")
    pay(invoice_a, Decimal("5.00"), txn_date=date(2025, 4, 1), reference="OUT")
    filters = {"date_from": "2025-03-01", "date_to": "2025-03-31"}

    response = signed_in(sam).get(URL, filters)
    rows = _csv(signed_in(sam).get(URL, {**filters, "format": "csv"}))

    totals = response.context["totals"]
    assert totals["received"] == Decimal("1334.86")
    assert totals["applied"] == Decimal("1234.86")
    assert totals["unapplied"] == Decimal("100.00")
    assert totals["received"] == totals["applied"] + totals["unapplied"]
    assert "$1,334.86" in response.content.decode()
    assert sorted(r["Reference"] for r in rows) == ["IN-1", "IN-2", "VOID"]
    live = [r for r in rows if not r["Voided"]]
    assert sum((Decimal(r["Received"]) for r in live), Decimal(0)) == totals["received"]
    by_ref = {r["Reference"]: r for r in rows}
    assert (
        by_ref["IN-1"]["Invoices paid"]
        == f"{invoice_a.doc_number} 0.10; {invoice_a.doc_number} 0.20"
    )
    assert by_ref["VOID"]["Voided"] == "yes"


def test_bad_date_is_reported_and_other_filters_apply(sam: User, books_a: QBOConnection) -> None:
    PaymentFactory(connection=books_a, reference="LATE", txn_date=date(2025, 5, 1))
    PaymentFactory(connection=books_a, reference="EARLY", txn_date=date(2025, 1, 1))

    html = signed_in(sam).get(URL, {"date_from": "2025-04-01", "date_to": "soon"}).content.decode()

    assert "Enter a valid date." in html
    assert "LATE" in html and "EARLY" not in html


def test_empty_states(alice: User, books_a: QBOConnection) -> None:
    nothing = signed_in(alice).get(URL).content.decode()
    PaymentFactory(connection=books_a, txn_date=date(2025, 1, 1))
    no_match = signed_in(alice).get(URL, {"date_from": "2030-01-01"}).content.decode()

    assert "No payments yet" in nothing
    assert "No payment matches these filters" in no_match


def test_htmx_request_gets_the_fragment(alice: User, books_a: QBOConnection) -> None:
    PaymentFactory(connection=books_a, reference="FRAG")
    client = signed_in(alice)

    full = client.get(URL)
    fragment = client.get(URL, headers={"HX-Request": "true"})

    assert b"<html" in full.content
    assert b"<html" not in fragment.content
    assert fragment.content.lstrip().startswith(b'<div id="payment-table"')
    assert b"FRAG" in fragment.content


def test_the_shared_table_swaps_the_results_and_hides_the_partner_from_partner_users(
    alice: User, sam: User, books_a: QBOConnection
) -> None:
    PaymentFactory(connection=books_a, reference="KEPT")
    PaymentFactory(connection=books_a, reference="GONE", voided=True)

    own = signed_in(alice).get(URL, {"sort": "reference"}).content.decode()
    every = signed_in(sam).get(URL).content.decode()
    export = _csv(signed_in(alice).get(URL, {"format": "csv"}))

    assert "<caption>Payments</caption>" in own and 'aria-sort="ascending"' in own
    assert 'class="table-region" hx-target="#payment-table" hx-swap="outerHTML"' in own
    assert 'name="sort" value="reference" form="payment-table-filters"' in own
    assert '<tr class="voided">' in own
    assert own.count('<th scope="col"') == every.count('<th scope="col"') - 1
    assert "sort=partner" not in own and "sort=partner" in every
    assert {r["Partner"] for r in export} == {"Bubbles & Brine Distributing"}


@pytest.mark.parametrize("n", [3, 30])
def test_query_count_does_not_grow_with_rows(
    sam: User, books_a: QBOConnection, books_b: QBOConnection, n: int,
    django_assert_max_num_queries: object,
) -> None:  # fmt: skip
    for i in range(n):
        invoice = InvoiceFactory(connection=books_a if i % 2 else books_b, qbo_id=str(i))
        pay(invoice, Decimal("1.00"), Decimal("2.00"))
    client = signed_in(sam)
    client.get(URL)  # warm the session

    # session, user, partner choices, totals, count, page, applications (one prefetch)
    with django_assert_max_num_queries(7):  # type: ignore[operator]
        response = client.get(URL)
    assert response.context["table"].count == n


def test_each_payment_shows_its_amounts_in_its_own_currency(
    alice: User, books_a: QBOConnection
) -> None:
    invoice = InvoiceFactory(connection=books_a, currency="CAD", doc_number="CA-1")
    pay(invoice, Decimal("1000.00"), unapplied=Decimal("234.00"), currency="CAD")

    html = signed_in(alice).get(URL).content.decode()
    row = re.search(r'<table class="data-table">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert row
    tds = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    cells = [re.sub(r"<[^>]+>", "", td).strip() for td in tds]

    cad = "\u00a0CAD"
    assert cells[4] == f"CA-1: 1,000.00{cad}"  # what it paid of the invoice
    assert cells[5] == "None"  # no credit memo used
    assert cells[6:9] == [f"1,234.00{cad}", f"1,000.00{cad}", f"234.00{cad}"]
