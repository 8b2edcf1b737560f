"""Reading a distributor's billback claim and checking each line against the books.

A claim is CSV (a file, or lines typed into the page) with the columns ``period``
(YYYY-MM), ``sku`` (catalog code), ``account`` (the customer's name in the partner's
QuickBooks), ``bottles`` or ``cases`` (the SKU's cases), and ``amount`` (dollars claimed).
``read_claim`` turns it into lines, refusing only what makes the whole text unreadable; a
bad line is kept with its error, by line number, as the warehouse upload does.
``check_lines`` says what the books make of each good line (docs/reports.md, "Claims"):

- **unsupported**: the account is not one of the partner's customers, or it has no net
  depletion of the SKU in that month at all;
- **over-claimed**: outside the program (a SKU it does not cover, a month outside its
  period, an account in another channel), or more bottles than the books show (what earlier
  lines of the claim already drew on counts as used), or more dollars than those bottles
  earn at the program's rate and cap;
- **matched**: everything else.

Each line's *supported* amount is what the books back (never more than claimed); its
difference is claimed − supported, so a claim's claimed total is always its supported
total plus its differences. Nothing here writes.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

from billing.models import QBOCustomer
from common.textinput import printable, text_problem
from inventory.catalog.models import CatalogSKU
from inventory.channels.models import Channel
from inventory.channels.selectors import account_channels

from . import books
from .books import ZERO, ProgramTerms
from .models import ClaimLine

MAX_LINES = 5_000
MAX_BYTES = 2 * 1024 * 1024
TOO_LARGE = f"The claim is larger than {MAX_BYTES // (1024 * 1024)} MB; split it."
REQUIRED = ("period", "sku", "account", "amount")
QUANTITIES = ("bottles", "cases")
COLUMNS = REQUIRED + QUANTITIES
MAX_BOTTLES = Decimal(1_000_000)
MAX_AMOUNT = Decimal(10_000_000)
MAX_TEXT = 100
_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")
EARLIEST = date(2000, 1, 1)

Verdict = ClaimLine.Verdict


@dataclass
class Line:
    """One claimed line: as written, as read, and (once checked) what the books say."""

    line: int
    written: dict[str, str]
    period: date | None = None
    sku: CatalogSKU | None = None
    bottles: Decimal | None = None
    amount: Decimal | None = None
    errors: list[str] = field(default_factory=list)
    connection_id: int | None = None
    customer_qbo_id: str = ""
    books_bottles: Decimal = ZERO
    supported: Decimal = ZERO
    verdict: str = Verdict.ERROR
    reason: str = ""

    @property
    def quantity_text(self) -> str:
        if self.written.get("cases", "").strip() and not self.written.get("bottles", "").strip():
            return f"{self.written['cases']} cases"
        return self.written.get("bottles", "")


def _short(text: str) -> str:
    text = text.strip()
    return text if len(text) <= 40 else text[:39] + "…"


def read_claim(content: bytes) -> list[Line]:
    """The claim's lines, numbered as in the file (the header is line 1). Raises
    ValidationError for a text that cannot be read at all."""
    if len(content) > MAX_BYTES:
        raise ValidationError(TOO_LARGE)
    if not content.strip():
        raise ValidationError("The claim is empty.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(
            "The claim is not UTF-8 text. Save it from your spreadsheet as “CSV UTF-8”."
        ) from None
    # strict: an unclosed quote is an error, not the rest of the file read into one cell.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise ValidationError("The claim has no header row.") from None
    names = [printable(h).strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing or not any(q in names for q in QUANTITIES):
        shown = ", ".join(n for n in names if n) or "nothing"
        raise ValidationError(
            "The header row must name the columns period, sku, account, amount and bottles "
            f"(or cases); it has: {_short(shown)}."
        )
    index = {name: names.index(name) for name in COLUMNS if name in names}
    lines: list[Line] = []
    try:
        for values in reader:
            if not "".join(values).strip():
                continue
            if len(lines) >= MAX_LINES:
                raise ValidationError(
                    f"The claim has more than {MAX_LINES:,} lines; split it into smaller claims."
                )
            written = {name: values[i] if i < len(values) else "" for name, i in index.items()}
            lines.append(_parse(Line(reader.line_num, written)))
    except csv.Error as exc:
        raise ValidationError(
            f"Line {reader.line_num + 1} cannot be read as CSV ({exc})."
        ) from None
    if not lines:
        raise ValidationError("The claim has a header row but no lines.")
    _look_up_skus(lines)
    return lines


def _parse(line: Line) -> Line:
    damaged = [p for n, v in line.written.items() if (p := text_problem(v, n))]
    if damaged:
        line.written = {n: printable(v) for n, v in line.written.items()}
        line.errors += damaged
        return line
    too_long = [
        n for n, v in line.written.items() if len(v) > (255 if n == "account" else MAX_TEXT)
    ]
    if too_long:
        line.errors.append(f"{too_long[0]} is too long.")
        line.written = {n: v[:255] for n, v in line.written.items()}
        return line
    line.period = _period(line)
    if not line.written.get("account", "").strip():
        line.errors.append("The account is missing.")
    if not line.written.get("sku", "").strip():
        line.errors.append("The SKU is missing.")
    line.amount = _number(line, "amount", MAX_AMOUNT, places=2, what="dollars")
    return line


def _period(line: Line) -> date | None:
    text = line.written.get("period", "").strip()
    if not text:
        line.errors.append("The period is missing; write the month as YYYY-MM.")
        return None
    match = _PERIOD.match(text)
    if not match or not 1 <= int(match[2]) <= 12:
        line.errors.append(f"“{_short(text)}” is not a month in the form YYYY-MM.")
        return None
    month = date(int(match[1]), int(match[2]), 1)
    if month < EARLIEST:
        line.errors.append(f"{text} is before {EARLIEST:%Y}; no books go back that far.")
        return None
    return month


def _number(line: Line, name: str, most: Decimal, *, places: int, what: str) -> Decimal | None:
    text = line.written.get(name, "").strip().replace(",", "").lstrip("$")
    if not text:
        line.errors.append(f"The {name} is missing.")
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        line.errors.append(f"{name} “{_short(text)}” is not a number of {what}.")
        return None
    if value <= 0:
        line.errors.append(f"{name} must be above zero (got {_short(text)}).")
        return None
    if value > most:
        line.errors.append(f"{name} {_short(text)} is too large (at most {most:,}).")
        return None
    if value != value.quantize(Decimal(1).scaleb(-places)):
        line.errors.append(f"{name} {_short(text)} has more than {places} decimal places.")
        return None
    return value


def _look_up_skus(lines: list[Line]) -> None:
    codes = {
        line.written["sku"].strip().upper()
        for line in lines
        if not line.errors and line.written.get("sku", "").strip()
    }
    skus = {s.code: s for s in CatalogSKU.objects.filter(code__in=codes)}
    for line in lines:
        if line.errors:
            continue
        code = line.written["sku"].strip().upper()
        line.sku = skus.get(code)
        if line.sku is None:
            line.errors.append(f"“{_short(code)}” is not a SKU in Une Femme's catalog.")
            continue
        line.bottles = _quantity(line, line.sku)


def _quantity(line: Line, sku: CatalogSKU) -> Decimal | None:
    has_bottles = bool(line.written.get("bottles", "").strip())
    has_cases = bool(line.written.get("cases", "").strip())
    if has_bottles == has_cases:
        line.errors.append(
            "Give bottles or cases, not both." if has_bottles else "Give bottles or cases."
        )
        return None
    if has_bottles:
        return _number(line, "bottles", MAX_BOTTLES, places=0, what="bottles")
    cases = _number(line, "cases", MAX_BOTTLES / sku.bottles_per_case, places=2, what="cases")
    if cases is None:
        return None
    bottles = cases * sku.bottles_per_case
    if bottles != bottles.to_integral_value():
        line.errors.append(
            f"{_short(line.written['cases'])} cases of {sku.bottles_per_case} is not a whole "
            "number of bottles."
        )
        return None
    return bottles


def check_lines(
    lines: Sequence[Line], *, terms: ProgramTerms, connection_ids: Sequence[int]
) -> None:
    """Say what the books make of each line without an error (in place). ``connection_ids``
    are the claiming partner's QuickBooks companies."""
    good = [line for line in lines if not line.errors]
    for line in lines:
        if line.errors:
            line.verdict, line.reason = Verdict.ERROR, "; ".join(line.errors)
    if not good:
        return
    customers = _customers_by_name(connection_ids, {_key(line) for line in good})
    months = [line.period for line in good if line.period]
    first, last = min(months), books.month_end(max(months))
    # Everything the accounts bought of every SKU in the claimed months, and what of it the
    # program counts.
    every = books.net_bottles(connection_ids=connection_ids, start=first, end=last)
    counted = books.qualifying(terms, connection_ids=connection_ids, start=first, end=last)
    channels = account_channels(connection_ids=connection_ids) if terms.program.channel else {}
    used: dict[tuple[int, str, int, date], Decimal] = defaultdict(lambda: ZERO)
    paid: dict[tuple[int, str, date], Decimal] = defaultdict(lambda: ZERO)
    program = terms.program
    for line in good:
        assert line.period and line.sku and line.bottles is not None and line.amount is not None
        claimed_name = line.written["account"].strip()
        found = customers.get(_key(line))
        if found is None:
            _verdict(
                line,
                Verdict.UNSUPPORTED,
                f"No customer named “{_short(claimed_name)}” in the partner's QuickBooks.",
            )
            continue
        line.connection_id, line.customer_qbo_id = found
        conn, customer = found
        sold = every.get((conn, customer, line.sku.pk, line.period), ZERO)
        if sold <= 0:
            _verdict(
                line,
                Verdict.UNSUPPORTED,
                f"The books show no depletion of {line.sku.code} to this account in "
                f"{line.period:%B %Y}.",
            )
            continue
        outside = _outside(line, terms, channels.get(found, Channel.OTHER))
        if outside:
            _verdict(line, Verdict.OVER_CLAIMED, outside)
            continue
        month = counted.get((conn, customer, line.period))
        qualifying = month.bottles.get(line.sku.pk, ZERO) if month else ZERO
        key = (conn, customer, line.sku.pk, line.period)
        left = max(qualifying - used[key], ZERO)
        line.books_bottles = left
        backed = min(line.bottles, left)
        used[key] += backed
        earned = terms.allowance({line.sku.pk: backed})
        if program.account_cap is not None:
            room = max(program.account_cap - paid[(conn, customer, line.period)], ZERO)
            earned = min(earned, room)
        line.supported = min(line.amount, earned)
        paid[(conn, customer, line.period)] += line.supported
        if line.bottles > left:
            more = (
                "more than the books show"
                if left == qualifying
                else "more than the books show after this claim's earlier lines"
            )
            _verdict(
                line,
                Verdict.OVER_CLAIMED,
                f"Claims {line.bottles:,.0f} bottles; {more}: {left:,.0f}.",
            )
        elif line.amount > line.supported:
            _verdict(
                line,
                Verdict.OVER_CLAIMED,
                f"Claims ${line.amount:,}; {line.bottles:,.0f} bottles at {program.rate_text}"
                f"{' within the cap' if program.account_cap is not None else ''} "
                f"is ${line.supported:,}.",
            )
        else:
            _verdict(line, Verdict.MATCHED, "")


