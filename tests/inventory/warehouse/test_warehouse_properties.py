"""No input to the warehouse feed reaches a 5xx, and a refused input writes nothing.

Properties over the CSV upload (arbitrary bytes, arbitrary cells, near-valid files) and the
JSON API (arbitrary JSON, plausible bodies with arbitrary values). `make test` runs them
with a fixed seed and a bounded number of examples (tests/conftest.py); `make fuzz` runs
them much longer.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from hypothesis import event, given
from hypothesis import strategies as st

from accounts.models import Partner, User
from inventory.catalog.models import CatalogSKU
from inventory.warehouse import plan as planning
from inventory.warehouse import services as warehouse
from inventory.warehouse.models import WarehouseApiRequest, WarehouseSnapshot, WarehouseUpload
from tests.conftest import signed_in
from tests.inventory.warehouse.fixtures import catalog_fixture, days_ago  # noqa: F401
from tests.inventory.warehouse.test_warehouse_upload import problems_in

UPLOAD_URL = reverse("inventory:warehouse_upload")
API_URL = reverse("inventory:warehouse_api_snapshots")
D1 = days_ago(1)

# Text as a hostile or careless sender writes it: any character, control characters and
# NUL included (surrogates cannot be UTF-8, so the CSV never carries them).
any_text = st.text(st.characters(codec="utf-8"), max_size=30)
# Values near the edges of what a cell means.
quantity_text = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["1e30", "1e9999", "-0", "0.5", "1_000", "²", "١٢", " 7 ", "", "1e-9999"]),
    any_text,
)
known_cell = {
    "partner": st.sampled_from(["bubbles-brine", "BUBBLES-BRINE", "cote-ouest", "nobody"]),
    "sku": st.sampled_from(
        ["UF-CAL-NV-750", "uf-bdb-2021-1500", "UF-CAL-NV-375", "UF-DEM-NV-750", "UF-X"]
    ),
    "as_of": st.sampled_from([D1, days_ago(0), days_ago(2), days_ago(-1), "2025-02-30"]),
    "bottles": quantity_text,
    "cases": quantity_text,
}
COLUMNS = list(known_cell)


@pytest.fixture
def admin_client(ada: User) -> Client:
    return signed_in(ada)


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue().encode()


def _upload_and_preview(client: Client, content: bytes) -> None:
    """Upload ``content``; a readable file gets a preview page, an unreadable one the form
    again with its reason. Either way nothing is recorded."""
    before = WarehouseSnapshot.objects.count()
    uploads = WarehouseUpload.objects.count()
    file = SimpleUploadedFile("stock.csv", content, content_type="text/csv")
    response = client.post(UPLOAD_URL, {"file": file})
    assert response.status_code in (200, 302), response.status_code
    if response.status_code == 200:
        # Refused whole: the form says why, and no upload is kept.
        assert 'class="errorlist' in response.content.decode()
        assert WarehouseUpload.objects.count() == uploads
    else:
        page = client.get(response["Location"])
        assert page.status_code == 200
        html = page.content.decode()
        item = WarehouseUpload.objects.latest("pk")
        # Every problem shown names a line of the file, and the counts add up.
        lines = set(item.rows.values_list("line", flat=True))
        assert sum(item.summary.values()) == len(lines)
        if item.summary["error"]:
            assert {line for line, _, _ in problems_in(html)} <= lines
        export: Any = client.get(response["Location"], {"problems-format": "csv"})
        assert export.status_code == 200
        b"".join(export.streaming_content)
    assert WarehouseSnapshot.objects.count() == before


@given(content=st.binary(max_size=400))
def test_any_bytes_get_a_preview_or_a_reason(
    admin_client: Client, partner_a: Partner, catalog: dict[str, CatalogSKU], content: bytes
) -> None:
    _upload_and_preview(admin_client, content)


@given(rows=st.lists(st.lists(any_text, min_size=0, max_size=7), min_size=1, max_size=6))
def test_any_cells_under_the_right_header_get_a_preview(
    admin_client: Client,
    partner_a: Partner,
    catalog: dict[str, CatalogSKU],
    rows: list[list[str]],
) -> None:
    _upload_and_preview(admin_client, _csv(rows))


# Either column may hold the quantity; a third of rows give it the usual way, so that
# clean files (the path that writes) come up as often as broken ones.
quantity_pair = st.one_of(
    st.integers(0, 5000).map(lambda n: (str(n), "")),
    st.sampled_from(["1", "2.5", "0.5", "3"]).map(lambda n: ("", n)),
    st.tuples(quantity_text, quantity_text),
)
near_valid_row = st.tuples(
    st.fixed_dictionaries({c: known_cell[c] for c in ("partner", "sku", "as_of")}), quantity_pair
).map(lambda pair: [*pair[0].values(), *pair[1]])


@given(rows=st.lists(near_valid_row, min_size=1, max_size=5))
def test_near_valid_files_preview_and_confirm_all_or_nothing(
    admin_client: Client,
    partner_a: Partner,
    partner_b: Partner,
    catalog: dict[str, CatalogSKU],
    rows: list[list[str]],
) -> None:
    before = WarehouseSnapshot.objects.count()
    content = _csv(rows)
    response = admin_client.post(
        UPLOAD_URL, {"file": SimpleUploadedFile("s.csv", content, content_type="text/csv")}
    )
    assert response.status_code == 302
    item = WarehouseUpload.objects.latest("pk")
    plan = planning.upload_plan(item)
    confirmed = admin_client.post(
        reverse("inventory:warehouse_upload_confirm", args=[item.pk]),
        {"sha256": item.sha256},
        follow=True,
    )
    assert confirmed.status_code == 200
    after = WarehouseSnapshot.objects.count()
    event("refused" if plan.has_errors else "applied")
    if plan.has_errors:
        assert after == before  # a file with any bad row records nothing
        assert "so nothing was recorded" in confirmed.content.decode()
    else:
        assert after == before + plan.counts["new"]
        for row in plan.rows:
            # What is stored is the whole number of bottles the preview showed.
            assert row.as_of is not None
            stored = WarehouseSnapshot.objects.get(
                partner=row.partner, sku=row.sku, as_of=row.as_of
            )
            assert stored.bottles == row.bottles
            assert stored.bottles == stored.bottles.to_integral_value()
            assert 0 <= stored.bottles <= planning.MAX_BOTTLES


# --- The JSON API ------------------------------------------------------------------------

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
any_json = st.recursive(
    json_scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# Raw JSON text for values, so NaN, 1e9999, huge integers and \u escapes (NUL, lone
# surrogates) reach the parser exactly as a sender could write them.
raw_value = st.one_of(
    any_json.map(json.dumps),
    st.sampled_from(
        ["NaN", "Infinity", "-1", "1e30", "1e9999", "1.5", "12.0", "10000001", "1" * 60]
        + ['"\\u0000"', '"UF-\\ud800"', '"UF-CAL-NV-750\\u0007"', '"  12 "', '"1e3"']
    ),
    st.sampled_from(["UF-CAL-NV-750", "uf-cal-nv-375", "UF-DEM-NV-750", "nope"]).map(json.dumps),
)


def _push(secret: str, body: bytes) -> Any:
    return Client().post(
        API_URL,
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": str(uuid.uuid4())},
    )


def _assert_refusal_or_write(response: Any, before: tuple[int, int]) -> None:
    assert response.status_code in (201, 400, 409, 422), response.status_code
    payload = response.json()
    if response.status_code == 201:
        for line in payload["lines"]:
            bottles = Decimal(line["bottles"])
            assert bottles == bottles.to_integral_value() and bottles <= planning.MAX_BOTTLES
        return
    assert payload["errors"] and all(e["message"] for e in payload["errors"])
    after = (WarehouseSnapshot.objects.count(), WarehouseApiRequest.objects.count())
    assert after == before


@pytest.fixture
def secret_a(partner_a: Partner, ada: User) -> str:
    return warehouse.warehouse_token_issue(partner=partner_a, label="WMS", user=ada)[1]


@given(body=st.one_of(st.binary(max_size=200), any_json.map(lambda v: json.dumps(v).encode())))
def test_any_body_is_answered_with_a_reason_and_no_write(
    secret_a: str, catalog: dict[str, CatalogSKU], body: bytes
) -> None:
    before = (WarehouseSnapshot.objects.count(), WarehouseApiRequest.objects.count())
    _assert_refusal_or_write(_push(secret_a, body), before)


@given(
    lines=st.lists(
        st.dictionaries(
            st.sampled_from(["sku", "bottles", "cases", "extra"]), raw_value, max_size=3
        ),
        min_size=1,
        max_size=5,
    ),
    as_of=st.one_of(st.just(json.dumps(D1)), raw_value),
)
def test_plausible_bodies_with_any_values_write_all_lines_or_none(
    secret_a: str, catalog: dict[str, CatalogSKU], lines: list[dict[str, str]], as_of: str
) -> None:
    text_lines = ", ".join(
        "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in line.items()) + "}" for line in lines
    )
    body = f'{{"as_of": {as_of}, "lines": [{text_lines}]}}'.encode()
    before = (WarehouseSnapshot.objects.count(), WarehouseApiRequest.objects.count())
    _assert_refusal_or_write(_push(secret_a, body), before)
