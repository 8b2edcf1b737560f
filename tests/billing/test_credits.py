"""Receivables with credits: open credit memos and unapplied payments in the aging (per
customer and in the totals), credit memos used on the payments page and its export, and
credits applied on the invoice page; query counts and partner isolation; and our aging per
customer against qbo_sandbox's AgedReceivables report, over HTTP, to the cent.

The arithmetic of each case is written out next to it: the figures asserted are computed
by hand, not by the selectors under test.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import unescape
from typing import TYPE_CHECKING, Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.urls import reverse

from accounts.models import Partner, User
from billing import selectors
from billing.models import QBOCreditMemo, QBOInvoice
from sync import services
from sync.clients import qbo
from sync.models import QBOConnection, SyncRun
from tests.billing.factories import (
    CreditMemoFactory,
    InvoiceFactory,
    PaymentApplicationFactory,
    PaymentFactory,
    pay,
    pay_with_credit,
)
from tests.conftest import signed_in
from tests.test_query_counts import cost, flat

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

pytestmark = pytest.mark.django_db

# Noon in Los Angeles: the same date in every zone the cast lives in.
NOW = datetime(2025, 3, 15, 20, 0, tzinfo=UTC)
TODAY = date(2025, 3, 15)
INVOICES = reverse("billing:invoices")
PAYMENTS = reverse("billing:payments")
# The per-customer totals moved from the invoices page's "Show: Totals by customer" to the
# receivables-by-customer page; ?group=customer there now redirects here.
RECEIVABLES = reverse("billing:receivables")
RECEIVABLES_CSV = reverse("billing:receivables_csv")
D = Decimal
ZERO = D("0.00")


@pytest.fixture(autouse=True)
def _frozen(request: pytest.FixtureRequest) -> Iterator[None]:
    # Not the test against qbo_sandbox: the sandbox keeps real time, and the sync's change
    # queries must be about its today.
    if "on_sandbox" in request.fixturenames:
        yield
        return
    with time_machine.travel(NOW, tick=False):
        yield


def _days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body)))


def _text(markup: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", markup))).strip()


def _rows(html: str, table_class: str = "data-table") -> list[list[str]]:
    """The text of each cell (th or td) of each row of the first table of that class."""
    table = re.search(rf'<table class="{table_class}">(.*?)</table>', html, re.S)
    assert table, f"no {table_class} table in the page"
    body = re.search(r"<tbody>(.*?)</tbody>", table.group(1), re.S)
    assert body
    return [
        [_text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    ]


def _money(value: str) -> Decimal:
    # Exports carry raw numbers: "-80.00", never "−$80.00".
    assert re.fullmatch(r"-?\d+\.\d\d", value), value
    return Decimal(value)


# --- Aging with credits --------------------------------------------------------------------


@pytest.fixture
def ledger(books_a: QBOConnection, books_b: QBOConnection) -> None:
    """Partner A's receivables: two customers, invoices, credit memos in several states,
    an unapplied payment; and partner B's credit memo for a customer with the same QBO id
    as A's Harbor (ids collide across companies)."""
    harbor = {"connection": books_a, "customer_qbo_id": "10", "customer_name": "Harbor Wines"}
    quai = {"connection": books_a, "customer_qbo_id": "20", "customer_name": "Quai 7"}
    InvoiceFactory(**harbor, qbo_id="1", doc_number="A-1", txn_date=_days_ago(70),
                   due_date=_days_ago(40), total_amt=D("500.00"))  # fmt: skip
    InvoiceFactory(**harbor, qbo_id="2", doc_number="A-2", txn_date=_days_ago(25),
                   due_date=_days_ago(-5), total_amt=D("250.00"), balance=D("200.00"))  # fmt: skip
    # Credit memos age from their own date: 45 days old is 31–60, whatever its customer
    # owes and when.
    CreditMemoFactory(**harbor, qbo_id="51", doc_number="CM-1", txn_date=_days_ago(45),
                      total_amt=D("80.00"))  # fmt: skip
    # Partly used by a payment: what is left of it is the credit.
    CreditMemoFactory(**harbor, qbo_id="52", doc_number="CM-2", txn_date=_days_ago(10),
                      total_amt=D("50.00"), balance=D("20.00"))  # fmt: skip
    # Used up: nothing left, nothing shown.
    CreditMemoFactory(**harbor, qbo_id="53", doc_number="CM-USED", txn_date=_days_ago(20),
                      total_amt=D("60.00"), balance=ZERO)  # fmt: skip
    # Voided: ignored even though the mirror still holds a remaining credit for it.
    CreditMemoFactory(**harbor, qbo_id="54", doc_number="CM-VOID", txn_date=_days_ago(20),
                      total_amt=D("30.00"), voided=True)  # fmt: skip
    # Dated after today: not yet on the books (QuickBooks' report date rule).
    CreditMemoFactory(**harbor, qbo_id="55", doc_number="CM-LATER", txn_date=_days_ago(-3),
                      total_amt=D("70.00"))  # fmt: skip
    CreditMemoFactory(**quai, qbo_id="56", doc_number="CM-5", txn_date=TODAY,
                      total_amt=D("15.00"))  # fmt: skip
    # Money received and not applied is a credit too, aged from the payment's date.
    PaymentFactory(**quai, qbo_id="61", reference="PREPAY", txn_date=_days_ago(100),
                   total_amt=D("25.00"), unapplied_amt=D("25.00"))  # fmt: skip
    PaymentFactory(**quai, qbo_id="62", reference="VOIDPAY", txn_date=_days_ago(100),
                   total_amt=D("9.00"), unapplied_amt=D("9.00"), voided=True)  # fmt: skip
    CreditMemoFactory(connection=books_b, customer_qbo_id="10", customer_name="Harbor Wines",
                      qbo_id="51", doc_number="BOB-CM", txn_date=_days_ago(45),
                      total_amt=D("999.00"))  # fmt: skip


