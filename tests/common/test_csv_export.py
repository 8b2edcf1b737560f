"""CSV export: every filtered row, raw values, formulas neutralised, Excel-friendly UTF-8."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.http import StreamingHttpResponse
from django.test import RequestFactory
from django.utils import timezone

from accounts.models import Partner, User
from common.tables import Column, Table, csv_cell, csv_response
from inventory.mapping.models import QBOItem
from sync.models import QBOConnection
from tests.factories import PartnerFactory


def read(response: StreamingHttpResponse) -> tuple[bytes, list[list[str]]]:
    raw = b"".join(response.streaming_content)  # type: ignore[arg-type]
    return raw, list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def export(table: Table, rows: Any, filename: str = "export.csv", **params: Any) -> Any:
    bound = table.bind(RequestFactory().get("/x/", {"format": "csv", **params}), rows)
    assert bound.is_csv
    return csv_response(bound, filename)


PARTNERS = Table(
    [
        Column("name", "Partner", sort="name"),
        Column("email", "Contact e-mail", sort="contact_email", attr="contact_email"),
    ],
    default_sort="name",
    per_page=10,
)


def test_it_exports_every_row_the_filters_select_not_one_page(db: None) -> None:
    for n in range(35):
        PartnerFactory(name=f"Keep {n:02d}")
    for n in range(5):
        PartnerFactory(name=f"Drop {n:02d}")
    kept = Partner.objects.filter(name__startswith="Keep")
    _, rows = read(export(PARTNERS, kept, page="2", sort="-name"))
    assert rows[0] == ["Partner", "Contact e-mail"]
    assert [r[0] for r in rows[1:]] == [f"Keep {n:02d}" for n in reversed(range(35))]


def test_a_partner_users_export_holds_only_their_partners_rows(
    alice: User,
    connection_a: QBOConnection,
    connection_b: QBOConnection,
    make_item: Callable[..., QBOItem],
) -> None:
    make_item(connection_a, "UF-CAL-NV-750")
    make_item(connection_a, "UF-JUL-NV-750")
    make_item(connection_b, "UF-BDB-2021-750")
    table = Table([Column("sku", "SKU", sort="sku")], default_sort="sku")
    _, rows = read(export(table, QBOItem.objects.visible_to(alice)))
    assert rows[1:] == [["UF-CAL-NV-750"], ["UF-JUL-NV-750"]]


FORMULAS = Table(
    [
        Column("memo", "Memo", sort="memo"),
        Column("amount", "Amount", sort="amount", kind="money"),
        Column("cases", "Cases", sort="cases", kind="qty"),
        Column("count", "Count", sort="count", kind="number"),
    ],
    default_sort="memo",
)


@pytest.mark.parametrize(
    ("memo", "expected"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "'+1"),
        ("-2", "'-2"),  # a number-looking text in a text column is still neutralised
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ('=HYPERLINK("http://evil.test","Click")', '\'=HYPERLINK("http://evil.test","Click")'),
        ("Crémant: Brut", "Crémant: Brut"),
        ("Château d'Yquem 2015", "Château d'Yquem 2015"),
        ("a=b", "a=b"),
    ],
)
def test_formulas_in_text_cells_get_a_leading_apostrophe(memo: str, expected: str) -> None:
    row = {"memo": memo, "amount": Decimal("1.00"), "cases": Decimal("1"), "count": 1}
    _, rows = read(export(FORMULAS, [row]))
    assert rows[1][0] == expected


def test_genuine_negative_numbers_stay_numbers() -> None:
    row = {"memo": "credit", "amount": Decimal("-12.50"), "cases": Decimal("-3.5"), "count": -4}
    _, rows = read(export(FORMULAS, [row]))
    assert rows[1] == ["credit", "-12.50", "-3.5", "-4"]


def test_a_formula_in_a_numeric_column_is_still_neutralised() -> None:
    money = Column("amount", "Amount", kind="money")
    assert csv_cell("-2+3", money) == "'-2+3"
    assert csv_cell("-A1", money) == "'-A1"
    assert csv_cell("=1", money) == "'=1"
    assert csv_cell("-12.50", money) == "-12.50"
    assert csv_cell(Decimal("-1E+3"), money) == "-1000.00"


def test_values_are_raw_and_machine_readable() -> None:
    text, day, moment = Column("t", "T"), Column("d", "D", kind="date"), Column("m", "M")
    money, qty = Column("a", "A", kind="money"), Column("q", "Q", kind="qty")
    assert csv_cell(Decimal("1234567.8900"), money) == "1234567.89"
    assert csv_cell(Decimal("-12.5000"), money) == "-12.50"
    assert csv_cell(Decimal("7"), money) == "7.00"
    assert csv_cell(Decimal("0.12345"), money) == "0.12345"  # a unit price keeps its digits
    assert csv_cell(Decimal("1440.0000"), qty) == "1440"
    assert csv_cell(Decimal("1E+3"), qty) == "1000"
    assert csv_cell(Decimal("12.5000"), text) == "12.5000"
    assert csv_cell(Decimal("1E+3"), text) == "1000"  # never scientific notation
    assert csv_cell(date(2025, 1, 31), day) == "2025-01-31"
    assert csv_cell(None, text) == ""
    assert csv_cell(True, text) == "true"
    la = timezone.get_fixed_timezone(-480)
    noon_utc = datetime(2025, 1, 31, 2, 30, tzinfo=UTC)
    # In the user's zone: 18:30 the day before in Los Angeles.
    assert csv_cell(noon_utc, moment, la) == "2025-01-30T18:30:00-08:00"
    assert csv_cell(noon_utc, day, la) == "2025-01-30"


def test_the_csv_callable_decides_the_exported_value() -> None:
    table = Table(
        [Column("sku", "SKU", sort="sku", csv=lambda row: row["sku"].lower())], default_sort="sku"
    )
    _, rows = read(export(table, [{"sku": "UF-CAL-NV-750"}]))
    assert rows[1] == ["uf-cal-nv-750"]


def test_it_is_utf8_with_a_bom_and_names_the_file(partner_b: Partner) -> None:
    response = export(PARTNERS, Partner.objects.all(), filename="partners-2025-01")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="partners-2025-01.csv"'
    raw, rows = read(response)
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.count(b"\xef\xbb\xbf") == 1
    assert rows[1][0] == "Côte Ouest Wine Co."
    assert "Côte Ouest Wine Co.".encode() in raw


def test_a_non_ascii_filename_is_encoded_for_the_header(db: None) -> None:
    response = export(PARTNERS, Partner.objects.none(), filename="stock Côte Ouest.csv")
    assert "filename*=utf-8''stock%20C%C3%B4te%20Ouest.csv" in response["Content-Disposition"]


def test_an_empty_export_still_has_its_header(db: None) -> None:
    _, rows = read(export(PARTNERS, Partner.objects.none()))
    assert rows == [["Partner", "Contact e-mail"]]
