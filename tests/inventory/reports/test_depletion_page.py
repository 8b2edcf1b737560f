"""/inventory/depletion/: the table, chart, filters, CSV export, htmx fragments, scoping."""

from __future__ import annotations

import csv
import io
import re
import zoneinfo
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import User
from sync.models import QBOConnection
from tests.billing.factories import ConnectionFactory
from tests.conftest import signed_in
from tests.factories import PartnerFactory
from tests.inventory.reports.test_depletion_selectors import books_a, books_b, mapped_item, sell

__all__ = ["books_a", "books_b"]  # fixtures, shared with the selector tests

URL = reverse("inventory:depletion")

pytestmark = pytest.mark.django_db


def _today(user: User) -> date:
    return datetime.now(zoneinfo.ZoneInfo(user.time_zone or "America/Los_Angeles")).date()


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_partner_user_sees_only_own_rows_on_page_and_in_export(
    alice: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    today = _today(alice)
    sell(mapped_item(books_a, "UF-CAL-NV-750", on_hand=10), 28, today)
    sell(mapped_item(books_b, "UF-BDB-2021-750", on_hand=99), 56, today)
    client = signed_in(alice)

    page = client.get(URL).content.decode()
    export = _csv(client.get(URL, {"format": "csv", "partner": str(books_b.partner_id)}))

    assert "UF-CAL-NV-750" in page and "Bubbles &amp; Brine" in page
    assert "UF-BDB-2021-750" not in page and "Côte Ouest" not in page
    assert 'name="partner"' not in page  # not offered: it could only widen
    assert [(r["Partner"], r["SKU"], r["Net depletion (bottles)"]) for r in export] == [
        ("Bubbles & Brine Distributing", "UF-CAL-NV-750", "28")
    ]


def test_staff_see_every_partner_and_narrow_to_one(
    sam: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    today = _today(sam)
    sell(mapped_item(books_a, "UF-CAL-NV-750"), 28, today)
    sell(mapped_item(books_b, "UF-BDB-2021-750"), 56, today)
    client = signed_in(sam)

    everything = client.get(URL).content.decode()
    only_b = _csv(client.get(URL, {"format": "csv", "partner": str(books_b.partner_id)}))

    assert "UF-CAL-NV-750" in everything and "UF-BDB-2021-750" in everything
    assert 'name="partner"' in everything
    assert [r["SKU"] for r in only_b] == ["UF-BDB-2021-750"]


def test_export_carries_the_figures_the_page_shows(alice: User, books_a: QBOConnection) -> None:
    today = _today(alice)
    cases = mapped_item(books_a, "UF-CAL-NV-750", per_unit=12, on_hand=1)  # 12 bottles
    sell(cases, Decimal("2.5"), today)  # 30 bottles in 28 days
    idle = mapped_item(books_a, "UF-JUL-NV-750", on_hand=5)

    rows = {r["SKU"]: r for r in _csv(signed_in(alice).get(URL, {"format": "csv"}))}

    callie = rows["UF-CAL-NV-750"]
    assert (callie["Net depletion (bottles)"], callie["Per day"], callie["On hand (bottles)"]) == (
        "30", "1.07", "12",
    )  # fmt: skip
    assert (callie["Days on hand"], callie["Warning"]) == ("11.2", "low")
    assert callie["Net bottles per week"].endswith(f"{_week_label(today)}: 30")
    juliette = rows[idle.sku]
    assert (juliette["Days on hand"], juliette["Warning"]) == ("", "")
    # The most urgent rows first: fewest days on hand, then the ones that do not move.
    assert list(rows) == ["UF-CAL-NV-750", "UF-JUL-NV-750"]


def test_window_and_threshold_come_from_the_form(alice: User, books_a: QBOConnection) -> None:
    today = _today(alice)
    item = mapped_item(books_a, "UF-CAL-NV-750", on_hand=40)
    sell(item, 28, today)
    sell(item, 28, today - timedelta(days=40))  # only in the 56- and 91-day windows
    client = signed_in(alice)

    default = _csv(client.get(URL, {"format": "csv"}))[0]
    wide = _csv(client.get(URL, {"format": "csv", "window": "56", "threshold": "45"}))[0]
    page = client.get(URL).content.decode()

    assert (default["Net depletion (bottles)"], default["Days on hand"], default["Warning"]) == (
        "28", "40", "",
    )  # fmt: skip
    net = "Net depletion (bottles)"
    assert (wide[net], wide["Days on hand"], wide["Warning"]) == ("56", "40", "low")
    # A first visit shows the default window, and leaves the threshold to each partner.
    assert re.search(r'<option value="28" selected>', page)
    assert re.search(r'<input type="number" name="threshold"(?![^>]*value=)', page)
    assert "each partner's own days-on-hand threshold" in page


def test_a_partner_s_own_threshold_warns_without_one_in_the_form(
    alice: User, books_a: QBOConnection
) -> None:
    # 40 bottles on hand, 28 sold in 28 days: 40 days on hand. Low under 45 days (the
    # partner's own, set on its page), not under the 21 days partners start with.
    today = _today(alice)
    sell(mapped_item(books_a, "UF-CAL-NV-750", on_hand=40), 28, today)
    client = signed_in(alice)
    assert _csv(client.get(URL, {"format": "csv"}))[0]["Warning"] == ""
    books_a.partner.days_on_hand_threshold = 45
    books_a.partner.save()
    assert _csv(client.get(URL, {"format": "csv"}))[0]["Warning"] == "low"
    # A threshold in the form is the reader's choice, for every partner.
    assert _csv(client.get(URL, {"format": "csv", "threshold": "30"}))[0]["Warning"] == ""


def test_bad_filters_are_reported_and_replaced_by_defaults(
    alice: User, books_a: QBOConnection
) -> None:
    today = _today(alice)
    sell(mapped_item(books_a, "UF-CAL-NV-750", on_hand=10), 28, today)
    sell(mapped_item(books_a, "UF-JUL-NV-750", on_hand=10), 28, today)
    query = {"window": "30", "threshold": "abc", "sku": "UF-JUL-NV-750"}
    client = signed_in(alice)

    page = client.get(URL, query).content.decode()
    export = _csv(client.get(URL, {**query, "format": "csv"}))

    assert "Some filters could not be read" in page
    assert "Select a valid choice. 30 is not one of the available choices." in page
    assert "Enter a whole number." in page
    assert 'name="threshold" value="abc"' in page  # what was typed is kept to correct
    assert "28 days, ending today" in page
    assert "Warning under each partner's own days-on-hand threshold" in page
    # The SKU filter that did parse still applies.
    assert [(r["SKU"], r["Warning"]) for r in export] == [("UF-JUL-NV-750", "low")]


def test_unmapped_lines_are_announced(alice: User, books_a: QBOConnection) -> None:
    today = _today(alice)
    sell(mapped_item(books_a, "UF-CAL-NV-750"), 1, today)
    sell("999", 5, today, connection=books_a)
    sell("998", 5, today, connection=books_a)

    page = signed_in(alice).get(URL).content.decode()

    assert (
        "2 sales or return lines in this window are for QuickBooks items with no SKU mapping"
        in page
    )


def test_the_chart_shows_the_weeks_of_one_chosen_row(alice: User, books_a: QBOConnection) -> None:
    today = _today(alice)
    sell(mapped_item(books_a, "UF-CAL-NV-750"), 12, today)
    sell(mapped_item(books_a, "UF-JUL-NV-750"), 5, today)
    client = signed_in(alice)

    page = client.get(URL).content.decode()
    link = re.search(r'<a href="([^"]+sku=UF-JUL-NV-750[^"]*)">UF-JUL-NV-750</a>', page)
    assert link is not None
    chosen = client.get(link.group(1).replace("&amp;", "&")).content.decode()

    assert "Net depletion per week (bottles), all 2 rows shown" in page
    chosen_title = "Net depletion per week (bottles): UF-JUL-NV-750, Bubbles &amp; Brine"
    assert f"{chosen_title} Distributing" in chosen
    assert f"{_week_label(today)}: 5" in chosen  # in the chart's text alternative
    assert "UF-CAL-NV-750</a>" not in chosen
    assert 'role="img"' in chosen and "sparkline" in chosen


def test_htmx_filter_gets_the_results_fragment(alice: User, books_a: QBOConnection) -> None:
    sell(mapped_item(books_a, "UF-CAL-NV-750"), 12, _today(alice))

    response = signed_in(alice).get(URL, headers={"HX-Request": "true"})
    body = response.content.decode()

    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="depletion-table" class="results">')
    assert "<html" not in body and "<form" not in body
    assert "UF-CAL-NV-750" in body and 'class="chart bar-chart"' in body


def test_htmx_sort_gets_the_table_region_and_the_sort_out_of_band(
    alice: User, books_a: QBOConnection
) -> None:
    sell(mapped_item(books_a, "UF-CAL-NV-750"), 12, _today(alice))
    headers = {"HX-Request": "true", "HX-Target": "depletion-table-region"}

    body = signed_in(alice).get(URL, {"sort": "-sold"}, headers=headers).content.decode()

    assert 'id="depletion-table-region"' in body and "UF-CAL-NV-750" in body
    assert 'id="depletion-table"' not in body and "bar-chart" not in body
    assert re.search(r'id="depletion-sort"[^>]*value="-sold"[^>]*hx-swap-oob="true"', body)


def test_full_page_and_navigation(alice: User, books_a: QBOConnection) -> None:
    response = signed_in(alice).get(URL, headers={"HX-Request": "true", "HX-Boosted": "true"})
    body = response.content.decode()

    assert "<html" in body and '<form method="get" id="depletion-table-filters"' in body
    assert f'<a href="{URL}" aria-current="page">Depletion</a>' in body


def test_empty_states(alice: User, sam: User, books_a: QBOConnection) -> None:
    mine = signed_in(alice).get(URL).content.decode()
    filtered = signed_in(sam).get(URL, {"partner": books_a.partner_id}).content.decode()

    assert "no QuickBooks item is mapped to an Une Femme SKU for your company" in mine
    assert "No SKU mapping matches these filters." in filtered
    assert "Clear the filters" in filtered


@pytest.mark.parametrize("user_name", ["alice", "sam"])
def test_query_count_does_not_grow_with_the_rows(
    user_name: str, cast: dict[str, User], books_a: QBOConnection, books_b: QBOConnection
) -> None:
    user = cast[user_name]
    today = _today(user)
    connections: list[QBOConnection] = [
        books_a,
        books_b,
        ConnectionFactory(partner=PartnerFactory()),
    ]
    client = signed_in(user)
    counts = []
    made = 0
    for skus in (2, 20):  # N rows per partner, then 10N
        for n in range(made, skus):
            for connection in connections:
                # Two items per SKU (bottles and cases), so rows and items both grow.
                bottles = mapped_item(connection, f"UF-T{n}-NV-750", on_hand=n)
                cases = mapped_item(connection, f"UF-T{n}-NV-750", per_unit=6, on_hand=1)
                sell(bottles, 2, today)
                sell(cases, 1, today - timedelta(days=8))
        made = skus
        with CaptureQueriesContext(db_connection) as ctx:
            page = client.get(URL, headers={"HX-Request": "true"})
        with CaptureQueriesContext(db_connection) as export_ctx:
            rows = _csv(client.get(URL, {"format": "csv"}))
        assert page.status_code == 200
        counts.append((len(ctx.captured_queries), len(export_ctx.captured_queries)))
    assert counts[0] == counts[1], counts
    # The rows were there to be counted: 20 SKUs per partner, each sold 2 + 6 bottles.
    partners = 1 if user_name == "alice" else 3
    assert len(rows) == 20 * partners
    assert {r["Net depletion (bottles)"] for r in rows} == {"8"}


def _week_label(day: date) -> str:
    year, week, weekday = day.isocalendar()
    # The window ends today, so today's week is partial unless today is a Sunday.
    return f"{year}-W{week:02d}" + ("" if weekday == 7 else " (partial)")