# Harbor:  A-1 500.00 (31–60) + A-2 200.00 (current) − CM-1 80.00 (31–60) − CM-2 20.00 (1–30)
# Quai 7:  − CM-5 15.00 (current) − PREPAY 25.00 (over 90)
HARBOR = {"current": D("200.00"), "1-30": D("-20.00"), "31-60": D("420.00"),
          "61-90": ZERO, "90+": ZERO, "total": D("600.00"), "count": 4}  # fmt: skip
QUAI = {"current": D("-15.00"), "1-30": ZERO, "31-60": ZERO, "61-90": ZERO,
        "90+": D("-25.00"), "total": D("-40.00"), "count": 2}  # fmt: skip
BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


def test_open_credits_are_negative_amounts_in_their_customers_aging_and_the_totals(
    alice: User, ledger: None
) -> None:
    aging = selectors.aging_by_customer(user=alice, today=TODAY)

    figures = {
        r["customer_name"]: {k: r[k] for k in (*BUCKETS, "total", "count")} for r in aging.rows
    }
    assert figures == {"Harbor Wines": HARBOR, "Quai 7": QUAI}
    totals = aging.totals
    assert [(b["key"], b["owed"], b["credits"], b["amount"]) for b in totals["buckets"]] == [
        ("current", D("200.00"), D("-15.00"), D("185.00")),
        ("1-30", ZERO, D("-20.00"), D("-20.00")),
        ("31-60", D("500.00"), D("-80.00"), D("420.00")),
        ("61-90", ZERO, ZERO, ZERO),
        ("90+", ZERO, D("-25.00"), D("-25.00")),
    ]
    assert (totals["owed"], totals["credits"], totals["total"]) == (
        D("700.00"), D("-140.00"), D("560.00"),
    )  # fmt: skip
    assert totals["count"] == 6
    # The document-level totals the page shows are the same figures.
    assert selectors.aging_totals(user=alice, today=TODAY) == totals


def test_the_page_lists_credits_as_rows_with_negative_balances(alice: User, ledger: None) -> None:
    response = signed_in(alice).get(INVOICES, {"sort": "number"})

    html = response.content.decode()
    rows = _rows(html)
    # Customer, Type, Number, Date, Due, Total, Balance, Days overdue, Aging
    assert rows == [
        ["Harbor Wines", "Invoice", "A-1", "2025-01-04", "2025-02-03", "$500.00", "$500.00",
         "40", "31–60 days"],
        ["Harbor Wines", "Invoice", "A-2", "2025-02-18", "2025-03-20", "$250.00", "$200.00",
         "0", "Current"],
        ["Harbor Wines", "Credit memo", "CM-1", "2025-01-29", "2025-01-29", "−$80.00",
         "−$80.00", "45", "31–60 days"],
        ["Harbor Wines", "Credit memo", "CM-2", "2025-03-05", "2025-03-05", "−$50.00",
         "−$20.00", "10", "1–30 days"],
        ["Quai 7", "Credit memo", "CM-5", "2025-03-15", "2025-03-15", "−$15.00", "−$15.00",
         "0", "Current"],
        ["Quai 7", "Unapplied payment", "PREPAY", "2024-12-05", "2024-12-05", "−$25.00",
         "−$25.00", "100", "Over 90 days"],
    ]  # fmt: skip
    for gone in ("CM-USED", "CM-VOID", "CM-LATER", "VOIDPAY", "BOB-CM", "999"):
        assert gone not in html
    # Only invoices link to a page of their own.
    assert len(re.findall(r'href="/billing/invoices/\d+/"', html)) == 2
    aging = _rows(html, "aging-totals")
    assert aging == [
        ["Invoices", "$200.00", "$0.00", "$500.00", "$0.00", "$0.00", "$700.00"],
        ["Credits", "−$15.00", "−$20.00", "−$80.00", "$0.00", "−$25.00", "−$140.00"],
        ["Balance", "$185.00", "−$20.00", "$420.00", "$0.00", "−$25.00", "$560.00"],
        ["Documents", "2", "1", "2", "0", "1", "6"],
    ]
    assert "Showing 1–6 of 6" in html


