"""Discrepancies at cost (docs/reports.md, "Value at cost"): a difference × what a bottle
costs the partner, from the item's PurchaseCost or, without one, its bills' average; the
page's order by size whatever the sign, its totals and export; the dashboard's largest
discrepancies; the backfill of the cost column from ``raw``."""

from __future__ import annotations

import csv
import importlib
import io
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection as db_connection
from django.urls import reverse

from accounts.models import Partner, User
from inventory.mapping.mirror import ITEM
from inventory.mapping.models import QBOItem
from inventory.purchasing.models import PurchaseLine, QBOBill, QBOBillLine
from inventory.reports import selectors as d
from sync.models import QBOConnection
from tests.billing.factories import ItemFactory
from tests.conftest import signed_in
from tests.inventory.reports.test_discrepancies_selectors import books, mapped, sku, snap

URL = reverse("inventory:discrepancies")

pytestmark = pytest.mark.django_db


@pytest.fixture
def books_a(partner_a: Partner) -> QBOConnection:
    return books(partner_a, "4620000000000001")


@pytest.fixture
def books_b(partner_b: Partner) -> QBOConnection:
    return books(partner_b, "4620000000000002")


_bills = iter(range(1, 1_000_000))


def bill(connection: QBOConnection, *lines: tuple[str, str, str]) -> QBOBill:
    """A bill with one item line per (item id, quantity, amount), and a freight line that
    has an amount and no item (it must not move an item's average)."""
    made: QBOBill = QBOBill.objects.create(connection=connection, qbo_id=f"b{next(_bills)}")
    for position, (item_id, qty, amount) in enumerate(lines):
        QBOBillLine.objects.create(
            bill=made, position=position, detail_type=PurchaseLine.ITEM_BASED,
            item_qbo_id=item_id, qty=Decimal(qty), amount=Decimal(amount),
        )  # fmt: skip
    QBOBillLine.objects.create(
        bill=made, position=len(lines), detail_type=PurchaseLine.ACCOUNT_BASED,
        account_qbo_id="60", amount=Decimal("75.00"),
    )  # fmt: skip
    return made


def row_of(user: User, code: str, partner: Partner | None = None) -> d.DiscrepancyRow:
    rows = [
        r
        for r in d.discrepancy_rows(user=user)
        if r.sku_code == code and (partner is None or r.partner_id == partner.pk)
    ]
    assert len(rows) == 1
    return rows[0]


# --- the rule -------------------------------------------------------------------------------


def test_value_is_the_difference_times_the_bottle_items_purchase_cost(
    sam: User, partner_a: Partner, books_a: QBOConnection
) -> None:
    callie = sku("UF-CAL-NV-750")
    snap(partner_a, callie, 100)
    mapped(books_a, callie, "73", qbo_id="7", cost="11.35")  # 27 bottles short
    row = row_of(sam, "UF-CAL-NV-750")
    assert row.difference == Decimal("-27")
    assert row.cost is not None and row.cost.source == "purchase_cost"
    assert row.value == Decimal("-27") * Decimal("11.35") == Decimal("-306.45")
    assert row.cost_per_bottle == Decimal("11.35")


def test_a_case_items_cost_is_divided_by_its_bottles_and_rounded_only_at_the_end(
    sam: User, partner_a: Partner, books_a: QBOConnection
) -> None:
    callie = sku("UF-CAL-NV-750")
    snap(partner_a, callie, 96)
    mapped(books_a, callie, "10", qbo_id="7", per_unit=12, cost="100.00")  # 120 bottles
    row = row_of(sam, "UF-CAL-NV-750")
    # 24 bottles are two cases: $200.00 exactly, not 24 × $8.3333.
    assert row.value == Decimal("200.00")
    assert row.cost_per_bottle == Decimal("8.3333")


def test_the_bottle_items_cost_speaks_for_a_sku_mapped_twice(
    sam: User, partner_a: Partner, books_a: QBOConnection
) -> None:
    callie = sku("UF-CAL-NV-750")
    snap(partner_a, callie, 30)
    mapped(books_a, callie, "1", qbo_id="8", per_unit=12, cost="120.00")
    mapped(books_a, callie, "6", qbo_id="9", cost="11.00")  # 18 bottles: 12 short
    assert row_of(sam, "UF-CAL-NV-750").value == Decimal("-132.00")


