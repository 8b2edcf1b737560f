"""Receivables by customer (page and export), one customer's account, its printable
statement, and the payments page's search by customer, reference and amount.

The figures asserted are worked out by hand next to the fixture, not by the selectors
under test; the one comparison with a selector is the point of it: the per-customer
totals equal the open-invoices page's (``aging_totals``) to the cent.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils.html import escape

from accounts.models import User
from billing import selectors
from billing.views import RECEIVABLES as RECEIVABLES_TABLE
from sync.models import QBOConnection
from tests.billing.factories import (
    CreditMemoFactory,
    CustomerFactory,
    InvoiceFactory,
    PaymentFactory,
)
from tests.conftest import signed_in
from tests.test_query_counts import cost, flat

pytestmark = pytest.mark.django_db

# Noon in Los Angeles: the same date in every zone the cast lives in.
NOW = datetime(2025, 3, 15, 20, 0, tzinfo=UTC)
TODAY = date(2025, 3, 15)
RECEIVABLES = reverse("billing:receivables")
RECEIVABLES_CSV = reverse("billing:receivables_csv")
PAYMENTS = reverse("billing:payments")
D = Decimal
ZERO = D("0.00")
A_PARTNER = "Bubbles & Brine Distributing"
A_PARTNER_HTML = "Bubbles &amp; Brine Distributing"


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body)))


def _text(markup: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", markup))).strip()


def _rows(html: str, table_class: str = "data-table", which: int = 0) -> list[list[str]]:
    """The text of each cell of each body row of the ``which``-th table with that class
    (among its others, such as ``cards``)."""
    classes = rf'(?:[^"]*\s)?{re.escape(table_class)}(?:\s[^"]*)?'
    tables = re.findall(rf'<table class="{classes}">(.*?)</table>', html, re.S)
    assert len(tables) > which, f"no {table_class} table #{which} in the page"
    body = re.search(r"<tbody>(.*?)</tbody>", tables[which], re.S)
    assert body
    return [
        [_text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    ]


def _footer(html: str) -> list[str]:
    foot = re.search(r"<tfoot>(.*?)</tfoot>", html, re.S)
    assert foot, "no totals row"
    return [_text(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", foot.group(1), re.S)]


# --- The accounts ---------------------------------------------------------------------------


@pytest.fixture
def books(books_a: QBOConnection, books_b: QBOConnection) -> dict[str, QBOConnection]:
    """Partner A: Harbor Wines (invoices, a credit memo, payments), Quai 7 (credits only),
    Mas Rouge (old invoices, never paid). Partner B: its own customer 10, also named
    Harbor Wines (QuickBooks ids collide across companies)."""
    harbor = {"connection": books_a, "customer_qbo_id": "10", "customer_name": "Harbor Wines"}
    quai = {"connection": books_a, "customer_qbo_id": "20", "customer_name": "Quai 7"}
    mas = {"connection": books_a, "customer_qbo_id": "30", "customer_name": "Mas Rouge"}
    CustomerFactory(connection=books_a, qbo_id="10", display_name="Harbor Wines")
    InvoiceFactory(**harbor, qbo_id="1", doc_number="H-1", txn_date=ago(70), due_date=ago(40),
                   total_amt=D("500.00"))  # fmt: skip
    InvoiceFactory(**harbor, qbo_id="2", doc_number="H-2", txn_date=ago(25), due_date=ago(-5),
                   total_amt=D("250.00"), balance=D("200.00"))  # fmt: skip
    InvoiceFactory(**harbor, qbo_id="3", doc_number="H-PAID", txn_date=ago(90),
                   due_date=ago(60), balance=ZERO)  # fmt: skip
    CreditMemoFactory(**harbor, qbo_id="51", doc_number="CM-1", txn_date=ago(45),
                      total_amt=D("80.00"))  # fmt: skip
    PaymentFactory(**harbor, qbo_id="71", reference="CHK-OLD", txn_date=ago(30),
                   total_amt=D("300.00"))  # fmt: skip
    PaymentFactory(**harbor, qbo_id="72", reference="CHK-LAST", txn_date=ago(10),
                   total_amt=D("75.50"))  # fmt: skip
    # Voided: neither the last payment nor anything open, but listed on the account.
    PaymentFactory(**harbor, qbo_id="73", reference="CHK-VOID", txn_date=ago(5),
                   total_amt=D("999.00"), voided=True)  # fmt: skip
    CreditMemoFactory(**quai, qbo_id="56", doc_number="CM-5", txn_date=TODAY,
                      total_amt=D("15.00"))  # fmt: skip
    PaymentFactory(**quai, qbo_id="74", reference="PREPAY", txn_date=ago(100),
                   total_amt=D("25.00"), unapplied_amt=D("25.00"))  # fmt: skip
    InvoiceFactory(**mas, qbo_id="4", doc_number="M-1", txn_date=ago(150), due_date=ago(120),
                   total_amt=D("1000.00"))  # fmt: skip
    InvoiceFactory(**mas, qbo_id="5", doc_number="M-2", txn_date=ago(100), due_date=ago(75),
                   total_amt=D("300.00"))  # fmt: skip
    InvoiceFactory(connection=books_b, customer_qbo_id="10", customer_name="Harbor Wines",
                   qbo_id="1", doc_number="BOB-1", txn_date=ago(5), due_date=ago(-25),
                   total_amt=D("999.00"))  # fmt: skip
    return {"a": books_a, "b": books_b}


# Harbor: H-1 500.00 (31–60, 40 days) + H-2 200.00 (current) − CM-1 80.00 (31–60);
#         oldest open invoice H-1 of 70 days ago; last payment CHK-LAST, 75.50, 10 days ago.
# Mas:    M-1 1,000.00 (over 90, 120 days) + M-2 300.00 (61–90); never paid.
# Quai 7: − CM-5 15.00 (current) − PREPAY 25.00 (over 90); PREPAY is its last payment.
HEADER = ["Partner", "Customer", "Currency", "Current", "1–30 days", "31–60 days",
          "61–90 days", "Over 90 days", "Total", "Credits", "Oldest invoice", "Days overdue",
          "Last payment", "Last payment amount"]  # fmt: skip
EXPORT = [
    [A_PARTNER, "Harbor Wines", "USD", "200.00", "0.00", "420.00", "0.00", "0.00", "620.00",
     "-80.00", ago(70).isoformat(), "40", ago(10).isoformat(), "75.50"],
    [A_PARTNER, "Mas Rouge", "USD", "0.00", "0.00", "0.00", "300.00", "1000.00", "1300.00",
     "0.00", ago(150).isoformat(), "120", "", ""],
    [A_PARTNER, "Quai 7", "USD", "-15.00", "0.00", "0.00", "0.00", "-25.00", "-40.00",
     "-40.00", "", "", ago(100).isoformat(), "25.00"],
]  # fmt: skip


def test_the_page_and_its_export_show_each_customers_account(
    alice: User, books: dict[str, QBOConnection]
) -> None:
    client = signed_in(alice)
    page = client.get(RECEIVABLES)
    export = _csv(client.get(RECEIVABLES_CSV))

    html = page.content.decode()
    # Partner users have no Partner column; the currency rides on each amount instead.
    assert _rows(html) == [
        ["Harbor Wines", "$200.00", "$0.00", "$420.00", "$0.00", "$0.00", "$620.00", "−$80.00",
         "Jan 4, 2025", "40", "Mar 5, 2025", "$75.50"],
        ["Mas Rouge", "$0.00", "$0.00", "$0.00", "$300.00", "$1,000.00", "$1,300.00", "$0.00",
         "Oct 16, 2024", "120", "—", "—"],
        ["Quai 7", "−$15.00", "$0.00", "$0.00", "$0.00", "−$25.00", "−$40.00", "−$40.00", "—",
         "—", "Dec 5, 2024", "$25.00"],
    ]  # fmt: skip
    assert _footer(html) == [
        "Total, 3 customers", "$185.00", "$0.00", "$420.00", "$300.00", "$975.00", "$1,880.00",
        "−$120.00", "", "", "", "",
    ]  # fmt: skip
    # Each customer opens its account.
    assert f'href="{reverse("billing:receivables_customer", args=[books["a"].pk, "10"])}"' in html
    assert [list(r.values()) for r in export] == EXPORT
    assert list(export[0]) == HEADER
    # The page's own export link is the export's URL, with the page's sort.
    assert f'href="{RECEIVABLES_CSV}?sort=partner"' in html


def test_staff_see_every_partners_customers_apart(
    sam: User, books: dict[str, QBOConnection]
) -> None:
    html = signed_in(sam).get(RECEIVABLES, {"sort": "-total"}).content.decode()
    rows = _rows(html)

    # The partner is noted under each customer (a column of its own would push the table
    # past 1280 px); the export keeps it as a column.
    assert [(r[0], r[6]) for r in rows] == [
        ("Mas Rouge" + A_PARTNER, "$1,300.00"),
        ("Harbor Wines" + "Côte Ouest Wine Co.", "$999.00"),
        ("Harbor Wines" + A_PARTNER, "$620.00"),
        ("Quai 7" + A_PARTNER, "−$40.00"),
    ]
    assert f'<span class="cell-note">{escape(A_PARTNER)}</span>' in html


@pytest.mark.parametrize("who", ["alice", "bob", "sam"])
@pytest.mark.parametrize(
    "filters",
    [{}, {"customer": "harbor"}, {"customer": "nobody"}, {"bucket": "bogus"}],
    ids=["all", "customer", "no-match", "bad-bucket"],
)
def test_the_totals_equal_the_open_invoices_totals_to_the_cent(
    who: str, filters: dict[str, str], cast: dict[str, User], books: dict[str, QBOConnection]
) -> None:
    user = cast[who]
    client = signed_in(user)
    page = client.get(RECEIVABLES, filters)
    export = _csv(client.get(RECEIVABLES_CSV, filters))
    documents = client.get(reverse("billing:invoices"), filters).context["totals"]
    customer = "" if "bucket" in filters else filters.get("customer", "")
    expected = selectors.aging_totals(user=user, today=TODAY, customer=customer)

    totals = page.context["totals"]
    assert documents == expected
    assert totals["total"] == expected["total"]
    assert totals["owed"] == expected["owed"] and totals["credits"] == expected["credits"]
    assert [totals[b["key"]] for b in expected["buckets"]] == [
        b["amount"] for b in expected["buckets"]
    ]
    assert totals["count"] == expected["count"]
    assert sum((D(r["Total"]) for r in export), ZERO) == expected["total"]
    assert sum((D(r["Credits"]) for r in export), ZERO) == expected["credits"]


def test_every_sort_of_the_page_and_the_export_keeps_the_same_rows(
    sam: User, books: dict[str, QBOConnection]
) -> None:
    client = signed_in(sam)
    expected = None
    for column in RECEIVABLES_TABLE.columns:
        for sort in (column.key, f"-{column.key}"):
            rows = _csv(client.get(RECEIVABLES_CSV, {"sort": sort}))
            found = sorted(tuple(r.values()) for r in rows)
            expected = expected or found
            assert found == expected, sort
            page = client.get(RECEIVABLES, {"sort": sort})
            assert page.status_code == 200 and len(_rows(page.content.decode())) == 4, sort


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("-most_days_overdue", ["Mas Rouge", "Harbor Wines", "Quai 7"]),
        ("most_days_overdue", ["Harbor Wines", "Mas Rouge", "Quai 7"]),  # none last
        ("last_payment_date", ["Quai 7", "Harbor Wines", "Mas Rouge"]),
        ("-last_payment_amount", ["Harbor Wines", "Quai 7", "Mas Rouge"]),
        ("credits", ["Harbor Wines", "Quai 7", "Mas Rouge"]),
        ("-customer", ["Quai 7", "Mas Rouge", "Harbor Wines"]),
        ("90+", ["Quai 7", "Harbor Wines", "Mas Rouge"]),
        ("oldest_invoice", ["Mas Rouge", "Harbor Wines", "Quai 7"]),
    ],
)
def test_sorting_by_a_column(
    sort: str, order: list[str], alice: User, books: dict[str, QBOConnection]
) -> None:
    client = signed_in(alice)

    page = _rows(client.get(RECEIVABLES, {"sort": sort}).content.decode())
    export = _csv(client.get(RECEIVABLES_CSV, {"sort": sort}))

    assert [r[0] for r in page] == order
    assert [r["Customer"] for r in export] == order


@pytest.mark.parametrize(
    ("filters", "customers"),
    [
        ({"overdue": "on"}, ["Harbor Wines", "Mas Rouge"]),
        ({"bucket": "90+"}, ["Mas Rouge"]),  # Quai 7's over-90 is a credit, not a balance
        ({"bucket": "current"}, ["Harbor Wines"]),
        ({"customer": "ROUGE"}, ["Mas Rouge"]),
        ({"customer": "a", "overdue": "on", "bucket": "31-60"}, ["Harbor Wines"]),
    ],
)
def test_filters(
    filters: dict[str, str], customers: list[str], alice: User, books: dict[str, QBOConnection]
) -> None:
    client = signed_in(alice)

    page = client.get(RECEIVABLES, filters)
    export = _csv(client.get(RECEIVABLES_CSV, filters))

    assert [r[0] for r in _rows(page.content.decode())] == customers
    assert [r["Customer"] for r in export] == customers
    shown = [row for row in EXPORT if row[1] in customers]
    assert page.context["totals"]["total"] == sum((D(r[8]) for r in shown), ZERO)


def test_staff_filter_by_partner(sam: User, books: dict[str, QBOConnection]) -> None:
    partner_b = books["b"].partner
    rows = _csv(signed_in(sam).get(RECEIVABLES_CSV, {"partner": partner_b.pk}))

    assert [(r["Partner"], r["Customer"], r["Total"]) for r in rows] == [
        ("Côte Ouest Wine Co.", "Harbor Wines", "999.00")
    ]


def test_a_bad_filter_is_named_and_the_others_still_apply(
    alice: User, books: dict[str, QBOConnection]
) -> None:
    page = signed_in(alice).get(RECEIVABLES, {"bucket": "120+", "customer": "quai"})

    html = page.content.decode()
    assert page.status_code == 200
    assert "Some filters could not be read" in html and "Balance in" in html
    assert [r[0] for r in _rows(html)] == ["Quai 7"]


def test_empty_states(alice: User, books_a: QBOConnection) -> None:
    client = signed_in(alice)
    assert "No customer owes anything" in client.get(RECEIVABLES).content.decode()
    assert _csv(client.get(RECEIVABLES_CSV)) == []


def test_a_partner_user_sees_only_its_own_customers_whatever_the_filters(
    alice: User, bob: User, books: dict[str, QBOConnection]
) -> None:
    widen = {"partner": str(books["b"].partner_id)}
    alices = signed_in(alice).get(RECEIVABLES, widen).content.decode()
    alices_csv = _csv(signed_in(alice).get(RECEIVABLES_CSV, widen))
    bobs = _csv(signed_in(bob).get(RECEIVABLES_CSV))

    assert "999" not in alices and "Côte Ouest" not in alices
    assert {r["Partner"] for r in alices_csv} == {A_PARTNER}
    assert [(r["Customer"], r["Total"]) for r in bobs] == [("Harbor Wines", "999.00")]


def test_a_customer_without_a_quickbooks_id_is_listed_without_a_link(
    alice: User, books_a: QBOConnection
) -> None:
    InvoiceFactory(connection=books_a, customer_qbo_id="", customer_name="", doc_number="X-1")

    page = signed_in(alice).get(RECEIVABLES)

    assert page.status_code == 200
    assert _rows(page.content.decode())[0][:1] == [""]


# --- One customer's account -----------------------------------------------------------------


def _account(connection: QBOConnection, customer: str, view: str = "receivables_customer") -> str:
    return reverse(f"billing:{view}", args=[connection.pk, customer])


def test_the_account_page_lists_open_items_and_payments(
    alice: User, books: dict[str, QBOConnection]
) -> None:
    page = signed_in(alice).get(_account(books["a"], "10"))

    html = page.content.decode()
    assert page.status_code == 200
    assert "<h1>Harbor Wines</h1>" in html and A_PARTNER_HTML in html
    # Most days overdue first; each invoice links to its page.
    items = _rows(html, which=0)
    assert [(r[0], r[1], r[5], r[6]) for r in items] == [
        ("Credit memo", "CM-1", "−$80.00", "45"),
        ("Invoice", "H-1", "$500.00", "40"),
        ("Invoice", "H-2", "$200.00", "0"),
    ]
    h1 = books["a"].invoices.get(doc_number="H-1")
    assert f'<a href="{reverse("billing:invoice", args=[h1.pk])}">H-1</a>' in html
    assert "H-PAID" not in html
    # Payments, most recent first, the voided one marked.
    payments = _rows(html, which=1)
    assert [(r[2], r[3], r[5]) for r in payments] == [
        ("CHK-VOID", "$999.00", "Voided"),
        ("CHK-LAST", "$75.50", ""),
        ("CHK-OLD", "$300.00", ""),
    ]
    assert f'href="{_account(books["a"], "10", "statement")}"' in html
    assert page.context["aging"]["total"] == D("620.00")


def test_an_account_with_credits_only_and_one_with_nothing_open(
    alice: User, books: dict[str, QBOConnection]
) -> None:
    client = signed_in(alice)
    quai = client.get(_account(books["a"], "20")).content.decode()
    PaymentFactory(connection=books["a"], customer_qbo_id="40", customer_name="Paid Up")
    paid_up = client.get(_account(books["a"], "40")).content.decode()

    assert [(r[0], r[1], r[5]) for r in _rows(quai, which=0)] == [
        ("Unapplied payment", "PREPAY", "−$25.00"),
        ("Credit memo", "CM-5", "−$15.00"),
    ]
    assert "Nothing is open on this account" in paid_up and "<h1>Paid Up</h1>" in paid_up


def test_a_sort_or_page_link_of_the_account_page_gets_its_tables_alone(
    alice: User, books: dict[str, QBOConnection]
) -> None:
    url = _account(books["a"], "10")
    fragment = signed_in(alice).get(
        url, {"payments_sort": "reference"}, headers={"HX-Request": "true"}
    )

    body = fragment.content.decode()
    assert body.lstrip().startswith('<div id="customer-tables">') and "<html" not in body
    assert [r[2] for r in _rows(body, which=1)] == ["CHK-LAST", "CHK-OLD", "CHK-VOID"]
    assert 'hx-target="#customer-tables"' in body


def test_the_account_pages_payments_are_paginated(alice: User, books_a: QBOConnection) -> None:
    for n in range(51):
        PaymentFactory(connection=books_a, customer_qbo_id="30", reference=f"P{n:03d}",
                       txn_date=ago(n))  # fmt: skip
    client = signed_in(alice)

    first = client.get(_account(books_a, "30")).content.decode()
    second = client.get(_account(books_a, "30"), {"payments_page": "2"}).content.decode()

    assert "Showing 1–50 of 51" in first and "P000" in first and "P050" not in first
    assert [r[2] for r in _rows(second, which=0)] == ["P050"]


@pytest.mark.parametrize("view", ["receivables_customer", "statement"])
def test_another_partners_customer_is_not_found(
    view: str, alice: User, bob: User, sam: User, books: dict[str, QBOConnection]
) -> None:
    # Both companies have a customer 10.
    assert signed_in(alice).get(_account(books["b"], "10", view)).status_code == 404
    assert signed_in(bob).get(_account(books["a"], "10", view)).status_code == 404
    assert signed_in(alice).get(_account(books["a"], "10", view)).status_code == 200
    assert signed_in(bob).get(_account(books["b"], "10", view)).status_code == 200
    staff = signed_in(sam)
    assert staff.get(_account(books["b"], "10", view)).status_code == 200
    # A customer the mirror knows nothing of, and a company that does not exist.
    assert staff.get(_account(books["a"], "999", view)).status_code == 404
    assert staff.get(reverse(f"billing:{view}", args=[987654, "10"])).status_code == 404


def test_bobs_account_page_shows_none_of_alices(bob: User, books: dict[str, QBOConnection]) -> None:
    html = signed_in(bob).get(_account(books["b"], "10")).content.decode()
    statement = signed_in(bob).get(_account(books["b"], "10", "statement")).content.decode()

    for alices in ("H-1", "CM-1", "CHK-", A_PARTNER_HTML, "Bubbles"):
        assert alices not in html and alices not in statement, alices
    assert "BOB-1" in html and "BOB-1" in statement


# --- The statement --------------------------------------------------------------------------


def test_the_statement_lists_open_items_with_a_running_balance(
    alice: User, books: dict[str, QBOConnection]
) -> None:
    page = signed_in(alice).get(_account(books["a"], "10", "statement"))

    html = page.content.decode()
    assert page.status_code == 200
    assert A_PARTNER_HTML in html and "To: <strong>Harbor Wines</strong>" in html
    assert "Mar 15, 2025" in html
    # Date, document, number, due, amount, open balance, balance: oldest first.
    assert _rows(html, "statement-items") == [
        [ago(70).isoformat(), "Invoice", "H-1", ago(40).isoformat(), "$500.00", "$500.00",
         "$500.00"],
        [ago(45).isoformat(), "Credit memo", "CM-1", "—", "−$80.00", "−$80.00", "$420.00"],
        [ago(25).isoformat(), "Invoice", "H-2", ago(-5).isoformat(), "$250.00", "$200.00",
         "$620.00"],
    ]  # fmt: skip
    assert _rows(html, "aging-totals statement-aging") == [
        ["$200.00", "$0.00", "$420.00", "$0.00", "$0.00", "$620.00"]
    ]
    assert page.context["statement"].total_due == D("620.00")


def test_a_statement_as_of_an_earlier_date(alice: User, books: dict[str, QBOConnection]) -> None:
    page = signed_in(alice).get(
        _account(books["a"], "10", "statement"), {"as_of": ago(30).isoformat()}
    )

    statement = page.context["statement"]
    # H-2 (25 days ago) is not on the books yet; H-1, due 40 days ago, was 10 days overdue
    # then and CM-1 15 days old: both 1–30.
    assert [i["number"] for i in statement.items] == ["H-1", "CM-1"]
    assert statement.as_of == ago(30) and statement.total_due == D("420.00")
    assert [b["amount"] for b in statement.aging["buckets"]] == [
        ZERO, D("420.00"), ZERO, ZERO, ZERO,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("2025-02-30", "Enter a valid date."),
        ("yesterday", "Enter a valid date."),
        ("2025-03-16", "Must be on or before today, 2025-03-15."),
        ("99999-01-01", "Enter a valid date."),
    ],
)
def test_a_bad_statement_date_is_named_and_today_is_used(
    as_of: str, message: str, alice: User, books: dict[str, QBOConnection]
) -> None:
    page = signed_in(alice).get(_account(books["a"], "10", "statement"), {"as_of": as_of})

    assert page.status_code == 200
    assert message in page.content.decode()
    assert page.context["statement"].as_of == TODAY


def test_the_statement_prints_clean_without_inline_script(
    alice: User, books: dict[str, QBOConnection]
) -> None:
    html = signed_in(alice).get(_account(books["a"], "10", "statement")).content.decode()

    assert re.search(r'<button type="button"[^>]*data-print[^>]*>Print</button>', html)
    assert '<script src="/static/js/print.js" defer></script>' in html
    # The CSP allows no inline script: every <script> has a src.
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))
    static = Path(django_settings.BASE_DIR) / "static"
    assert "window.print()" in (static / "js" / "print.js").read_text()
    css = (static / "css" / "app.css").read_text()
    rules = css[css.index("@media print") :]
    for hidden in (".topbar", ".no-print", "form", "button"):
        assert hidden in rules[: rules.index("}")], hidden
    # The tools (date form, Print, link back) are in the part print hides.
    tools = html[html.index('class="no-print statement-tools"') : html.index("<article")]
    assert "data-print" in tools and "<form" in tools


# --- Query counts ---------------------------------------------------------------------------


def _grow(connections: list[QBOConnection]) -> Any:
    """Per n and company: an invoice, a credit memo and a payment of customer 1, and the
    same of a customer of its own (so the receivables page has N and 10N customers)."""

    def grow(rows: range) -> None:
        for connection in connections:
            for n in rows:
                for customer in ("1", f"c{n}"):
                    who = {"customer_qbo_id": customer, "customer_name": f"Customer {customer}"}
                    InvoiceFactory(connection=connection, qbo_id=f"i{customer}-{n}", **who,
                                   txn_date=ago(n % 150), due_date=ago(n % 120))  # fmt: skip
                    CreditMemoFactory(connection=connection, qbo_id=f"m{customer}-{n}", **who,
                                      txn_date=ago(n % 100))  # fmt: skip
                    PaymentFactory(connection=connection, qbo_id=f"p{customer}-{n}", **who,
                                   txn_date=ago(n % 90), unapplied_amt=D("5.00"))  # fmt: skip

    return grow


@pytest.mark.parametrize(
    "url",
    ["page", "export", "page-sorted", "filtered", "account", "account-page-2", "statement"],
)
@pytest.mark.parametrize("who", ["alice", "sam"])
def test_each_page_costs_the_same_at_n_and_10n(
    who: str, url: str, cast: dict[str, User], books_a: QBOConnection, books_b: QBOConnection
) -> None:
    client = signed_in(cast[who])
    account = _account(books_a, "1")
    target, data = {
        "page": (RECEIVABLES, {}),
        "export": (RECEIVABLES_CSV, {}),
        "page-sorted": (RECEIVABLES, {"sort": "-last_payment_date"}),
        "filtered": (RECEIVABLES, {"overdue": "on", "bucket": "1-30", "customer": "Customer"}),
        "account": (account, {}),
        "account-page-2": (account, {"items_page": "2", "payments_page": "2"}),
        "statement": (_account(books_a, "1", "statement"), {"as_of": ago(3).isoformat()}),
    }[url]
    flat(_grow([books_a, books_b]), lambda: cost(client, target, data))


# --- Payments: search by customer, reference, amount -------------------------------------------


@pytest.fixture
def received(books_a: QBOConnection, books_b: QBOConnection) -> None:
    harbor = {"connection": books_a, "customer_name": "Harbor Wines"}
    PaymentFactory(**harbor, reference="CHK-1001", total_amt=D("1200.00"), txn_date=ago(3))
    PaymentFactory(connection=books_a, customer_name="Quai 7", reference="WIRE-77",
                   total_amt=D("1200.00"), txn_date=ago(2))  # fmt: skip
    PaymentFactory(**harbor, reference="CHK-1002", total_amt=D("75.50"), txn_date=ago(1))
    PaymentFactory(connection=books_b, customer_name="Harbor Wines", reference="BOB-CHK",
                   total_amt=D("1200.00"))  # fmt: skip


@pytest.mark.parametrize(
    ("filters", "references"),
    [
        ({"customer": "harbor"}, ["CHK-1002", "CHK-1001"]),
        ({"reference": "chk-100"}, ["CHK-1002", "CHK-1001"]),
        ({"reference": "77"}, ["WIRE-77"]),
        ({"amount": "1,200.00"}, ["WIRE-77", "CHK-1001"]),
        ({"amount": "1200"}, ["WIRE-77", "CHK-1001"]),
        ({"amount": "$1,200"}, ["WIRE-77", "CHK-1001"]),
        ({"amount": " $ 75.5 "}, ["CHK-1002"]),
        ({"amount": "$1,200", "customer": "HARBOR"}, ["CHK-1001"]),
        ({"amount": "1200", "reference": "wire"}, ["WIRE-77"]),
        ({"amount": "12.34"}, []),
    ],
)
def test_payments_search(
    filters: dict[str, str], references: list[str], alice: User, received: None
) -> None:
    client = signed_in(alice)

    page = client.get(PAYMENTS, filters)
    export = _csv(client.get(PAYMENTS, {**filters, "format": "csv"}))

    assert [r.reference for r in page.context["table"].rows] == references
    assert [r["Reference"] for r in export] == references
    assert not page.context["form"].errors


@pytest.mark.parametrize(
    "amount", ["12,00", "1.234", "abc", "-5", "1e3", "$$5", "9" * 20, "1,2345"]
)
def test_a_bad_amount_is_named_next_to_its_field_and_the_other_filters_apply(
    amount: str, alice: User, received: None
) -> None:
    client = signed_in(alice)

    page = client.get(PAYMENTS, {"amount": amount, "customer": "quai"})
    export = _csv(client.get(PAYMENTS, {"amount": amount, "customer": "quai", "format": "csv"}))

    html = page.content.decode()
    assert page.status_code == 200
    assert re.search(
        r'<div class="errorlist" id="id_amount-error">Enter an amount such as 1200, 1,200.00 or '
        r"\$1,200.</div>",
        html,
    )
    assert [r.reference for r in page.context["table"].rows] == ["WIRE-77"]
    assert [r["Reference"] for r in export] == ["WIRE-77"]


def test_payment_search_never_reaches_another_partner(
    alice: User, bob: User, received: None
) -> None:
    alices = signed_in(alice).get(PAYMENTS, {"amount": "1200", "customer": "harbor"})
    bobs = signed_in(bob).get(PAYMENTS, {"amount": "1200", "customer": "harbor"})

    assert [r.reference for r in alices.context["table"].rows] == ["CHK-1001"]
    assert [r.reference for r in bobs.context["table"].rows] == ["BOB-CHK"]


@pytest.mark.parametrize("export", [False, True], ids=["page", "export"])
def test_a_searched_payments_page_costs_the_same_at_n_and_10n(
    export: bool, sam: User, books_a: QBOConnection
) -> None:
    def grow(rows: range) -> None:
        for n in rows:
            PaymentFactory(connection=books_a, customer_name=f"Harbor {n}",
                           reference=f"CHK-{n}", total_amt=D("1200.00"))  # fmt: skip

    data = {"customer": "harbor", "reference": "chk", "amount": "1,200"}
    if export:
        data["format"] = "csv"
    flat(grow, lambda: cost(signed_in(sam), PAYMENTS, data))