def test_the_export_carries_the_pages_rows_and_totals(alice: User, ledger: None) -> None:
    client = signed_in(alice)
    page = client.get(INVOICES, {"sort": "-balance"})
    rows = _csv(client.get(INVOICES, {"sort": "-balance", "format": "csv"}))

    assert [(r["Type"], r["Number"], r["Balance"]) for r in rows] == [
        ("Invoice", "A-1", "500.00"),
        ("Invoice", "A-2", "200.00"),
        ("Credit memo", "CM-5", "-15.00"),
        ("Credit memo", "CM-2", "-20.00"),
        ("Unapplied payment", "PREPAY", "-25.00"),
        ("Credit memo", "CM-1", "-80.00"),
    ]
    assert [r[1:3] for r in _rows(page.content.decode())] == [
        [r["Type"], r["Number"]] for r in rows
    ]
    totals = page.context["totals"]
    assert sum((_money(r["Balance"]) for r in rows), ZERO) == totals["total"] == D("560.00")
    for bucket in totals["buckets"]:
        in_bucket = [r for r in rows if r["Aging"] == bucket["label"]]
        assert sum((_money(r["Balance"]) for r in in_bucket), ZERO) == bucket["amount"]


def test_the_type_filter_keeps_invoices_or_credits_and_the_totals_follow(
    alice: User, ledger: None
) -> None:
    client = signed_in(alice)

    credits = client.get(INVOICES, {"kind": "credits"})
    invoices = _csv(client.get(INVOICES, {"kind": "invoices", "format": "csv"}))
    overdue_credits = _csv(
        client.get(INVOICES, {"kind": "credits", "bucket": "31-60", "format": "csv"})
    )

    assert {r[1] for r in _rows(credits.content.decode())} == {"Credit memo", "Unapplied payment"}
    assert credits.context["totals"]["total"] == D("-140.00")
    assert credits.context["totals"]["owed"] == ZERO
    assert [r["Number"] for r in invoices] == ["A-1", "A-2"]
    assert [r["Number"] for r in overdue_credits] == ["CM-1"]


def test_due_filters_read_a_credits_own_date(alice: User, ledger: None) -> None:
    rows = _csv(
        signed_in(alice).get(
            INVOICES, {"due_from": "2025-01-25", "due_to": "2025-03-10", "format": "csv"}
        )
    )

    assert sorted(r["Number"] for r in rows) == ["A-1", "CM-1", "CM-2"]


def test_totals_by_customer_page_and_export(alice: User, sam: User, ledger: None) -> None:
    client = signed_in(alice)
    page = client.get(RECEIVABLES)
    export = _csv(client.get(RECEIVABLES_CSV))
    staff = signed_in(sam).get(RECEIVABLES, {"sort": "-total"})

    html = page.content.decode()
    assert "<caption>Receivables by customer</caption>" in html
    # Customer, Current, 1–30, 31–60, 61–90, Over 90, Total, Credits; empty buckets "$0.00".
    assert [r[:8] for r in _rows(html)] == [
        ["Harbor Wines", "$200.00", "−$20.00", "$420.00", "$0.00", "$0.00", "$600.00",
         "−$100.00"],
        ["Quai 7", "−$15.00", "$0.00", "$0.00", "$0.00", "−$25.00", "−$40.00", "−$40.00"],
    ]  # fmt: skip
    assert page.context["totals"]["total"] == D("560.00")
    shown = ("Partner", "Customer", "Current", "1–30 days", "31–60 days", "61–90 days",
             "Over 90 days", "Total", "Credits")  # fmt: skip
    assert [{k: r[k] for k in shown} for r in export] == [
        {"Partner": "Bubbles & Brine Distributing", "Customer": "Harbor Wines",
         "Current": "200.00", "1–30 days": "-20.00", "31–60 days": "420.00",
         "61–90 days": "0.00", "Over 90 days": "0.00", "Total": "600.00", "Credits": "-100.00"},
        {"Partner": "Bubbles & Brine Distributing", "Customer": "Quai 7",
         "Current": "-15.00", "1–30 days": "0.00", "31–60 days": "0.00",
         "61–90 days": "0.00", "Over 90 days": "-25.00", "Total": "-40.00", "Credits": "-40.00"},
    ]  # fmt: skip
    assert sum((_money(r["Total"]) for r in export), ZERO) == page.context["totals"]["total"]
    # Staff see partner B's Harbor Wines (its own customer 10) as a customer of its own,
    # its partner noted under its name.
    assert [(r[0], r[6]) for r in _rows(staff.content.decode())] == [
        ("Harbor Wines" + "Bubbles & Brine Distributing", "$600.00"),
        ("Quai 7" + "Bubbles & Brine Distributing", "−$40.00"),
        ("Harbor Wines" + "Côte Ouest Wine Co.", "−$999.00"),
    ]


