"""common/_table.html through a real request: markup, htmx attributes, the user's zone,
another partner's rows, and the export."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone

from accounts.models import User
from common.tables import Column, Table
from inventory.mapping.models import QBOItem
from sync.models import QBOConnection
from tests.conftest import signed_in

pytestmark = pytest.mark.urls("tests.common.urls")

MOMENT = datetime(2025, 1, 31, 2, 30, tzinfo=UTC)


@pytest.fixture
def stock(
    connection_a: QBOConnection, connection_b: QBOConnection, make_item: Callable[..., QBOItem]
) -> None:
    make_item(connection_a, "UF-CAL-NV-750", qty_on_hand=Decimal("1440.0000"),
              unit_price=Decimal("-12.50"), qbo_updated_at=MOMENT)  # fmt: skip
    make_item(connection_a, "UF-JUL-NV-750", qty_on_hand=Decimal("36.5"))
    make_item(connection_a, "UF-BDB-2021-750", qty_on_hand=None)
    make_item(connection_b, "UF-DEM-NV-750", qty_on_hand=Decimal("6"))


def tds(html: str) -> list[str]:
    return re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)


def test_the_table_has_a_caption_headers_and_sort_links(sam: User, stock: None) -> None:
    html = signed_in(sam).get("/stock/", {"q": "uf-", "sort": "-qty"}).content.decode()
    assert "<caption>Stock on hand</caption>" in html
    assert html.count('<th scope="col"') == 5
    # Only the sorted column says how it is sorted.
    assert html.count("aria-sort=") == 1
    flip = "/stock/?q=uf-&amp;sort=qty"
    assert re.search(
        rf'<th scope="col" class="num" aria-sort="descending">\s*<a href="{re.escape(flip)}" '
        rf'hx-get="{re.escape(flip)}">',
        html,
    )
    assert 'href="/stock/?q=uf-&amp;sort=sku" hx-get="/stock/?q=uf-&amp;sort=sku"' in html
    assert 'id="stock-table"' in html
    assert 'hx-target="this" hx-swap="outerHTML" hx-push-url="true"' in html
    assert 'class="htmx-indicator' in html


def test_numbers_are_formatted_and_right_aligned(sam: User, stock: None) -> None:
    html = signed_in(sam).get("/stock/", {"sort": "-qty"}).content.decode()
    cells = tds(html)
    assert cells[:3] == ["UF-CAL-NV-750", "Bubbles &amp; Brine Distributing", "1,440"]
    assert cells[3] == "\u2212$12.50"
    assert '<td class="num">1,440</td>' in html
    assert '<th scope="col" class="num">' in html  # the unsorted money column


def test_dates_are_shown_in_the_users_own_zone(alice: User, stock: None) -> None:
    alice.time_zone = "Asia/Tokyo"
    alice.save()
    html = signed_in(alice).get("/stock/").content.decode()
    assert "Jan 31, 2025 11:30 JST" in html
    assert 'datetime="2025-01-31T11:30:00+09:00"' in html


def test_pagination_and_export_links_keep_the_filter(sam: User, stock: None) -> None:
    html = signed_in(sam).get("/stock/", {"q": "uf-", "sort": "-sku"}).content.decode()
    assert "Showing 1–2 of 4" in html
    assert '<a href="/stock/?q=uf-&amp;sort=-sku&amp;page=2" hx-get="/stock/?q=uf-&amp;sort=' \
           '-sku&amp;page=2" rel="next">Next</a>' in html  # fmt: skip
    export = '<a class="table-export" href="/stock/?q=uf-&amp;sort=-sku&amp;format=csv" download>'
    assert export in html
    assert 'aria-current="page">1</a>' in html


def test_an_htmx_request_gets_the_same_region(sam: User, stock: None) -> None:
    response = signed_in(sam).get("/stock/", {"page": "2"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div class="table-region" id="stock-table"')
    assert "Showing 3–4 of 4" in html


def test_a_partner_user_sees_and_exports_only_their_partners_rows(alice: User, stock: None) -> None:
    client = signed_in(alice)
    html = client.get("/stock/").content.decode()
    assert "of 3" in html and "UF-DEM-NV-750" not in html
    response = client.get("/stock/", {"format": "csv", "sort": "sku"})
    rows = list(csv.reader(io.StringIO(response.getvalue().decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ["UF-BDB-2021-750", "UF-CAL-NV-750", "UF-JUL-NV-750"]
    assert rows[2][1:] == ["Bubbles & Brine Distributing", "1440", "-12.50",
                           "2025-01-30T18:30:00-08:00"]  # fmt: skip


def test_the_empty_state_shows_the_text_passed_in(sam: User, stock: None) -> None:
    html = signed_in(sam).get("/stock/", {"q": "no such sku"}).content.decode()
    assert '<td class="empty" colspan="5">No items match.</td>' in html
    assert "No rows" in html
    assert 'class="pagination"' not in html


def test_a_row_template_replaces_the_generic_cells(tmp_path: Any, settings: Any) -> None:
    (tmp_path / "row.html").write_text("<tr><td>custom {{ row.sku }}</td></tr>")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path]}]
    table = Table([Column("sku", "SKU", sort="sku")], default_sort="sku")
    bound = table.bind(RequestFactory().get("/x/"), [{"sku": "UF-CRB-NV-750"}])
    html = render_to_string("common/_table.html", {"table": bound, "row_template": "row.html"})
    assert "<td>custom UF-CRB-NV-750</td>" in html


def test_a_nowrap_column_and_dates_keep_their_cells_on_one_line() -> None:
    table = Table(
        [
            Column("sku", "SKU", sort="sku", nowrap=True),
            Column("wine", "Wine", sort="wine"),
            Column("day", "Day", sort="day", kind="date"),
        ],
        default_sort="sku",
    )
    rows = [{"sku": "UF-BDB-2021-1500", "wine": "Blanc de Blancs", "day": date(2026, 12, 3)}]
    html = render_to_string(
        "common/_table.html", {"table": table.bind(RequestFactory().get("/x/"), rows)}
    )
    assert '<td class="nowrap">UF-BDB-2021-1500</td>' in html
    assert "<td>Blanc de Blancs</td>" in html
    # A date is a <time>, which the stylesheet keeps on one line (td time).
    assert '<td><time datetime="2026-12-03">Dec 3, 2026</time></td>' in html


def test_each_kind_of_cell_is_written_escaped_and_in_the_users_zone() -> None:
    """The generic cells are written in Python (common.tables.cell_html) for speed: what the
    template's per-cell conditions wrote, kind by kind, with every value escaped."""
    table = Table(
        [
            Column("name", 'Name <"A&B">', sort="name", link=lambda r: r["url"],
                   note=lambda r: r["where"]),
            Column("owed", "Owed", sort="owed", kind="money", currency=lambda r: r["cur"]),
            Column("qty", "Qty", sort="qty", kind="qty"),
            Column("n", "Lines", sort="n", kind="number"),
            Column("share", "Share", sort="share", kind="percent"),
            Column("at", "At", sort="at", kind="datetime"),
            Column("day", "Day", sort="day", kind="text"),
            Column("gone", "Gone", sort="gone"),
        ],
        default_sort="name",
    )  # fmt: skip
    row = {
        "name": "<script>x</script>", "url": "/p/?a=1&b=2", "where": "Côte & Co",
        "owed": Decimal("-1234.5"), "cur": "CAD", "qty": Decimal("1440.0000"), "n": 7,
        "share": Decimal("0.125"), "at": MOMENT, "day": date(2026, 12, 3), "gone": None,
    }  # fmt: skip
    with timezone.override("Asia/Tokyo"):
        html = render_to_string(
            "common/_table.html",
            {"table": table.bind(RequestFactory().get("/x/"), [row]), "cards": True},
        )
    assert tds(html) == [
        '<a href="/p/?a=1&amp;b=2">&lt;script&gt;x&lt;/script&gt;</a>'
        '<br><span class="cell-note">Côte &amp; Co</span>',
        "\u22121,234.50\u00a0CAD",
        "1,440",
        "7",
        "12.5%",
        '<time datetime="2025-01-31T11:30:00+09:00">Jan 31, 2025 11:30 JST</time>',
        "Dec. 3, 2026",  # a date in a text column: as {{ value }} localizes it
        '<span class="muted">\u2014</span>',
    ]
    assert '<td data-label="Name &lt;&quot;A&amp;B&quot;&gt;">' in html
    assert '<td data-label="Owed" class="num">' in html
