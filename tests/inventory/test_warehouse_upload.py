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
from inventory import warehouse
from inventory.models import CatalogSKU
from inventory.warehouse_models import WarehouseSnapshot, WarehouseSnapshotChange, WarehouseUpload
from tests.conftest import signed_in
from tests.inventory.warehouse_fixtures import catalog_fixture, days_ago, today  # noqa: F401

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
    rows = {r.line: r for r in page.context["plan"].rows}
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
        assert message in rows[line].error_text, (line, rows[line].error_text)
    html = page.content.decode()
    assert "Error, line 10:" in html and "Error, line 14:" in html
    # Above the table, one list of every bad row and why, and no way to confirm.
    listed = re.search(r'<ul class="errorlist" id="upload-errors">(.*?)</ul>', html, re.S)
    assert listed is not None
    assert re.findall(r"<li>Line (\d+): ", listed.group(1)) == [str(n) for n in expected]
    assert "Line 4: Unknown partner “nobody”" in listed.group(1)
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
    assert item.applied_at is None and item.summary == {}
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
    assert "Line 3: SKU UF-CAL-NV-375 is inactive in the catalog." in html
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
    plan = warehouse.upload_plan(item)
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