def test_the_invoices_pages_customer_view_redirects_to_receivables_by_customer(
    alice: User, ledger: None
) -> None:
    client = signed_in(alice)

    page = client.get(INVOICES, {"group": "customer", "customer": "Harbor", "sort": "total"})
    export = client.get(INVOICES, {"group": "customer", "format": "csv"})
    documents = client.get(INVOICES, {"customer": "Harbor"}).content.decode()

    assert page.status_code == 302 and page["Location"] == f"{RECEIVABLES}?customer=Harbor"
    assert export.status_code == 302 and export["Location"] == RECEIVABLES_CSV
    assert f'href="{RECEIVABLES}?customer=Harbor"' in documents


@pytest.mark.parametrize("by_customer", [False, True], ids=["documents", "customers"])
def test_every_sort_of_either_table_answers_with_the_same_rows(
    sam: User, ledger: None, by_customer: bool
) -> None:
    from billing.views import OPEN_INVOICES
    from billing.views import RECEIVABLES as BY_CUSTOMER

    table = BY_CUSTOMER if by_customer else OPEN_INVOICES
    page, export = (RECEIVABLES, RECEIVABLES_CSV) if by_customer else (INVOICES, INVOICES)
    client = signed_in(sam)
    expected = None
    for column in table.columns:
        for sort in (column.key, f"-{column.key}"):
            rows = _csv(client.get(export, {"sort": sort, "format": "csv"}))
            found = sorted(tuple(r.values()) for r in rows)
            expected = expected or found
            assert found == expected, sort
            assert client.get(page, {"sort": sort}).status_code == 200


def test_credits_alone_are_not_an_empty_page(alice: User, books_a: QBOConnection) -> None:
    CreditMemoFactory(connection=books_a, doc_number="ONLY-CREDIT", txn_date=_days_ago(3))

    html = signed_in(alice).get(INVOICES).content.decode()

    assert "ONLY-CREDIT" in html and "−$40.00" in html
    assert "No open invoices or credits" not in html


def test_empty_states_of_the_customer_view(alice: User, books_a: QBOConnection) -> None:
    nothing = signed_in(alice).get(RECEIVABLES).content.decode()
    CreditMemoFactory(connection=books_a, customer_name="Harbor Wines")
    no_match = signed_in(alice).get(RECEIVABLES, {"customer": "nobody"})

    assert "No customer owes anything or holds a credit" in nothing
    assert "No customer matches these filters" in no_match.content.decode()


def test_the_customer_view_as_an_htmx_fragment(alice: User, ledger: None) -> None:
    fragment = signed_in(alice).get(RECEIVABLES, headers={"HX-Request": "true"})

    assert fragment.content.lstrip().startswith(b'<div id="receivables-table"')
    assert b"<html" not in fragment.content and b"Receivables by customer" in fragment.content


# --- Payments that used credit memos --------------------------------------------------------


@pytest.fixture
def settled(books_a: QBOConnection) -> dict[str, Any]:
    """Partner A's invoices paid with money and credit memos' credit, as QuickBooks
    records it (tests/billing/factories.py ``pay_with_credit``)."""
    a3 = InvoiceFactory(connection=books_a, qbo_id="31", doc_number="A-3",
                        total_amt=D("140.00"), balance=ZERO)  # fmt: skip
    a4 = InvoiceFactory(connection=books_a, qbo_id="32", doc_number="A-4",
                        total_amt=D("60.00"), balance=ZERO)  # fmt: skip
    a5 = InvoiceFactory(connection=books_a, qbo_id="33", doc_number="A-5",
                        total_amt=D("100.00"), balance=ZERO)  # fmt: skip
    used_up = CreditMemoFactory(connection=books_a, qbo_id="41", doc_number="CM-3",
                                txn_date=date(2025, 2, 10), total_amt=D("40.00"),
                                balance=ZERO)  # fmt: skip
    partly = CreditMemoFactory(connection=books_a, qbo_id="42", doc_number="CM-4",
                               total_amt=D("50.00"), balance=D("20.00"))  # fmt: skip
    # A-3 140.00: 100.00 of money and CM-3's 40.00.
    p2 = pay_with_credit(a3, D("100.00"), used_up, D("40.00"), reference="P-2",
                         txn_date=date(2025, 3, 1))  # fmt: skip
    # A-4 60.00: 30.00 of money and 30.00 of CM-4's credit; 30.00 more money unapplied.
    p3 = pay_with_credit(a4, D("30.00"), partly, D("30.00"), unapplied=D("30.00"),
                         reference="P-3", txn_date=date(2025, 3, 2))  # fmt: skip
    # A-5 100.00, in money.
    p4 = pay(a5, D("100.00"), reference="P-4", txn_date=date(2025, 3, 3))
    return {"a3": a3, "a4": a4, "a5": a5, "p2": p2, "p3": p3, "p4": p4}


# Received 100 + 60 + 100 = 260.00; applied (money) 100 + 30 + 100 = 230.00; unapplied
# 30.00; credit used 40 + 30 = 70.00; invoices paid 140 + 60 + 100 = 300 = 230 + 70.


