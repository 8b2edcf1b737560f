"""Property-based tests of the catalog CSV import (no input reaches a 5xx).

Every example goes through the real pages as an admin: upload, preview, then confirm (or,
for a file with errors, a forced confirmation with the plan's own digest). Whatever the
file, each answer is below 500; a refused file or row says why, every message starting
with the line it is about; and a refusal changes nothing in the catalog.
"""

from __future__ import annotations

import csv
import html
import io
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from hypothesis import example, given, note
from hypothesis import strategies as st

from accounts.models import User
from common.textinput import forbidden_character
from inventory.catalog import services as catalog
from inventory.catalog.models import CatalogImport, CatalogSKU
from tests.conftest import signed_in

IMPORT = reverse("inventory:catalog_import")
EXPORT = reverse("inventory:catalog_export")
HEADER = ",".join(catalog.COLUMNS) + "\n"
LINE = re.compile(r"Line (\d+): \S")
DIGEST = re.compile(r'name="digest" value="([0-9a-f]{64})"')

# Cell values that have broken, or nearly broken, a parser somewhere: NUL and other control
# characters, digits int() does not read ("²") or reads unasked ("٧٥٠"), numbers just out
# of range or far beyond what int() converts, and the words each column takes.
TRICKY = [
    "", " ", "\x00", "W\x00ine", "\x01", "\x1b[0m", "\x7f", "\x85", "\t", "\u2028", "\ufeff",
    "²", "٧٥٠", "１２", "0", "-0", "-1", "+1", "1e3", "7.5", "0750", " 750 ", "1" * 30,
    "9" * 5000, "NV", "nv", "N/A", "1899", "1900", "2100", "2101", "100000", "100001",
    "1000", "1001", "yes", "no", "TRUE", "0 ", "maybe", "UF-A-1", "uf-a-1", "UF--A", "A" * 65,
    "W" * 201, '"', ",", '"quoted"', "Crémant, Brut",
]  # fmt: skip
# Text in which NUL, control characters, quotes, commas and line breaks are common.
damaged_text = st.text(
    st.one_of(st.sampled_from('\x00\x01\x08\x1f\x7f\x85\r\n",²٧'), st.characters(codec="utf-8")),
    max_size=12,
)
cell_text = st.one_of(st.sampled_from(TRICKY), damaged_text, st.text(max_size=12))

codes = st.from_regex(r"[A-Z0-9]{1,5}(-[A-Z0-9]{1,5}){0,3}", fullmatch=True)
# Any wine name the import takes: no control characters (TAB aside), not blank, and
# spreadsheet punctuation (commas, quotes) on purpose.
wines = st.text(
    st.one_of(st.characters(exclude_categories=("Cs", "Cc")), st.sampled_from('",;\t ')),
    min_size=1,
    max_size=40,
).filter(lambda wine: wine.strip() != "")


@st.composite
def valid_rows(draw: st.DrawFn) -> list[dict[str, str]]:
    """1–4 rows the import accepts, in the different spellings it accepts."""
    rows = []
    for code in draw(st.lists(codes, min_size=1, max_size=4, unique=True)):
        vintage = draw(st.one_of(st.none(), st.integers(1900, 2100)))
        rows.append(
            {
                "code": code,
                "wine": draw(wines),
                "vintage": draw(st.sampled_from(["", "NV", "nv", " NV"]))
                if vintage is None
                else str(vintage),
                "format_ml": str(draw(st.integers(1, catalog.MAX_FORMAT_ML))),
                "bottles_per_case": str(draw(st.integers(1, catalog.MAX_BOTTLES_PER_CASE))),
                "active": draw(st.sampled_from(["yes", "no", "true", "false", "1", "0", "YES"])),
            }
        )
    return rows


def csv_bytes(rows: list[list[str]], *, crlf: bool = False, bom: bool = False) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n" if crlf else "\n").writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode()


def catalog_table() -> list[tuple[Any, ...]]:
    return list(
        CatalogSKU.objects.order_by("code").values_list(
            "code", "wine", "vintage", "format_ml", "bottles_per_case", "active", "updated_at"
        )
    )


def listed_errors(body: str, list_id: str) -> list[str]:
    match = re.search(rf'<ul class="errorlist" id="{list_id}"[^>]*>(.*?)</ul>', body, re.S)
    if match is None:
        return []
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", match.group(1), re.S)]


def assert_line_numbered(errors: list[str], content: bytes) -> None:
    # A line number can be no later than the file's last line, however its lines end.
    last_line = content.count(b"\n") + content.count(b"\r") + 1
    for error in errors:
        match = LINE.match(error)
        assert match, f"not line-numbered: {error!r}"
        assert forbidden_character(error) is None, f"echoes damaged input: {error!r}"
        assert 1 <= int(match.group(1)) <= last_line, error


def import_through_the_pages(client: Client, content: bytes) -> str:
    """Upload ``content``, preview it and confirm it, checking every answer on the way.
    Returns "refused" (at upload), "rejected" (rows with errors) or "applied"."""
    note(f"content: {content[:500]!r}")
    before = catalog_table()
    uploads_before = CatalogImport.objects.count()

    response = client.post(IMPORT, {"file": SimpleUploadedFile("c.csv", content, "text/csv")})
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        errors = listed_errors(response.content.decode(), "file-errors")
        assert errors, "a refused upload says why"
        assert_line_numbered(errors, content)
        assert CatalogImport.objects.count() == uploads_before
        assert catalog_table() == before
        return "refused"

    url = response["Location"]
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    errors = listed_errors(body, "import-errors")
    assert_line_numbered(errors, content)
    plan = catalog.catalog_import_plan(content=content)
    assert len(errors) == len(plan.all_errors)
    offered = DIGEST.search(body)
    if errors:
        assert offered is None, "a file with errors cannot be confirmed"
        # Forcing a confirmation anyway, with the plan's true digest, is refused whole.
        forced = client.post(url, {"digest": plan.digest})
        assert forced.status_code == 200
        assert "nothing was changed" in forced.content.decode()
        assert catalog_table() == before
        return "rejected"

    assert offered is not None
    done = client.post(url, {"digest": offered.group(1)})
    assert done.status_code == 302, listed_errors(done.content.decode(), "confirm-errors")
    for row in plan.rows:
        assert row.values is not None
        assert catalog.SKUValues.of(CatalogSKU.objects.get(code=row.code)) == row.values
    return "applied"


