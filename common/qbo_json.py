"""Values in QuickBooks' JSON: numbers as Decimal, timestamps with or without a zone. Shared by
the client (sync.clients.qbo) and the mirror (common.mirror)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo


def json_number(value: Decimal) -> int | float:
    """A Decimal as a JSON number, for request bodies and the mirror's ``raw`` column.

    python-quickbooks hands numbers back as Decimal (use_decimal=True) and we keep
    quantities as Decimal; JSON has one number type. A float's repr gives back the same
    decimal digits for anything with up to 15 significant digits, far beyond a quantity.
    """
    return int(value) if value == value.to_integral_value() else float(value)


def json_default(value: Any) -> Any:
    """``json.dumps``' ``default`` hook: Decimals as JSON numbers, nothing else."""
    if isinstance(value, Decimal):
        return json_number(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def parse_time(value: Any) -> datetime | None:
    """A QBO timestamp (``2025-01-01T10:00:00-08:00``, also ``-0800``) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    # A zone-less stamp is Intuit's Pacific time (docs/qbo-api.md §3); UTC would be off by
    # hours.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_PACIFIC)


_PACIFIC = ZoneInfo("America/Los_Angeles")
