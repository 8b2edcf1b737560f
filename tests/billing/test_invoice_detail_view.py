"""/billing/invoices/<pk>/: one invoice, its lines and the payments applied to it."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import User
from sync.models import QBOConnection
from tests.billing.factories import (
    InvoiceFactory,
    InvoiceLineFactory,
    ItemFactory,
    PaymentApplicationFactory,
    PaymentFactory,
    pay,
)
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db


def _url(pk: int) -> str:
    return reverse("billing:invoice", args=[pk])


def _table(html: str, heading: str = "Lines") -> tuple[list[str], list[str]]:
    """The body rows and foot rows of the table under ``heading``, each as its cells' text
    joined by |."""
    table = html.split(f"<h2>{heading}</h2>", 1)[1].split("</table>", 1)[0]

    def rows(part: str) -> list[str]:
        section = re.search(rf"<{part}>(.*?)</{part}>", table, re.S)
        return [
            "|".join(
                re.sub(r"<[^>]+>", "", c).strip()
                for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)
            )
            for r in re.findall(r"<tr[^>]*>(.*?)</tr>", section.group(1) if section else "", re.S)
        ]

    return rows("tbody"), rows("tfoot")


def test_it_shows_lines_and_applied_payments(alice: User, books_a: QBOConnection) -> None:
    ItemFactory(connection=books_a, qbo_id="9", name="Blanc de Blancs Magnum 2021 1500 ml")
    invoice = InvoiceFactory(connection=books_a, qbo_id="77", doc_number="A-77",
                             total_amt=Decimal("360.00"), balance=Decimal("60.00"))  # fmt: skip
    InvoiceLineFactory(
        invoice=invoice, position=0, item_qbo_id="9", description="Magnum, 6/case",
        qty=Decimal("6"), unit_price=Decimal("60.00"), amount=Decimal("360.00"),
    )  # fmt: skip
    pay(invoice, Decimal("200.00"), reference="CHK-1", payment_method="Check",
        txn_date=date(2025, 2, 1))  # fmt: skip
    pay(invoice, Decimal("100.00"), reference="ACH-2", payment_method="ACH",
        txn_date=date(2025, 2, 15))  # fmt: skip

    response = signed_in(alice).get(_url(invoice.pk))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Blanc de Blancs Magnum 2021 1500 ml" in html and "Magnum, 6/case" in html
    assert ">6<" in html and ">$60.00<" in html and "360.00" in html
    assert html.index("CHK-1") < html.index("ACH-2")  # oldest payment first
    assert "2025-02-01" in html and "ACH" in html
    assert response.context["applied_total"] == Decimal("300.00")


def test_quickbooks_subtotal_line_is_the_foot_not_a_line(
    alice: User, books_a: QBOConnection
) -> None:
    # As QuickBooks sends it: the item lines, then a SubTotalLineDetail line of their sum.
    invoice = InvoiceFactory(connection=books_a, total_amt=Decimal("52.00"))
    InvoiceLineFactory(invoice=invoice, position=0, description="Rosé, 4 bottles",
                       qty=Decimal("4"), unit_price=Decimal("13"),
                       amount=Decimal("52.00"))  # fmt: skip
    InvoiceLineFactory(invoice=invoice, position=1, detail_type="SubTotalLineDetail",
                       line_id="", description="", qty=None, unit_price=None,
                       amount=Decimal("52.00"))  # fmt: skip

    body, foot = _table(signed_in(alice).get(_url(invoice.pk)).content.decode())

    assert body == ["—|Rosé, 4 bottles|4|$13.00|$52.00"]
    assert foot == ["Subtotal|$52.00", "Total|$52.00"]


def test_a_discount_line_reads_as_money_taken_off(alice: User, books_a: QBOConnection) -> None:
    # QuickBooks sends the discount as a positive amount after the subtotal.
    invoice = InvoiceFactory(connection=books_a, total_amt=Decimal("46.80"))
    InvoiceLineFactory(invoice=invoice, position=0, description="Rosé, 4 bottles",
                       qty=Decimal("4"), unit_price=Decimal("13"),
                       amount=Decimal("52.00"))  # fmt: skip
    InvoiceLineFactory(invoice=invoice, position=1, detail_type="SubTotalLineDetail",
                       line_id="", description="", qty=None, unit_price=None,
                       amount=Decimal("52.00"))  # fmt: skip
    InvoiceLineFactory(invoice=invoice, position=2, detail_type="DiscountLineDetail",
                       description="10% off", qty=None, unit_price=None,
                       amount=Decimal("5.20"))  # fmt: skip

    body, foot = _table(signed_in(alice).get(_url(invoice.pk)).content.decode())

    assert body == ["—|Rosé, 4 bottles|4|$13.00|$52.00", "Discount|10% off|||−$5.20"]
    assert foot == ["Subtotal|$52.00", "Total|$46.80"]


def test_without_a_subtotal_line_the_foot_is_the_total(alice: User, books_a: QBOConnection) -> None:
    invoice = InvoiceFactory(connection=books_a, total_amt=Decimal("120.00"))
    InvoiceLineFactory(invoice=invoice, position=0)

    body, foot = _table(signed_in(alice).get(_url(invoice.pk)).content.decode())

    assert len(body) == 1
    assert foot == ["Total|$120.00"]


def test_a_canadian_dollar_invoice_shows_every_amount_in_cad(
    alice: User, books_a: QBOConnection
) -> None:
    invoice = InvoiceFactory(connection=books_a, currency="CAD", total_amt=Decimal("1234.00"),
                             balance=Decimal("234.00"))  # fmt: skip
    InvoiceLineFactory(invoice=invoice, position=0, description="Rosé, 8 cases",
                       amount=Decimal("1234.00"))  # fmt: skip
    InvoiceLineFactory(invoice=invoice, position=1, detail_type="SubTotalLineDetail",
                       amount=Decimal("1234.00"))  # fmt: skip
    payment = pay(invoice, Decimal("1000.00"), currency="CAD")

    html = signed_in(alice).get(_url(invoice.pk)).content.decode()

    cad = "\u00a0CAD"
    assert f'<dt>Total</dt><dd class="num">1,234.00{cad}</dd>' in html
    assert f'<dt>Balance</dt><dd class="num">234.00{cad}</dd>' in html
    body, foot = _table(html)
    assert body[0].endswith(f"|1,234.00{cad}")
    assert foot == [f"Subtotal|1,234.00{cad}", f"Total|1,234.00{cad}"]
    assert _table(html, "Payments applied") == (
        [f"2025-02-01|Check|{payment.reference}|1,000.00{cad}"],
        [f"Total applied|1,000.00{cad}"],
    )
    # Nothing on the page reads as US dollars, nor names two currencies.
    assert "$" not in html


def test_another_partners_invoice_is_404(
    alice: User, bob: User, sam: User, books_b: QBOConnection
) -> None:
    invoice = InvoiceFactory(connection=books_b)

    assert signed_in(alice).get(_url(invoice.pk)).status_code == 404
    assert signed_in(bob).get(_url(invoice.pk)).status_code == 200
    assert signed_in(sam).get(_url(invoice.pk)).status_code == 200
    assert signed_in(alice).get(_url(999999)).status_code == 404


def test_payments_of_a_same_numbered_invoice_elsewhere_are_not_shown(
    bob: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    invoice = InvoiceFactory(connection=books_b, qbo_id="5")
    other = PaymentFactory(connection=books_a, reference="NOT-BOBS")
    PaymentApplicationFactory(payment=other, txn_qbo_id="5")

    html = signed_in(bob).get(_url(invoice.pk)).content.decode()

    assert "NOT-BOBS" not in html
    assert "No payment has been applied to this invoice." in html
    assert "This invoice has no lines in the mirror." in html


@pytest.mark.parametrize("n", [2, 20])
def test_query_count_does_not_grow_with_lines_and_payments(
    alice: User, books_a: QBOConnection, n: int, django_assert_max_num_queries: object
) -> None:
    invoice = InvoiceFactory(connection=books_a, qbo_id="1")
    for i in range(n):
        ItemFactory(connection=books_a, qbo_id=f"i{i}")
        InvoiceLineFactory(invoice=invoice, position=i, item_qbo_id=f"i{i}")
        pay(invoice, Decimal("1.00"))
    client = signed_in(alice)
    client.get(_url(invoice.pk))  # warm the session

    # session, user, the user's partner (page header), invoice, applications with their
    # payments, lines with their item names, the history's versions (and, once it has
    # changes, the payments of their syncs: tests/billing/test_invoice_history.py)
    with django_assert_max_num_queries(8):  # type: ignore[operator]
        response = client.get(_url(invoice.pk))
    assert len(response.context["applications"]) == n