def test_payment_totals_count_credit_used_once_and_apart_from_money(
    alice: User, settled: dict[str, Any]
) -> None:
    rows = selectors.payment_list(user=alice)
    totals = selectors.payment_totals(rows)

    assert (totals["received"], totals["applied"], totals["unapplied"]) == (
        D("260.00"), D("230.00"), D("30.00"),
    )  # fmt: skip
    assert totals["received"] == totals["applied"] + totals["unapplied"]
    assert totals["difference"] == ZERO
    assert totals["credit_used"] == D("70.00")
    for payment in rows:
        assert payment.total_amt == payment.applied_amt + payment.unapplied_amt
    assert {p.reference: p.credit_used_amt for p in rows} == {
        "P-2": D("40.00"), "P-3": D("30.00"), "P-4": ZERO,
    }  # fmt: skip


def test_the_payments_page_tells_invoices_paid_from_credit_memos_used(
    alice: User, settled: dict[str, Any]
) -> None:
    html = signed_in(alice).get(PAYMENTS).content.decode()

    # Date, Customer, Method, Reference, Invoices paid, Credit memos used, Received,
    # Applied, Unapplied, Voided
    rows = {r[3]: r[4:9] for r in _rows(html)}
    assert rows == {
        "P-2": ["A-3: $140.00", "Credit memo CM-3: $40.00", "$100.00", "$100.00", "$0.00"],
        "P-3": ["A-4: $60.00", "Credit memo CM-4: $30.00", "$60.00", "$30.00", "$30.00"],
        "P-4": ["A-5: $100.00", "None", "$100.00", "$100.00", "$0.00"],
    }
    totals = re.search(r'<dl class="totals">(.*?)</dl>', html, re.S)
    assert totals
    assert re.findall(r"<dt>(.*?)</dt><dd[^>]*>(.*?)</dd>", totals.group(1)) == [
        ("Received", "$260.00"),
        ("Applied to invoices", "$230.00"),
        ("Unapplied", "$30.00"),
        ("Payments", "3"),
    ]
    assert "Credit memos used: $70.00" in _text(html)
    assert 'role="alert"' not in html  # the figures add up
    assert f'href="{reverse("billing:invoice", args=[settled["a3"].pk])}">A-3</a>' in html


def test_the_payments_export_keeps_received_equal_to_applied_plus_unapplied(
    sam: User, settled: dict[str, Any]
) -> None:
    client = signed_in(sam)
    rows = _csv(client.get(PAYMENTS, {"format": "csv"}))
    totals = client.get(PAYMENTS).context["totals"]

    by_reference = {
        r["Reference"]: (r["Invoices paid"], r["Credit memos used"], r["Received"],
                         r["Applied"], r["Unapplied"], r["Credit used"])
        for r in rows
    }  # fmt: skip
    assert by_reference == {
        "P-2": ("A-3 140.00", "CM-3 40.00", "100.00", "100.00", "0.00", "40.00"),
        "P-3": ("A-4 60.00", "CM-4 30.00", "60.00", "30.00", "30.00", "30.00"),
        "P-4": ("A-5 100.00", "", "100.00", "100.00", "0.00", "0.00"),
    }
    for row in rows:
        assert _money(row["Received"]) == _money(row["Applied"]) + _money(row["Unapplied"])
    for column, key in (("Received", "received"), ("Applied", "applied"),
                        ("Unapplied", "unapplied"), ("Credit used", "credit_used")):  # fmt: skip
        assert sum((_money(r[column]) for r in rows), ZERO) == totals[key], column


def test_a_credit_memo_the_mirror_lacks_is_named_by_its_quickbooks_id(
    alice: User, books_a: QBOConnection
) -> None:
    invoice = InvoiceFactory(connection=books_a, qbo_id="7", doc_number="A-7",
                             total_amt=D("50.00"), balance=ZERO)  # fmt: skip
    payment = PaymentFactory(connection=books_a, reference="P-9", total_amt=D("45.00"))
    PaymentApplicationFactory(payment=payment, txn_qbo_id="7", amount=D("50.00"))
    PaymentApplicationFactory(payment=payment, txn_type="CreditMemo", txn_qbo_id="404",
                              amount=D("5.00"))  # fmt: skip

    html = signed_in(alice).get(PAYMENTS).content.decode()
    export = _csv(signed_in(alice).get(PAYMENTS, {"format": "csv"}))
    detail = signed_in(alice).get(reverse("billing:invoice", args=[invoice.pk]))

    assert "Credit memo 404: $5.00" in _text(html)
    assert export[0]["Credit memos used"] == "CreditMemo 404 5.00"
    credits = _section(detail.content.decode(), "Credits applied")
    assert _rows(credits, "data")[0][0] == "404"


# --- The invoice page ---------------------------------------------------------------------


def _section(html: str, heading: str) -> str:
    part = html.split(f"<h2>{heading}</h2>", 1)[1]
    return part.split("<h2>", 1)[0]