def test_without_a_purchase_cost_the_bills_weighted_average_is_used(
    sam: User, partner_a: Partner, partner_b: Partner, books_a: QBOConnection,
    books_b: QBOConnection,
) -> None:  # fmt: skip
    callie, juliette = sku("UF-CAL-NV-750"), sku("UF-JUL-NV-750", wine="The Juliette")
    snap(partner_a, callie, 50)
    mapped(books_a, callie, "40", qbo_id="7")  # no PurchaseCost: 10 short
    snap(partner_a, juliette, 20)
    mapped(books_a, juliette, "30", qbo_id="8", cost="0")  # zero is no cost: 10 over
    # Item 7: 10 at $10.00 and 30 at $12.00, so (100 + 360) / 40 = $11.50 a bottle, not the
    # plain mean of the two prices ($11.00).
    bill(books_a, ("7", "10", "100.00"), ("8", "4", "44.00"))
    bill(books_a, ("7", "30", "360.00"))
    # The same item id in another company's books, and a credit-like line, are not its bills.
    bill(books_b, ("7", "100", "9999.00"))
    bill(books_a, ("7", "0", "500.00"))

    row = row_of(sam, "UF-CAL-NV-750")
    assert row.cost is not None and row.cost.source == "bills"
    assert row.value == Decimal("-10") * Decimal("11.50") == Decimal("-115.00")
    assert row_of(sam, "UF-JUL-NV-750").value == Decimal("110.00")  # 10 × 44 / 4


def test_with_no_cost_anywhere_the_value_is_blank_and_says_why(
    sam: User, partner_a: Partner, books_a: QBOConnection
) -> None:
    callie, juliette = sku("UF-CAL-NV-750"), sku("UF-JUL-NV-750", wine="The Juliette")
    snap(partner_a, callie, 50)
    mapped(books_a, callie, "40", qbo_id="7")
    snap(partner_a, juliette, 20)  # unmapped: nothing to value, nothing to explain
    row = row_of(sam, "UF-CAL-NV-750")
    assert row.value is None
    assert "no purchase cost" in row.value_missing
    assert row_of(sam, "UF-JUL-NV-750").value_missing == ""
    html = signed_in(sam).get(URL).content.decode()
    assert "no cost" in html
    assert "1 difference not valued" in html


# --- the page -------------------------------------------------------------------------------


@pytest.fixture
def mixed(partner_a: Partner, books_a: QBOConnection) -> None:
    """Differences of both signs at different costs, one without a cost, one unmapped."""
    for code, warehouse, qbo, cost in [
        ("UF-A-NV-750", 2100, 36, "5.00"),  # −2,064 bottles: −$10,320.00
        ("UF-B-NV-750", 100, 600, "10.00"),  # +500: +$5,000.00
        ("UF-C-NV-750", 20, 10, "1.00"),  # −10: −$10.00
        ("UF-D-NV-750", 10, 3010, None),  # +3,000, no cost
        ("UF-E-NV-750", 40, 39, "2.00"),  # −1 (within tolerance): −$2.00
    ]:
        catalog_sku = sku(code)
        snap(partner_a, catalog_sku, warehouse)
        mapped(books_a, catalog_sku, str(qbo), qbo_id=code, cost=cost)
    snap(partner_a, sku("UF-F-NV-750"), 70)  # unmapped


def test_the_largest_value_comes_first_whatever_its_sign(sam: User, mixed: None) -> None:
    response = signed_in(sam).get(URL)
    table = response.context["table"]
    assert table.sort_value == "-value"
    assert [r.sku_code for r in table.rows] == [
        "UF-A-NV-750",  # the worst shortfall at the top, not at the bottom
        "UF-B-NV-750",
        "UF-C-NV-750",
        "UF-E-NV-750",
        "UF-D-NV-750",  # no cost: after the valued rows, by the size of its difference
        "UF-F-NV-750",  # unmapped: last
    ]
    totals = response.context["totals"]
    assert totals.over == Decimal("5000.00")
    assert totals.under == Decimal("-10332.00")
    assert totals.net == Decimal("-5332.00")
    assert totals.unvalued == 1
    html = response.content.decode()
    assert "−$5,332.00" in html
    assert "−$10,320.00" in html


def test_sorting_by_size_of_difference_and_by_value_both_ways(sam: User, mixed: None) -> None:
    client = signed_in(sam)

    def order(sort: str) -> list[str]:
        return [r.sku_code[3] for r in client.get(URL, {"sort": sort}).context["table"].rows]

    assert order("-difference") == ["D", "A", "B", "C", "E", "F"]
    assert order("difference") == ["E", "C", "B", "A", "D", "F"]
    assert order("value") == ["D", "E", "C", "B", "A", "F"]


