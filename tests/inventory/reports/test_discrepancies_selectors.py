"""The stock-discrepancy selectors (inventory.reports.selectors): conversion through the
mapping, tolerance, unmapped SKUs, latest snapshot, trends, the dashboard count.

The builders at the top (catalog SKUs, warehouse snapshots, mapped QuickBooks items, each
in one call) are shared with test_discrepancies_page.py."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from accounts.models import Partner, User
from inventory.catalog.models import CatalogSKU
from inventory.mapping.models import QBOItem, SKUMapping
from inventory.reports import selectors as d
from inventory.warehouse.models import WarehouseSnapshot, WarehouseSource
from sync.models import QBOConnection
from tests.billing.factories import ConnectionFactory, ItemFactory

DAY = date(2025, 3, 14)


def sku(code: str = "UF-CAL-NV-750", *, per_case: int = 12, wine: str = "The Callie") -> CatalogSKU:
    found: CatalogSKU = CatalogSKU.objects.get_or_create(
        code=code,
        defaults={"wine": wine, "format_ml": 750, "bottles_per_case": per_case},
    )[0]
    return found


def snap(
    partner: Partner, catalog_sku: CatalogSKU, bottles: str | int, *, days_ago: int = 0
) -> WarehouseSnapshot:
    snapshot: WarehouseSnapshot = WarehouseSnapshot.objects.create(
        partner=partner,
        sku=catalog_sku,
        as_of=DAY - timedelta(days=days_ago),
        bottles=Decimal(bottles),
        source=WarehouseSource.CSV,
    )
    return snapshot


def mapped(
    connection: QBOConnection,
    catalog_sku: CatalogSKU,
    qty: str | int | None,
    *,
    qbo_id: str,
    per_unit: int = 1,
    with_item: bool = True,
    cost: str | None = None,
) -> SKUMapping:
    """A QuickBooks item holding ``qty`` units, mapped to ``catalog_sku`` at ``per_unit``
    bottles per unit (1 = a bottle item, 6 or 12 = a case item), with ``cost`` as its
    PurchaseCost (per unit)."""
    if with_item:
        item: QBOItem = ItemFactory(
            connection=connection, qbo_id=qbo_id, sku=catalog_sku.code,
            qty_on_hand=None if qty is None else Decimal(qty),
            purchase_cost=None if cost is None else Decimal(cost),
        )  # fmt: skip
        name = item.name
    else:
        name = "Deleted item"
    mapping: SKUMapping = SKUMapping.objects.create(
        connection=connection,
        catalog_sku=catalog_sku,
        item_qbo_id=qbo_id,
        unit=SKUMapping.Unit.BOTTLE if per_unit == 1 else SKUMapping.Unit.CASE,
        bottles_per_unit=per_unit,
        method=SKUMapping.Method.SKU,
        item_name=name,
    )
    return mapping


def books(partner: Partner, realm: str) -> QBOConnection:
    connection: QBOConnection = ConnectionFactory(partner=partner, realm_id=realm)
    return connection


@pytest.fixture
def books_a(partner_a: Partner) -> QBOConnection:
    return books(partner_a, "4620000000000001")


@pytest.fixture
def books_b(partner_b: Partner) -> QBOConnection:
    return books(partner_b, "4620000000000002")


def only_row(user: User, **filters: object) -> d.DiscrepancyRow:
    rows = d.discrepancy_rows(user=user, **filters)  # type: ignore[arg-type]
    assert len(rows) == 1, rows
    return rows[0]


# --- Conversion through the mapping --------------------------------------------------------


def test_a_bottle_item_and_a_case_item_add_up_in_bottles(
    sam: User, partner_a: Partner, books_a: QBOConnection
) -> None:
    callie = sku("UF-CAL-NV-750", per_case=12)
    snap(partner_a, callie, 150)
    mapped(books_a, callie, "6", qbo_id="1")  # 6 loose bottles
    mapped(books_a, callie, "12", qbo_id="2", per_unit=12)  # 12 cases of 12

    row = only_row(sam)
    assert row.qbo_bottles == Decimal("150")  # 6 + 12 × 12
    assert row.qbo_cases == Decimal("12.50")
    assert row.warehouse_cases == Decimal("12.50")
    assert row.difference == 0
    assert row.status == d.Status.WITHIN


def test_cases_use_the_skus_own_pack_and_round_to_two_places(
    sam: User, partner_a: Partner, books_a: QBOConnection
) -> None:
    bdb = sku("UF-BDB-2021-750", per_case=6, wine="Blanc de Blancs")
    snap(partner_a, bdb, 100)
    mapped(books_a, bdb, "5", qbo_id="1", per_unit=6)  # a partner counting cases of 6
    mapped(books_a, bdb, "1.5", qbo_id="2")  # fractional bottles survive as Decimal

    row = only_row(sam)
    assert row.qbo_bottles == Decimal("31.5")
    assert row.qbo_cases == Decimal("5.25")  # 31.5 / 6
    assert row.warehouse_cases == Decimal("16.67")  # 100 / 6, half up
    assert row.difference == Decimal("-68.5")
    assert row.difference_ratio == Decimal("-0.6850")
    assert row.status == d.Status.UNDER


def test_a_mapped_item_gone_from_the_mirror_or_without_quantity_counts_zero(
    sam: User, partner_a: Partner, books_a: QBOConnection
) -> None:
    callie = sku()
    snap(partner_a, callie, 10)
    mapped(books_a, callie, None, qbo_id="1")
    mapped(books_a, callie, None, qbo_id="2", with_item=False)

    row = only_row(sam)
    assert row.qbo_bottles == 0
    assert row.status == d.Status.UNDER


def test_mappings_of_a_disconnected_company_are_not_counted(sam: User, partner_a: Partner) -> None:
    old = books(partner_a, "111")
    old.status = QBOConnection.Status.DISCONNECTED
    old.save()
    callie = sku()
    snap(partner_a, callie, 10)
    mapped(old, callie, "10", qbo_id="1")

    assert only_row(sam).status == d.Status.UNMAPPED


# --- Tolerance ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("warehouse", "qbo", "status"),
    [
        # 1 % of 1,000 is 10 bottles: the boundary itself is within.
        ("1000", "1010", d.Status.WITHIN),
        ("1000", "990", d.Status.WITHIN),
        ("1000", "1010.01", d.Status.OVER),
        ("1000", "989.99", d.Status.UNDER),
        # 1 % of 40 is 0.4, so the one-bottle floor applies.
        ("40", "41", d.Status.WITHIN),
        ("40", "39", d.Status.WITHIN),
        ("40", "41.5", d.Status.OVER),
        ("40", "38.5", d.Status.UNDER),
        # An empty warehouse: one bottle either way is still tolerated.
        ("0", "1", d.Status.WITHIN),
        ("0", "2", d.Status.OVER),
    ],
)
def test_tolerance_is_one_percent_or_one_bottle_whichever_is_larger(
    sam: User, partner_a: Partner, books_a: QBOConnection, warehouse: str, qbo: str, status: str
) -> None:
    callie = sku()
    snap(partner_a, callie, warehouse)
    mapped(books_a, callie, qbo, qbo_id="1")
    assert only_row(sam).status == status


def test_each_partner_is_judged_by_its_own_tolerance(
    sam: User, partner_a: Partner, books_a: QBOConnection
) -> None:
    # 1,000 bottles counted, 1,030 in QuickBooks: 30 over. Out of the default tolerance
    # (1 %, 10 bottles); within a partner's own 5 % (50 bottles), set on its page; within
    # a floor of 40 bottles (the larger of share and floor decides), out under 29.
    callie = sku()
    snap(partner_a, callie, 1000)
    mapped(books_a, callie, "1030", qbo_id="1")
    assert only_row(sam).status == d.Status.OVER
    partner_a.tolerance_share = Decimal("0.05")
    partner_a.save()
    assert only_row(sam).status == d.Status.WITHIN
    partner_a.tolerance_share, partner_a.tolerance_bottles = Decimal("0.01"), Decimal("40")
    partner_a.save()
    assert only_row(sam).status == d.Status.WITHIN
    partner_a.tolerance_bottles = Decimal("29")
    partner_a.save()
    assert only_row(sam).status == d.Status.OVER
    assert d.discrepancies_out_of_tolerance(user=sam) == 1


def test_difference_percent_is_empty_when_the_warehouse_holds_none(
    sam: User, partner_a: Partner, books_a: QBOConnection
) -> None:
    callie = sku()
    snap(partner_a, callie, 0)
    mapped(books_a, callie, "24", qbo_id="1")
    row = only_row(sam)
    assert row.difference == 24
    assert row.difference_ratio is None


# --- Unmapped, latest snapshot, isolation ----------------------------------------------------


def test_a_snapshot_without_a_mapping_is_unmapped(
    sam: User, partner_a: Partner, books_a: QBOConnection
) -> None:
    callie, juliette = sku("UF-CAL-NV-750"), sku("UF-JUL-NV-750", wine="The Juliette")
    snap(partner_a, callie, 12)
    snap(partner_a, juliette, 24)
    mapped(books_a, callie, "12", qbo_id="1")

    rows = {row.sku_code: row for row in d.discrepancy_rows(user=sam)}
    assert rows["UF-JUL-NV-750"].status == d.Status.UNMAPPED
    assert rows["UF-JUL-NV-750"].qbo_bottles is None
    assert rows["UF-JUL-NV-750"].difference is None
    assert rows["UF-CAL-NV-750"].status == d.Status.WITHIN


def test_a_mapping_of_another_partner_does_not_map_this_one(
    sam: User, partner_a: Partner, partner_b: Partner, books_b: QBOConnection
) -> None:
    callie = sku()
    snap(partner_a, callie, 12)
    mapped(books_b, callie, "12", qbo_id="1")
    assert only_row(sam).status == d.Status.UNMAPPED


def test_the_latest_snapshot_wins_and_older_ones_are_the_trend(
    sam: User, partner_a: Partner, books_a: QBOConnection
) -> None:
    callie = sku()
    # Ten days, created newest first so insertion order cannot pass for date order.
    for days_ago in range(10):
        snap(partner_a, callie, 100 + days_ago, days_ago=days_ago)
    mapped(books_a, callie, "100", qbo_id="1")

    row = only_row(sam)
    assert row.warehouse_bottles == 100
    assert row.warehouse_as_of == DAY
    d.attach_trends([row])
    assert row.trend == [Decimal(n) for n in range(107, 99, -1)]  # the last 8, oldest first
    assert 'role="img"' in row.trend_chart


def test_trends_never_mix_pairs_outside_the_rows(
    sam: User, partner_a: Partner, partner_b: Partner
) -> None:
    callie, juliette = sku("UF-CAL-NV-750"), sku("UF-JUL-NV-750")
    snap(partner_a, callie, 1)
    snap(partner_b, juliette, 2)
    snap(partner_a, juliette, 3)  # in the partners × SKUs rectangle, but not a shown row
    rows = [r for r in d.discrepancy_rows(user=sam) if r.warehouse_bottles != 3]
    d.attach_trends(rows)
    assert {r.key: r.trend for r in rows} == {
        (partner_a.pk, callie.pk): [Decimal(1)],
        (partner_b.pk, juliette.pk): [Decimal(2)],
    }


def test_partner_users_see_only_their_partners_rows(
    alice: User, bob: User, partner_a: Partner, partner_b: Partner, books_a: QBOConnection,
    books_b: QBOConnection,
) -> None:  # fmt: skip
    callie = sku()
    snap(partner_a, callie, 10)
    snap(partner_b, callie, 20)
    mapped(books_a, callie, "10", qbo_id="1")
    mapped(books_b, callie, "50", qbo_id="1")  # same QuickBooks id, another company

    assert [(r.partner_id, r.qbo_bottles) for r in d.discrepancy_rows(user=alice)] == [
        (partner_a.pk, Decimal("10"))
    ]
    assert [(r.partner_id, r.qbo_bottles) for r in d.discrepancy_rows(user=bob)] == [
        (partner_b.pk, Decimal("50"))
    ]
    # A partner filter cannot reach another partner's rows either.
    assert d.discrepancy_rows(user=alice, partner_id=partner_b.pk) == []


def test_filters_by_partner_status_and_sku_code(
    sam: User, partner_a: Partner, partner_b: Partner, books_a: QBOConnection
) -> None:
    callie, juliette = sku("UF-CAL-NV-750"), sku("UF-JUL-NV-750")
    snap(partner_a, callie, 10)
    snap(partner_a, juliette, 10)
    snap(partner_b, callie, 10)
    mapped(books_a, callie, "30", qbo_id="1")

    def keys(**filters: object) -> set[tuple[str, str]]:
        rows = d.discrepancy_rows(user=sam, **filters)  # type: ignore[arg-type]
        return {(r.partner_name, r.sku_code) for r in rows}

    assert keys(partner_id=partner_b.pk) == {(partner_b.name, "UF-CAL-NV-750")}
    assert keys(status=d.Status.OVER) == {(partner_a.name, "UF-CAL-NV-750")}
    assert keys(status=d.Status.UNMAPPED) == {
        (partner_a.name, "UF-JUL-NV-750"), (partner_b.name, "UF-CAL-NV-750"),
    }  # fmt: skip
    assert keys(sku_code=" jul ") == {(partner_a.name, "UF-JUL-NV-750")}


def test_the_dashboard_count_is_over_plus_under_of_what_the_user_sees(
    alice: User, sam: User, partner_a: Partner, partner_b: Partner, books_a: QBOConnection,
    books_b: QBOConnection,
) -> None:  # fmt: skip
    callie, juliette, demi = sku("UF-CAL-NV-750"), sku("UF-JUL-NV-750"), sku("UF-DEM-NV-750")
    snap(partner_a, callie, 10)
    mapped(books_a, callie, "20", qbo_id="1")  # over
    snap(partner_a, juliette, 10)
    mapped(books_a, juliette, "10", qbo_id="2")  # within
    snap(partner_a, demi, 10)  # unmapped: not counted
    snap(partner_b, callie, 10)
    mapped(books_b, callie, "0", qbo_id="1")  # under

    assert d.discrepancies_out_of_tolerance(user=alice) == 1
    assert d.discrepancies_out_of_tolerance(user=sam) == 2
