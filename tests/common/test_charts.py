"""Server-rendered SVG charts: valid XML, proportional bars, and words for screen readers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

from django.template import Context, Template
from django.utils.safestring import SafeString

from common.charts import bar_chart, sparkline
from common.templatetags.ui import format_money

NS = {"svg": "http://www.w3.org/2000/svg"}

SERIES = [
    ("UF-CAL-NV-750", Decimal("1200")),
    ("UF-JUL-NV-750", Decimal("600")),
    ("Château d'Yquem <2015> & Crémant: Brut", Decimal("300.5")),
]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img"
    return root


def test_a_bar_chart_is_valid_svg_with_a_text_alternative() -> None:
    svg = bar_chart(SERIES, title="Cases on hand by SKU")
    assert isinstance(svg, SafeString)
    root = parse(svg)
    assert root.findtext("svg:title", namespaces=NS) == "Cases on hand by SKU"
    label = root.get("aria-label") or ""
    assert label.startswith("Cases on hand by SKU.")
    for name, shown in [
        ("UF-CAL-NV-750", "1,200"),
        ("UF-JUL-NV-750", "600"),
        ("Château d'Yquem <2015> & Crémant: Brut", "300.5"),
    ]:
        assert f"{name}: {shown}" in label
    bar_titles = [g.findtext("svg:title", namespaces=NS) for g in root.findall("svg:g", NS)]
    assert bar_titles[2] == "Château d'Yquem <2015> & Crémant: Brut: 300.5"


def test_bars_are_proportional_to_their_values() -> None:
    root = parse(bar_chart(SERIES, title="t"))
    widths = [float(r.get("width", "0")) for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert len(widths) == 3
    assert abs(widths[0] / widths[1] - 2) < 0.01
    assert abs(widths[0] / widths[2] - 1200 / 300.5) < 0.01


def test_negative_bars_grow_left_of_zero() -> None:
    root = parse(bar_chart([("credit", Decimal("-50")), ("sale", Decimal("150"))], title="t"))
    credit, sale = root.iter("{http://www.w3.org/2000/svg}rect")
    assert "negative" in (credit.get("class") or "")
    assert float(credit.get("x", "0")) + float(credit.get("width", "0")) == float(
        sale.get("x", "0")
    )
    assert abs(float(sale.get("width", "0")) / float(credit.get("width", "0")) - 3) < 0.01


def test_a_bar_chart_takes_a_value_format_and_survives_empty_and_zero_series() -> None:
    root = parse(bar_chart([("Open", Decimal("-12.5"))], title="AR", value_format=format_money))
    assert "Open: \u2212$12.50" in (root.get("aria-label") or "")
    empty = parse(bar_chart([], title="Nothing yet"))
    assert empty.get("aria-label") == "Nothing yet: no data"
    zeros = parse(bar_chart([("a", Decimal(0)), ("b", Decimal(0))], title="z"))
    assert len(list(zeros.iter("{http://www.w3.org/2000/svg}rect"))) == 2


def test_a_sparkline_is_valid_svg_that_says_its_range() -> None:
    values = [Decimal("3"), Decimal("8.25"), Decimal("1"), Decimal("5")]
    root = parse(sparkline(values, label="Weekly depletion"))
    assert root.get("aria-label") == ("Weekly depletion: 4 values, from 3 to 5, low 1, high 8.25")
    assert root.findtext("svg:title", namespaces=NS) == root.get("aria-label")
    points = (root.find("svg:polyline", NS).get("points") or "").split()  # type: ignore[union-attr]
    assert len(points) == 4
    ys = [float(p.split(",")[1]) for p in points]
    assert ys.index(min(ys)) == 1  # the highest value is drawn highest (smallest y)
    assert ys.index(max(ys)) == 2


def test_a_sparkline_survives_empty_single_and_flat_series() -> None:
    assert parse(sparkline([])).get("aria-label") == "Trend: no data"
    assert parse(sparkline([Decimal(4)])).find("svg:polyline", NS) is not None
    parse(sparkline([2, 2, 2]))


def test_charts_drop_into_a_template_unescaped() -> None:
    html = Template("{{ chart }}").render(Context({"chart": sparkline([1, 2])}))
    assert html.startswith("<svg")
