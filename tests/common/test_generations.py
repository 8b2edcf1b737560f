"""common.generations: the counters cached figures are keyed by, and the cache itself.

The counters must move in the transaction of every change a cached figure reads (the
sync's write path for a company's mirror; any statement on the catalog, the mappings or a
partner, through the database's triggers), and never otherwise: a counter that fails to
move serves a stale figure, one that moves for nothing only costs a recomputation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings

from accounts.models import Partner
from common import generations
from common.mirror import mirror_apply
from inventory.catalog.models import CatalogSKU
from inventory.mapping.models import SKUMapping
from sync.models import QBOConnection
from tests.billing.factories import ItemFactory


def invoice(qbo_id: str, token: str, balance: str) -> dict[str, Any]:
    return {
        "Id": qbo_id,
        "SyncToken": token,
        "DocNumber": f"N{qbo_id}",
        "CustomerRef": {"value": "7", "name": "Cave"},
        "TxnDate": "2025-03-01",
        "TotalAmt": Decimal("12.50"),
        "Balance": Decimal(balance),
        "MetaData": {"LastUpdatedTime": f"2025-03-01T10:00:0{token}-08:00"},
        "Line": [
            {
                "Id": "1",
                "DetailType": "SalesItemLineDetail",
                "Amount": Decimal("12.50"),
                "SalesItemLineDetail": {"ItemRef": {"value": "3"}, "Qty": 1},
            }
        ],
    }


def mirror_of(connection: QBOConnection) -> int:
    name = generations.mirror(connection.pk)
    return generations.current([name])[name]


def reference() -> int:
    return generations.current([generations.REFERENCE])[generations.REFERENCE]


# ---------------------------------------------------------------- the counters


@pytest.mark.django_db
def test_a_counter_starts_at_zero_and_moves_only_when_its_transaction_commits() -> None:
    assert generations.current(["x", "y"]) == {"x": 0, "y": 0}
    generations.bump("x")
    generations.bump("x", "y")
    assert generations.current(["x", "y"]) == {"x": 2, "y": 1}
    with pytest.raises(RuntimeError), transaction.atomic():
        generations.bump("x")
        assert generations.current(["x"]) == {"x": 3}
        raise RuntimeError("rolled back")
    assert generations.current(["x"]) == {"x": 2}


@pytest.mark.django_db
def test_the_write_path_moves_its_company_s_counter_only_when_it_changed_a_row(
    connection_a: QBOConnection, connection_b: QBOConnection
) -> None:
    before_a, before_b = mirror_of(connection_a), mirror_of(connection_b)
    mirror_apply(connection_id=connection_a.pk, entity="Invoice", objects=[invoice("1", "0", "2")])
    assert (mirror_of(connection_a), mirror_of(connection_b)) == (before_a + 1, before_b)
    # The same version again writes nothing, and moves nothing.
    mirror_apply(connection_id=connection_a.pk, entity="Invoice", objects=[invoice("1", "0", "2")])
    assert mirror_of(connection_a) == before_a + 1
    mirror_apply(connection_id=connection_a.pk, entity="Invoice", objects=[invoice("1", "1", "0")])
    assert mirror_of(connection_a) == before_a + 2
    # A deletion alone (a CDC tombstone) moves it too.
    tombstone = {"Id": "1", "status": "Deleted", "MetaData": {"LastUpdatedTime": "2025-03-02"}}
    mirror_apply(connection_id=connection_a.pk, entity="Invoice", objects=[tombstone])
    assert mirror_of(connection_a) == before_a + 3
    assert mirror_of(connection_b) == before_b


@pytest.mark.django_db
def test_every_kind_of_write_to_the_catalog_mappings_and_partners_moves_reference(
    connection_a: QBOConnection,
) -> None:
    writes: list[tuple[str, Callable[[], Any]]] = []
    sku = CatalogSKU(code="UF-GEN-750", wine="Generation", format_ml=750, bottles_per_case=12)
    item = ItemFactory(connection=connection_a, sku="UF-GEN-750")

    def mapping() -> SKUMapping:
        return SKUMapping.objects.create(
            connection=connection_a, catalog_sku=sku, item_qbo_id=item.qbo_id,
            unit=SKUMapping.Unit.BOTTLE, bottles_per_unit=1, method=SKUMapping.Method.SKU,
            item_name=item.name, item_sku=sku.code,
        )  # fmt: skip

    writes += [
        ("a SKU saved", sku.save),
        ("a mapping created", mapping),
        (
            "mappings updated in bulk",
            lambda: SKUMapping.objects.update(unit=SKUMapping.Unit.CASE, bottles_per_unit=12),
        ),
        ("mappings deleted in bulk", lambda: SKUMapping.objects.all().delete()),
        (
            "SKUs created in bulk",
            lambda: CatalogSKU.objects.bulk_create(
                [CatalogSKU(code="UF-GEN-375", wine="Gen", format_ml=375, bottles_per_case=24)]
            ),
        ),  # fmt: skip
        (
            "a partner renamed",
            lambda: Partner.objects.filter(pk=connection_a.partner_id).update(name="Renamed Wines"),
        ),  # fmt: skip
    ]
    for what, write in writes:
        before = reference()
        write()
        assert reference() > before, what


# ---------------------------------------------------------------- the cache


class Counting:
    def __init__(self, value: Any) -> None:
        self.value, self.calls = value, 0

    def __call__(self) -> Any:
        self.calls += 1
        return self.value


@pytest.mark.django_db
@override_settings(FIGURES_CACHE_SECONDS=60)
def test_a_figure_is_reused_until_a_counter_it_depends_on_moves(
    connection_a: QBOConnection, connection_b: QBOConnection
) -> None:
    from django.core.cache import cache

    cache.clear()
    compute = Counting([(1, Decimal("2.50"), date(2025, 3, 1))])
    depends = [generations.REFERENCE, generations.mirror(connection_a.pk)]

    def read(key: str = "k", on: list[str] = depends) -> Any:
        return generations.cached("test", (key,), on, compute)

    assert read() == compute.value and compute.calls == 1
    assert read() == compute.value and compute.calls == 1  # kept, Decimal and date intact
    assert read("other") == compute.value and compute.calls == 2  # another question
    generations.bump(generations.mirror(connection_b.pk))  # a company it did not read
    read()
    assert compute.calls == 2
    generations.bump(generations.mirror(connection_a.pk))
    read()
    assert compute.calls == 3
    SKUMapping.objects.filter(pk=-1).update(bottles_per_unit=1)  # reference, by trigger
    read()
    assert compute.calls == 4
    read()
    assert compute.calls == 4


@pytest.mark.django_db
def test_nothing_is_kept_when_the_setting_is_zero() -> None:
    compute = Counting(1)
    with override_settings(FIGURES_CACHE_SECONDS=0):
        generations.cached("test", ("k",), [], compute)
        generations.cached("test", ("k",), [], compute)
    assert compute.calls == 2


@pytest.mark.django_db
def test_an_unreachable_cache_costs_the_computation_never_the_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unreachable = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    compute = Counting("figure")
    with override_settings(CACHES=unreachable, FIGURES_CACHE_SECONDS=60):
        assert generations.cached("test", ("k",), [], compute) == "figure"
        assert generations.cached("test", ("k",), [], compute) == "figure"
    assert compute.calls == 2
    assert "figures cache unreachable" in caplog.text


@pytest.mark.django_db
@override_settings(FIGURES_CACHE_SECONDS=60, FIGURES_STALE_SECONDS=30)
def test_with_a_refresh_the_last_figure_is_read_while_the_worker_recomputes_it() -> None:
    from django.core.cache import cache

    cache.clear()
    values = iter(["first", "second", "third"])
    computed: list[str] = []

    def compute() -> str:
        computed.append(next(values))
        return computed[-1]

    asked: list[str] = []

    def read() -> str:
        return generations.cached("test", ("k",), ["x"], compute, refresh=asked.append)

    assert read() == "first" and asked == []
    generations.bump("x")
    # The counter moved: the reader gets the last figure, and the worker is asked once.
    assert read() == "first"
    assert read() == "first"
    assert computed == ["first"] and len(asked) == 1
    # The worker's side: computed under the current counters and kept for the readers.
    assert generations.recompute(asked[0], lambda namespace, key: compute())
    assert computed == ["first", "second"]
    assert read() == "second" and computed == ["first", "second"]
    # A question gone from the cache (Redis restarted) is left to the next reader.
    assert not generations.recompute("figures:test:gone", lambda namespace, key: compute())


@pytest.mark.django_db
@override_settings(FIGURES_CACHE_SECONDS=60, FIGURES_STALE_SECONDS=1)
def test_a_figure_older_than_the_stale_window_is_recomputed_by_its_reader() -> None:
    import time

    from django.core.cache import cache

    cache.clear()
    compute = Counting("figure")
    asked: list[str] = []
    generations.cached("test", ("k",), ["x"], compute, refresh=asked.append)
    time.sleep(1.2)
    generations.bump("x")
    generations.cached("test", ("k",), ["x"], compute, refresh=asked.append)
    assert compute.calls == 2 and asked == []
