"""The ui template tags: money, qty, percent, and dates in the user's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.template import Context, Template
from django.utils import timezone

from common.templatetags.ui import money, percent, qty


def render(source: str, **context: Any) -> str:
    return Template("{% load ui %}" + source).render(Context(context))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("12345.67"), "$12,345.67"),
        (Decimal("-12345.67"), "\u2212$12,345.67"),
        (Decimal("0"), "$0.00"),
        (Decimal("0.005"), "$0.01"),  # half up, as accountants round
        (Decimal("-0.004"), "$0.00"),  # rounds to zero: no minus sign
        (Decimal("1234567890123.4500"), "$1,234,567,890,123.45"),
        (
            Decimal("123456789012345678901234567890.12"),  # past Decimal's default precision
            "$123,456,789,012,345,678,901,234,567,890.12",
        ),
        (5, "$5.00"),
        ("19.9", "$19.90"),
        (None, ""),
        ("n/a", "n/a"),
        (Decimal("NaN"), "NaN"),
    ],
)
def test_money(value: Any, expected: str) -> None:
    assert money(value) == expected


def test_money_shows_the_code_when_not_usd() -> None:
    assert money(Decimal("12345.6"), "CAD") == "12,345.60\u00a0CAD"
    assert money(Decimal("-12.5"), "eur") == "\u221212.50\u00a0EUR"
    assert money(Decimal("1"), "usd") == "$1.00"
    assert money(Decimal("1"), None) == "$1.00"
    assert render("{{ v|money:c }}", v=Decimal("-3"), c="GBP") == "\u22123.00\u00a0GBP"


def test_money_output_is_escaped_in_templates() -> None:
    assert render("{{ v|money:c }}", v=Decimal("1"), c="<b>") == "1.00\u00a0&lt;B&gt;"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1234.5000"), "1,234.5"),
        (Decimal("12.0000"), "12"),
        (Decimal("1.005"), "1.01"),
        (Decimal("0.25"), "0.25"),
        (Decimal("-2500"), "\u22122,500"),
        (Decimal("1234567.891"), "1,234,567.89"),
        (Decimal("-0.001"), "0"),
        (48, "48"),
        (None, ""),
    ],
)
def test_qty(value: Any, expected: str) -> None:
    assert qty(value) == expected
    assert render("{{ v|qty }}", v=value) == expected


def test_percent_reads_a_ratio() -> None:
    assert percent(Decimal("0.125")) == "12.5%"
    assert percent(Decimal("-0.03")) == "\u22123.0%"
    assert percent(Decimal("1.5"), 0) == "150%"
    assert render("{{ v|percent:2 }}", v=Decimal("0.33333")) == "33.33%"
    assert percent(None) == ""


def test_dates_use_djangos_date_filter_in_the_active_zone() -> None:
    moment = datetime(2025, 1, 31, 2, 30, tzinfo=UTC)
    with timezone.override("America/Los_Angeles"):
        assert render('{{ m|date:"Y-m-d H:i" }}', m=moment) == "2025-01-30 18:30"
    with timezone.override("Europe/Paris"):
        assert render('{{ m|date:"Y-m-d H:i" }}', m=moment) == "2025-01-31 03:30"