def _verdict(line: Line, verdict: str, reason: str) -> None:
    line.verdict, line.reason = verdict, reason


def _outside(line: Line, terms: ProgramTerms, channel: str) -> str:
    """Why the line lies outside the program, or ''."""
    program = terms.program
    assert line.period and line.sku
    if line.sku.pk not in terms.sku_formats:
        return f"{line.sku.code} is not one of the program's SKUs."
    if line.period > program.end or books.month_end(line.period) < program.start:
        return (
            f"{line.period:%B %Y} is outside the program's period "
            f"({program.start:%b %-d, %Y} to {program.end:%b %-d, %Y})."
        )
    if not terms.channel_ok(channel):
        return (
            f"The account is {Channel(channel).label.lower()}; the program pays "
            f"{Channel(program.channel).label.lower()} accounts only."
        )
    return ""


def _key(line: Line) -> str:
    return " ".join(line.written.get("account", "").split()).casefold()


def _customers_by_name(
    connection_ids: Sequence[int], names: set[str]
) -> dict[str, tuple[int, str]]:
    """The partner's customers by display name (spaces and case aside). A name two
    customers share finds the one with the lowest id: QuickBooks keeps display names
    unique within a company, so only two companies of one partner can share one."""
    found: dict[str, tuple[int, str]] = {}
    rows = (
        QBOCustomer.objects.filter(connection_id__in=connection_ids)
        .order_by("connection_id", "pk")
        .values_list("connection_id", "qbo_id", "display_name")
    )
    for conn, qbo_id, name in rows.iterator(chunk_size=2000):
        key = " ".join(name.split()).casefold()
        if key in names and key not in found:
            found[key] = (conn, qbo_id)
    return found


__all__ = ["Line", "check_lines", "read_claim"]