@pytest.fixture
def admin_client(ada: User) -> Client:
    return signed_in(ada)


@given(content=st.one_of(st.binary(max_size=600), st.binary(max_size=600).map(
    lambda tail: HEADER.encode() + tail
)))  # fmt: skip
def test_arbitrary_bytes_never_reach_a_5xx(admin_client: Client, content: bytes) -> None:
    import_through_the_pages(admin_client, content)


@st.composite
def arbitrary_tables(draw: st.DrawFn) -> list[list[str]]:
    """Mostly a readable header (its columns in any order) and rows as wide as it, so each
    arbitrary cell is looked at; sometimes an arbitrary header, or rows of any width."""
    if draw(st.integers(0, 4)):
        header = draw(st.permutations(list(catalog.COLUMNS)))
    else:
        header = draw(st.lists(cell_text, max_size=8))
    rows = []
    for _ in range(draw(st.integers(1, 5))):
        width = len(header) if draw(st.integers(0, 4)) else draw(st.integers(0, 8))
        rows.append(draw(st.lists(cell_text, min_size=width, max_size=width)))
    return [header, *rows]


@given(table=arbitrary_tables(), crlf=st.booleans(), bom=st.booleans())
def test_arbitrary_cells_never_reach_a_5xx(
    admin_client: Client, table: list[list[str]], crlf: bool, bom: bool
) -> None:
    import_through_the_pages(admin_client, csv_bytes(table, crlf=crlf, bom=bom))


ONE_ROW = [{"code": "UF-A-1", "wine": "Brut", "vintage": "NV", "format_ml": "750",
            "bottles_per_case": "12", "active": "yes"}]  # fmt: skip


# The 5xx this test found, kept as examples so every run tries them.
@example(rows=ONE_ROW, index=0, column="wine", value="W\x00ine")
@example(rows=ONE_ROW, index=0, column="format_ml", value="²")
@example(rows=ONE_ROW, index=0, column="vintage", value="9" * 5000)
@given(
    rows=valid_rows(),
    index=st.integers(0, 3),
    column=st.sampled_from(catalog.COLUMNS),
    value=cell_text,
)
def test_a_valid_file_with_one_cell_changed_is_applied_or_refused_whole(
    admin_client: Client, rows: list[dict[str, str]], index: int, column: str, value: str
) -> None:
    rows = [dict(row) for row in rows]  # an @example's rows are shared between runs
    index %= len(rows)
    rows[index][column] = value
    table = [list(catalog.COLUMNS), *([row[c] for c in catalog.COLUMNS] for row in rows)]
    outcome = import_through_the_pages(admin_client, csv_bytes(table))
    if outcome == "rejected":
        # The changed cell's row is the one (or among those) the preview names.
        errors = catalog.catalog_import_plan(content=csv_bytes(table)).all_errors
        assert index + 2 in {error.line for error in errors} or any(
            error.message.startswith("duplicate code") for error in errors
        )


@given(rows=valid_rows(), crlf=st.booleans())
def test_a_catalog_that_imports_exports_to_a_file_that_reimports_unchanged(
    admin_client: Client, rows: list[dict[str, str]], crlf: bool
) -> None:
    table = [list(catalog.COLUMNS), *([row[c] for c in catalog.COLUMNS] for row in rows)]
    assert import_through_the_pages(admin_client, csv_bytes(table, crlf=crlf)) == "applied"

    # The whole catalog, including what earlier examples imported, goes out and back in.
    exported = admin_client.get(EXPORT)
    assert exported.status_code == 200
    before = catalog_table()
    response = admin_client.post(
        IMPORT, {"file": SimpleUploadedFile("export.csv", exported.content, "text/csv")}
    )
    assert response.status_code == 302
    body = admin_client.get(response["Location"]).content.decode()
    total = len(before)
    assert f"0 new · 0 changed · {total} unchanged · 0 with errors" in body
    plan = catalog.catalog_import_plan(content=exported.content)
    assert [row.outcome for row in plan.rows] == [catalog.Outcome.UNCHANGED] * total
    assert catalog_table() == before


@given(
    form=st.dictionaries(
        st.sampled_from(["digest", "confirm", "token"]),
        st.one_of(cell_text, st.lists(cell_text, min_size=2, max_size=3), st.just("0" * 64)),
        max_size=3,
    )
)
def test_any_confirmation_but_the_previews_own_applies_nothing(
    admin_client: Client, form: dict[str, Any]
) -> None:
    content = (HEADER + "UF-A-1,Brut,NV,750,12,yes\n").encode()
    response = admin_client.post(IMPORT, {"file": SimpleUploadedFile("c.csv", content)})
    url = response["Location"]
    before = catalog_table()
    answer = admin_client.post(url, form)
    assert answer.status_code == 200
    assert "nothing was changed" in answer.content.decode()
    assert catalog_table() == before
    upload = CatalogImport.objects.get(token=url.rstrip("/").rsplit("/", 1)[-1])
    assert upload.status == CatalogImport.Status.PREVIEWED
