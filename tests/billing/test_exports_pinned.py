"""The open-invoices and payments CSV exports, byte for byte, on a small fixed set of rows.

Pinned before the exports were rewritten to read only the columns they print
(docs/architecture.md, "How a page reads"): whatever the queries become, finance gets the
same file. The rows cover what a cell can hold: an empty date, a currency other than
dollars, a formula in a customer's name, accents, every aging bucket, a voided or paid
invoice (left out), a payment with no application, one using a credit memo's credit
without paying any invoice (voided, and not something QuickBooks would accept: its
"Applied" comes out negative, as the rule for credit used gives it), and one paying an
invoice the mirror does not hold.

Re-pinned when credits joined the open-invoices export (a Type column; the two payments
with money unapplied are credits there) and credit memos used the payments export
("Credit memos used", "Credit used"; "Applied" is money only): the rows changed on
purpose, and the test still pins every byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.urls import reverse

from accounts.models import User
from sync.models import QBOConnection
from tests.billing.factories import InvoiceFactory, PaymentApplicationFactory, PaymentFactory
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db

# Noon in Los Angeles: the same date in every zone the cast lives in.
NOW = datetime(2025, 3, 15, 20, 0, tzinfo=UTC)
TODAY = date(2025, 3, 15)


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def _days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


@pytest.fixture
def rows(books_a: QBOConnection, books_b: QBOConnection) -> None:
    InvoiceFactory(connection=books_a, qbo_id="11", doc_number="A-11", customer_name="Harbor",
                   txn_date=_days_ago(40), due_date=_days_ago(10),
                   total_amt=Decimal("120.00"), balance=Decimal("20.50"))  # fmt: skip
    InvoiceFactory(connection=books_a, qbo_id="12", doc_number="A-12",
                   customer_name="=HYPERLINK(\"http://x\")", txn_date=_days_ago(100),
                   due_date=_days_ago(95), total_amt=Decimal("9999.99"),
                   balance=Decimal("9999.99"))  # fmt: skip
    # No due date: due on its transaction date.
    InvoiceFactory(connection=books_a, qbo_id="13", doc_number="", customer_name="Crémant Bar",
                   txn_date=_days_ago(45), due_date=None, total_amt=Decimal("1234.00"),
                   balance=Decimal("234.00"), currency="CAD")  # fmt: skip
    # Neither date: current.
    InvoiceFactory(connection=books_a, qbo_id="14", doc_number="A-14", customer_name="-Dash",
                   txn_date=None, due_date=None, total_amt=Decimal("5.00"),
                   balance=Decimal("5.00"))  # fmt: skip
    InvoiceFactory(connection=books_a, qbo_id="15", doc_number="A-15", customer_name="Paid",
                   balance=Decimal("0.00"))  # fmt: skip
    InvoiceFactory(connection=books_a, qbo_id="16", doc_number="A-16", customer_name="Void",
                   voided=True)  # fmt: skip
    InvoiceFactory(connection=books_b, qbo_id="11", doc_number="B-11", customer_name="Quai 7",
                   txn_date=_days_ago(70), due_date=_days_ago(65),
                   total_amt=Decimal("300.00"), balance=Decimal("300.00"))  # fmt: skip
    InvoiceFactory(connection=books_b, qbo_id="12", doc_number="B-12", customer_name="Quai 7",
                   txn_date=_days_ago(5), due_date=_days_ago(-25),
                   total_amt=Decimal("80.00"), balance=Decimal("0.01"))  # fmt: skip

    two = PaymentFactory(connection=books_a, qbo_id="51", customer_name="Harbor",
                         txn_date=_days_ago(3), total_amt=Decimal("130.00"),
                         unapplied_amt=Decimal("10.00"), payment_method="Check",
                         reference="CHK-1")  # fmt: skip
    PaymentApplicationFactory(payment=two, txn_qbo_id="11", amount=Decimal("99.50"))
    PaymentApplicationFactory(payment=two, txn_qbo_id="15", amount=Decimal("20.50"))
    PaymentFactory(connection=books_a, qbo_id="52", customer_name="@Unapplied",
                   txn_date=_days_ago(3), total_amt=Decimal("40.00"),
                   unapplied_amt=Decimal("40.00"), payment_method="",
                   reference="")  # fmt: skip
    other = PaymentFactory(connection=books_a, qbo_id="53", customer_name="Crémant Bar",
                           txn_date=None, total_amt=Decimal("7.25"), currency="CAD",
                           payment_method="Cash", reference="C-3", voided=True)  # fmt: skip
    PaymentApplicationFactory(payment=other, txn_type="CreditMemo", txn_qbo_id="9",
                              amount=Decimal("7.25"))  # fmt: skip
    lost = PaymentFactory(connection=books_b, qbo_id="51", customer_name="Quai 7",
                          txn_date=_days_ago(20), total_amt=Decimal("300.00"),
                          payment_method="Wire", reference="W-9")  # fmt: skip
    # Invoice 404 is not in B's mirror; invoice 12 is, in B's company (A's 12 is not it).
    PaymentApplicationFactory(payment=lost, txn_qbo_id="404", amount=Decimal("200.00"))
    PaymentApplicationFactory(payment=lost, txn_qbo_id="12", amount=Decimal("100.00"))


def _export(user: User, name: str, params: dict[str, str]) -> tuple[str, str]:
    response: Any = signed_in(user).get(reverse(name), {**params, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.streaming
    body = b"".join(response.streaming_content)
    assert body.startswith("\ufeff".encode())
    return response["Content-Disposition"], body[3:].decode()


INVOICE_HEADER = "Partner,Customer,Type,Number,Date,Due,Total,Balance,Days overdue,Aging\r\n"
A = "Bubbles & Brine Distributing"
B = "Côte Ouest Wine Co."

INVOICES_BY_AGE = (
    INVOICE_HEADER
    + f'{A},"\'=HYPERLINK(""http://x"")",Invoice,A-12,2024-12-05,2024-12-10,9999.99,9999.99,95,'
    "Over 90 days\r\n"
    + f"{B},Quai 7,Invoice,B-11,2025-01-04,2025-01-09,300.00,300.00,65,61–90 days\r\n"
    + f"{A},Crémant Bar,Invoice,,2025-01-29,,1234.00,234.00,45,31–60 days\r\n"
    + f"{A},Harbor,Invoice,A-11,2025-02-03,2025-03-05,120.00,20.50,10,1–30 days\r\n"
    # Money unapplied is a credit, negative, aged from the payment's date (its "Due").
    # Ties go the sort's way too: the newer row first when descending.
    + f"{A},'@Unapplied,Unapplied payment,,2025-03-12,2025-03-12,-40.00,-40.00,3,1–30 days\r\n"
    + f"{A},Harbor,Unapplied payment,CHK-1,2025-03-12,2025-03-12,-130.00,-10.00,3,1–30 days\r\n"
    + f"{B},Quai 7,Invoice,B-12,2025-03-10,2025-04-09,80.00,0.01,0,Current\r\n"
    + f"{A},'-Dash,Invoice,A-14,,,5.00,5.00,0,Current\r\n"
)


def test_open_invoices_export_for_staff(sam: User, rows: None) -> None:
    disposition, body = _export(sam, "billing:invoices", {})
    assert disposition == 'attachment; filename="open-invoices-2025-03-15.csv"'
    assert body == INVOICES_BY_AGE


def test_open_invoices_export_for_a_partner_user_keeps_the_partner_column(
    alice: User, rows: None
) -> None:
    _, body = _export(alice, "billing:invoices", {})
    assert body == "".join(
        line + "\r\n" for line in INVOICES_BY_AGE.split("\r\n") if line.startswith((A, "Partner"))
    )


def test_open_invoices_export_sorted_and_filtered(sam: User, rows: None) -> None:
    _, by_customer = _export(sam, "billing:invoices", {"sort": "-customer"})
    _, overdue = _export(sam, "billing:invoices", {"bucket": "1-30", "customer": "har"})
    _, by_partner = _export(sam, "billing:invoices", {"sort": "partner"})

    assert by_customer.split("\r\n")[1:-1] == [
        f"{B},Quai 7,Invoice,B-12,2025-03-10,2025-04-09,80.00,0.01,0,Current",
        f"{B},Quai 7,Invoice,B-11,2025-01-04,2025-01-09,300.00,300.00,65,61–90 days",
        f"{A},Harbor,Unapplied payment,CHK-1,2025-03-12,2025-03-12,-130.00,-10.00,3,1–30 days",
        f"{A},Harbor,Invoice,A-11,2025-02-03,2025-03-05,120.00,20.50,10,1–30 days",
        f"{A},Crémant Bar,Invoice,,2025-01-29,,1234.00,234.00,45,31–60 days",
        f"{A},'@Unapplied,Unapplied payment,,2025-03-12,2025-03-12,-40.00,-40.00,3,1–30 days",
        f'{A},"\'=HYPERLINK(""http://x"")",Invoice,A-12,2024-12-05,2024-12-10,9999.99,9999.99,'
        "95,Over 90 days",
        f"{A},'-Dash,Invoice,A-14,,,5.00,5.00,0,Current",
    ]
    assert overdue == (
        INVOICE_HEADER
        + f"{A},Harbor,Invoice,A-11,2025-02-03,2025-03-05,120.00,20.50,10,1–30 days\r\n"
        + (
            f"{A},Harbor,Unapplied payment,CHK-1,2025-03-12,2025-03-12,-130.00,-10.00,3,"
            "1–30 days\r\n"
        )
    )
    assert [line.split(",")[3] for line in by_partner.split("\r\n")[1:-1]] == [
        "A-11", "A-12", "", "A-14", "CHK-1", "", "B-11", "B-12",
    ]  # fmt: skip


PAYMENT_HEADER = (
    "Date,Partner,Customer,Method,Reference,Invoices paid,Credit memos used,Received,Applied,"
    "Unapplied,Credit used,Voided\r\n"
)
PAYMENTS_BY_DATE = (
    PAYMENT_HEADER
    + f"2025-03-12,{A},'@Unapplied,,,,,40.00,0.00,40.00,0.00,\r\n"
    + f"2025-03-12,{A},Harbor,Check,CHK-1,A-11 99.50; A-15 20.50,,130.00,120.00,10.00,0.00,\r\n"
    + (
        f"2025-02-23,{B},Quai 7,Wire,W-9,Invoice 404 200.00; B-12 100.00,,300.00,300.00,0.00,"
        "0.00,\r\n"
    )
    + f",{A},Crémant Bar,Cash,C-3,,CreditMemo 9 7.25,7.25,-7.25,0.00,7.25,yes\r\n"
)


def test_payments_export_for_staff(sam: User, rows: None) -> None:
    disposition, body = _export(sam, "billing:payments", {})
    assert disposition == 'attachment; filename="payments-2025-03-15.csv"'
    assert body == PAYMENTS_BY_DATE


def test_payments_export_for_a_partner_user(alice: User, rows: None) -> None:
    _, body = _export(alice, "billing:payments", {})
    assert body == "".join(
        line + "\r\n" for line in PAYMENTS_BY_DATE.split("\r\n") if A in line or "Date" in line
    )


def test_payments_export_sorted_and_filtered(sam: User, rows: None) -> None:
    _, by_applied = _export(sam, "billing:payments", {"sort": "applied"})
    _, dated = _export(sam, "billing:payments", {"date_from": "2025-02-01", "sort": "reference"})

    assert [line.split(",")[4] for line in by_applied.split("\r\n")[1:-1]] == [
        "C-3", "", "CHK-1", "W-9",
    ]  # fmt: skip
    assert [line.split(",")[4] for line in dated.split("\r\n")[1:-1]] == ["", "CHK-1", "W-9"]
