"""Reading and checking warehouse rows, and saying what each would do: the plan.

Both ways in share it: a CSV file (``csv_rows``) and the JSON API (``api_rows``) become
raw rows, and ``plan_rows`` checks every row and says what it would do (new / replace /
unchanged / error) against the records as they are now. Nothing here writes; the services
(``inventory.warehouse.services``) store previews and apply plans.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import operator
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from django.core.exceptions import ValidationError
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts.models import Partner
from common.textinput import (
    forbidden_character,
    forbidden_outside_line_breaks,
    text_problem,
)
from inventory.catalog.models import CatalogSKU

from .models import (
    WarehouseSnapshot,
    WarehouseUpload,
)

if TYPE_CHECKING:
    pass


MAX_CSV_ROWS = 50_000


MAX_API_LINES = 1000


# A refusal names this many bad lines; the preview pages through them all.
MAX_LINES_NAMED = 10


# A count is of whole bottles. Ten million bottles (over 800,000 cases) is far beyond any
# distributor's stock of one SKU, so anything larger is a typo or a unit mix-up, and a
# bound also keeps 1e30 or 1e9999 away from Decimal arithmetic and the column (12, 2).
MAX_BOTTLES = 10_000_000


BOTTLES_RANGE = f"a whole number of bottles from 0 to {MAX_BOTTLES:,}"


# Longer than any number worth reading: shown cut short in a message, never parsed.
MAX_NUMBER_TEXT = 40


CENT = Decimal("0.01")


# More distinct SKU codes than this in one file, and reading the catalog is cheaper than
# looking each code up.
MANY_CODES = 2_000


REQUIRED_COLUMNS = ("partner", "sku", "as_of")


QUANTITY_COLUMNS = ("bottles", "cases")


TEXT_FIELDS = REQUIRED_COLUMNS + QUANTITY_COLUMNS


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


Outcome = Literal["new", "replace", "unchanged", "error"]


@dataclass(frozen=True)
class RowError:
    line: int | None
    field: str | None
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass(slots=True)
class RawRow:
    """One row as received: text (CSV) or JSON values, nothing checked yet, except that
    the parser says whether any text in it holds a character no field may hold."""

    line: int
    partner: Any
    sku: Any
    as_of: Any
    bottles: Any
    cases: Any
    damaged: bool = False

    def value(self, name: str) -> Any:
        return getattr(self, name) if name in TEXT_FIELDS else None


@dataclass(slots=True)
class RowPlan:
    raw: RawRow
    partner: Partner | None = None
    sku: CatalogSKU | None = None
    as_of: date | None = None
    bottles: Decimal | None = None
    errors: list[RowError] = field(default_factory=list)
    previous: Decimal | None = None
    existing: WarehouseSnapshot | None = None
    outcome: Outcome = "error"
    # (partner id, SKU id, day) once all three are known: set once by plan_rows, read often.
    key: tuple[int, int, date] | None = None

    @property
    def line(self) -> int:
        return self.raw.line

    @property
    def error_text(self) -> str:
        return "; ".join(e.message for e in self.errors)

    @property
    def quantity_text(self) -> str:
        """The quantity as the file wrote it."""
        if not _blank(self.raw.cases) and _blank(self.raw.bottles):
            return f"{cell_text(self.raw.cases)} cases"
        return cell_text(self.raw.bottles)


@dataclass
class Plan:
    rows: list[RowPlan]

    @cached_property
    def counts(self) -> dict[str, int]:
        counted = Counter(r.outcome for r in self.rows)
        return {o: counted[o] for o in ("new", "replace", "unchanged", "error")}

    def count(self, outcome: Outcome) -> int:
        return self.counts[outcome]

    @property
    def errors(self) -> list[RowError]:
        return [e for r in self.rows for e in r.errors]

    @property
    def error_rows(self) -> list[RowPlan]:
        return [r for r in self.rows if r.outcome == "error"]

    @property
    def has_errors(self) -> bool:
        return self.counts["error"] > 0

    def fingerprint(self) -> str:
        """A digest of what applying would do, to notice a preview gone stale."""
        parts = [f"{r.line}|{r.outcome}|{r.key}|{r.bottles}|{r.previous}" for r in self.rows]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def cell_text(value: Any) -> str:
    """A value as the preview shows it: as written (a damaged row's are marked on storing)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _shown(value: Any) -> str:
    """A value as a message quotes it: short, whatever was sent."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.strip()
    return text if len(text) <= MAX_NUMBER_TEXT else text[: MAX_NUMBER_TEXT - 1] + "…"


def _parse_as_of(value: Any, today: date) -> tuple[date | None, str | None]:
    if _blank(value):
        return None, "The date (as_of) is missing."
    text = value.strip() if isinstance(value, str) else None
    if text is None or not _ISO_DATE.match(text):
        return None, f"“{_shown(value)}” is not a date in the form YYYY-MM-DD."
    try:
        parsed = date.fromisoformat(text)
    except ValueError:
        return None, f"“{text}” is not a real date."
    if parsed > today:
        return None, f"{text} is in the future; a snapshot records stock already counted."
    return parsed, None


def _parse_quantity(
    value: Any, name: str, limit: int, within: str
) -> tuple[Decimal | None, str | None]:
    """A number from 0 to ``limit``, or why not (``within`` says the range in words).
    Bounded before any arithmetic: Decimal reads "1e9999" happily, but rounding it to
    cents raises InvalidOperation."""
    # bool is an int in Python; true/false in JSON is a mistake, not 1/0 bottles.
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        return None, f"{name} must be a number, not {_shown(value)}: {within}."
    if isinstance(value, int) and abs(value) > limit:
        return None, f"{name} is too large: {within}."
    text = value.strip() if isinstance(value, str) else str(value)
    if len(text) > MAX_NUMBER_TEXT:
        return None, f"{name} “{_shown(text)}” is not a number: {within}."
    try:
        quantity = Decimal(text)
    except InvalidOperation:
        return None, f"{name} “{text}” is not a number: {within}."
    if not quantity.is_finite():
        return None, f"{name} “{text}” is not a number: {within}."
    if quantity < 0:
        return None, f"{name} cannot be negative (got {text}): {within}."
    if quantity > limit:
        return None, f"{name} {text} is too large: {within}."
    return quantity, None


def _bottles_for(row: RawRow, sku: CatalogSKU | None) -> tuple[Decimal | None, list[RowError]]:
    has_bottles, has_cases = not _blank(row.bottles), not _blank(row.cases)
    if has_bottles and has_cases:
        return None, [RowError(row.line, "bottles", "Give bottles or cases, not both.")]
    if not has_bottles and not has_cases:
        return None, [RowError(row.line, "bottles", "Give a quantity in bottles or in cases.")]
    if has_bottles:
        text = row.bottles
        # Nearly every row: a plain count (8 digits at most, so int() is cheap and bounded).
        plain = isinstance(text, str) and len(text) <= 8 and text.isascii() and text.isdigit()
        if plain and int(text) <= MAX_BOTTLES:
            return Decimal(text).quantize(CENT), []
        bottles, message = _parse_quantity(row.bottles, "bottles", MAX_BOTTLES, BOTTLES_RANGE)
        if message:
            return None, [RowError(row.line, "bottles", message)]
        assert bottles is not None
        if bottles != bottles.to_integral_value():
            message = f"bottles {_shown(row.bottles)} is not a whole number: {BOTTLES_RANGE}."
            return None, [RowError(row.line, "bottles", message)]
        return bottles.quantize(CENT), []
    if sku is None:
        return None, []  # the SKU's own error says why; no case size to convert with
    per_case = sku.bottles_per_case
    most = MAX_BOTTLES // per_case
    within = f"at most {most:,} cases of {per_case} ({MAX_BOTTLES:,} bottles)"
    cases, message = _parse_quantity(row.cases, "cases", most, within)
    if message:
        return None, [RowError(row.line, "cases", message)]
    assert cases is not None
    bottles = cases * per_case
    # Part cases are fine when they make whole bottles (2.5 cases of 12 is 30 bottles).
    if bottles != bottles.to_integral_value():
        message = (
            f"{_shown(row.cases)} cases of {per_case} is {bottles.normalize():f} bottles, not "
            "a whole number of bottles."
        )
        return None, [RowError(row.line, "cases", message)]
    return bottles.quantize(CENT), []


def _text_errors(raw: RawRow) -> list[RowError]:
    """NUL and control characters, refused before anything looks a value up: PostgreSQL
    cannot store NUL, and a surrogate from JSON cannot even be sent to it."""
    return [
        RowError(raw.line, name, message)
        for name in TEXT_FIELDS
        if isinstance(value := getattr(raw, name), str) and (message := text_problem(value, name))
    ]


def _is_damaged(values: Iterable[Any]) -> bool:
    # One search per row over its text joined by a tab (a tab is allowed): a row without a
    # forbidden character, nearly every row, costs one regex call.
    return forbidden_character("\t".join(v for v in values if isinstance(v, str))) is not None


def plan_rows(
    raw_rows: Sequence[RawRow], *, partner: Partner | None = None, lock: bool = False
) -> Plan:
    """Check every row and say what it would do. ``partner`` fixes the partner (the API);
    otherwise each row names one by slug (CSV). With ``lock``, the existing snapshots are
    locked (inside the caller's transaction) so the plan holds until it is applied.

    A preview plans the whole file on every view (so it always shows what confirming would
    do now), and a file may have 50,000 rows: the lookups are made once per file, and each
    distinct text of a field (a file names few partners, SKUs and days) is checked once.
    """
    partners = {partner.slug: partner} if partner else _partners_by_slug(raw_rows)
    skus = _skus_by_code(raw_rows)
    # "Today" is the site's day (America/Los_Angeles by default), where the warehouse is.
    today = timezone.localdate()
    checks = _Checks(partners=partners, skus=skus, today=today)
    partner_of, sku_of, as_of_of = _Memo(checks.partner), _Memo(checks.sku), _Memo(checks.as_of)
    plans: list[RowPlan] = []
    for raw in raw_rows:
        plan = RowPlan(raw=raw)
        plans.append(plan)
        if raw.damaged:
            # A damaged line: its other values are not worth checking, or looking up.
            plan.errors = _text_errors(raw)
            continue
        line, errors = raw.line, plan.errors
        if partner is not None:
            plan.partner = partner
        else:
            plan.partner, message = partner_of.read(raw.partner)
            if message:
                errors.append(RowError(line, "partner", message))
        plan.sku, message = sku_of.read(raw.sku)
        if message:
            errors.append(RowError(line, "sku", message))
        plan.as_of, message = as_of_of.read(raw.as_of)
        if message:
            errors.append(RowError(line, "as_of", message))
        plan.bottles, quantity_errors = _bottles_for(raw, plan.sku)
        errors.extend(quantity_errors)
        if plan.partner is not None and plan.sku is not None and plan.as_of is not None:
            plan.key = (plan.partner.pk, plan.sku.pk, plan.as_of)

    _flag_duplicates(plans)
    existing = _existing_snapshots(plans, lock=lock)
    for plan in plans:
        key = plan.key
        if plan.errors or key is None or plan.bottles is None:
            plan.outcome = "error"
            continue
        plan.existing = existing.get(key)
        if plan.existing is None:
            plan.outcome = "new"
        else:
            plan.previous = plan.existing.bottles
            plan.outcome = "unchanged" if plan.previous == plan.bottles else "replace"
    return Plan(rows=plans)


Checked = tuple[Any, str | None]


class _Memo(dict[str, Checked]):
    """One field's check, remembered per distinct text: a file names few partners, SKUs
    and days, and a dictionary hit costs a fraction of a check."""

    def __init__(self, check: Callable[[Any], Checked]) -> None:
        super().__init__()
        self.check = check

    def __missing__(self, text: str) -> Checked:
        result = self[text] = self.check(text)
        return result

    def read(self, value: Any) -> Checked:
        # JSON values (the API: few per request, and maybe unhashable) are checked as is.
        return self[value] if type(value) is str else self.check(value)


@dataclass
class _Checks:
    """The per-field checks of a row: (the value read, or None; why not, or None)."""

    partners: dict[str, Partner]
    skus: dict[str, CatalogSKU]
    today: date

    def partner(self, value: Any) -> tuple[Partner | None, str | None]:
        if _blank(value):
            return None, "The partner is missing."
        found = self.partners.get(str(value).strip().lower())
        return (found, None) if found else (None, f"Unknown partner “{_shown(value)}”.")

    def sku(self, value: Any) -> tuple[CatalogSKU | None, str | None]:
        if _blank(value):
            return None, "The SKU code is missing."
        if not isinstance(value, str):
            return None, "The SKU code must be text."
        found = self.skus.get(value.strip().upper())
        if found is None:
            return None, f"Unknown SKU “{_shown(value)}” in the catalog."
        if not found.active:
            return None, f"SKU {found.code} is inactive in the catalog."
        return found, None

    def as_of(self, value: Any) -> tuple[date | None, str | None]:
        return _parse_as_of(value, self.today)


def _flag_duplicates(plans: list[RowPlan]) -> None:
    # Two rows for the same partner, SKU and day leave no way to know which is right, so
    # both are refused rather than letting the last one silently win.
    counted = Counter(plan.key for plan in plans if plan.key is not None)
    if not counted or max(counted.values()) < 2:
        return  # nearly every file: one pass, no lists of lines built
    lines_by_key: dict[tuple[int, int, date], list[int]] = defaultdict(list)
    for plan in plans:
        if plan.key is not None and counted[plan.key] > 1:
            lines_by_key[plan.key].append(plan.line)
    for plan in plans:
        if plan.key is None or len(lines := lines_by_key.get(plan.key, ())) < 2:
            continue
        # Named up to a few: a file repeating one row 50,000 times must not write 50,000
        # line numbers into each of its 50,000 messages.
        others = [n for n in lines[: MAX_LINES_NAMED + 1] if n != plan.line][:MAX_LINES_NAMED]
        more = len(lines) - 1 - len(others)
        named = ", ".join(map(str, others)) + (f" and {more:,} more" if more else "")
        plural = "s" if len(lines) > 2 else ""
        plan.errors.append(
            RowError(
                plan.line,
                "sku",
                f"Duplicate row: {plan.sku.code if plan.sku else ''} on {plan.as_of} for this "
                f"partner is also on line{plural} {named}.",
            )
        )


def _lookup_texts(rows: Iterable[RawRow], name: str, normalise: Callable[[str], str]) -> list[str]:
    """The distinct, normalised texts of one field worth looking up: a damaged row's values
    (a character the database cannot take) are its error, never a query parameter."""
    return list(
        {
            normalise(value)
            for r in rows
            if not r.damaged and isinstance(value := getattr(r, name), str) and value.strip()
        }
    )


def _any_of(values: list[str]) -> RawSQL:
    # One array parameter instead of one placeholder per value: a 50,000-row file can name
    # 50,000 different codes, and an IN list that long costs more to build than to run.
    return RawSQL("SELECT unnest(%s::text[])", (values,))


def _partners_by_slug(rows: Iterable[RawRow]) -> dict[str, Partner]:
    slugs = _lookup_texts(rows, "partner", lambda v: v.strip().lower())
    if not slugs:
        return {}
    return {p.slug: p for p in Partner.objects.filter(slug__in=_any_of(slugs))}


def _skus_by_code(rows: Iterable[RawRow]) -> dict[str, CatalogSKU]:
    # Codes are matched without regard to case: "uf-cal-nv-750" is UF-CAL-NV-750. Catalog
    # codes are upper-case (a check constraint holds them to SKU_CODE_PATTERN), so the
    # upper-cased codes of the rows look them up exactly, without reading the whole catalog;
    # a file naming more codes than a catalog holds (junk, as a rule) reads the catalog.
    codes = _lookup_texts(rows, "sku", lambda v: v.strip().upper())
    if not codes:
        return {}
    skus = CatalogSKU.objects.all()
    if len(codes) <= MANY_CODES:
        skus = skus.filter(code__in=_any_of(codes))
    return {s.code: s for s in skus}


def _existing_snapshots(
    plans: Sequence[RowPlan], *, lock: bool
) -> dict[tuple[int, int, date], WarehouseSnapshot]:
    keys = {p.key for p in plans if p.key is not None}
    if not keys:
        return {}
    queryset = WarehouseSnapshot.objects.filter(
        partner_id__in={k[0] for k in keys},
        sku_id__in={k[1] for k in keys},
        as_of__in={k[2] for k in keys},
    ).order_by("pk")
    if lock:
        queryset = queryset.select_for_update()
    found = {(s.partner_id, s.sku_id, s.as_of): s for s in queryset}
    return {k: s for k, s in found.items() if k in keys}


def csv_rows(content: bytes) -> list[RawRow]:
    """The file's data rows, each with its line number in the file (the header is line 1).

    Raises ValidationError for what makes the whole file unreadable; a bad *row* is not an
    error here, it is reported by the plan.
    """
    if not content.strip():
        raise ValidationError("The file is empty.")
    try:
        text = content.decode("utf-8-sig")  # Excel writes a byte-order mark
    except UnicodeDecodeError:
        raise ValidationError(
            "The file is not UTF-8 text. Save it from your spreadsheet as “CSV UTF-8”."
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise ValidationError("The file has no header row.") from None
    columns = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing or not any(c in columns for c in QUANTITY_COLUMNS):
        raise ValidationError(
            "The header row must name the columns partner, sku, as_of and bottles (or "
            f"cases); it has: {', '.join(h for h in header if h.strip()) or 'nothing'}."
        )
    # Each field's index in a row cut or padded to the header's width plus one None: a
    # column the file lacks reads that None, as does a cell missing from a short row.
    width = len(columns)
    fields = operator.itemgetter(
        *(columns.index(n) if n in columns else width for n in TEXT_FIELDS)
    )
    padding: list[str | None] = [None] * (width + 1)
    # Damaged characters are rare: one search of the whole text says whether any row needs
    # its cells checked, except a record over several lines (a quoted line break).
    suspect = forbidden_outside_line_breaks(text)

    rows: list[RawRow] = []
    line = reader.line_num  # where the header ended
    try:
        for values in reader:
            # A record ending more than one line after the last one held a line break.
            spans_lines = reader.line_num - line > 1
            line = reader.line_num
            if not "".join(values).strip():
                continue  # blank lines (often at the end) are not rows
            if len(rows) >= MAX_CSV_ROWS:
                raise ValidationError(
                    f"The file has more than {MAX_CSV_ROWS:,} rows; split it into smaller files."
                )
            cells = fields(values[:width] + padding[min(len(values), width) :])
            partner, sku, as_of, bottles, cases = cells
            # Columns the file has but we do not read cannot harm anything.
            damaged = (suspect or spans_lines) and _is_damaged(cells)
            rows.append(RawRow(line, partner, sku, as_of, bottles, cases, damaged=damaged))
    except csv.Error as exc:
        raise ValidationError(f"Line {line + 1} cannot be read as CSV ({exc}).") from None
    if not rows:
        raise ValidationError("The file has a header row but no data rows.")
    return rows


def upload_plan(upload: WarehouseUpload, *, lock: bool = False) -> Plan:
    return plan_rows(csv_rows(bytes(upload.content)), lock=lock)


def api_rows(data: dict[str, Any]) -> tuple[list[RawRow], list[RowError]]:
    errors: list[RowError] = []
    unknown = sorted(set(data) - {"as_of", "lines", "partner"})
    if unknown:
        errors.append(RowError(None, unknown[0], f"Unknown field(s): {', '.join(unknown)}."))
    lines = data.get("lines")
    if not isinstance(lines, list) or not lines:
        errors.append(RowError(None, "lines", "lines must be a non-empty list."))
        return [], errors
    if len(lines) > MAX_API_LINES:
        errors.append(
            RowError(None, "lines", f"At most {MAX_API_LINES} lines per request ({len(lines)}).")
        )
        return [], errors
    rows = []
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, dict):
            errors.append(RowError(number, None, "Each line must be a JSON object."))
            continue
        extra = sorted(set(line) - {"sku", "bottles", "cases"})
        if extra:
            errors.append(RowError(number, extra[0], f"Unknown field(s): {', '.join(extra)}."))
        values = {name: line.get(name) for name in ("sku", "bottles", "cases")}
        rows.append(
            RawRow(
                line=number,
                partner=None,
                as_of=data.get("as_of"),
                damaged=_is_damaged([data.get("as_of"), *values.values()]),
                **values,
            )
        )
    return rows, errors
