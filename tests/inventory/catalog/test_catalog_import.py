"""The catalog CSV import: upload, preview (applies nothing), confirm (all or nothing)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.models import User
from inventory.catalog import services as catalog
from inventory.catalog.models import CatalogImport, CatalogSKU, nine_litre_cases
from tests.conftest import signed_in

UNKNOWN_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
HEADER = "code,wine,vintage,format_ml,bottles_per_case,active\n"
GOOD = (
    HEADER + "UF-CAL-NV-750,The Callie Sparkling Rosé,NV,750,12,yes\n"
    "UF-BDB-2021-750,Blanc de Blancs,2021,750,6,true\n"
    '"UF-CRB-NV-750","Crémant: Brut d\'Une Femme",,750,12,1\n'
)


def upload(client: Client, text: str | bytes, name: str = "catalog.csv") -> Any:
    data = text.encode() if isinstance(text, str) else text
    return client.post(
        reverse("inventory:catalog_import"), {"file": SimpleUploadedFile(name, data, "text/csv")}
    )


def preview_url(response: Any) -> str:
    assert response.status_code == 302, response.content.decode()[:2000]
    return str(response["Location"])


def confirm(client: Client, url: str) -> Any:
    page = client.get(url)
    match = re.search(r'name="digest" value="([0-9a-f]{64})"', page.content.decode())
    assert match, "the preview offers no confirm button"
    return client.post(url, {"digest": match.group(1)})


@pytest.fixture
def admin_client(ada: User) -> Client:
    return signed_in(ada)


def test_a_good_file_is_previewed_then_applied_on_confirm(admin_client: Client, ada: User) -> None:
    url = preview_url(upload(admin_client, GOOD))
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "3 new · 0 changed · 0 unchanged · 0 with errors" in page.content.decode()
    assert CatalogSKU.objects.count() == 0  # the preview applied nothing

    response = confirm(admin_client, url)
    assert response.status_code == 302
    assert response["Location"] == reverse("inventory:catalog")
    assert CatalogSKU.objects.count() == 3
    calli = CatalogSKU.objects.get(code="UF-CAL-NV-750")
    assert (calli.vintage, calli.format_ml, calli.bottles_per_case, calli.active) == (
        None, 750, 12, True,
    )  # fmt: skip
    assert CatalogSKU.objects.get(code="UF-BDB-2021-750").vintage == 2021

    audit = CatalogImport.objects.get()
    assert audit.status == CatalogImport.Status.APPLIED
    assert audit.uploaded_by == ada and audit.applied_at is not None
    assert (audit.created_count, audit.updated_count, audit.unchanged_count) == (3, 0, 0)
    assert {c["code"] for c in audit.changes} == {
        "UF-CAL-NV-750", "UF-BDB-2021-750", "UF-CRB-NV-750",
    }  # fmt: skip


def test_the_preview_reports_every_bad_row_with_its_line_and_applies_nothing(
    admin_client: Client,
) -> None:
    CatalogSKU.objects.create(code="UF-JUL-NV-750", wine="The Juliette Brut", format_ml=750,
                              bottles_per_case=12)  # fmt: skip
    text = (
        HEADER  # line 1
        + "UF-CAL-NV-750,The Callie,NV,750,12,yes\n"  # 2: fine
        + "uf-bad code,Bad,NV,750,12,yes\n"  # 3: bad code
        + "UF-CAL-NV-750,The Callie again,NV,750,12,yes\n"  # 4: duplicate of line 2
        + "UF-X-1,Wine,twenty,750,12,yes\n"  # 5: non-numeric vintage
        + "UF-X-2,Wine,NV,0,12,yes\n"  # 6: format not positive
        + "UF-X-3,Wine,NV,750,-6,yes\n"  # 7: bottles per case not positive
        + "UF-X-4,Wine,NV,750,12,maybe\n"  # 8: active not a boolean
        + "UF-X-5,Wine,NV,750\n"  # 9: missing values
        + "UF-JUL-NV-750,The Juliette Brut,NV,750,6,yes\n"  # 10: fine (changed)
    )
    url = preview_url(upload(admin_client, text))
    body = admin_client.get(url).content.decode()
    expected = {
        3: "bad code “uf-bad code”",
        4: "duplicate code UF-CAL-NV-750: it is already on line 2",
        5: "vintage “twenty” is not a year",
        6: "format_ml 0 is not positive",
        7: "bottles_per_case -6 is not positive",
        8: "active “maybe” is not one of yes, no, true, false, 1, 0",
        9: "4 values but the header has 6 columns",
    }
    for line, reason in expected.items():
        assert f"Line {line}: {reason}" in body, (line, reason)
    assert "Line 2:" not in body and "Line 10:" not in body
    assert "bottles_per_case: <del>12</del> → <ins>6</ins>" in body
    assert 'name="digest"' not in body  # no confirm button while the file has errors

    # Forcing a confirmation anyway is refused, and changes nothing.
    plan = catalog.catalog_import_plan(content=text.encode())
    response = admin_client.post(url, {"digest": plan.digest})
    assert response.status_code == 200
    assert "The file has 7 error(s); nothing was changed." in response.content.decode()
    assert list(CatalogSKU.objects.values_list("code", "bottles_per_case")) == [
        ("UF-JUL-NV-750", 12)
    ]
    assert CatalogImport.objects.get().status == CatalogImport.Status.PREVIEWED


def test_an_unknown_column_is_reported_on_line_1(admin_client: Client) -> None:
    text = "code,wine,vintage,format_ml,bottles_per_case,active,price\nUF-A-1,W,NV,750,12,yes,9\n"
    body = admin_client.get(preview_url(upload(admin_client, text))).content.decode()
    assert "Line 1: unknown column “price”" in body
    assert 'name="digest"' not in body


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "Line 1: the file is empty"),
        (b"\xef\xbb\xbf\r\n\r\n", "Line 1: the file is empty"),
        (HEADER.encode(), "Line 1: the file has a header but no SKU rows"),
        (b"code,wine,vintage,format_ml,active\nUF-A-1,W,NV,750,yes\n",
         "Line 1: missing column “bottles_per_case”"),
        ((HEADER + "UF-A-1,Cr\xe9mant,NV,750,12,yes\n").encode("latin-1"),
         "Line 2: the file is not UTF-8"),
    ],
    ids=["empty", "bom-and-blank-lines", "header-only", "missing-column", "latin-1"],
)  # fmt: skip
def test_unreadable_files_are_refused_on_the_upload_form(
    admin_client: Client, content: bytes, message: str
) -> None:
    response = upload(admin_client, content)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not CatalogImport.objects.exists()


def test_a_file_over_2_mb_is_refused(admin_client: Client) -> None:
    row = "UF-A-1,Wine,NV,750,12,yes\n"
    big = HEADER + row * (2 * 1024 * 1024 // len(row) + 1)
    response = upload(admin_client, big)
    assert response.status_code == 200
    assert "the limit is 2.0 MB" in response.content.decode()
    assert not CatalogImport.objects.exists()
    with pytest.raises(ValidationError, match="the limit is 2.0 MB"):
        catalog.catalog_csv_parse(big.encode())


def test_reimporting_the_same_file_changes_nothing(admin_client: Client) -> None:
    assert confirm(admin_client, preview_url(upload(admin_client, GOOD))).status_code == 302
    before = list(CatalogSKU.objects.values_list("code", "wine", "updated_at"))

    url = preview_url(upload(admin_client, GOOD))
    assert "0 new · 0 changed · 3 unchanged" in admin_client.get(url).content.decode()
    assert confirm(admin_client, url).status_code == 302
    assert list(CatalogSKU.objects.values_list("code", "wine", "updated_at")) == before
    second = CatalogImport.objects.order_by("-pk").first()
    assert second is not None
    assert (second.created_count, second.updated_count, second.unchanged_count) == (0, 0, 3)
    assert second.changes == []


def test_a_change_shows_before_and_after_and_is_applied(admin_client: Client) -> None:
    CatalogSKU.objects.create(code="UF-CAL-NV-750", wine="Callie", format_ml=750,
                              bottles_per_case=6, active=False)  # fmt: skip
    url = preview_url(upload(admin_client, HEADER + "UF-CAL-NV-750,Callie,NV,750,12,yes\n"))
    body = admin_client.get(url).content.decode()
    assert "bottles_per_case: <del>6</del> → <ins>12</ins>" in body
    assert "active: <del>no</del> → <ins>yes</ins>" in body
    confirm(admin_client, url)
    sku = CatalogSKU.objects.get()
    assert (sku.bottles_per_case, sku.active) == (12, True)
    change = CatalogImport.objects.get().changes[0]
    assert change["before"]["bottles_per_case"] == 6 and change["after"]["bottles_per_case"] == 12


def test_confirm_applies_every_row_in_one_transaction(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = preview_url(upload(admin_client, GOOD))
    page = admin_client.get(url).content.decode()
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', page)
    assert digest

    # The third row fails while being written: the first two must not stay behind.
    real_apply = catalog._row_apply
    calls = []

    def failing_apply(values: catalog.SKUValues) -> None:
        calls.append(values.code)
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        real_apply(values)

    monkeypatch.setattr(catalog, "_row_apply", failing_apply)
    client = signed_in(User.objects.get(email="ada@unefemme.test"))
    client.raise_request_exception = True
    with pytest.raises(RuntimeError):
        client.post(url, {"digest": digest.group(1)})
    assert len(calls) == 3
    assert not CatalogSKU.objects.exists()
    assert CatalogImport.objects.get().status == CatalogImport.Status.PREVIEWED

    monkeypatch.setattr(catalog, "_row_apply", real_apply)
    assert admin_client.post(url, {"digest": digest.group(1)}).status_code == 302
    assert CatalogSKU.objects.count() == 3


def test_a_catalog_change_after_the_preview_refuses_the_confirmation(
    admin_client: Client,
) -> None:
    url = preview_url(upload(admin_client, GOOD))
    page = admin_client.get(url).content.decode()
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', page)
    assert digest
    # Another admin adds one of the file's SKUs in between: "new" would now be "changed".
    CatalogSKU.objects.create(code="UF-CAL-NV-750", wine="Callie", format_ml=750,
                              bottles_per_case=6)  # fmt: skip

    response = admin_client.post(url, {"digest": digest.group(1)})
    assert response.status_code == 200
    assert "The catalog changed since this preview was shown" in response.content.decode()
    assert list(CatalogSKU.objects.values_list("code", "bottles_per_case")) == [
        ("UF-CAL-NV-750", 6)
    ]
    # The page shows the new plan; confirming that one works.
    assert confirm(admin_client, url).status_code == 302
    assert CatalogSKU.objects.get(code="UF-CAL-NV-750").bottles_per_case == 12


def test_a_tampered_digest_or_stored_file_is_refused(admin_client: Client) -> None:
    url = preview_url(upload(admin_client, GOOD))
    for forged in ["0" * 64, "not-a-digest", ""]:
        response = admin_client.post(url, {"digest": forged})
        assert response.status_code == 200
        assert "nothing was changed" in response.content.decode()
    # The stored bytes no longer match their checksum.
    CatalogImport.objects.update(content=(GOOD + "UF-EVIL-1,Evil,NV,750,12,yes\n").encode())
    page = admin_client.get(url).content.decode()
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', page)
    assert digest
    response = admin_client.post(url, {"digest": digest.group(1)})
    assert "no longer matches the one uploaded" in response.content.decode()
    assert not CatalogSKU.objects.exists()


def test_an_unknown_or_another_admins_import_id_is_a_404(admin_client: Client) -> None:
    url = preview_url(upload(admin_client, GOOD))
    other_admin = User.objects.create_user("ida@unefemme.test", "x", role="admin")
    other = signed_in(other_admin)
    digest = catalog.catalog_import_plan(content=GOOD.encode()).digest
    assert other.get(url).status_code == 404
    assert other.post(url, {"digest": digest}).status_code == 404
    fake = reverse("inventory:catalog_import_preview", args=[UNKNOWN_ID])
    assert admin_client.post(fake, {"digest": digest}).status_code == 404
    assert admin_client.get(url.rstrip("/") + "x/").status_code == 404
    assert not CatalogSKU.objects.exists()


def test_an_expired_preview_is_refused(admin_client: Client) -> None:
    url = preview_url(upload(admin_client, GOOD))
    digest = catalog.catalog_import_plan(content=GOOD.encode()).digest
    CatalogImport.objects.update(
        uploaded_at=CatalogImport.objects.get().uploaded_at - catalog.PREVIEW_TTL
        - timedelta(minutes=1)
    )  # fmt: skip
    page = admin_client.get(url).content.decode()
    assert "This preview has expired." in page and 'name="digest"' not in page
    response = admin_client.post(url, {"digest": digest})
    assert response.status_code == 200
    assert "This preview has expired" in response.content.decode()
    assert not CatalogSKU.objects.exists()


def test_an_applied_import_cannot_be_applied_twice(admin_client: Client) -> None:
    url = preview_url(upload(admin_client, GOOD))
    digest = catalog.catalog_import_plan(content=GOOD.encode()).digest
    assert admin_client.post(url, {"digest": digest}).status_code == 302
    CatalogSKU.objects.filter(code="UF-CAL-NV-750").update(wine="Edited since")
    response = admin_client.post(url, {"digest": digest})
    assert "already been applied" in response.content.decode()
    assert CatalogSKU.objects.get(code="UF-CAL-NV-750").wine == "Edited since"
    assert CatalogImport.objects.get().status == CatalogImport.Status.APPLIED


@pytest.mark.parametrize("who", ["alice", "bob", "sam"])
def test_partner_users_and_staff_get_403_on_import(who: str, cast: dict[str, User]) -> None:
    client = signed_in(cast[who])
    assert client.get(reverse("inventory:catalog_import")).status_code == 403
    assert upload(client, GOOD).status_code == 403
    fake = reverse("inventory:catalog_import_preview", args=[UNKNOWN_ID])
    assert client.post(fake, {"digest": "0" * 64}).status_code == 403
    assert not CatalogImport.objects.exists()
    assert not CatalogSKU.objects.exists()


def test_bom_crlf_accents_apostrophes_and_colons_round_trip(admin_client: Client) -> None:
    wines = ["Château d'Yquem 2015", "Crémant: Brut", 'Côte "Ouest", Réserve']
    text = HEADER.replace("\n", "\r\n") + "".join(
        f'UF-RT-{i},"{w.replace(chr(34), chr(34) * 2)}",NV,750,12,no\r\n'
        for i, w in enumerate(wines)
    )
    content = b"\xef\xbb\xbf" + text.encode()
    url = preview_url(upload(admin_client, content))
    body = admin_client.get(url).content.decode()
    assert "3 new · 0 changed · 0 unchanged · 0 with errors" in body
    assert "Château d&#x27;Yquem 2015" in body and "Crémant: Brut" in body
    confirm(admin_client, url)
    assert [s.wine for s in CatalogSKU.objects.order_by("code")] == wines

    # The export is the import's format: feeding it back changes nothing.
    export = admin_client.get(reverse("inventory:catalog_export"))
    assert export["Content-Type"].startswith("text/csv")
    exported = export.content
    assert exported.startswith(b"\xef\xbb\xbf")
    assert "Château d'Yquem 2015" in exported.decode("utf-8-sig")
    plan = catalog.catalog_import_plan(content=exported)
    assert [r.outcome for r in plan.rows] == [catalog.Outcome.UNCHANGED] * 3


def test_nine_litre_cases() -> None:
    assert nine_litre_cases(12, format_ml=750) == Decimal("1.0000")
    assert nine_litre_cases(24, format_ml=375) == Decimal("1.0000")
    assert nine_litre_cases(1, format_ml=750) == Decimal("0.0833")
    assert nine_litre_cases(Decimal("6"), format_ml=1500) == Decimal("1.0000")
    sku = CatalogSKU(code="UF-A-1", wine="W", format_ml=750, bottles_per_case=6)
    assert sku.nine_litre_cases(120) == Decimal("10.0000")
    assert sku.case_in_nine_litre_cases == Decimal("0.5000")


# No input reaches a 5xx. Each of these was a 500 before.


def test_a_superscript_digit_in_format_ml_is_a_row_error(admin_client: Client) -> None:
    # "²".isdigit() is True, but int("²") raises: the upload was a 500.
    url = preview_url(upload(admin_client, HEADER + "UF-A-1,Wine,NV,²,12,yes\n"))
    body = admin_client.get(url).content.decode()
    assert (
        "Line 2: format_ml “²” is not a whole number (a number of millilitres from 1 to 100000)."
        in body
    )
    assert 'name="digest"' not in body


def test_digits_of_other_scripts_are_not_numbers(admin_client: Client) -> None:
    # int("٧٥٠") is 750: a value nobody typed in a catalog would have been taken as one.
    text = HEADER + "UF-A-1,Wine,٢٠٢١,750,12,yes\nUF-A-2,Wine,NV,٧٥٠,12,yes\n"
    body = admin_client.get(preview_url(upload(admin_client, text))).content.decode()
    assert "Line 2: vintage “٢٠٢١” is not a year (write a year from 1900 to 2100, or NV)." in body
    assert "Line 3: format_ml “٧٥٠” is not a whole number" in body


def test_a_number_too_long_for_int_is_out_of_range_not_a_crash(admin_client: Client) -> None:
    # int() refuses more than 4300 digits (a ValueError, so a 500).
    huge = "9" * 5000
    text = HEADER + f"UF-A-1,Wine,{huge},750,12,yes\nUF-A-2,Wine,NV,750,{huge},yes\n"
    body = admin_client.get(preview_url(upload(admin_client, text))).content.decode()
    assert f"Line 2: vintage {'9' * 20}… is not a year from 1900 to 2100 (or NV)." in body
    assert (
        f"Line 3: bottles_per_case {'9' * 20}… is too large (a number of bottles from 1 to 1000)."
        in body
    )
    assert huge not in body


def test_every_number_error_states_the_range(admin_client: Client) -> None:
    text = HEADER + "UF-A-1,Wine,NV,100001,12,yes\nUF-A-2,Wine,2101,750,0,yes\n"
    body = admin_client.get(preview_url(upload(admin_client, text))).content.decode()
    assert (
        "Line 2: format_ml 100001 is too large (a number of millilitres from 1 to 100000)." in body
    )
    assert "Line 3: vintage 2101 is not a year from 1900 to 2100 (or NV)." in body
    assert (
        "Line 3: bottles_per_case 0 is not positive (a number of bottles from 1 to 1000)." in body
    )


def test_a_nul_byte_in_a_wine_name_is_a_row_error_and_nothing_is_written(
    admin_client: Client,
) -> None:
    # PostgreSQL cannot store NUL: confirming this file was a DataError (a 500).
    content = (HEADER + "UF-A-1,Brut,NV,750,12,yes\nUF-A-2,Dem\x00i-Sec,NV,750,12,yes\n").encode()
    url = preview_url(upload(admin_client, content))
    body = admin_client.get(url).content.decode()
    assert "Line 3: wine contains a NUL byte (U+0000); remove it and send the value again." in body
    assert 'name="digest"' not in body
    response = admin_client.post(
        url, {"digest": catalog.catalog_import_plan(content=content).digest}
    )
    assert response.status_code == 200
    assert "The file has 1 error(s); nothing was changed." in response.content.decode()
    assert not CatalogSKU.objects.exists()


def test_control_characters_in_any_cell_or_the_header_are_line_numbered_errors(
    admin_client: Client,
) -> None:
    text = (
        "code,wine,vintage,format_ml,bottles_per_case,active,no\x1bte\n"
        + 'UF-A-1,"Brut\nRosé",NV,750,12,yes,\n'  # a line break inside a quoted wine name
        + "UF-A-2,Brut,N\x07V,750,12,y\x7fes,\n"
    )
    body = admin_client.get(preview_url(upload(admin_client, text))).content.decode()
    assert "Line 1: the header&#x27;s column 7 contains a control character (U+001B)" in body
    assert "Line 2: wine contains a control character (U+000A)" in body
    assert "Line 4: vintage contains a control character (U+0007)" in body
    assert "Line 4: active contains a control character (U+007F)" in body
    assert 'name="digest"' not in body


def test_a_model_rule_the_reader_lacks_refuses_the_import_with_its_line(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rule added to the model and not to the reader fails at confirmation. Its per-field
    # error could not be added to the confirm form (a ValueError, so a 500 before).
    url = preview_url(upload(admin_client, GOOD))
    digest = catalog.catalog_import_plan(content=GOOD.encode()).digest
    wine = CatalogSKU._meta.get_field("wine")

    def no_colons(value: str) -> None:
        if ":" in value:
            raise ValidationError("A wine name cannot contain a colon.")

    monkeypatch.setattr(wine, "validators", [*wine.validators, no_colons])
    response = admin_client.post(url, {"digest": digest})
    assert response.status_code == 200
    assert (
        "Line 4: A wine name cannot contain a colon. Nothing was changed."
        in response.content.decode()
    )
    assert not CatalogSKU.objects.exists()