def test_the_invoice_page_shows_the_credit_applied_besides_the_payment(
    alice: User, settled: dict[str, Any]
) -> None:
    html = signed_in(alice).get(reverse("billing:invoice", args=[settled["a3"].pk]))
    page = html.content.decode()

    payments = _section(page, "Payments applied")
    credits = _section(page, "Credits applied")
    assert "P-2" in payments and "$140.00" in payments
    assert _rows(credits, "data") == [["CM-3", "2025-02-10", "2025-03-01 P-2", "$40.00"]]
    assert "Total credit used" in credits and "$40.00" in credits
    assert html.context["credit_total"] == D("40.00")
    # A-5 was paid in money alone.
    plain = signed_in(alice).get(reverse("billing:invoice", args=[settled["a5"].pk]))
    assert "No credit memo has been applied to this invoice." in plain.content.decode()


def test_a_credit_shared_by_invoices_of_one_payment_says_so(
    alice: User, books_a: QBOConnection
) -> None:
    first = InvoiceFactory(connection=books_a, qbo_id="71", doc_number="A-71",
                           total_amt=D("50.00"), balance=ZERO)  # fmt: skip
    second = InvoiceFactory(connection=books_a, qbo_id="72", doc_number="A-72",
                            total_amt=D("50.00"), balance=ZERO)  # fmt: skip
    memo = CreditMemoFactory(connection=books_a, qbo_id="73", doc_number="CM-73",
                             total_amt=D("20.00"), balance=ZERO)  # fmt: skip
    payment = PaymentFactory(connection=books_a, reference="BOTH", total_amt=D("80.00"))
    PaymentApplicationFactory(payment=payment, txn_qbo_id="71", amount=D("50.00"))
    PaymentApplicationFactory(payment=payment, txn_qbo_id="72", amount=D("50.00"))
    PaymentApplicationFactory(payment=payment, txn_type="CreditMemo", txn_qbo_id=memo.qbo_id,
                              amount=D("20.00"))  # fmt: skip

    for invoice in (first, second):
        page = signed_in(alice).get(reverse("billing:invoice", args=[invoice.pk]))
        credits = _section(page.content.decode(), "Credits applied")
        assert "CM-73" in credits and "$20.00" in credits
        assert "paid other invoices too" in credits


# --- Partner isolation ----------------------------------------------------------------------


