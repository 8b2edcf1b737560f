"""Number formatting for pages: ``{% load ui %}`` then ``{{ amount|money }}``,
``{{ amount|money:invoice.currency }}``, ``{{ qty_on_hand|qty }}``, ``{{ share|percent }}``.

Dates need nothing of ours: Django's ``date`` filter already renders an aware datetime in
the active timezone, which ``accounts.middleware.UserTimezoneMiddleware`` sets to the
user's own (``{{ invoice.created_at|date:"M j, Y H:i T" }}``).

Every filter takes Decimal (ints and numeric strings too) and never raises: a value it
cannot read is shown as it came, and None as an empty string, so one odd row cannot break
a page. Negative numbers use the real minus sign (U+2212), which screen readers say as
"minus" and which lines up with the digits.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import TYPE_CHECKING, Any

from django import template
from django.utils.safestring import SafeString

if TYPE_CHECKING:
    from common.tables import BoundRow

register = template.Library()

MINUS = "\u2212"
NBSP = "\u00a0"
CENT = Decimal("0.01")


def to_decimal(value: Any) -> Decimal | None:
    """A Decimal for a number-like value, or None. Floats go through their shortest text
    (0.1 -> Decimal("0.1"), not 0.1000000000000000055…)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _grouped(number: Decimal, places: int) -> tuple[bool, str]:
    """(is negative, digits with thousands separators and ``places`` decimals), rounded
    half up as accountants do. A value that rounds to zero is not negative: -0.001 is
    "$0.00", never "−$0.00"."""
    with localcontext() as context:
        # The default 28 significant digits would make quantize() fail on a (silly but
        # possible) 30-digit total; formatting must not be what breaks.
        context.prec = 100
        rounded = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    negative = rounded < 0
    return negative, f"{rounded.copy_abs():,.{places}f}"


def format_money(value: Any, currency: str | None = "USD") -> str:
    number = to_decimal(value)
    if number is None:
        return "" if value is None else str(value)
    negative, digits = _grouped(number, 2)
    sign = MINUS if negative else ""
    code = (currency or "USD").strip().upper()
    if code == "USD":
        return f"{sign}${digits}"
    # Other currencies carry their ISO code rather than a symbol: "$" alone would read as
    # US dollars for a Canadian partner.
    return f"{sign}{digits}{NBSP}{code}"


def format_qty(value: Any) -> str:
    number = to_decimal(value)
    if number is None:
        return "" if value is None else str(value)
    negative, digits = _grouped(number, 2)
    if "." in digits:
        digits = digits.rstrip("0").rstrip(".")
    return f"{MINUS if negative else ''}{digits}"


def format_percent(value: Any, places: int = 1) -> str:
    """A ratio as a percentage: 0.125 -> "12.5%" (the value is a fraction, as in a
    spreadsheet, so CSV exports keep the raw ratio)."""
    number = to_decimal(value)
    if number is None:
        return "" if value is None else str(value)
    negative, digits = _grouped(number * 100, places)
    return f"{MINUS if negative else ''}{digits}%"


@register.filter
def money(value: Any, currency: str | None = "USD") -> str:
    """An amount in its currency: ``{{ invoice.total_amt|money:invoice.currency }}``.

    One rule for every page: US dollars as "$12,345.67"; any other currency as the amount
    then its ISO code, "12,345.67 CAD" (joined by a no-break space so the code never wraps
    alone), never "$", which reads as US dollars. Negatives lead with the minus sign
    ("−$12,345.67", "−12,345.67 CAD"). The code is the filter's to add: a template must
    not append it ("$12,345.67 CAD" names two currencies). Without a currency the amount
    is taken as US dollars, so pass the row's own whenever it has one.
    """
    return format_money(value, currency)


@register.filter
def qty(value: Any) -> str:
    """Decimal -> "1,234.5": thousands separators, at most 2 decimals, no trailing zeros."""
    return format_qty(value)


@register.filter
def percent(value: Any, places: Any = 1) -> str:
    """Ratio -> "12.5%"; ``{{ x|percent:0 }}`` for whole percents."""
    try:
        digits = int(places)
    except (TypeError, ValueError):
        digits = 1
    return format_percent(value, digits)


@register.simple_tag(takes_context=True)
def table_cells(context: template.Context, row: BoundRow, cards: bool = False) -> SafeString:
    """The ``<td>`` cells of one generic row of ``common/_table.html``:
    ``{% table_cells row cards %}``. Written in Python (``common.tables.cell_html``): the
    template language's per-cell if-chain was most of a long page's time."""
    return row.html(context, cards=bool(cards))
