"""The export writes a chunk of rows a column at a time, by fast paths for the plain values
(common/tables.py ``_csv_column``, ``_csv_lines``); whatever the values, its bytes are those
of ``csv.writer`` writing ``csv_cell`` of each cell, row after row, as it once did."""

from __future__ import annotations

import csv
import io
import zoneinfo
from collections import namedtuple
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.test import RequestFactory
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from common import tables
from common.tables import Column, Table, csv_cell, csv_response, resolve

LA = zoneinfo.ZoneInfo("America/Los_Angeles")

TABLE = Table(
    [
        Column("n", "N", sort="n", kind="number"),
        Column("text", "Text, with a comma"),
        Column("money", "Money", kind="money"),
        Column("qty", "Qty", kind="qty"),
        Column("day", "Day", kind="date"),
        Column("moment", "Moment", kind="datetime"),
        Column("count", "Count", kind="number"),
        Column("percent", "Percent", kind="percent"),
        Column("flag", "Flag", csv=lambda row: "yes" if resolve(row, "flag") else ""),
        Column("nested", "Nested", attr="nested__name"),
    ],
    default_sort="n",
)

texts = st.text(alphabet=st.sampled_from("ab =+-@\t\r\n,\"'é1."), max_size=6)
decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None, min_value=-(10**6),
                       max_value=10**6) | st.sampled_from(
    [Decimal("12.50"), Decimal("-0.01"), Decimal("7"), Decimal("1E+3"), Decimal("1.2345")]
)  # fmt: skip
days = st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 1, 1))
# Naive bounds, as Hypothesis wants them; every moment drawn is in UTC.
moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1),  # noqa: DTZ001
                       timezones=st.just(UTC))  # fmt: skip
# Any column may hold any of these; most hold their own kind, as exports do.
anything = st.none() | texts | decimals | st.integers(-999, 999) | st.booleans() | days | moments


def _column(own: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(own, own, own, anything)


rows = st.lists(
    st.fixed_dictionaries(
        {
            "money": _column(decimals),
            "qty": _column(decimals),
            "day": _column(st.none() | days),
            "moment": _column(moments),
            "count": _column(st.integers(-999, 999)),
            "percent": _column(decimals),
            "flag": st.booleans(),
            "nested": st.none() | st.fixed_dictionaries({"name": _column(texts)}),
        },
        # Selectors that build dicts may leave a key out: its cell is empty.
        optional={"text": _column(st.none() | texts)},
    ),
    max_size=12,
)


def _reference(bound: Any) -> bytes:
    """What csv_response wrote before it worked a chunk at a time."""
    out = io.StringIO()
    writer = csv.writer(out)
    columns = list(bound.export_columns)
    writer.writerow([c.label for c in columns])
    for row in bound.all_rows():
        writer.writerow([csv_cell(c.export_value(row), c, LA) for c in columns])
    return ("\ufeff" + out.getvalue()).encode()


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Chunks of three, so one export mixes chunks that need quoting and chunks that don't.
    monkeypatch.setattr(tables, "CSV_ROWS_PER_CHUNK", 3)
    with timezone.override(LA):
        yield


# A row of values_list(..., named=True), as selectors give exports.
NamedRow = namedtuple(
    "NamedRow", ["n", "text", "money", "qty", "day", "moment", "count", "percent", "flag",
                 "nested__name"],
)  # fmt: skip


def _named(row: dict[str, Any]) -> Any:
    nested = row.pop("nested")
    return NamedRow(**{"text": None, **row, "nested__name": nested and nested["name"]})


@given(rows=rows, named=st.booleans())
def test_every_chunk_is_what_the_csv_writer_makes_of_each_cell(
    rows: list[dict[str, Any]], named: bool
) -> None:
    numbered: list[Any] = [{"n": n, **row} for n, row in enumerate(rows)]
    if named:
        numbered = [_named(row) for row in numbered]
    request = RequestFactory().get("/x/", {"format": "csv"})
    expected = _reference(TABLE.bind(request, numbered))

    response = csv_response(TABLE.bind(request, numbered), "x.csv")

    assert b"".join(response.streaming_content) == expected  # type: ignore[arg-type]


def test_a_one_column_export_keeps_the_writers_quotes_for_an_empty_cell() -> None:
    table = Table([Column("name", "Name", sort="name")], default_sort="name")
    request = RequestFactory().get("/x/", {"format": "csv"})
    body = csv_response(table.bind(request, [{"name": ""}, {"name": "a"}]), "x.csv")
    assert b"".join(body.streaming_content) == '\ufeffName\r\n""\r\na\r\n'.encode()  # type: ignore[arg-type]