def test_the_export_carries_value_cost_and_its_source(sam: User, mixed: None) -> None:
    response: Any = signed_in(sam).get(URL, {"format": "csv"})
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = {r["SKU"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["UF-A-NV-750"]["Value at cost"] == "-10320.00"
    assert rows["UF-A-NV-750"]["Cost per bottle"] == "5.00"
    assert rows["UF-A-NV-750"]["Cost from"] == "the item's purchase cost in QuickBooks"
    assert rows["UF-D-NV-750"]["Value at cost"] == ""
    assert rows["UF-F-NV-750"]["Value at cost"] == ""
    assert list(rows)[0] == "UF-A-NV-750"  # the page's order
    assert sum(Decimal(r["Value at cost"] or 0) for r in rows.values()) == Decimal("-5332.00")


# --- the dashboard's attention list ---------------------------------------------------------


def test_largest_discrepancies_by_value_ranks_rows_out_of_tolerance(
    sam: User, partner_a: Partner, mixed: None
) -> None:
    found = d.largest_discrepancies_by_value(user=sam, limit=2)
    assert [(f.sku_code, f.difference, f.value) for f in found] == [
        ("UF-A-NV-750", Decimal("-2064"), Decimal("-10320.00")),
        ("UF-B-NV-750", Decimal("500"), Decimal("5000.00")),
    ]
    assert found[0].partner_name == found[0].partner == partner_a.name
    assert found[0].sku == "UF-A-NV-750"
    assert f"{found[0].difference:+,}" == "-2,064"  # no padding, no exponent
    # Within tolerance (E), without a cost (D) or unmapped (F): not on the list.
    assert {f.sku_code for f in d.largest_discrepancies_by_value(user=sam, limit=10)} == {
        "UF-A-NV-750", "UF-B-NV-750", "UF-C-NV-750",
    }  # fmt: skip
    # The link narrows the discrepancies page to that partner and SKU.
    table = signed_in(sam).get(found[0].url).context["table"]
    assert [(r.partner_id, r.sku_code) for r in table.rows] == [(partner_a.pk, "UF-A-NV-750")]


def test_a_partner_user_is_shown_only_their_own_largest_discrepancies(
    alice: User, bob: User, partner_b: Partner, books_b: QBOConnection, mixed: None
) -> None:
    callie = sku("UF-CAL-NV-750")
    snap(partner_b, callie, 1000)
    mapped(books_b, callie, "0", qbo_id="7", cost="20.00")  # −$20,000.00, the largest
    assert [f.sku_code for f in d.largest_discrepancies_by_value(user=bob)] == ["UF-CAL-NV-750"]
    assert "UF-CAL-NV-750" not in {f.sku_code for f in d.largest_discrepancies_by_value(user=alice)}
    assert d.largest_discrepancies_by_value(user=alice, limit=0) == []


def test_largest_discrepancies_cost_the_same_queries_at_n_and_10n(
    sam: User, partner_a: Partner, books_a: QBOConnection, django_assert_num_queries: Any
) -> None:
    made = 0
    for total in (4, 40):
        for n in range(made, total):
            catalog_sku = sku(f"UF-Q{n}-NV-750")
            snap(partner_a, catalog_sku, 100)
            mapped(books_a, catalog_sku, str(n), qbo_id=str(n), cost=None if n % 2 else "3.00")
        made = total
        # snapshots, mappings, bills of the items without a purchase cost
        with django_assert_num_queries(3):
            found = d.largest_discrepancies_by_value(user=sam)
        assert len(found) == min(5, total // 2)  # the rows with a cost


# --- the mirror and the backfill ------------------------------------------------------------


def test_the_mirror_reads_purchase_cost() -> None:
    assert ITEM.fields({"Name": "x", "PurchaseCost": 11.785})["purchase_cost"] == Decimal("11.7850")
    assert ITEM.fields({"Name": "x"})["purchase_cost"] is None
    assert ITEM.fields({"Name": "x", "PurchaseCost": "n/a"})["purchase_cost"] is None


def test_the_migration_fills_the_cost_of_items_mirrored_before_it(books_a: QBOConnection) -> None:
    backfill = importlib.import_module("inventory.migrations.0013_money_on_stock").BACKFILL
    costs = {"1": 18.25, "2": None, "3": "12", "4": 1e20}
    for qbo_id, cost in costs.items():
        raw: dict[str, Any] = {"Id": qbo_id, "Name": f"Item {qbo_id}"}
        if cost is not None:
            raw["PurchaseCost"] = cost
        ItemFactory(connection=books_a, qbo_id=qbo_id, raw=raw, purchase_cost=None)
    with db_connection.cursor() as cursor:
        cursor.execute(backfill)
    assert dict(QBOItem.objects.values_list("qbo_id", "purchase_cost")) == {
        "1": Decimal("18.2500"),
        "2": None,
        "3": Decimal("12.0000"),  # digits in a string, as the mirror reads them
        "4": None,  # does not fit the column
    }
