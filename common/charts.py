"""Tiny server-rendered SVG charts: no JavaScript library, no CDN, nothing to load.

``bar_chart([("UF-CAL-NV-750", Decimal("120")), ...], title="Cases on hand")`` and
``sparkline([3, 5, 4, 8])`` return markup safe to drop into a template. Each chart is one
``role="img"`` element whose ``aria-label`` says what the picture shows in words (the
title and every value), with the same text in ``<title>``/``<desc>`` for tooltips; the
picture is a convenience, never the only place a number appears.

Values are Decimal (ints work too). They become floats only for drawing coordinates; the
numbers printed come from the Decimal, formatted like the tables (common.templatetags.ui).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from common.templatetags.ui import format_qty

SVG_NS = "http://www.w3.org/2000/svg"
Number = Decimal | int


def _num(value: float) -> str:
    """A coordinate with at most two decimals, and no "-0"."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _clip(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def bar_chart(
    series: Sequence[tuple[str, Number]],
    *,
    title: str,
    value_format: Callable[[Any], str] = format_qty,
    width: int = 480,
    label_width: int = 170,
    value_width: int = 90,
    row_height: int = 24,
) -> SafeString:
    """Horizontal bars, one row per (label, value), in the order given. Negative values
    (a credit, a shrinkage) grow left from a zero line. Long labels are shortened on the
    picture and given in full in each bar's tooltip and in the text alternative."""
    if not series:
        height = row_height + 8
        return mark_safe(  # every piece of text is escaped above
            f'<svg xmlns="{SVG_NS}" class="chart bar-chart" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" '
            f'aria-label="{escape(title)}: no data">'
            f"<title>{escape(title)}</title><desc>No data</desc>"
            f'<text x="0" y="{row_height - 6}" class="chart-empty">No data</text></svg>'
        )
    values = [Decimal(value) for _, value in series]
    low = min(min(values), Decimal(0))
    high = max(max(values), Decimal(0))
    span = float(high - low) or 1.0  # all zeros: draw zero-width bars, not a division error
    bar_area = width - label_width - value_width
    zero_x = label_width + float(-low) / span * bar_area
    height = row_height * len(series) + 4
    summary = "; ".join(
        f"{label}: {value_format(value)}" for (label, _), value in zip(series, values, strict=True)
    )
    parts = [
        f'<svg xmlns="{SVG_NS}" class="chart bar-chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}. {escape(summary)}">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(summary)}</desc>",
    ]
    for index, ((label, _), value) in enumerate(zip(series, values, strict=True)):
        top = index * row_height + 2
        bar_width = abs(float(value)) / span * bar_area
        bar_x = zero_x - bar_width if value < 0 else zero_x
        shown = value_format(value)
        css = "bar negative" if value < 0 else "bar"
        parts.append(
            f"<g><title>{escape(label)}: {escape(shown)}</title>"
            f'<text x="{label_width - 6}" y="{top + row_height * 0.65:.1f}" '
            f'text-anchor="end" class="chart-label">{escape(_clip(label, 24))}</text>'
            f'<rect class="{css}" x="{_num(bar_x)}" y="{top + 3}" width="{_num(bar_width)}" '
            f'height="{row_height - 8}" fill="currentColor"/>'
            f'<text x="{width - 4}" y="{top + row_height * 0.65:.1f}" text-anchor="end" '
            f'class="chart-value">{escape(shown)}</text></g>'
        )
    parts.append(
        f'<line class="chart-axis" x1="{_num(zero_x)}" y1="0" x2="{_num(zero_x)}" '
        f'y2="{height}" stroke="currentColor" stroke-width="1"/>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every piece of text is escaped above


def sparkline(
    values: Sequence[Number],
    *,
    label: str = "Trend",
    value_format: Callable[[Any], str] = format_qty,
    width: int = 120,
    height: int = 24,
) -> SafeString:
    """A small line of ``values`` in order (oldest first), for a table cell or a card.
    Its text alternative gives the count, first, last, low and high values."""
    numbers = [Decimal(value) for value in values]
    if not numbers:
        alternative = f"{label}: no data"
        return mark_safe(  # the text is escaped
            f'<svg xmlns="{SVG_NS}" class="chart sparkline" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{escape(alternative)}">'
            f"<title>{escape(alternative)}</title></svg>"
        )
    low, high = min(numbers), max(numbers)
    span = float(high - low) or 1.0
    pad = 2.0
    step = (width - 2 * pad) / (len(numbers) - 1) if len(numbers) > 1 else 0.0

    def point(index: int, value: Decimal) -> tuple[float, float]:
        x = pad + index * step if len(numbers) > 1 else width / 2
        # A flat series sits in the middle rather than on the floor.
        y = (
            height / 2
            if high == low
            else height - pad - float(value - low) / span * (height - 2 * pad)
        )
        return x, y

    points = [point(i, v) for i, v in enumerate(numbers)]
    if len(points) == 1:
        points = [(pad, points[0][1]), (width - pad, points[0][1])]
    alternative = (
        f"{label}: {len(numbers)} values, from {value_format(numbers[0])} "
        f"to {value_format(numbers[-1])}, low {value_format(low)}, high {value_format(high)}"
    )
    last_x, last_y = points[-1]
    return mark_safe(  # the text is escaped
        f'<svg xmlns="{SVG_NS}" class="chart sparkline" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(alternative)}">'
        f"<title>{escape(alternative)}</title>"
        f'<polyline points="{" ".join(f"{_num(x)},{_num(y)}" for x, y in points)}" '
        f'fill="none" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round"/>'
        f'<circle cx="{_num(last_x)}" cy="{_num(last_y)}" r="2" fill="currentColor"/></svg>'
    )
