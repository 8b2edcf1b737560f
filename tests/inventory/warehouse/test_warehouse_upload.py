"""The warehouse CSV upload: preview with per-line errors, nothing saved until confirmed,
a file with any bad row never applied (not even in part), confirm applies every row of a
clean file in one transaction, and only admins reach it."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError
from django.test import Client
from django.urls import reverse

from accounts.models import Partner, User
from inventory.catalog.models import CatalogSKU
from inventory.warehouse import plan as planning
from inventory.warehouse import services as warehouse
from inventory.warehouse.models import (
    WarehouseSnapshot,
    WarehouseSnapshotChange,
    WarehouseUpload,
    WarehouseUploadRow,
)
from tests.conftest import signed_in
from tests.inventory.warehouse.fixtures import catalog_fixture, days_ago, today  # noqa: F401

UPLOAD_URL = reverse("inventory:warehouse_upload")
D1 = days_ago(1)
D2 = days_ago(2)


def upload(client: Client, text: str, name: str = "stock.csv") -> Any:
    file = SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")
    return client.post(UPLOAD_URL, {"file": file})


def confirm(client: Client, item: WarehouseUpload, sha256: str | None = None) -> Any:
    url = reverse("inventory:warehouse_upload_confirm", args=[item.pk])
    return client.post(url, {"sha256": sha256 or item.sha256}, follow=True)


def snapshot(partner: Partner, sku: CatalogSKU, bottles: str, as_of: str = D1) -> WarehouseSnapshot:
    return WarehouseSnapshot.objects.create(
        partner=partner, sku=sku, as_of=as_of, bottles=Decimal(bottles), source="csv"
    )


def problems_in(html: str) -> list[tuple[int, list[str], str]]:
    """(line, its values as the file wrote them, its problems) of each row of the preview's
    table of rows with problems."""
    region = re.search(r'id="upload-problems"(.*?)</table>', html, re.S)
    assert region is not None, "no problems table"
    cells = r"\s*".join([r'<td class="num">(\d+)</td>', *[r"<td>(.*?)</td>"] * 5])
    return [
        (int(found[0]), list(found[1:5]), found[5])
        for found in re.findall(r"<tr>\s*" + cells, region.group(1), re.S)
    ]


MIXED = f"""partner,sku,as_of,bottles,cases
bubbles-brine,UF-CAL-NV-750,{D1},144,
cote-ouest,UF-BDB-2021-1500,{D1},,3
nobody,UF-CAL-NV-750,{D1},1,
bubbles-brine,UF-NOPE-750,{D1},1,
bubbles-brine,UF-DEM-NV-750,{D1},1,
bubbles-brine,UF-CAL-NV-375,2025-02-30,1,
bubbles-brine,UF-CAL-NV-375,{(today() + timedelta(days=1)).isoformat()},1,
bubbles-brine,UF-CAL-NV-375,{D2},-4,
bubbles-brine,UF-CAL-NV-375,{D2},lots,
bubbles-brine,UF-CAL-NV-375,{days_ago(3)},12,1
bubbles-brine,UF-CAL-NV-375,{days_ago(4)},,
cote-ouest,UF-CAL-NV-375,{D1},10,
cote-ouest,uf-cal-nv-375,{D1},11,
"""


@pytest.fixture
def admin_client(ada: User) -> Client:
    return signed_in(ada)


def test_preview_reports_every_bad_row_with_its_line_and_saves_nothing(
    admin_client: Client, partner_a: Partner, partner_b: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    response = upload(admin_client, MIXED)
    assert response.status_code == 302
    item = WarehouseUpload.objects.get()
    assert item.sha256 == hashlib.sha256(MIXED.encode()).hexdigest()

    page = admin_client.get(response["Location"])
    assert page.status_code == 200
    rows = {r.line: r for r in WarehouseUploadRow.objects.filter(upload=item)}
    assert rows[2].outcome == "new" and rows[2].bottles == Decimal("144")
    assert rows[3].outcome == "new" and rows[3].bottles == Decimal("18")  # 3 cases of 6
    expected = {
        4: "Unknown partner “nobody”",
        5: "Unknown SKU “UF-NOPE-750”",
        6: "UF-DEM-NV-750 is inactive",
        7: "is not a real date",
        8: "is in the future",
        9: "cannot be negative",
        10: "is not a number",
        11: "not both",
        12: "Give a quantity in bottles or in cases",
        13: "also on line 14",
        14: "also on line 13",
    }
    for line, message in expected.items():
        assert rows[line].outcome == "error", line
        assert message in rows[line].problems, (line, rows[line].problems)
    html = page.content.decode()
    assert "Error, line 10:" in html and "Error, line 14:" in html
    # Above the rows, one table of every problem by line and why, and no way to confirm.
    listed = problems_in(html)
    assert [line for line, _, _ in listed] == list(expected)
    # The values as written, beside the reason.
    assert (4, ["nobody", "UF-CAL-NV-750", D1, "1"], "Unknown partner “nobody”.") in listed
    assert "Nothing will be recorded until the file is corrected and uploaded again" in html
    assert "Confirm: apply" not in html
    assert reverse("inventory:warehouse_upload_confirm", args=[item.pk]) not in html
    # A preview changes nothing.
    assert not WarehouseSnapshot.objects.exists()
    assert not WarehouseSnapshotChange.objects.exists()


def test_a_file_with_bad_rows_cannot_be_confirmed_even_by_a_forced_post(
    admin_client: Client,
    ada: User,
    partner_a: Partner,
    partner_b: Partner,
    catalog: dict[str, CatalogSKU],
) -> None:
    # Lines 2 and 3 of MIXED are good: line 2 would replace this quantity and line 3 would
    # add one. Neither may land while the file has bad rows.
    snapshot(partner_a, catalog["UF-CAL-NV-750"], "100")
    upload(admin_client, MIXED)
    item = WarehouseUpload.objects.get()

    page = confirm(admin_client, item)  # the POST the page no longer offers
    html = page.content.decode()
    assert "11 rows of this file have errors (lines 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, …)" in html
    assert "so nothing was recorded. Correct the file and upload it again." in html
    assert WarehouseSnapshot.objects.count() == 1
    assert WarehouseSnapshot.objects.get().bottles == Decimal("100.00")
    assert not WarehouseSnapshotChange.objects.exists()
    item.refresh_from_db()
    assert item.status == WarehouseUpload.Status.PENDING
    assert item.applied_at is None and item.applied_by is None
    # The summary is still the preview's counts: nothing was applied.
    assert item.summary == {"new": 1, "replace": 1, "unchanged": 0, "error": 11}
    # Calling the service directly is refused the same way.
    with pytest.raises(ValidationError, match="nothing was recorded"):
        warehouse.warehouse_upload_confirm(upload_id=item.pk, user=ada, sha256=item.sha256)
    assert WarehouseSnapshot.objects.count() == 1


def test_a_row_gone_bad_since_a_clean_preview_refuses_the_whole_file(
    admin_client: Client, partner_a: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    text = (
        f"partner,sku,as_of,bottles\nbubbles-brine,UF-CAL-NV-750,{D1},90\n"
        f"bubbles-brine,UF-CAL-NV-375,{D1},7\n"
    )
    upload(admin_client, text)
    item = WarehouseUpload.objects.get()
    detail = reverse("inventory:warehouse_upload_detail", args=[item.pk])
    assert "Confirm: apply 2 changes" in admin_client.get(detail).content.decode()
    # Between preview and confirm, an admin retires one of the SKUs.
    CatalogSKU.objects.filter(code="UF-CAL-NV-375").update(active=False)

    page = confirm(admin_client, item)
    html = page.content.decode()
    assert "1 row of this file has an error (line 3), so nothing was recorded." in html
    assert problems_in(html) == [
        (
            3,
            ["bubbles-brine", "UF-CAL-NV-375", D1, "7"],
            "SKU UF-CAL-NV-375 is inactive in the catalog.",
        )
    ]
    assert "Confirm: apply" not in html
    assert not WarehouseSnapshot.objects.exists()


CLEAN = f"""partner,sku,as_of,bottles,cases
bubbles-brine,UF-CAL-NV-750,{D1},144,
cote-ouest,UF-BDB-2021-1500,{D1},,3
"""


def test_confirm_applies_a_clean_file_once_with_audit(
    admin_client: Client,
    ada: User,
    partner_a: Partner,
    partner_b: Partner,
    catalog: dict[str, CatalogSKU],
) -> None:
    upload(admin_client, CLEAN)
    item = WarehouseUpload.objects.get()

    page = confirm(admin_client, item)
    assert "Applied: 2 new, 0 replaced, 0 unchanged." in page.content.decode()
    stored = {(s.partner.slug, s.sku.code): s for s in WarehouseSnapshot.objects.all()}
    assert set(stored) == {("bubbles-brine", "UF-CAL-NV-750"), ("cote-ouest", "UF-BDB-2021-1500")}
    assert stored["cote-ouest", "UF-BDB-2021-1500"].bottles == Decimal("18")  # 3 cases of 6
    assert all(s.source == "csv" and s.created_by == ada for s in stored.values())
    assert WarehouseSnapshotChange.objects.filter(action="create", actor=ada).count() == 2

    # Confirming again (a double click, a replayed form) applies nothing twice.
    again = confirm(admin_client, item)
    assert "already been applied" in again.content.decode()
    assert WarehouseSnapshotChange.objects.count() == 2


def test_the_preview_shows_bottles_as_whole_numbers_with_thousands_separators(
    admin_client: Client, partner_a: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    # Stored as numeric(12, 2): "4100.00" bottles read as a price, not a count.
    snapshot(partner_a, catalog["UF-CAL-NV-750"], "4100")
    upload(admin_client, f"partner,sku,as_of,bottles\nbubbles-brine,UF-CAL-NV-750,{D1},4200\n")
    item = WarehouseUpload.objects.get()

    html = admin_client.get(reverse("inventory:warehouse_upload_detail", args=[item.pk]))

    page = html.content.decode()
    assert "Replaces 4,100" in page and '<td class="num">4,200</td>' in page
    assert "4100.00" not in page and "4200.00" not in page


def test_a_re_sent_day_replaces_the_quantity_and_is_audited(
    admin_client: Client, partner_a: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    callie = catalog["UF-CAL-NV-750"]
    snapshot(partner_a, callie, "100")
    snapshot(partner_a, catalog["UF-CAL-NV-375"], "24")
    text = (
        f"partner,sku,as_of,bottles\nbubbles-brine,UF-CAL-NV-750,{D1},90\n"
        f"bubbles-brine,UF-CAL-NV-375,{D1},24\n"
    )
    upload(admin_client, text)
    item = WarehouseUpload.objects.get()
    preview = admin_client.get(reverse("inventory:warehouse_upload_detail", args=[item.pk]))
    assert "Replaces 100" in preview.content.decode()
    assert "Unchanged" in preview.content.decode()

    confirm(admin_client, item)
    assert WarehouseSnapshot.objects.filter(sku=callie).count() == 1
    assert WarehouseSnapshot.objects.get(sku=callie).bottles == Decimal("90")
    change = WarehouseSnapshotChange.objects.get()  # the unchanged row writes no audit
    assert (change.action, change.bottles_before, change.bottles_after) == (
        "replace",
        Decimal("100.00"),
        Decimal("90.00"),
    )


def test_confirm_is_all_or_nothing(
    admin_client: Client, partner_a: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    snapshot(partner_a, catalog["UF-CAL-NV-375"], "5")
    text = (
        f"partner,sku,as_of,bottles\nbubbles-brine,UF-CAL-NV-750,{D1},90\n"
        f"bubbles-brine,UF-CAL-NV-375,{D1},7\n"
    )
    upload(admin_client, text)
    item = WarehouseUpload.objects.get()
    # The audit insert (the last write) fails: the new row and the replacement before it
    # must be rolled back with it.
    with mock.patch.object(
        WarehouseSnapshotChange.objects, "bulk_create", side_effect=IntegrityError("boom")
    ):
        page = confirm(admin_client, item)
    assert "Nothing was applied" in page.content.decode()
    assert list(WarehouseSnapshot.objects.values_list("sku__code", "bottles")) == [
        ("UF-CAL-NV-375", Decimal("5.00"))
    ]
    item.refresh_from_db()
    assert item.status == WarehouseUpload.Status.PENDING
    # Once the fault is gone the same preview can still be confirmed.
    confirm(admin_client, item)
    assert WarehouseSnapshot.objects.count() == 2


def test_a_stale_preview_is_shown_again_not_applied(
    admin_client: Client, partner_a: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    upload(admin_client, f"partner,sku,as_of,bottles\nbubbles-brine,UF-CAL-NV-750,{D1},90\n")
    item = WarehouseUpload.objects.get()
    # Between preview and confirm, the warehouse API records the same day.
    snapshot(partner_a, catalog["UF-CAL-NV-750"], "70")

    page = confirm(admin_client, item)
    assert "changed since this preview, so nothing was applied" in page.content.decode()
    assert "Replaces 70" in page.content.decode()
    assert WarehouseSnapshot.objects.get().bottles == Decimal("70")

    confirm(admin_client, item)  # the second confirmation is of the fresh preview
    assert WarehouseSnapshot.objects.get().bottles == Decimal("90")


def test_confirm_refuses_another_files_digest(
    admin_client: Client, partner_a: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    upload(admin_client, f"partner,sku,as_of,bottles\nbubbles-brine,UF-CAL-NV-750,{D1},90\n")
    item = WarehouseUpload.objects.get()
    page = confirm(admin_client, item, sha256="0" * 64)
    assert "not for the file that was previewed" in page.content.decode()
    assert not WarehouseSnapshot.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty."),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (
            b"partner,sku,date,qty\nbubbles-brine,UF-CAL-NV-750,2025-01-01,1\n",
            "must name the columns",
        ),
        (b"partner,sku,as_of,bottles\n", "no data rows"),
    ],
)
def test_an_unreadable_file_is_refused_with_a_reason(
    admin_client: Client, catalog: dict[str, CatalogSKU], content: bytes, message: str
) -> None:
    file = SimpleUploadedFile("bad.csv", content, content_type="text/csv")
    response = admin_client.post(UPLOAD_URL, {"file": file})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not WarehouseUpload.objects.exists()


def test_a_file_over_the_limit_is_refused_before_it_is_read(
    admin_client: Client, catalog: dict[str, CatalogSKU]
) -> None:
    header = b"partner,sku,as_of,bottles\n"
    content = header + b"#" * (warehouse.MAX_UPLOAD_BYTES + 1 - len(header))
    file = SimpleUploadedFile("huge.csv", content, content_type="text/csv")
    response = admin_client.post(UPLOAD_URL, {"file": file})
    assert response.status_code == 200
    assert "The file is larger than 5 MB; split it." in response.content.decode()
    assert not WarehouseUpload.objects.exists()
    # The service refuses it too, whatever calls it.
    with pytest.raises(ValidationError, match="larger than 5 MB"):
        warehouse.warehouse_upload_create(user=User(), filename="huge.csv", content=content)


def test_excel_bom_and_blank_lines_are_fine(
    admin_client: Client, partner_a: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    text = f"\ufeffPartner,SKU,As_Of,Cases\r\n\r\nbubbles-brine,UF-CAL-NV-750,{D1},2.5\r\n\r\n"
    upload(admin_client, text)
    item = WarehouseUpload.objects.get()
    plan = planning.upload_plan(item)
    assert [(r.line, r.outcome, r.bottles) for r in plan.rows] == [(3, "new", Decimal("30.00"))]


@pytest.mark.parametrize("who", ["alice", "sam"])
def test_partner_users_and_staff_get_403(
    who: str, cast: dict[str, User], catalog: dict[str, CatalogSKU]
) -> None:
    client = signed_in(cast[who])
    item = WarehouseUpload.objects.create(filename="x.csv", content=b"x", sha256="0" * 64)
    assert client.get(UPLOAD_URL).status_code == 403
    assert (
        upload(
            client, f"partner,sku,as_of,bottles\nbubbles-brine,UF-CAL-NV-750,{D1},1\n"
        ).status_code
        == 403
    )
    detail = reverse("inventory:warehouse_upload_detail", args=[item.pk])
    assert client.get(detail).status_code == 403
    confirm_url = reverse("inventory:warehouse_upload_confirm", args=[item.pk])
    assert client.post(confirm_url, {"sha256": item.sha256}).status_code == 403
    assert WarehouseUpload.objects.count() == 1
    assert not WarehouseSnapshot.objects.exists()


def test_the_upload_page_renders_for_admins(admin_client: Client) -> None:
    response = admin_client.get(UPLOAD_URL)
    assert response.status_code == 200
    assert b'<label for="id_file">CSV file</label>' in response.content


# --- Hostile and huge input ----------------------------------------------------------------


def preview_of(client: Client, text: str) -> str:
    response = upload(client, text)
    assert response.status_code == 302, response.content[:500]
    page = client.get(response["Location"])
    assert page.status_code == 200
    return page.content.decode()


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (
            "1e30,",
            "bottles 1e30 is too large: a whole number of bottles from 0 to 10,000,000.",
        ),
        (
            ",1e9999",
            "cases 1e9999 is too large: at most 833,333 cases of 12 (10,000,000 bottles).",
        ),
        ("12.5,", "bottles 12.5 is not a whole number: a whole number of bottles from 0"),
        (",0.1", "0.1 cases of 12 is 1.2 bottles, not a whole number of bottles."),
        ("NaN,", "bottles “NaN” is not a number"),
        (f"{'9' * 5000},", "is not a number: a whole number of bottles from 0 to 10,000,000."),
    ],
)
def test_an_out_of_range_quantity_is_a_line_error_not_a_500(
    admin_client: Client,
    partner_a: Partner,
    catalog: dict[str, CatalogSKU],
    cells: str,
    message: str,
) -> None:
    # This very line once answered 500 (decimal.InvalidOperation while rounding).
    html = preview_of(
        admin_client, f"partner,sku,as_of,bottles,cases\nbubbles-brine,UF-CAL-NV-750,{D1},{cells}\n"
    )
    [(line, _, shown)] = problems_in(html)
    assert line == 2 and message in shown
    assert "Confirm: apply" not in html
    assert not WarehouseSnapshot.objects.exists()


def test_the_largest_count_is_accepted(
    admin_client: Client, partner_a: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    text = f"partner,sku,as_of,bottles\nbubbles-brine,UF-CAL-NV-750,{D1},10000000\n"
    html = preview_of(admin_client, text)
    assert "Confirm: apply 1 change" in html
    confirm(admin_client, WarehouseUpload.objects.get())
    assert WarehouseSnapshot.objects.get().bottles == Decimal("10000000")


@pytest.mark.parametrize("column", ["partner", "sku", "as_of", "bottles"])
@pytest.mark.parametrize(("char", "named"), [("\x00", "a NUL byte (U+0000)"), ("\x07", "U+0007")])
def test_a_nul_or_control_character_in_a_cell_is_a_line_error(
    admin_client: Client,
    partner_a: Partner,
    catalog: dict[str, CatalogSKU],
    column: str,
    char: str,
    named: str,
) -> None:
    # A NUL reached PostgreSQL before (psycopg DataError: a 500).
    cells = {"partner": "bubbles-brine", "sku": "UF-CAL-NV-750", "as_of": D1, "bottles": "6"}
    cells[column] = cells[column][:2] + char + cells[column][2:]
    text = (
        "partner,sku,as_of,bottles\n"
        f"bubbles-brine,UF-CAL-NV-375,{D1},1\n" + ",".join(cells.values()) + "\n"
    )
    html = preview_of(admin_client, text)
    [(line, _, shown)] = problems_in(html)
    assert line == 3
    assert shown.startswith(f"{column} contains ") and named in shown
    assert not WarehouseSnapshot.objects.exists()


def test_a_file_of_one_row_repeated_names_a_few_other_lines_only(
    admin_client: Client, partner_a: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    # Every row's message once listed every other line: 5,000 rows made 25 million numbers.
    row = f"bubbles-brine,UF-CAL-NV-750,{D1},1\n"
    plan = planning.plan_rows(
        planning.csv_rows(("partner,sku,as_of,bottles\n" + row * 5000).encode())
    )
    assert plan.counts["error"] == 5000
    first = plan.rows[0].error_text
    assert first.endswith("is also on lines 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 and 4,989 more.")
    assert max(len(r.error_text) for r in plan.rows) < 200


def bad_file(rows: int) -> str:
    return "partner,sku,as_of,bottles\n" + "".join(
        f"bubbles-brine,UF-NOPE-{n},{D1},{n}\n" for n in range(rows)
    )


def test_a_big_bad_file_pages_its_problems_and_offers_them_all_as_csv(
    admin_client: Client, partner_a: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    response = upload(admin_client, bad_file(450))
    detail = response["Location"]
    html = admin_client.get(detail).content.decode()
    # The first 200 problems, pages for the rest, and a download of every one.
    listed = problems_in(html)
    assert [line for line, _, _ in listed] == list(range(2, 202))
    assert "Showing 1–200 of 450" in html
    assert "Download all 450 rows with problems (CSV, with line numbers and reasons)" in html
    page3 = admin_client.get(detail, {"problems-page": "3"}).content.decode()
    assert [line for line, _, _ in problems_in(page3)] == list(range(402, 452))
    # The rows table pages the same way, on its own parameter.
    assert "Showing 1–200 of 450" in page3.split('id="upload-rows"')[1]

    export: Any = admin_client.get(detail, {"problems-format": "csv"})
    assert export["Content-Type"].startswith("text/csv")
    assert "stock-problems.csv" in export["Content-Disposition"]
    lines = b"".join(export.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[0] == "Line,Partner,SKU,As of,Quantity,Problems"
    assert len(lines) == 451
    assert lines[1] == f"2,bubbles-brine,UF-NOPE-0,{D1},0,Unknown SKU “UF-NOPE-0” in the catalog."
    assert lines[-1].startswith(f"451,bubbles-brine,UF-NOPE-449,{D1},449,")


def test_a_page_link_of_either_table_swaps_only_that_table(
    admin_client: Client, partner_a: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    detail = upload(admin_client, bad_file(250))["Location"]
    for region, param in (("upload-problems", "problems-page"), ("upload-rows", "rows-page")):
        response = admin_client.get(
            detail, {param: "2"}, headers={"HX-Request": "true", "HX-Target": region}
        )
        html = response.content.decode()
        assert response.status_code == 200
        assert html.lstrip().startswith(f'<div class="table-region" id="{region}"')
        assert "Showing 201–250 of 250" in html
        assert "<html" not in html


def test_a_preview_reads_stored_rows_and_never_plans_again(
    admin_client: Client,
    partner_a: Partner,
    catalog: dict[str, CatalogSKU],
    django_assert_max_num_queries: Any,
) -> None:
    detail = upload(admin_client, bad_file(450))["Location"]
    with mock.patch.object(planning, "plan_rows", side_effect=AssertionError("planned again")):
        # A handful of queries whatever the file's size: session, user, upload, two counts
        # and two pages.
        with django_assert_max_num_queries(10):
            assert admin_client.get(detail).status_code == 200
        assert admin_client.get(detail, {"problems-format": "csv"}).status_code == 200


def test_an_upload_kept_before_previews_were_stored_is_planned_once_on_view(
    admin_client: Client, partner_a: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    content = f"partner,sku,as_of,bottles\nbubbles-brine,UF-CAL-NV-750,{D1},7\n".encode()
    item = WarehouseUpload.objects.create(
        filename="old.csv", content=content, sha256=hashlib.sha256(content).hexdigest()
    )
    detail = reverse("inventory:warehouse_upload_detail", args=[item.pk])
    assert "Confirm: apply 1 change" in admin_client.get(detail).content.decode()
    item.refresh_from_db()
    assert item.summary["new"] == 1 and item.rows.count() == 1
    confirm(admin_client, item)
    assert WarehouseSnapshot.objects.get().bottles == Decimal("7")


def test_a_line_break_inside_a_quoted_cell_is_that_lines_error(
    admin_client: Client, partner_a: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    text = (
        f"partner,sku,as_of,bottles\nbubbles-brine,UF-CAL-NV-375,{D1},1\n"
        f'bubbles-brine,"UF-CAL\nNV-750",{D1},6\nbubbles-brine,UF-CAL-NV-750,{D1},2\n'
    )
    html = preview_of(admin_client, text)
    # The record ends on line 4, where the file's own line numbers put it.
    assert problems_in(html) == [
        (4, ["bubbles-brine", "UF-CAL\ufffdNV-750", D1, "6"],
         "sku contains a control character (U+000A); remove it and send the value again.")
    ]  # fmt: skip


def test_a_preview_emptied_by_a_crash_is_planned_again(
    admin_client: Client, partner_a: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    # The preview table is unlogged: PostgreSQL empties it after a crash. The file is kept,
    # so the page plans it again rather than showing an empty preview.
    detail = upload(admin_client, bad_file(3))["Location"]
    item = WarehouseUpload.objects.get()
    WarehouseUploadRow.objects.filter(upload=item).delete()
    html = admin_client.get(detail).content.decode()
    assert [line for line, _, _ in problems_in(html)] == [2, 3, 4]
    assert item.rows.count() == 3
