"""The stock discrepancies page (/inventory/discrepancies/): the table, its filters, the
htmx fragment, the CSV export, and who sees which partner's rows."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Partner, User
from sync.models import QBOConnection
from tests.conftest import signed_in
from tests.inventory.reports.test_discrepancies_selectors import books, mapped, sku, snap

URL = reverse("inventory:discrepancies")

pytestmark = pytest.mark.django_db


@pytest.fixture
def books_a(partner_a: Partner) -> QBOConnection:
    return books(partner_a, "4620000000000001")


@pytest.fixture
def books_b(partner_b: Partner) -> QBOConnection:
    return books(partner_b, "4620000000000002")


@pytest.fixture
def stock(
    partner_a: Partner, partner_b: Partner, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    """A: Callie over (a case item), Juliette unmapped. B: Callie under."""
    callie, juliette = sku("UF-CAL-NV-750"), sku("UF-JUL-NV-750", wine="The Juliette")
    snap(partner_a, callie, 100)
    mapped(books_a, callie, "10", qbo_id="7", per_unit=12)  # 120 bottles
    snap(partner_a, juliette, 36)
    snap(partner_b, callie, 60)
    mapped(books_b, callie, "48", qbo_id="7")


def _csv(response: Any) -> list[dict[str, str]]:
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_staff_see_every_partner_with_converted_quantities(sam: User, stock: None) -> None:
    response = signed_in(sam).get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html.lower()
    assert "Bubbles &amp; Brine Distributing" in html
    assert "Côte Ouest Wine Co." in html
    assert '<span class="status status-over">Over</span>' in html
    assert '<span class="status status-under">Under</span>' in html
    assert '<span class="status status-unmapped">Unmapped</span>' in html
    assert ">120<" in html  # 10 cases × 12 bottles
    assert "20.0%" in html  # (120 − 100) / 100
    # One warehouse count each: a flat line would say nothing, so the row says so.
    assert 'class="chart sparkline"' not in html
    assert "one count so far" in html
    assert 'id="id_partner"' in html  # staff may filter by partner


@pytest.mark.parametrize("who", ["ada", "sam", "alice"])
def test_only_admins_are_offered_a_push_and_only_for_rows_out_of_tolerance(
    who: str, cast: dict[str, User], stock: None
) -> None:
    html = signed_in(cast[who]).get(URL).content.decode()
    push = reverse("inventory:push_stock_new")
    offered = set(re.findall(rf'href="{push}\?partner=([\w-]+)&amp;sku=([\w-]+)"', html))
    if who == "ada":
        # A is over, B is under; A's unmapped Juliette has nothing in QuickBooks to correct.
        assert offered == {("bubbles-brine", "UF-CAL-NV-750"), ("cote-ouest", "UF-CAL-NV-750")}
    else:
        assert offered == set()


def test_partner_users_see_only_their_own_rows_and_no_partner_filter(
    alice: User, stock: None
) -> None:
    html = signed_in(alice).get(URL).content.decode()
    assert "Bubbles &amp; Brine Distributing" in html
    assert "Côte Ouest" not in html
    assert "status-under" not in html  # B's row
    assert 'id="id_partner"' not in html


def test_a_partner_user_cannot_filter_their_way_to_another_partner(
    alice: User, partner_b: Partner, stock: None
) -> None:
    response = signed_in(alice).get(URL, {"partner": partner_b.pk})
    assert "Côte Ouest" not in response.content.decode()
    assert response.context["table"].count == 2  # alice's own rows, the field ignored
    rows = _csv(signed_in(alice).get(URL, {"partner": str(partner_b.pk), "format": "csv"}))
    assert {row["Partner"] for row in rows} == {"Bubbles & Brine Distributing"}


def test_htmx_requests_get_only_the_table_fragment(sam: User, stock: None) -> None:
    response = signed_in(sam).get(URL, {"status": "over"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="discrepancy-table"')
    assert "<html" not in html.lower()
    assert "status-over" in html
    assert "status-under" not in html


def test_sort_and_page_links_swap_the_fragment_the_view_answers_with(
    sam: User, stock: None
) -> None:
    # Swapping only the table with the whole fragment would nest a second results div
    # (and a second sort input) inside the first.
    html = signed_in(sam).get(URL, {"sort": "sku"}).content.decode()
    assert 'class="table-region" hx-target="#discrepancy-table" hx-swap="outerHTML"' in html
    assert html.count('name="sort"') == 1
    assert 'name="sort" value="sku" form="discrepancy-table-filters"' in html


def test_filters_narrow_the_rows_and_keep_in_sort_and_page_links(
    sam: User, partner_b: Partner, stock: None
) -> None:
    response = signed_in(sam).get(URL, {"partner": str(partner_b.pk), "sku": "cal"})
    table = response.context["table"]
    assert [(r.partner_name, r.sku_code) for r in table.rows] == [
        ("Côte Ouest Wine Co.", "UF-CAL-NV-750")
    ]
    assert f"partner={partner_b.pk}" in table.sort_url("sku")
    assert "sku=cal" in table.export_url


def test_a_filter_that_does_not_parse_is_reported_and_the_others_still_apply(
    sam: User, stock: None
) -> None:
    response = signed_in(sam).get(URL, {"status": "sideways", "sku": "JUL"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html
    assert "sideways is not one of the available choices" in html
    assert [r.sku_code for r in response.context["table"].rows] == ["UF-JUL-NV-750"]


def test_sorting_by_difference_is_by_its_size_whatever_its_sign(sam: User, stock: None) -> None:
    table = signed_in(sam).get(URL, {"sort": "difference"}).context["table"]
    # −12 (B), +20 (A); the unmapped row has no difference and goes last either way.
    assert [r.difference for r in table.rows] == [Decimal("-12"), Decimal("20"), None]
    table = signed_in(sam).get(URL, {"sort": "-difference"}).context["table"]
    assert [r.difference for r in table.rows] == [Decimal("20"), Decimal("-12"), None]


def test_a_sku_with_two_counts_or_more_draws_its_trend(
    sam: User, partner_a: Partner, stock: None
) -> None:
    snap(partner_a, sku("UF-CAL-NV-750"), 90, days_ago=1)
    html = signed_in(sam).get(URL, {"sku": "CAL"}).content.decode()
    assert html.count('class="chart sparkline"') == 1  # A's Callie
    assert html.count("one count so far") == 1  # B's Callie


def test_csv_exports_every_filtered_row_and_its_totals_reconcile(
    sam: User, partner_a: Partner, books_a: QBOConnection
) -> None:
    # More rows than a page, with fractions, so the export cannot be the shown page only.
    expected_warehouse = Decimal(0)
    expected_qbo = Decimal(0)
    for n in range(60):
        catalog_sku = sku(f"UF-T{n}-NV-750", per_case=6)
        warehouse, qbo = Decimal(f"{n}.25"), Decimal(f"{n * 2}.5")
        snap(partner_a, catalog_sku, str(warehouse))
        mapped(books_a, catalog_sku, str(qbo), qbo_id=str(n))
        expected_warehouse += warehouse
        expected_qbo += qbo

    response = signed_in(sam).get(URL, {"format": "csv"})
    assert "stock-discrepancies-" in response["Content-Disposition"]
    rows = _csv(response)
    assert len(rows) == 60
    assert "Trend" not in rows[0]
    assert sum(Decimal(r["Warehouse (bottles)"]) for r in rows) == expected_warehouse
    assert sum(Decimal(r["QuickBooks (bottles)"]) for r in rows) == expected_qbo
    assert (
        sum(Decimal(r["Difference (bottles)"]) for r in rows) == expected_qbo - expected_warehouse
    )
    first = next(r for r in rows if r["SKU"] == "UF-T5-NV-750")
    assert first["QuickBooks (cases)"] == "1.75"  # 10.5 / 6
    assert first["Status"] == "Over"


def test_csv_of_a_partner_user_holds_only_their_rows(bob: User, stock: None) -> None:
    rows = _csv(signed_in(bob).get(URL, {"format": "csv"}))
    assert [(r["Partner"], r["SKU"], r["Status"]) for r in rows] == [
        ("Côte Ouest Wine Co.", "UF-CAL-NV-750", "Under")
    ]


def test_empty_state_says_why(alice: User) -> None:
    html = signed_in(alice).get(URL).content.decode()
    assert "Nothing to compare yet" in html
    assert "<table" not in html


def test_empty_state_of_a_filter_offers_to_clear_it(sam: User, stock: None) -> None:
    html = signed_in(sam).get(URL, {"sku": "NOPE"}).content.decode()
    assert "No partner and SKU match these filters" in html
    assert "Clear the filters" in html


@pytest.mark.parametrize("user_name", ["alice", "sam"])
def test_query_count_does_not_grow_with_rows(
    user_name: str, cast: dict[str, User], partner_a: Partner, books_a: QBOConnection,
    django_assert_max_num_queries: Any,
) -> None:  # fmt: skip
    client = signed_in(cast[user_name])
    client.get(URL)  # warm the session
    counts = []
    made = 0
    for total in (4, 40):  # N, then 10N rows, each with a mapping and a trend of 3
        for n in range(made, total):
            catalog_sku = sku(f"UF-Q{n}-NV-750")
            for days_ago in range(3):
                snap(partner_a, catalog_sku, 10 + n, days_ago=days_ago)
            # Half the items have a purchase cost, half are valued from their bills.
            mapped(books_a, catalog_sku, str(n), qbo_id=str(n), cost="9.50" if n % 2 else None)
        made = total
        # session, user, partner choices (staff), snapshots, mappings, the bills of the
        # items without a purchase cost, trends
        with django_assert_max_num_queries(7), CaptureQueriesContext(db_connection) as ctx:
            response = client.get(URL)
        assert response.context["table"].count == total
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