def test_a_partner_user_never_sees_another_partners_credits(
    alice: User, bob: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    # Same QBO ids in both companies throughout.
    mine = InvoiceFactory(connection=books_a, qbo_id="5", doc_number="ALICE-INV",
                          total_amt=D("90.00"), balance=ZERO)  # fmt: skip
    own_memo = CreditMemoFactory(connection=books_a, qbo_id="6", doc_number="ALICE-CM",
                                 balance=ZERO)  # fmt: skip
    pay_with_credit(mine, D("50.00"), own_memo, D("40.00"), reference="ALICE-PAY")
    CreditMemoFactory(connection=books_a, qbo_id="8", doc_number="ALICE-OPEN-CM")
    theirs = InvoiceFactory(connection=books_b, qbo_id="5", doc_number="BOB-INV",
                            total_amt=D("90.00"), balance=ZERO)  # fmt: skip
    bob_memo = CreditMemoFactory(connection=books_b, qbo_id="6", doc_number="BOB-CM",
                                 balance=ZERO)  # fmt: skip
    pay_with_credit(theirs, D("50.00"), bob_memo, D("40.00"), reference="BOB-PAY")
    CreditMemoFactory(connection=books_b, qbo_id="8", doc_number="BOB-OPEN-CM",
                      customer_name="Bob's customer")  # fmt: skip
    PaymentFactory(connection=books_b, reference="BOB-PREPAY", unapplied_amt=D("100.00"))
    client = signed_in(alice)
    widen = {"partner": str(books_b.partner_id)}

    pages = [
        client.get(INVOICES, widen).content.decode(),
        client.get(RECEIVABLES, widen).content.decode(),
        client.get(PAYMENTS, widen).content.decode(),
        client.get(reverse("billing:invoice", args=[mine.pk])).content.decode(),
    ]
    exports = [
        _csv(client.get(INVOICES, {**widen, "format": "csv"})),
        _csv(client.get(RECEIVABLES_CSV, widen)),
        _csv(client.get(PAYMENTS, {**widen, "format": "csv"})),
    ]

    seen = " ".join(pages) + repr(exports)
    for bobs in ("BOB-", "Bob's customer", "Côte Ouest"):
        assert bobs not in seen, bobs
    assert "ALICE-OPEN-CM" in pages[0] and "ALICE-CM" in pages[2] and "ALICE-CM" in pages[3]
    assert [r["Number"] for r in exports[0]] == ["ALICE-OPEN-CM"]
    assert client.get(reverse("billing:invoice", args=[theirs.pk])).status_code == 404
    assert (
        selectors.aging_by_customer(user=alice, today=TODAY, partner_id=books_b.partner_id).rows
        == []
    )
    # Bob sees his own, and not Alice's.
    bobs_page = signed_in(bob).get(INVOICES).content.decode()
    assert "BOB-OPEN-CM" in bobs_page and "BOB-PREPAY" in bobs_page and "ALICE" not in bobs_page


# --- Query counts ---------------------------------------------------------------------------


@pytest.fixture
def both(books_a: QBOConnection, books_b: QBOConnection) -> list[QBOConnection]:
    return [books_a, books_b]


def _grow_ledger(both: list[QBOConnection]) -> Any:
    def grow(rows: range) -> None:
        for connection in both:
            for n in rows:
                customer = {"customer_qbo_id": f"c{n}", "customer_name": f"Customer {n}"}
                InvoiceFactory(connection=connection, qbo_id=f"i{n}", **customer,
                               due_date=_days_ago(n % 120))  # fmt: skip
                CreditMemoFactory(connection=connection, qbo_id=f"m{n}", **customer,
                                  txn_date=_days_ago(n % 100))  # fmt: skip
                PaymentFactory(connection=connection, qbo_id=f"p{n}", **customer,
                               unapplied_amt=D("5.00"))  # fmt: skip

    return grow


@pytest.mark.parametrize("by_customer", [False, True], ids=["documents", "customers"])
@pytest.mark.parametrize("export", [False, True], ids=["page", "export"])
@pytest.mark.parametrize("who", ["alice", "sam"])
def test_invoices_page_with_credits_costs_the_same_at_n_and_10n(
    who: str, export: bool, by_customer: bool, cast: dict[str, User], both: list[QBOConnection]
) -> None:
    client = signed_in(cast[who])
    if by_customer:
        url, data = (RECEIVABLES_CSV if export else RECEIVABLES), {}
    else:
        url, data = INVOICES, ({"format": "csv"} if export else {})
    flat(_grow_ledger(both), lambda: cost(client, url, data))


@pytest.mark.parametrize("export", [False, True], ids=["page", "export"])
@pytest.mark.parametrize("who", ["alice", "sam"])
def test_payments_using_credit_memos_cost_the_same_at_n_and_10n(
    who: str, export: bool, cast: dict[str, User], both: list[QBOConnection]
) -> None:
    def grow(rows: range) -> None:
        for connection in both:
            for n in rows:
                invoice = InvoiceFactory(connection=connection, qbo_id=f"i{n}")
                memo = CreditMemoFactory(connection=connection, qbo_id=f"m{n}")
                pay_with_credit(invoice, D("80.00"), memo, D("40.00"), unapplied=D("1.00"))

    client = signed_in(cast[who])
    flat(grow, lambda: cost(client, PAYMENTS, {"format": "csv"} if export else {}))


def test_the_invoice_page_costs_the_same_at_n_and_10n_credits(
    alice: User, books_a: QBOConnection
) -> None:
    invoice = InvoiceFactory(connection=books_a, qbo_id="1", total_amt=D("100000.00"))

    def grow(rows: range) -> None:
        for n in rows:
            memo = CreditMemoFactory(connection=books_a, qbo_id=f"m{n}")
            pay_with_credit(invoice, D("1.00"), memo, D("2.00"))

    client = signed_in(alice)
    url = reverse("billing:invoice", args=[invoice.pk])
    flat(grow, lambda: cost(client, url))


# --- Against QuickBooks' own AgedReceivables report -----------------------------------------


@pytest.fixture(scope="module")
def sandbox_process() -> Iterator[SandboxProcess]:
    from qbo_sandbox.testing import start_sandbox

    process = start_sandbox(
        "--seed", "empty",
        "--client-id", django_settings.QBO_CLIENT_ID,
        "--client-secret", django_settings.QBO_CLIENT_SECRET,
    )  # fmt: skip
    yield process
    process.stop()


@pytest.fixture
def on_sandbox(sandbox_process: SandboxProcess, settings: Any) -> Iterator[SandboxProcess]:
    """The sync's QuickBooks client pointed at ``sandbox_process`` for this test."""
    settings.QBO_ENVIRONMENT = sandbox_process.discovery_url
    settings.QBO_API_URL = sandbox_process.api_url
    settings.QBO_CLIENT_ID = sandbox_process.client_id
    settings.QBO_CLIENT_SECRET = sandbox_process.client_secret
    qbo.forget_discovery()
    yield sandbox_process
    qbo.forget_discovery()


def _report_rows(rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every customer's own row of a report, sub-customers' included (a customer with
    sub-customers is a Section whose own row, if any, is among its rows)."""
    for row in rows:
        if row.get("type") == "Section" and row.get("group") != "GrandTotal":
            yield from _report_rows(row["Rows"]["Row"])
        elif row.get("type") == "Data":
            yield row


def _cents(cell: dict[str, Any]) -> Decimal:
    # The report leaves a customer's empty periods blank.
    return Decimal(cell["value"] or "0").quantize(Decimal("0.01"))


@pytest.mark.django_db(transaction=True)
def test_our_aging_per_customer_equals_quickbooks_aged_receivables_to_the_cent(
    on_sandbox: SandboxProcess, partner_a: Partner, alice: User
) -> None:
    from tests.sync.books import Books, connection_for
    from tests.sync.test_poll import poll

    realm = on_sandbox.new_company(seed="demo", scale=0.3)
    connection = connection_for(on_sandbox, partner_a, realm, company_name="Credits")
    run = services.connection_sync(connection_id=connection.pk, trigger="test")
    assert run is not None and run.status == SyncRun.Status.SUCCEEDED, run and run.error
    books = Books(on_sandbox, realm)

    # Use credit memos through payments, as finance would at month-end: one used up, one
    # in part, the latter by a payment that also leaves money unapplied.
    memos = sorted(
        (m for m in books.all("CreditMemo") if m["RemainingCredit"] > 2),
        key=lambda m: m["Id"],
    )
    assert len(memos) >= 2
    item = books.query("SELECT * FROM Item WHERE Type = 'Inventory' MAXRESULTS 1")["Item"][0]
    payments = []
    for memo, share, extra in ((memos[0], D("1"), D("0")), (memos[1], D("0.5"), D("12.34"))):
        credit = (Decimal(str(memo["RemainingCredit"])) * share).quantize(D("0.01"))
        customer = memo["CustomerRef"]["value"]
        invoice = books.post(
            "Invoice",
            {
                "CustomerRef": {"value": customer},
                "Line": [
                    {
                        "DetailType": "SalesItemLineDetail",
                        "SalesItemLineDetail": {
                            "ItemRef": {"value": item["Id"]},
                            "Qty": 1,
                            "UnitPrice": float(credit + D("25.00")),
                        },
                    }
                ],
            },
        )["Invoice"]
        owed = Decimal(str(invoice["TotalAmt"])).quantize(D("0.01"))
        payments.append(
            books.post(
                "Payment",
                {
                    "CustomerRef": {"value": customer},
                    "TotalAmt": float(owed - credit + extra),
                    "Line": [
                        {"Amount": float(owed),
                         "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]},
                        {"Amount": float(credit),
                         "LinkedTxn": [{"TxnId": memo["Id"], "TxnType": "CreditMemo"}]},
                    ],
                },
            )["Payment"]
        )  # fmt: skip
    poll(connection)

    report = books._request("GET", "reports/AgedReceivables")
    report_date = date.fromisoformat(report["Header"]["EndPeriod"])
    titles = [c["ColTitle"] for c in report["Columns"]["Column"]]
    assert titles == ["", "Current", "1 - 30", "31 - 60", "61 - 90", "91 and over", "Total"]
    theirs = {
        row["ColData"][0]["id"]: [_cents(cell) for cell in row["ColData"][1:]]
        for row in _report_rows(report["Rows"]["Row"])
    }
    aging = selectors.aging_by_customer(user=alice, today=report_date)
    ours = {
        row["customer_qbo_id"]: [*(row[key] for key in BUCKETS), row["total"]] for row in aging.rows
    }
    assert ours == theirs
    print(
        f"{len(ours)} customers agree to the cent as of {report_date}; totals "
        + ", ".join(f"{b['key']} {b['amount']} (credits {b['credits']})"
                    for b in aging.totals["buckets"])
    )  # fmt: skip
    grand = report["Rows"]["Row"][-1]
    assert grand["group"] == "GrandTotal"
    assert [_cents(c) for c in grand["Summary"]["ColData"][1:]] == [
        *(b["amount"] for b in aging.totals["buckets"]), aging.totals["total"],
    ]  # fmt: skip

    # What the comparison covers: credit memos in several buckets, one used up (gone from
    # both), unapplied payments, and invoices paid with credit.
    open_memos = QBOCreditMemo.objects.filter(connection=connection, balance__gt=0)
    assert open_memos.count() >= 2
    assert not open_memos.filter(qbo_id=memos[0]["Id"]).exists()
    assert open_memos.get(qbo_id=memos[1]["Id"]).balance < Decimal(str(memos[1]["TotalAmt"]))
    credit_buckets = {
        key for key, b in zip(BUCKETS, aging.totals["buckets"], strict=True) if b["credits"]
    }
    assert len(credit_buckets) >= 2, credit_buckets
    assert QBOInvoice.objects.filter(connection=connection, balance__gt=0).exists()

    # The page and its export give the same figures as the selector, and on the payments
    # page received is still applied plus unapplied, credit used kept apart.
    client = signed_in(alice)
    with time_machine.travel(datetime.combine(report_date, datetime.min.time(), UTC) +
                             timedelta(hours=20), tick=False):  # fmt: skip
        by_customer = _csv(client.get(RECEIVABLES_CSV))
        payment_rows = _csv(client.get(PAYMENTS, {"format": "csv"}))
        totals = client.get(PAYMENTS).context["totals"]
    assert {r["Customer"]: _money(r["Total"]) for r in by_customer} == {
        r["customer_name"]: r["total"] for r in aging.rows
    }
    for row in payment_rows:
        assert _money(row["Received"]) == _money(row["Applied"]) + _money(row["Unapplied"]), row
    assert totals["received"] == totals["applied"] + totals["unapplied"]
    assert totals["difference"] == ZERO
    assert totals["credit_used"] == sum((_money(r["Credit used"]) for r in payment_rows), ZERO)
    assert (
        totals["credit_used"]
        == sum((Decimal(str(p["Line"][1]["Amount"])) for p in payments), ZERO)
        > 0
    )
