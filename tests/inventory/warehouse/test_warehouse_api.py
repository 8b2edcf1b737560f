"""POST /inventory/api/warehouse/snapshots/: token authentication, the token's partner
only, Idempotency-Key replay and conflicts, per-line 422s that store nothing, and a
re-sent day replacing its quantity."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Partner, User
from inventory.catalog.models import CatalogSKU
from inventory.warehouse import services as warehouse
from inventory.warehouse.models import (
    WarehouseApiRequest,
    WarehouseSnapshot,
    WarehouseSnapshotChange,
    WarehouseToken,
)
from tests.inventory.warehouse.fixtures import catalog_fixture, days_ago  # noqa: F401

URL = reverse("inventory:warehouse_api_snapshots")
D1 = days_ago(1)


def push(
    body: Any, *, secret: str | None, key: str | None = "key-1", raw: bytes | None = None
) -> Any:
    headers = {}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    if key is not None:
        headers["Idempotency-Key"] = key
    data = raw if raw is not None else json.dumps(body)
    return Client().post(URL, data, content_type="application/json", headers=headers)


@pytest.fixture
def token_a(partner_a: Partner, ada: User) -> tuple[WarehouseToken, str]:
    return warehouse.warehouse_token_issue(partner=partner_a, label="WMS", user=ada)


@pytest.fixture
def secret_a(token_a: tuple[WarehouseToken, str]) -> str:
    return token_a[1]


def day(*lines: dict[str, Any], as_of: str = D1, **extra: Any) -> dict[str, Any]:
    return {"as_of": as_of, "lines": list(lines), **extra}


def test_a_push_stores_the_tokens_partners_snapshots(
    secret_a: str, partner_a: Partner, partner_b: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    response = push(
        day({"sku": "UF-CAL-NV-750", "bottles": 12}, {"sku": "UF-BDB-2021-1500", "cases": 2}),
        secret=secret_a,
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["partner"] == "bubbles-brine" and body["counts"] == {
        "new": 2,
        "replace": 0,
        "unchanged": 0,
    }
    stored = dict(WarehouseSnapshot.objects.values_list("sku__code", "bottles"))
    assert stored == {"UF-CAL-NV-750": Decimal("12.00"), "UF-BDB-2021-1500": Decimal("12.00")}
    assert set(WarehouseSnapshot.objects.values_list("partner", flat=True)) == {partner_a.pk}
    assert set(WarehouseSnapshot.objects.values_list("source", flat=True)) == {"api"}


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer ufwh_not-a-real-token", "Basic dXNlcjpwYXNz", "Token {secret}"],
)
def test_a_missing_or_wrong_token_gets_401(
    authorization: str | None, secret_a: str, catalog: dict[str, CatalogSKU]
) -> None:
    headers = {"Idempotency-Key": "k"}
    if authorization is not None:
        headers["Authorization"] = authorization.format(secret=secret_a)
    response = Client().post(
        URL,
        json.dumps(day({"sku": "UF-CAL-NV-750", "bottles": 1})),
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not WarehouseSnapshot.objects.exists()


def test_a_revoked_token_gets_401(
    token_a: tuple[WarehouseToken, str], ada: User, catalog: dict[str, CatalogSKU]
) -> None:
    token, secret = token_a
    warehouse.warehouse_token_revoke(token_id=token.pk, user=ada)
    response = push(day({"sku": "UF-CAL-NV-750", "bottles": 1}), secret=secret)
    assert response.status_code == 401
    assert not WarehouseSnapshot.objects.exists()


def test_a_token_cannot_write_another_partners_snapshots(
    secret_a: str, partner_b: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    response = push(
        day({"sku": "UF-CAL-NV-750", "bottles": 1}, partner="cote-ouest"), secret=secret_a
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["field"] == "partner"
    assert not WarehouseSnapshot.objects.exists()


def test_only_a_digest_of_the_token_is_stored(token_a: tuple[WarehouseToken, str]) -> None:
    token, secret = token_a
    row = WarehouseToken.objects.values().get(pk=token.pk)
    assert secret not in json.dumps(row, default=str)
    assert token.prefix == secret[:12] and len(token.token_hash) == 64


def test_the_idempotency_key_is_required(secret_a: str, catalog: dict[str, CatalogSKU]) -> None:
    response = push(day({"sku": "UF-CAL-NV-750", "bottles": 1}), secret=secret_a, key=None)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"][0]["message"]
    assert not WarehouseSnapshot.objects.exists()


def test_the_same_key_and_body_replays_the_first_response(
    secret_a: str, partner_a: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    body = day({"sku": "UF-CAL-NV-750", "bottles": 12})
    first = push(body, secret=secret_a)
    assert first.status_code == 201
    # Someone corrects the day by CSV meanwhile; the retry must not overwrite it.
    WarehouseSnapshot.objects.update(bottles=Decimal("11"))

    # The same JSON, spaced and ordered differently, is the same request.
    raw = json.dumps({"lines": [{"bottles": 12, "sku": "UF-CAL-NV-750"}], "as_of": D1}, indent=2)
    second = push(None, secret=secret_a, raw=raw.encode())
    assert second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert WarehouseSnapshot.objects.get().bottles == Decimal("11")
    assert WarehouseSnapshotChange.objects.count() == 1
    assert WarehouseApiRequest.objects.count() == 1


def test_the_same_key_with_another_body_is_a_conflict(
    secret_a: str, catalog: dict[str, CatalogSKU]
) -> None:
    assert push(day({"sku": "UF-CAL-NV-750", "bottles": 12}), secret=secret_a).status_code == 201
    response = push(day({"sku": "UF-CAL-NV-750", "bottles": 13}), secret=secret_a)
    assert response.status_code == 409
    assert "different body" in response.json()["errors"][0]["message"]
    assert WarehouseSnapshot.objects.get().bottles == Decimal("12")


def test_keys_belong_to_their_partner(
    secret_a: str, partner_b: Partner, ada: User, catalog: dict[str, CatalogSKU]
) -> None:
    _, secret_b = warehouse.warehouse_token_issue(partner=partner_b, label="WMS", user=ada)
    body = day({"sku": "UF-CAL-NV-750", "bottles": 12})
    assert push(body, secret=secret_a).status_code == 201
    # Partner B's sender picking the same key neither replays A's answer nor conflicts.
    response = push(body, secret=secret_b)
    assert response.status_code == 201 and response.json()["partner"] == "cote-ouest"
    assert WarehouseSnapshot.objects.count() == 2


def test_bad_lines_get_422_with_every_error_and_nothing_is_stored(
    secret_a: str, catalog: dict[str, CatalogSKU]
) -> None:
    body = day(
        {"sku": "UF-CAL-NV-750", "bottles": 12},
        {"sku": "UF-NOPE", "bottles": 1},
        {"sku": "UF-DEM-NV-750", "bottles": 1},
        {"sku": "UF-CAL-NV-375", "bottles": -1},
        {"sku": "UF-BDB-2021-1500", "bottles": "many"},
        {"sku": "UF-BDB-2021-1500"},
        {"sku": "UF-CAL-NV-750", "cases": 1},
        {"sku": "UF-CAL-NV-375", "bottles": 1, "cases": 1},
        {"sku": "UF-CAL-NV-375", "bottles": True},
    )
    response = push(body, secret=secret_a)
    assert response.status_code == 422
    errors = {(e["line"], e["field"]): e["message"] for e in response.json()["errors"]}
    assert "Unknown SKU “UF-NOPE”" in errors[2, "sku"]
    assert "inactive" in errors[3, "sku"]
    assert "negative" in errors[4, "bottles"]
    assert "not a number" in errors[5, "bottles"]
    assert "Give a quantity" in errors[6, "bottles"]
    assert "also on line 7" in errors[1, "sku"] and "also on line 1" in errors[7, "sku"]
    assert "not both" in errors[8, "bottles"]
    assert "must be a number" in errors[9, "bottles"]
    assert not WarehouseSnapshot.objects.exists()
    # A refused request does not spend its key: the fixed request goes through.
    assert not WarehouseApiRequest.objects.exists()
    fixed = push(day({"sku": "UF-CAL-NV-750", "bottles": 12}), secret=secret_a)
    assert fixed.status_code == 201


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (day({"sku": "UF-CAL-NV-750", "bottles": 1}, as_of="21/11/2025"), "as_of", "YYYY-MM-DD"),
        (day({"sku": "UF-CAL-NV-750", "bottles": 1}, as_of="2999-01-01"), "as_of", "future"),
        ({"lines": [{"sku": "UF-CAL-NV-750", "bottles": 1}]}, "as_of", "missing"),
        (day(), "lines", "non-empty list"),
        (day(*[{"sku": "UF-CAL-NV-750", "bottles": 1}] * 1001), "lines", "At most 1000"),
        (day({"sku": "UF-CAL-NV-750", "bottles": 1}, note="x"), "note", "Unknown field"),
    ],
)
def test_request_level_errors_are_422_too(
    secret_a: str, catalog: dict[str, CatalogSKU], body: Any, field: str, message: str
) -> None:
    response = push(body, secret=secret_a)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert any(
        e["field"] == field and message in e["message"] and e["line"] is None for e in errors
    ), errors
    assert not WarehouseSnapshot.objects.exists()


def test_a_body_that_is_not_json_is_400(secret_a: str) -> None:
    response = push(None, secret=secret_a, raw=b"{not json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "The body is not valid JSON."


@pytest.mark.parametrize("raw", [b"[]", b'"stock"', b"12", b"null", b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_400(secret_a: str, raw: bytes) -> None:
    response = push(None, secret=secret_a, raw=raw)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] in (
        "The body must be a JSON object.",
        "The body is not valid JSON.",
    )
    assert not WarehouseApiRequest.objects.exists()


def test_lines_of_the_wrong_shape_are_named_by_number(
    secret_a: str, catalog: dict[str, CatalogSKU]
) -> None:
    lines: list[Any] = [
        {"sku": "UF-CAL-NV-750", "bottles": 12},
        ["UF-CAL-NV-375", 6],
        {"sku": 750, "bottles": 1},
        {"sku": "UF-CAL-NV-375", "bottles": 1, "price": "9.99"},
        {"sku": "UF-BDB-2021-1500", "bottles": 3.0},
    ]
    body = {"as_of": D1, "lines": lines}
    response = push(body, secret=secret_a)
    assert response.status_code == 422
    errors = {(e["line"], e["field"]): e["message"] for e in response.json()["errors"]}
    assert errors[2, None] == "Each line must be a JSON object."
    assert errors[3, "sku"] == "The SKU code must be text."
    assert "Unknown field(s): price" in errors[4, "price"]
    # 3.0 bottles is read as the decimal it is written as (a whole count), never a float;
    # only the other lines are wrong.
    assert not any(line == 5 for line, _ in errors), errors
    assert not any(line == 1 for line, _ in errors)
    assert not WarehouseSnapshot.objects.exists() and not WarehouseApiRequest.objects.exists()


def test_naming_the_tokens_own_partner_is_allowed(
    secret_a: str, partner_a: Partner, catalog: dict[str, CatalogSKU]
) -> None:
    body = day({"sku": "UF-CAL-NV-750", "bottles": 12}, partner=partner_a.slug)
    response = push(body, secret=secret_a)
    assert response.status_code == 201, response.json()
    assert response.json()["partner"] == partner_a.slug


def test_a_re_sent_day_replaces_the_quantity_and_is_audited(
    token_a: tuple[WarehouseToken, str], catalog: dict[str, CatalogSKU]
) -> None:
    token, secret = token_a
    push(day({"sku": "UF-CAL-NV-750", "bottles": 12}), secret=secret, key="monday")
    response = push(day({"sku": "UF-CAL-NV-750", "bottles": "10"}), secret=secret, key="monday-fix")
    assert response.status_code == 201
    assert response.json()["lines"][0] == {
        "line": 1,
        "sku": "UF-CAL-NV-750",
        "bottles": "10.00",
        "result": "replace",
        "previous_bottles": "12.00",
    }
    snapshot = WarehouseSnapshot.objects.get()
    assert snapshot.bottles == Decimal("10") and snapshot.token == token
    changes = list(
        WarehouseSnapshotChange.objects.order_by("pk").values_list(
            "action", "bottles_before", "bottles_after", "token"
        )
    )
    assert changes == [
        ("create", None, Decimal("12.00"), token.pk),
        ("replace", Decimal("12.00"), Decimal("10.00"), token.pk),
    ]


def test_get_is_not_allowed(secret_a: str) -> None:
    response = Client().get(URL, headers={"Authorization": f"Bearer {secret_a}"})
    assert response.status_code == 405


# --- Hostile input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_line", "field", "message"),
    [
        ('{"sku": "UF-CAL-NV-750", "bottles": 1e30}', "bottles", "bottles 1E+30 is too large"),
        ('{"sku": "UF-CAL-NV-750", "cases": 1e9999}', "cases", "is too large: at most 833,333"),
        ('{"sku": "UF-CAL-NV-750", "bottles": 1.5}', "bottles", "is not a whole number"),
        ('{"sku": "UF-CAL-NV-750", "bottles": NaN}', "bottles", "must be a number, not NaN"),
        ('{"sku": "UF-CAL-NV-750", "bottles": 100000000000}', "bottles", "is too large"),
        ('{"sku": "UF-\\u0000CAL", "bottles": 1}', "sku", "sku contains a NUL byte (U+0000)"),
        (
            '{"sku": "UF-\\ud800CAL", "bottles": 1}',
            "sku",
            "sku contains a broken character (U+D800)",
        ),
    ],
)
def test_an_out_of_range_or_damaged_value_is_a_422_not_a_500(
    secret_a: str, catalog: dict[str, CatalogSKU], raw_line: str, field: str, message: str
) -> None:
    raw = f'{{"as_of": "{D1}", "lines": [{raw_line}]}}'.encode()
    response = push(None, secret=secret_a, raw=raw)
    assert response.status_code == 422, response.content
    [error] = response.json()["errors"]
    assert (error["line"], error["field"]) == (1, field)
    assert message in error["message"], error["message"]
    assert not WarehouseSnapshot.objects.exists() and not WarehouseApiRequest.objects.exists()


def test_a_control_character_in_the_idempotency_key_is_a_400(
    secret_a: str, catalog: dict[str, CatalogSKU]
) -> None:
    response = push(day({"sku": "UF-CAL-NV-750", "bottles": 1}), secret=secret_a, key="k\x01ey")
    assert response.status_code == 400
    assert "control character (U+0001)" in response.json()["errors"][0]["message"]
    assert not WarehouseSnapshot.objects.exists()
