"""common.tables: sorting, paging and the URLs that carry a page's filters."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db.models import Count, F
from django.db.models.functions import Length
from django.template.loader import render_to_string
from django.test import RequestFactory

from accounts.models import Partner
from common.tables import BoundTable, Column, Table, csv_response, resolve
from inventory.mapping.models import QBOItem
from sync.models import SyncRun
from tests.factories import PartnerFactory

PARTNERS = Table(
    [
        Column("name", "Partner", sort="name"),
        Column("email", "Contact", sort="contact_email", attr="contact_email"),
        Column("name_length", "Name length", sort=Length("name"), kind="number"),
        Column("created", "Created", kind="datetime", attr="created_at"),  # not sortable
    ],
    default_sort="name",
    per_page=2,
)


def bind(table: Table, rows: Any, path: str = "/partners/", **params: Any) -> BoundTable:
    return table.bind(RequestFactory().get(path, params), rows)


def names(table: BoundTable) -> list[str]:
    return [row.name if hasattr(row, "name") else row["name"] for row in table.rows]


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


@pytest.fixture
def five(db: None) -> list[Partner]:
    # Created out of alphabetical order, so pk order and name order differ.
    return [PartnerFactory(name=name) for name in ["Delta", "Alpha", "Echo", "Bravo", "Charlie"]]


# --- sorting --------------------------------------------------------------------------


def test_it_sorts_by_the_default_column(five: list[Partner]) -> None:
    table = bind(PARTNERS, Partner.objects.all())
    assert table.sort_key == "name" and not table.descending
    assert names(table) == ["Alpha", "Bravo"]


def test_it_sorts_descending_with_a_minus(five: list[Partner]) -> None:
    table = bind(PARTNERS, Partner.objects.all(), sort="-name")
    assert table.descending
    assert names(table) == ["Echo", "Delta"]


def test_it_sorts_by_an_orm_expression(db: None) -> None:
    for name in ["Ccc", "A", "Bb", "Dddd"]:
        PartnerFactory(name=name)
    table = Table(PARTNERS.columns, default_sort="name", per_page=10)
    assert names(bind(table, Partner.objects.all(), sort="name_length")) == [
        "A",
        "Bb",
        "Ccc",
        "Dddd",
    ]
    assert names(bind(table, Partner.objects.all(), sort="-name_length"))[0] == "Dddd"


@pytest.mark.parametrize("raw", ["bogus", "-bogus", "-", "", "created", "name;drop table"])
def test_an_unknown_or_unsortable_key_falls_back_to_the_default(
    five: list[Partner], raw: str
) -> None:
    table = bind(PARTNERS, Partner.objects.all(), sort=raw)
    assert (table.sort_key, table.descending) == ("name", False)
    assert names(table) == ["Alpha", "Bravo"]


def test_equal_values_are_ordered_by_pk_so_pages_neither_repeat_nor_skip(db: None) -> None:
    partners = [PartnerFactory(contact_email="same@x.test") for _ in range(7)]
    pks = [p.pk for p in partners]
    for sort, expected in (("email", pks), ("-email", pks[::-1])):
        seen: list[int] = []
        for page in range(1, 5):
            table = bind(PARTNERS, Partner.objects.all(), sort=sort, page=page)
            seen += [row.pk for row in table.rows]
        assert seen == expected


def test_empty_values_sort_last_both_ways(make_item: Any, connection_a: Any) -> None:
    for sku, qty in [("B", "5"), ("N", None), ("A", "1")]:
        make_item(connection_a, sku, qty_on_hand=None if qty is None else Decimal(qty))
    table = Table([Column("sku", "SKU", sort="sku"), Column("qty", "On hand", sort="qty_on_hand")],
                  default_sort="qty", per_page=10)  # fmt: skip
    rows = QBOItem.objects.all()
    assert [i.sku for i in bind(table, rows).rows] == ["A", "B", "N"]
    assert [i.sku for i in bind(table, rows, sort="-qty").rows] == ["B", "A", "N"]


def test_an_aggregated_queryset_ties_on_its_grouping_fields(db: None) -> None:
    for email in ["b@x.test", "b@x.test", "a@x.test", "c@x.test", "c@x.test"]:
        PartnerFactory(contact_email=email)
    table = Table(
        [Column("email", "Contact", sort="contact_email", attr="contact_email"),
         Column("partners", "Partners", sort="partners", kind="number")],
        default_sort="-partners", tie_break=("contact_email",),
    )  # fmt: skip
    grouped = Partner.objects.values("contact_email").annotate(partners=Count("pk"))
    rows = bind(table, grouped).rows
    # Grouping survives (ordering by pk would have split every group into rows of one).
    assert [(r["contact_email"], r["partners"]) for r in rows] == [
        ("c@x.test", 2),
        ("b@x.test", 2),
        ("a@x.test", 1),
    ]


def test_a_column_given_an_order_by_is_not_changed_by_binding(db: None) -> None:
    PartnerFactory(name="Alpha")
    PartnerFactory(name="Bravo")
    column = Column("name", "Partner", sort=F("name").asc(nulls_first=True))
    table = Table([column], default_sort="name", per_page=10)
    for _ in range(3):
        assert names(bind(table, Partner.objects.all(), sort="-name")) == ["Bravo", "Alpha"]
    # reverse_ordering() mutates in place: the declaration must still sort ascending.
    assert names(bind(table, Partner.objects.all())) == ["Alpha", "Bravo"]


def test_a_python_sort_on_a_queryset_is_a_clear_error(db: None) -> None:
    table = Table([Column("name", "Partner", sort=lambda p: p.name)], default_sort="name")
    with pytest.raises(TypeError, match="only works on a list"):
        bind(table, Partner.objects.all()).rows  # noqa: B018


# --- lists ----------------------------------------------------------------------------

STOCK = Table(
    [
        Column("sku", "SKU", sort="sku"),
        Column("qty", "On hand", sort="qty", kind="qty"),
        Column("partner", "Partner", sort="partner__name", attr="partner__name"),
        Column("score", "Score", sort=lambda row: -row["qty"] if row["qty"] else 0),
    ],
    default_sort="sku",
    per_page=3,
)


def stock_rows() -> list[dict[str, Any]]:
    return [
        {"sku": "UF-JUL-NV-750", "qty": Decimal("12"), "partner": {"name": "Côte Ouest"}},
        {"sku": "UF-CAL-NV-750", "qty": None, "partner": {"name": "Bubbles & Brine"}},
        {"sku": "UF-BDB-2021-750", "qty": Decimal("12"), "partner": None},
        {"sku": "UF-CAL-NV-375", "qty": Decimal("-3"), "partner": {"name": "Harbor Point"}},
    ]


def skus(table: BoundTable) -> list[str]:
    return [row["sku"] for row in table.all_rows()]


def test_a_list_of_dicts_sorts_in_python() -> None:
    assert skus(bind(STOCK, stock_rows())) == sorted(r["sku"] for r in stock_rows())
    assert skus(bind(STOCK, stock_rows(), sort="-sku")) == sorted(
        (r["sku"] for r in stock_rows()), reverse=True
    )


def test_a_list_keeps_empty_values_last_and_ties_in_the_given_order() -> None:
    assert skus(bind(STOCK, stock_rows(), sort="qty")) == [
        "UF-CAL-NV-375",
        "UF-JUL-NV-750",  # ties (12 and 12) keep the selector's order...
        "UF-BDB-2021-750",
        "UF-CAL-NV-750",  # ...and None is last
    ]
    assert skus(bind(STOCK, stock_rows(), sort="-qty")) == [
        "UF-JUL-NV-750",
        "UF-BDB-2021-750",
        "UF-CAL-NV-375",
        "UF-CAL-NV-750",  # still last when descending
    ]


def test_a_list_sorts_by_a_path_and_by_a_callable() -> None:
    assert skus(bind(STOCK, stock_rows(), sort="partner")) == [
        "UF-CAL-NV-750",
        "UF-JUL-NV-750",
        "UF-CAL-NV-375",
        "UF-BDB-2021-750",  # no partner: None, last
    ]
    assert skus(bind(STOCK, stock_rows(), sort="score"))[:2] == ["UF-JUL-NV-750", "UF-BDB-2021-750"]


def test_a_list_of_objects_and_mixed_types_do_not_fail_the_page() -> None:
    rows = [SimpleNamespace(sku="b", qty=Decimal(1)), SimpleNamespace(sku="a", qty="n/a")]
    table = bind(STOCK, rows, sort="qty")
    assert len(list(table.all_rows())) == 2


def test_resolve_follows_paths_calls_methods_and_stops_at_none() -> None:
    row = SimpleNamespace(customer=SimpleNamespace(name="Château d'Yquem", label=lambda: "x"))
    assert resolve(row, "customer__name") == "Château d'Yquem"
    assert resolve(row, "customer__label") == "x"
    assert resolve(SimpleNamespace(customer=None), "customer__name") is None
    assert resolve({"a": {"b": 1}}, "a__b") == 1
    assert resolve({"a": 1}, "missing") is None
    with pytest.raises(AttributeError):
        resolve(row, "nonexistent")


# --- paging ---------------------------------------------------------------------------


def test_the_page_parameter_picks_the_page(five: list[Partner]) -> None:
    table = bind(PARTNERS, Partner.objects.all(), page="2")
    assert names(table) == ["Charlie", "Delta"]
    assert (table.page_number, table.num_pages, table.count) == (2, 3, 5)
    assert (table.start_index, table.end_index) == (3, 4)
    assert table.has_previous and table.has_next


@pytest.mark.parametrize("raw", ["4", "999", "99999999999999999999999"])
def test_a_page_past_the_end_shows_the_last_page(five: list[Partner], raw: str) -> None:
    table = bind(PARTNERS, Partner.objects.all(), page=raw)
    assert table.page_number == 3
    assert names(table) == ["Echo"]
    assert (table.start_index, table.end_index) == (5, 5)
    assert not table.has_next


@pytest.mark.parametrize("raw", ["abc", "", "1.5", "0", "-3"])
def test_garbage_or_a_page_below_one_shows_the_first_page(five: list[Partner], raw: str) -> None:
    table = bind(PARTNERS, Partner.objects.all(), page=raw)
    assert table.page_number == 1
    assert names(table) == ["Alpha", "Bravo"]


def test_no_rows_is_one_empty_page(db: None) -> None:
    table = bind(PARTNERS, Partner.objects.none(), page="3")
    assert table.rows == [] and table.body == []
    assert (table.count, table.num_pages, table.page_number) == (0, 1, 1)
    assert (table.start_index, table.end_index) == (0, 0)
    assert not table.has_next and not table.has_previous


def test_page_links_elide_the_middle() -> None:
    rows = [{"sku": f"SKU-{n:03d}", "qty": n} for n in range(60)]
    table = bind(STOCK, rows, page="10")  # 20 pages of 3
    links = [(link.number, link.current) for link in table.page_links]
    assert links == [
        (1, False),
        (None, False),
        (8, False),
        (9, False),
        (10, True),
        (11, False),
        (12, False),
        (None, False),
        (20, False),
    ]
    assert all(link.url for link in table.page_links if link.number is not None)


# --- URLs -----------------------------------------------------------------------------

FILTERS: dict[str, Any] = {
    "status": "open",
    "partner": ["3", "7"],
    "q": "Crémant: Brut & Château d'Yquem",
}


def test_sort_urls_keep_the_filters_and_go_back_to_page_one(db: None) -> None:
    table = bind(PARTNERS, Partner.objects.none(), path="/billing/invoices/", page="3", **FILTERS)
    url = table.sort_url("email")
    assert urlsplit(url).path == "/billing/invoices/"
    assert query(url) == {
        "status": ["open"],
        "partner": ["3", "7"],
        "q": ["Crémant: Brut & Château d'Yquem"],
        "sort": ["email"],
    }


def test_a_sort_url_flips_the_current_column_and_starts_others_ascending(db: None) -> None:
    ascending = bind(PARTNERS, Partner.objects.none(), sort="name")
    assert query(ascending.sort_url("name"))["sort"] == ["-name"]
    assert query(ascending.sort_url("email"))["sort"] == ["email"]
    descending = bind(PARTNERS, Partner.objects.none(), sort="-name")
    assert query(descending.sort_url("name"))["sort"] == ["name"]


def test_page_urls_keep_the_filters_and_the_sort(db: None) -> None:
    table = bind(PARTNERS, Partner.objects.none(), sort="-email", format="csv", **FILTERS)
    assert query(table.page_url(4)) == {
        "status": ["open"],
        "partner": ["3", "7"],
        "q": ["Crémant: Brut & Château d'Yquem"],
        "sort": ["-email"],
        "page": ["4"],
    }


def test_the_export_url_keeps_filters_and_sort_and_drops_the_page(db: None) -> None:
    table = bind(PARTNERS, Partner.objects.none(), sort="-email", page="2", **FILTERS)
    assert not table.is_csv
    url = table.export_url
    assert query(url) == {
        "status": ["open"],
        "partner": ["3", "7"],
        "q": ["Crémant: Brut & Château d'Yquem"],
        "sort": ["-email"],
        "format": ["csv"],
    }
    exporting = PARTNERS.bind(RequestFactory().get(url), Partner.objects.none())
    assert exporting.is_csv
    assert exporting.sort_value == "-email"


def test_a_prefix_keeps_two_tables_on_one_page_apart(db: None) -> None:
    second = Table(PARTNERS.columns, default_sort="name", prefix="inv-")
    table = bind(second, Partner.objects.none(), sort="-name", **{"inv-sort": "-email"})
    assert table.sort_value == "-email"
    assert query(table.sort_url("name")) == {"sort": ["-name"], "inv-sort": ["name"]}


# --- hiding a column -------------------------------------------------------------------


def test_a_hidden_column_leaves_the_page_but_not_the_export(five: list[Partner]) -> None:
    rows = Partner.objects.annotate(name_length=Length("name"))
    table = PARTNERS.bind(RequestFactory().get("/partners/"), rows, hide=["email"])
    assert [c.key for c in table.columns] == ["name", "name_length", "created"]
    assert [h["label"] for h in table.headers] == ["Partner", "Name length", "Created"]
    assert all(len(row.cells) == 3 for row in table.body)
    html = render_to_string("common/_table.html", {"table": table, "caption": "Partners"})
    assert "Contact" not in html and html.count('<th scope="col"') == 3

    exporting = PARTNERS.bind(
        RequestFactory().get("/partners/", {"format": "csv"}), rows, hide=["email"]
    )
    lines = csv_response(exporting, "p.csv").getvalue().decode("utf-8-sig")
    assert lines.splitlines()[0] == "Partner,Contact,Name length,Created"


def test_a_column_not_for_export_shows_on_the_page_only(five: list[Partner]) -> None:
    pictured = Table(
        [*PARTNERS.columns, Column("trend", "Trend", attr="name", export=False)],
        default_sort="name",
    )
    rows = Partner.objects.annotate(name_length=Length("name"))
    table = bind(pictured, rows)
    assert [c.key for c in table.columns][-1] == "trend"
    exporting = bind(pictured, rows, format="csv")
    lines = csv_response(exporting, "p.csv").getvalue().decode("utf-8-sig").splitlines()
    assert lines[0] == "Partner,Contact,Name length,Created"
    assert lines[1].startswith("Alpha,")


def test_sorting_by_a_hidden_column_falls_back_to_the_default(five: list[Partner]) -> None:
    request = RequestFactory().get("/partners/", {"sort": "-email"})
    table = PARTNERS.bind(request, Partner.objects.all(), hide=["email"])
    assert table.sort_value == "name"
    assert names(table) == ["Alpha", "Bravo"]


def test_hiding_an_unknown_column_is_a_programming_error(db: None) -> None:
    with pytest.raises(ValueError, match="unknown column"):
        PARTNERS.bind(RequestFactory().get("/"), Partner.objects.none(), hide=["emial"])


# --- declaring ------------------------------------------------------------------------


def test_mistakes_in_a_declaration_fail_at_import_with_a_message() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        Column("x", "X", kind="currency")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a sortable column"):
        Table([Column("x", "X", sort="x")], default_sort="y")
    with pytest.raises(ValueError, match="not a sortable column"):
        Table([Column("x", "X")], default_sort="x")
    with pytest.raises(ValueError, match="share the key"):
        Table([Column("x", "X", sort="x"), Column("x", "Y")], default_sort="x")
    with pytest.raises(ValueError, match="per_page"):
        Table([Column("x", "X", sort="x")], default_sort="x", per_page=0)


# --- cost -----------------------------------------------------------------------------


@pytest.mark.parametrize("count", [3, 120])
def test_a_bound_queryset_page_costs_two_queries_whatever_its_size(
    db: None, count: int, django_assert_max_num_queries: Any
) -> None:
    PartnerFactory.create_batch(count)
    table = Table(PARTNERS.columns, default_sort="-email", per_page=50)
    with django_assert_max_num_queries(2):
        bound = bind(table, Partner.objects.annotate(name_length=Length("name")), page="2")
        html = render_to_string("common/_table.html", {"table": bound, "caption": "Partners"})
    assert html.count("<tr>") == 1 + len(bound.rows)


def test_a_choice_label_is_shown_and_exported_as_its_label() -> None:
    """Django makes ``get_status_display`` a functools.partial, not a method: the cell and
    the export once showed "functools.partial(<bound method …>)" instead of "Failed"."""
    runs = Table(
        [Column("status", "Status", attr="get_status_display", sort="status")],
        default_sort="status",
    )
    rows = [SyncRun(status=SyncRun.Status.FAILED), SyncRun(status=SyncRun.Status.SUCCEEDED)]
    assert resolve(rows[0], "get_status_display") == "Failed"
    table = bind(runs, rows)
    html = render_to_string("common/_table.html", {"table": table, "caption": "Runs"})
    assert "<td>Failed</td>" in html and "<td>Succeeded</td>" in html
    response = csv_response(table, "runs.csv")
    export = b"".join(response.streaming_content).decode()  # type: ignore[arg-type]
    assert export.splitlines()[1:] == ["Failed", "Succeeded"]


class _Manager:
    """A related manager's stand-in: callable, and marked not to be called by templates."""

    do_not_call_in_templates = True

    def __call__(self) -> None:
        raise AssertionError("called")


def test_resolve_never_runs_a_method_that_changes_data() -> None:
    row = SimpleNamespace(items=_Manager())
    assert resolve(row, "items") is row.items
    with pytest.raises(TypeError, match="changes data"):
        resolve(SyncRun(), "delete")
