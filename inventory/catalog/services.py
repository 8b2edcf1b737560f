"""Une Femme's catalog: reading, checking and applying a catalog CSV, and the demo SKUs.

An import happens in two steps so nothing changes by surprise. The upload is stored
server-side (a ``CatalogImport``: the bytes and their sha256) and previewed row by row;
only when the admin confirms is it applied, every row in one transaction. Preview and
confirmation are both computed from the stored bytes, never from anything the browser
sends back: the confirmation carries only a digest of the plan the admin was shown. If the
catalog (or the stored file) changed in between, the digests differ and nothing is applied.

SKUs that are not in the file are left as they are: an import adds and updates, it never
deletes. Retiring a SKU is a row with ``active`` set to ``no``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from common.textinput import forbidden_character, text_problem

from .models import CatalogImport, CatalogSKU, sku_code_validator

if TYPE_CHECKING:
    from accounts.models import User


# The file's columns, in the order an export writes them. All six are required: a missing
# ``vintage`` or ``active`` column would otherwise silently reset every SKU it touched.
COLUMNS = ("code", "wine", "vintage", "format_ml", "bottles_per_case", "active")
# What an import may change on an existing SKU (the code is the key).
FIELDS = ("wine", "vintage", "format_ml", "bottles_per_case", "active")
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
# A preview older than this is refused at confirmation: the admin should look again.
PREVIEW_TTL = timedelta(hours=1)

TRUE_WORDS = frozenset({"yes", "true", "1"})
FALSE_WORDS = frozenset({"no", "false", "0"})
VINTAGE_RANGE = (1900, 2100)
MAX_FORMAT_ML = 100_000
MAX_BOTTLES_PER_CASE = 1000
MAX_WINE_LENGTH = CatalogSKU._meta.get_field("wine").max_length or 200
MAX_CODE_LENGTH = CatalogSKU._meta.get_field("code").max_length or 64


class Outcome(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    ERROR = "error"


@dataclass(frozen=True)
class SKUValues:
    code: str
    wine: str
    vintage: int | None
    format_ml: int
    bottles_per_case: int
    active: bool

    @classmethod
    def of(cls, sku: CatalogSKU) -> SKUValues:
        return cls(
            code=sku.code,
            wine=sku.wine,
            vintage=sku.vintage,
            format_ml=sku.format_ml,
            bottles_per_case=sku.bottles_per_case,
            active=sku.active,
        )

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ("code", *FIELDS)}


def display(name: str, value: Any) -> str:
    """A value as the CSV and the pages write it."""
    if name == "vintage":
        return "NV" if value is None else str(value)
    if name == "active":
        return "yes" if value else "no"
    return str(value)


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


@dataclass
class RowResult:
    line: int
    code: str  # as written in the file, so a bad code can be shown
    wine: str
    outcome: Outcome = Outcome.ERROR
    values: SKUValues | None = None
    before: SKUValues | None = None
    changes: list[Change] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}"


@dataclass
class ParsedFile:
    # Problems with the file as a whole that still let its rows be read (an unknown column).
    errors: list[LineError]
    rows: list[RowResult]


@dataclass
class Plan:
    """What applying a file would do to the catalog as it is now."""

    errors: list[LineError]
    rows: list[RowResult]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for row in self.rows if row.outcome == outcome)

    @property
    def all_errors(self) -> list[LineError]:
        row_errors = [LineError(r.line, m) for r in self.rows for m in r.errors]
        return sorted([*self.errors, *row_errors], key=lambda e: e.line)

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(row.errors for row in self.rows)

    @property
    def digest(self) -> str:
        """A fingerprint of every row's outcome, before and after. The preview page hands it
        to the confirm form; if anything differs at confirmation, so does the digest."""
        summary = [
            [
                row.line,
                row.outcome,
                row.before.as_dict() if row.before else None,
                row.values.as_dict() if row.values else None,
                row.errors,
            ]
            for row in self.rows
        ]
        payload = json.dumps([[str(e) for e in self.errors], summary], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


# ---------------------------------------------------------------------------------------
# Reading the file


def catalog_csv_parse(content: bytes) -> ParsedFile:
    """Read a catalog CSV into rows, each checked on its own (no database access).

    Raises ``ValidationError`` (messages start with the line number) when no row can be
    read at all: too large, empty, not UTF-8, not CSV, or a required column missing.
    Anything else is reported per row, so one bad line never hides the others.
    """
    if len(content) > MAX_UPLOAD_BYTES:
        raise ValidationError(
            f"The file is {_megabytes(len(content))}; the limit is "
            f"{_megabytes(MAX_UPLOAD_BYTES)}. Split it into smaller files."
        )
    try:
        # utf-8-sig drops the byte-order mark spreadsheet programs put at the start.
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = content[: e.start].count(b"\n") + 1
        raise ValidationError(
            f"Line {line}: the file is not UTF-8 (byte 0x{content[e.start]:02x} cannot be "
            "read). Save it as “CSV UTF-8” and upload it again."
        ) from None
    if not text.strip():
        raise ValidationError("Line 1: the file is empty. The first line must be the header: "
                              + ",".join(COLUMNS) + ".")  # fmt: skip

    # newline="" lets the csv module handle CRLF, and reports a line break inside a quoted
    # cell as part of that cell (where the control-character check refuses it), rather than
    # as the start of a new row.
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[tuple[int, list[str]]] = []
    last_line = 0
    try:
        for record in reader:
            records.append((last_line + 1, record))  # a record starts after the last one
            last_line = reader.line_num
    except csv.Error as e:
        raise ValidationError(
            f"Line {reader.line_num}: this is not a readable CSV ({e})."
        ) from None

    records = [(line, values) for line, values in records if any(v.strip() for v in values)]
    if not records:
        raise ValidationError("Line 1: the file is empty.")
    header_line, header = records[0]
    names = [_column_name(v) for v in header]
    fatal, errors = _header_errors(header_line, names)
    if fatal:
        raise ValidationError([str(e) for e in fatal + errors])
    if len(records) == 1:
        raise ValidationError(f"Line {header_line}: the file has a header but no SKU rows.")

    rows: list[RowResult] = []
    first_line_of: dict[str, int] = {}
    for line, values in records[1:]:
        row = _row_parse(line, names, values)
        # A damaged code has its own error already; repeating it would only show it again.
        if row.code and forbidden_character(row.code) is None:
            if row.code in first_line_of:
                row.errors.append(
                    f"duplicate code {row.code}: it is already on line {first_line_of[row.code]}."
                )
            else:
                first_line_of[row.code] = line
        rows.append(row)
    return ParsedFile(errors=errors, rows=rows)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _column_name(value: str) -> str:
    # "Bottles per case" and "bottles_per_case" name the same column.
    return "_".join(value.strip().lower().replace("-", " ").split())


def _header_errors(line: int, names: list[str]) -> tuple[list[LineError], list[LineError]]:
    """(errors that stop the rows being read, errors that do not): a missing or doubled
    column leaves no safe way to read a row; an unknown one is reported and ignored."""
    fatal, other = [], []
    expected = ", ".join(COLUMNS)
    for column in COLUMNS:
        if column not in names:
            fatal.append(LineError(line, f"missing column “{column}” (expected: {expected})."))
        elif names.count(column) > 1:
            fatal.append(LineError(line, f"column “{column}” appears twice."))
    for position, name in enumerate(names, start=1):
        if problem := text_problem(name, f"the header's column {position}"):
            # Named by position: the name itself cannot be shown as it is.
            other.append(LineError(line, problem))
        elif name not in COLUMNS:
            shown = name or "(blank)"
            other.append(LineError(line, f"unknown column “{shown}” (expected: {expected})."))
    return fatal, other


def _row_parse(line: int, names: list[str], values: list[str]) -> RowResult:
    cells = dict(zip(names, (v.strip() for v in values), strict=False))
    row = RowResult(line=line, code=cells.get("code", ""), wine=cells.get("wine", ""))
    if len(values) != len(names):
        row.errors.append(
            f"{len(values)} values but the header has {len(names)} columns "
            "(a missing comma, or a wine name with a comma that is not in double quotes?)."
        )
        return row

    # A NUL or control character is a damaged file, not a value: PostgreSQL cannot store
    # NUL at all. Such a row's other values are not worth checking.
    if forbidden_character("".join(cells.values())) is not None:
        row.errors.extend(
            problem for name, value in cells.items() if (problem := text_problem(value, name))
        )
        return row

    code = cells["code"]
    if not code:
        row.errors.append("code is empty.")
    elif len(code) > MAX_CODE_LENGTH:
        row.errors.append(f"code is longer than {MAX_CODE_LENGTH} characters.")
    else:
        try:
            sku_code_validator(code)
        except ValidationError:
            row.errors.append(
                f"bad code “{code}”: use upper-case letters, digits and single dashes, "
                "e.g. UF-CAL-NV-750."
            )

    wine = cells["wine"]
    if not wine:
        row.errors.append("wine is empty.")
    elif len(wine) > MAX_WINE_LENGTH:
        row.errors.append(f"wine is longer than {MAX_WINE_LENGTH} characters.")

    vintage: int | None = None
    raw_vintage = cells["vintage"]
    low, high = VINTAGE_RANGE
    if raw_vintage and raw_vintage.upper() != "NV":
        year = _whole_number(raw_vintage)
        if year is None:
            row.errors.append(
                f"vintage “{_shown(raw_vintage)}” is not a year (write a year from {low} to "
                f"{high}, or NV)."
            )
        elif not low <= year <= high:
            row.errors.append(
                f"vintage {_shown(raw_vintage)} is not a year from {low} to {high} (or NV)."
            )
        else:
            vintage = year

    format_ml = _positive(row, cells["format_ml"], "format_ml", MAX_FORMAT_ML, "millilitres")
    per_case = _positive(
        row, cells["bottles_per_case"], "bottles_per_case", MAX_BOTTLES_PER_CASE, "bottles"
    )

    active = cells["active"].lower()
    if active not in TRUE_WORDS | FALSE_WORDS:
        shown = cells["active"] or "(empty)"
        row.errors.append(f"active “{shown}” is not one of yes, no, true, false, 1, 0.")

    if not row.errors and format_ml is not None and per_case is not None:
        row.values = SKUValues(
            code=code,
            wine=wine,
            vintage=vintage,
            format_ml=format_ml,
            bottles_per_case=per_case,
            active=active in TRUE_WORDS,
        )
    return row


def _positive(row: RowResult, raw: str, name: str, maximum: int, unit: str) -> int | None:
    number = _whole_number(raw)
    if number is not None and 0 < number <= maximum:
        return number
    within = f"a number of {unit} from 1 to {maximum}"
    if number is None:
        shown = _shown(raw) or "(empty)"
        row.errors.append(f"{name} “{shown}” is not a whole number ({within}).")
    elif number <= 0:
        row.errors.append(f"{name} {_shown(raw)} is not positive ({within}).")
    else:
        row.errors.append(f"{name} {_shown(raw)} is too large ({within}).")
    return None


# ASCII digits only, with an optional minus: "750 ml" or "7.5e2" would be a guess, and a
# guess in a catalog is a bug. str.isdigit() is no test: it is true of "²", which int()
# refuses, and of "٧٥٠", which int() reads as 750 although nobody typed that in a catalog.
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")
# More digits than any range here allows (leading zeros aside) are out of range whatever
# they say; they are not converted, because int() refuses more than 4300 digits.
_MAX_DIGITS = 9
_TOO_LARGE: int = 10**_MAX_DIGITS


def _whole_number(raw: str) -> int | None:
    """``raw`` as a whole number, or None when it is not one. A number with more than
    ``_MAX_DIGITS`` digits comes back as ±``_TOO_LARGE``: out of every range, and safe."""
    if not _WHOLE_NUMBER.fullmatch(raw):
        return None
    sign = -1 if raw.startswith("-") else 1
    digits = raw.lstrip("-").lstrip("0")
    if len(digits) > _MAX_DIGITS:
        return sign * _TOO_LARGE
    return sign * int(digits or "0")


def _shown(raw: str, limit: int = 20) -> str:
    """A value for a message: a 5,000-digit number would bury the message."""
    return raw if len(raw) <= limit else raw[:limit] + "…"


# ---------------------------------------------------------------------------------------
# Comparing with the catalog


def catalog_import_plan(*, content: bytes) -> Plan:
    """What importing ``content`` would do to the catalog now (reads only)."""
    parsed = catalog_csv_parse(content)
    codes = {row.code for row in parsed.rows if row.values is not None}
    existing = {sku.code: sku for sku in CatalogSKU.objects.filter(code__in=codes)}
    for row in parsed.rows:
        if row.errors or row.values is None:
            row.outcome = Outcome.ERROR
            continue
        current = existing.get(row.code)
        if current is None:
            row.outcome = Outcome.NEW
            continue
        row.before = SKUValues.of(current)
        row.changes = [
            Change(name, display(name, getattr(row.before, name)), display(name, after))
            for name in FIELDS
            if (after := getattr(row.values, name)) != getattr(row.before, name)
        ]
        row.outcome = Outcome.CHANGED if row.changes else Outcome.UNCHANGED
    return Plan(errors=parsed.errors, rows=parsed.rows)


# ---------------------------------------------------------------------------------------
# Services


@transaction.atomic
def catalog_import_upload(*, user: User, filename: str, content: bytes) -> CatalogImport:
    """Store an uploaded file for preview. Changes nothing in the catalog.

    Raises ``ValidationError`` when no row can be read (the upload form shows it); a file
    with bad rows is stored and previewed, and cannot be confirmed until fixed.
    """
    plan = catalog_import_plan(content=content)
    return CatalogImport.objects.create(
        uploaded_by=user,
        filename=filename[:255],
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        row_count=len(plan.rows),
        created_count=plan.count(Outcome.NEW),
        updated_count=plan.count(Outcome.CHANGED),
        unchanged_count=plan.count(Outcome.UNCHANGED),
        error_count=len(plan.all_errors),
    )


def catalog_import_expired(catalog_import: CatalogImport) -> bool:
    return timezone.now() - catalog_import.uploaded_at > PREVIEW_TTL


@transaction.atomic
def catalog_import_apply(
    *, catalog_import: CatalogImport, user: User, digest: str
) -> CatalogImport:
    """Apply a previewed import: every row or none.

    ``digest`` is the plan the admin confirmed (``Plan.digest`` on the preview page). It
    is refused when the preview expired or was already applied, when the stored file no
    longer matches its checksum, when the file has errors, or when the plan differs from
    the one confirmed (someone changed the catalog in between).
    """
    locked = CatalogImport.objects.select_for_update().get(pk=catalog_import.pk)
    if locked.status != CatalogImport.Status.PREVIEWED:
        raise ValidationError("This import has already been applied; nothing was changed.")
    if catalog_import_expired(locked):
        raise ValidationError(
            "This preview has expired (previews last "
            f"{int(PREVIEW_TTL.total_seconds() // 60)} minutes); nothing was changed. "
            "Upload the file again to see a fresh preview."
        )
    content = bytes(locked.content)
    if hashlib.sha256(content).hexdigest() != locked.sha256:
        raise ValidationError(
            "The stored file no longer matches the one uploaded; nothing was changed. "
            "Upload it again."
        )

    # Imports and admin-site edits of the catalog wait for each other, so the plan checked
    # below is exactly what gets written (and two imports cannot both insert one code).
    table = connection.ops.quote_name(CatalogSKU._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
    plan = catalog_import_plan(content=content)
    if plan.has_errors:
        raise ValidationError(
            f"The file has {len(plan.all_errors)} error(s); nothing was changed. "
            "Fix them and upload it again."
        )
    if plan.digest != digest:
        raise ValidationError(
            "The catalog changed since this preview was shown; nothing was changed. "
            "Review the updated preview and confirm again."
        )

    changes = []
    for row in plan.rows:
        if row.outcome in (Outcome.NEW, Outcome.CHANGED):
            assert row.values is not None  # rows without errors always carry values
            try:
                _row_apply(row.values)
            except ValidationError as e:
                # A model rule the reader lacks. Made a line-numbered message like the
                # reader's: the confirm form shows it as the whole import's refusal (this
                # transaction undoes the rows already written), and a per-field error would
                # name fields the form does not have.
                raise ValidationError(
                    f"Line {row.line}: {' '.join(e.messages)} Nothing was changed."
                ) from None
            changes.append(
                {
                    "line": row.line,
                    "code": row.code,
                    "outcome": str(row.outcome),
                    "before": row.before.as_dict() if row.before else None,
                    "after": row.values.as_dict(),
                }
            )

    locked.status = CatalogImport.Status.APPLIED
    locked.applied_at = timezone.now()
    locked.row_count = len(plan.rows)
    locked.created_count = plan.count(Outcome.NEW)
    locked.updated_count = plan.count(Outcome.CHANGED)
    locked.unchanged_count = plan.count(Outcome.UNCHANGED)
    locked.error_count = 0
    locked.changes = changes
    locked.save()
    return locked


def _row_apply(values: SKUValues) -> None:
    sku = CatalogSKU.objects.filter(code=values.code).first() or CatalogSKU(code=values.code)
    for name in FIELDS:
        setattr(sku, name, getattr(values, name))
    # Values were checked when the file was read; this catches a rule added to the model
    # later and not to the reader, before it reaches the database.
    sku.full_clean(validate_unique=False)
    sku.save()


# ---------------------------------------------------------------------------------------
# Export and demo data


# Une Femme's catalog as qbo_sandbox's demo companies know it (their items' Sku fields).
DEMO_SKUS = (
    SKUValues("UF-CAL-NV-750", "The Callie Sparkling Rosé", None, 750, 12, True),
    SKUValues("UF-JUL-NV-750", "The Juliette Brut", None, 750, 12, True),
    SKUValues("UF-CAL-NV-375", "The Callie Sparkling Rosé", None, 375, 24, True),
    SKUValues("UF-BDB-2021-750", "Blanc de Blancs", 2021, 750, 6, True),
    SKUValues("UF-BDB-2021-1500", "Blanc de Blancs Magnum", 2021, 1500, 6, True),
    SKUValues("UF-ROS-2023-750", "Still Rosé", 2023, 750, 12, True),
    SKUValues("UF-CRB-NV-750", "Crémant Brut", None, 750, 12, True),
    SKUValues("UF-DEM-NV-750", "Demi-Sec", None, 750, 6, True),
)


@transaction.atomic
def catalog_demo_load() -> int:
    """Create the demo SKUs that are missing; returns how many were created. SKUs already
    there are left alone, so an admin's edits survive a second run."""
    created = 0
    for values in DEMO_SKUS:
        defaults = {name: getattr(values, name) for name in FIELDS}
        _, was_created = CatalogSKU.objects.get_or_create(code=values.code, defaults=defaults)
        created += was_created
    return created
