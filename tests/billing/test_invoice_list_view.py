"""/billing/invoices/: open invoices with aging, totals, chart, filters, export (credits:
test_credits.py)."""

from __future__ import annotations

import csv
import io
import re
import zoneinfo
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from accounts.models import User
from sync.models import QBOConnection
from tests.billing.factories import InvoiceFactory
from tests.conftest import signed_in

URL = reverse("billing:invoices")

pytestmark = pytest.mark.django_db


def _today(user: User) -> date:
    return datetime.now(zoneinfo.ZoneInfo(user.time_zone or "America/Los_Angeles")).date()


def _csv(response: Any) -> list[dict[str, str]]:
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_partner_user_sees_only_own_invoices_and_export(
    alice: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    InvoiceFactory(connection=books_a, doc_number="A-100", customer_name="Crémant: Brut Bar")
    InvoiceFactory(connection=books_b, doc_number="B-200", customer_name="Bob's customer")

    page = signed_in(alice).get(URL)
    export = signed_in(alice).get(URL, {"format": "csv", "partner": str(books_b.partner_id)})

    assert page.status_code == 200
    assert b"A-100" in page.content and "Crémant: Brut Bar" in page.content.decode()
    assert b"B-200" not in page.content
    # Partner users are not offered the partner filter, and cannot use it to widen.
    assert b'name="partner"' not in page.content
    assert [r["Number"] for r in _csv(export)] == ["A-100"]


def test_staff_sees_every_partner_and_can_filter_by_one(
    sam: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    InvoiceFactory(connection=books_a, doc_number="A-100")
    InvoiceFactory(connection=books_b, doc_number="B-200")
    client = signed_in(sam)

    everything = client.get(URL)
    only_b = client.get(URL, {"partner": books_b.partner_id})

    assert b"A-100" in everything.content and b"B-200" in everything.content
    assert b'name="partner"' in everything.content
    assert b"A-100" not in only_b.content and b"B-200" in only_b.content


def test_aging_uses_today_in_the_users_time_zone(alice: User, books_a: QBOConnection) -> None:
    # Kiritimati (UTC+14) and Pago Pago (UTC-11) are 25 hours apart: their dates always
    # differ, so an invoice due on Pago Pago's today is already late on Kiritimati's.
    alice.time_zone = "Pacific/Pago_Pago"
    alice.save()
    InvoiceFactory(connection=books_a, doc_number="A-1", due_date=_today(alice))
    client = signed_in(alice)

    early = _csv(client.get(URL, {"format": "csv"}))
    alice.time_zone = "Pacific/Kiritimati"
    alice.save()
    late = _csv(client.get(URL, {"format": "csv"}))

    assert (early[0]["Days overdue"], early[0]["Aging"]) == ("0", "Current")
    assert late[0]["Days overdue"] in ("1", "2")
    assert late[0]["Aging"] == "1–30 days"


def test_totals_per_bucket_reconcile_with_the_balances(sam: User, books_a: QBOConnection) -> None:
    today = _today(sam)
    balances = {0: "0.10", 15: "0.20", 45: "1000.33", 75: "2.22", 200: "9999.99"}
    for late, balance in balances.items():
        InvoiceFactory(connection=books_a, balance=Decimal(balance), total_amt=Decimal("10000"),
                       due_date=today - timedelta(days=late))  # fmt: skip

    response = signed_in(sam).get(URL)

    totals = response.context["totals"]
    expected = sum((Decimal(b) for b in balances.values()), Decimal("0"))
    assert totals["total"] == expected == Decimal("11002.84")
    assert [b["amount"] for b in totals["buckets"]] == [Decimal(b) for b in balances.values()]
    html = response.content.decode()
    assert "11,002.84" in html and "9,999.99" in html
    assert 'role="img"' in html  # the bar chart
    # Export carries the same balances, as Decimal text that adds up.
    rows = _csv(signed_in(sam).get(URL, {"format": "csv"}))
    assert sum((Decimal(r["Balance"]) for r in rows), Decimal("0")) == expected


def test_csv_has_exactly_the_filtered_rows_across_pages(sam: User, books_a: QBOConnection) -> None:
    today = _today(sam)
    for n in range(60):  # more than one page of 50
        InvoiceFactory(connection=books_a, doc_number=f"OLD-{n:02d}", customer_name="Harbor",
                       due_date=today - timedelta(days=40))  # fmt: skip
    InvoiceFactory(connection=books_a, doc_number="NEW-1", customer_name="Harbor",
                   due_date=today)  # fmt: skip
    InvoiceFactory(connection=books_a, doc_number="OTHER", due_date=today - timedelta(days=40))
    filters = {"customer": "harbor", "bucket": "31-60", "sort": "number"}

    page = signed_in(sam).get(URL, filters)
    rows = _csv(signed_in(sam).get(URL, {**filters, "format": "csv"}))

    assert page.context["table"].count == 60
    assert len(page.context["table"].rows) == 50
    assert [r["Number"] for r in rows] == [f"OLD-{n:02d}" for n in range(60)]
    assert set(rows[0]) >= {"Partner", "Customer", "Due", "Balance", "Days overdue", "Aging"}


def test_bad_filters_are_reported_and_the_rest_still_apply(
    sam: User, books_a: QBOConnection
) -> None:
    InvoiceFactory(connection=books_a, doc_number="KEEP", customer_name="Harbor")
    InvoiceFactory(connection=books_a, doc_number="DROP", customer_name="Elsewhere")

    response = signed_in(sam).get(
        URL, {"customer": "harbor", "due_from": "31/02/2025", "bucket": "ancient"}
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "could not be read" in html and "Enter a valid date." in html
    assert "Select a valid choice." in html
    assert "KEEP" in html and "DROP" not in html


def test_reversed_due_range_is_explained(sam: User, books_a: QBOConnection) -> None:
    response = signed_in(sam).get(URL, {"due_from": "2025-03-01", "due_to": "2025-02-01"})

    assert "Must be on or after 2025-03-01." in response.content.decode()


def test_empty_states(alice: User, books_a: QBOConnection) -> None:
    nothing = signed_in(alice).get(URL)
    InvoiceFactory(connection=books_a, customer_name="Harbor")
    no_match = signed_in(alice).get(URL, {"customer": "nobody"})

    assert "No open invoices or credits" in nothing.content.decode()
    assert "No open invoice or credit matches these filters" in no_match.content.decode()
    assert b"Export CSV" not in no_match.content


def test_htmx_request_gets_the_fragment_and_a_boosted_one_the_page(
    alice: User, books_a: QBOConnection
) -> None:
    InvoiceFactory(connection=books_a, doc_number="A-1")
    client = signed_in(alice)

    full = client.get(URL)
    fragment = client.get(URL, headers={"HX-Request": "true"})
    boosted = client.get(URL, headers={"HX-Request": "true", "HX-Boosted": "true"})

    assert b"<html" in full.content and b'id="invoice-table"' in full.content
    assert b"<html" not in fragment.content
    assert fragment.content.lstrip().startswith(b'<div id="invoice-table"')
    assert b"A-1" in fragment.content
    assert b"<html" in boosted.content


def test_sort_links_keep_filters_and_have_hrefs(sam: User, books_a: QBOConnection) -> None:
    InvoiceFactory(connection=books_a, customer_name="Harbor")

    html = signed_in(sam).get(URL, {"customer": "Harbor"}).content.decode()

    assert 'href="/billing/invoices/?customer=Harbor&amp;sort=balance"' in html
    assert 'hx-get="/billing/invoices/?customer=Harbor&amp;sort=balance"' in html


def test_the_shared_table_keeps_caption_sort_state_paging_and_swaps_the_results(
    sam: User, books_a: QBOConnection
) -> None:
    for n in range(51):
        InvoiceFactory(connection=books_a, doc_number=f"A-{n:02d}", customer_name="Harbor")

    html = signed_in(sam).get(URL, {"customer": "Harbor", "sort": "balance"}).content.decode()

    assert "<caption>Open invoices and credits</caption>" in html
    assert html.count("aria-sort=") == 1 and 'aria-sort="ascending"' in html
    # Sorting and paging swap the whole results, whose hidden sort input the filter form
    # submits: a later filter keeps the sort.
    assert 'class="table-region" hx-target="#invoice-table" hx-swap="outerHTML"' in html
    assert 'name="sort" value="balance" form="invoice-table-filters"' in html
    assert "Showing 1–50 of 51" in html
    page_2 = "/billing/invoices/?customer=Harbor&amp;sort=balance&amp;page=2"
    assert f'<a href="{page_2}" hx-get="{page_2}" rel="next">Next</a>' in html


def test_partner_users_see_no_partner_column_but_their_export_keeps_it(
    alice: User, sam: User, books_a: QBOConnection
) -> None:
    InvoiceFactory(connection=books_a, doc_number="A-1")

    own = signed_in(alice).get(URL, {"sort": "partner"})
    every = signed_in(sam).get(URL).content.decode()
    export = _csv(signed_in(alice).get(URL, {"format": "csv"}))

    html = own.content.decode()
    assert html.count('<th scope="col"') == every.count('<th scope="col"') - 1
    assert "sort=partner" not in html and "sort=partner" in every
    assert own.context["table"].sort_value == "-days_overdue"  # not by a hidden column
    assert export[0]["Partner"] == "Bubbles & Brine Distributing"


@pytest.mark.parametrize("n", [3, 30])
def test_query_count_does_not_grow_with_rows(
    sam: User, books_a: QBOConnection, books_b: QBOConnection, n: int,
    django_assert_max_num_queries: object,
) -> None:  # fmt: skip
    for i in range(n):
        InvoiceFactory(connection=books_a if i % 2 else books_b, due_date=date(2025, 1, i % 28 + 1))
    client = signed_in(sam)
    client.get(URL)  # warm the session

    # session, user, partner choices, count, page, totals
    with django_assert_max_num_queries(6):  # type: ignore[operator]
        response = client.get(URL)
    assert response.context["table"].count == n


def _body_cells(html: str) -> list[list[str]]:
    """The text of each cell of each row of the list table's body."""
    body = re.search(r'<table class="data-table">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, "no list table in the page"
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    ]


def test_each_row_shows_its_amounts_in_its_own_currency(
    alice: User, books_a: QBOConnection
) -> None:
    InvoiceFactory(connection=books_a, doc_number="CA-1", currency="CAD",
                   total_amt=Decimal("1234.00"), balance=Decimal("234.00"))  # fmt: skip

    [row] = _body_cells(signed_in(alice).get(URL).content.decode())

    assert row[1:3] == ["Invoice", "CA-1"]
    assert row[5:7] == ["1,234.00\u00a0CAD", "234.00\u00a0CAD"]  # total, balance
