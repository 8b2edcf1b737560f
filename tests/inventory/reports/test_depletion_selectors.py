"""Depletion (inventory.reports.selectors): net bottles depleted per partner × SKU (invoices
and sales receipts less credit memos and refund receipts), per ISO week, daily depletion,
days on hand and the low-stock warning."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from accounts.models import Partner, User
from billing.models import (
    QBOCreditMemo,
    QBOCreditMemoLine,
    QBORefundReceipt,
    QBORefundReceiptLine,
    QBOSalesReceipt,
    QBOSalesReceiptLine,
)
from inventory.catalog.models import CatalogSKU
from inventory.mapping.models import QBOItem, SKUMapping
from inventory.reports.selectors import Depletion, DepletionRow, depletion_report, window_weeks
from sync.models import QBOConnection
from tests.billing.factories import (
    ConnectionFactory,
    InvoiceFactory,
    InvoiceLineFactory,
    ItemFactory,
)

pytestmark = pytest.mark.django_db

# A Wednesday: its ISO week (2025-W11) runs Monday 10 to Sunday 16 March.
TODAY = date(2025, 3, 12)
D = Decimal

PACKS = {"UF-CAL-NV-750": ("The Callie Sparkling Rosé", 750, 12),
         "UF-JUL-NV-750": ("The Juliette Brut", 750, 12),
         "UF-BDB-2021-750": ("Blanc de Blancs", 750, 6)}  # fmt: skip


def catalog_sku(code: str) -> CatalogSKU:
    wine, ml, per_case = PACKS.get(code, ("Demi-Sec", 750, 6))
    sku, _ = CatalogSKU.objects.get_or_create(
        code=code, defaults={"wine": wine, "format_ml": ml, "bottles_per_case": per_case}
    )
    return sku


def mapped_item(
    connection: QBOConnection,
    code: str,
    *,
    per_unit: int = 1,
    on_hand: Decimal | int | None = None,
) -> QBOItem:
    """A QuickBooks item of ``connection`` mapped to ``code``, counted in bottles
    (``per_unit`` 1) or in cases of ``per_unit`` bottles."""
    item: QBOItem = ItemFactory(
        connection=connection, sku=code,
        qty_on_hand=None if on_hand is None else Decimal(on_hand),
    )  # fmt: skip
    SKUMapping.objects.create(
        connection=connection,
        catalog_sku=catalog_sku(code),
        item_qbo_id=item.qbo_id,
        unit=SKUMapping.Unit.BOTTLE if per_unit == 1 else SKUMapping.Unit.CASE,
        bottles_per_unit=per_unit,
        method=SKUMapping.Method.SKU,
        item_name=item.name,
        item_sku=code,
    )
    return item


def sell(
    item: QBOItem | str,
    qty: Decimal | int,
    on: date,
    *,
    connection: QBOConnection | None = None,
    voided: bool = False,
) -> None:
    """One invoice dated ``on`` with one line selling ``qty`` of ``item`` (an item, or a
    bare QuickBooks item id with ``connection``)."""
    if isinstance(item, QBOItem):
        connection, item_id = item.connection, item.qbo_id
    else:
        item_id = item
    invoice = InvoiceFactory(connection=connection, txn_date=on, voided=voided)
    InvoiceLineFactory(invoice=invoice, item_qbo_id=item_id, qty=Decimal(qty))


@pytest.fixture
def books_a(partner_a: Partner) -> QBOConnection:
    connection: QBOConnection = ConnectionFactory(partner=partner_a)
    return connection


@pytest.fixture
def books_b(partner_b: Partner) -> QBOConnection:
    connection: QBOConnection = ConnectionFactory(partner=partner_b)
    return connection


def only_row(report: Depletion) -> DepletionRow:
    assert len(report.rows) == 1, report.rows
    return report.rows[0]


def test_window_weeks_are_iso_weeks_with_partial_edges() -> None:
    weeks = window_weeks(start=TODAY - timedelta(days=27), end=TODAY)

    # 13 Feb (a Thursday) to 12 Mar (a Wednesday): five ISO weeks, both ends partial.
    assert [w.monday for w in weeks] == [date(2025, 2, 10) + timedelta(weeks=i) for i in range(5)]
    assert [w.label for w in weeks] == [
        "2025-W07 (partial)", "2025-W08", "2025-W09", "2025-W10", "2025-W11 (partial)",
    ]  # fmt: skip
    assert (weeks[0].start, weeks[-1].end) == (date(2025, 2, 13), TODAY)


def test_sales_are_bucketed_by_iso_week_at_its_edges(alice: User, books_a: QBOConnection) -> None:
    item = mapped_item(books_a, "UF-CAL-NV-750")
    sell(item, 1, date(2025, 3, 9))  # Sunday: last day of W10
    sell(item, 2, date(2025, 3, 10))  # Monday: first day of W11
    sell(item, 4, date(2025, 3, 2))  # Sunday of W09
    sell(item, 8, date(2025, 3, 3))  # Monday of W10

    row = only_row(depletion_report(user=alice, today=TODAY))

    assert [(w.label, bottles) for w, bottles in row.weekly] == [
        ("2025-W07 (partial)", D(0)), ("2025-W08", D(0)), ("2025-W09", D(4)),
        ("2025-W10", D(9)), ("2025-W11 (partial)", D(2)),
    ]  # fmt: skip
    assert row.sold == 15


@pytest.mark.parametrize("window", [28, 56, 91])
def test_the_window_ends_today_and_holds_exactly_its_days(
    alice: User, books_a: QBOConnection, window: int
) -> None:
    item = mapped_item(books_a, "UF-CAL-NV-750")
    first_day = TODAY - timedelta(days=window - 1)
    sell(item, 1, first_day)
    sell(item, 10, TODAY)
    sell(item, 100, first_day - timedelta(days=1))  # the day before the window
    sell(item, 1000, TODAY + timedelta(days=1))  # a post-dated invoice

    report = depletion_report(user=alice, today=TODAY, window_days=window)

    assert only_row(report).sold == 11
    assert (report.start, report.end) == (first_day, TODAY)
    assert sum(bottles for _, bottles in only_row(report).weekly) == 11


def test_case_items_count_bottles_and_add_up_with_bottle_items(
    alice: User, books_a: QBOConnection
) -> None:
    cases = mapped_item(books_a, "UF-CAL-NV-750", per_unit=12, on_hand=3)
    bottles = mapped_item(books_a, "UF-CAL-NV-750", per_unit=1, on_hand=10)
    sell(cases, 2, TODAY)
    sell(bottles, 5, TODAY)
    sell(cases, Decimal("0.5"), TODAY)  # half a case

    row = only_row(depletion_report(user=alice, today=TODAY))

    assert row.sold == 2 * 12 + 5 + 6
    assert row.on_hand == 3 * 12 + 10


def test_voided_invoices_sold_nothing(alice: User, books_a: QBOConnection) -> None:
    item = mapped_item(books_a, "UF-CAL-NV-750")
    sell(item, 7, TODAY)
    sell(item, 500, TODAY, voided=True)

    assert only_row(depletion_report(user=alice, today=TODAY)).sold == 7


def test_only_sales_lines_sell(alice: User, books_a: QBOConnection) -> None:
    item = mapped_item(books_a, "UF-CAL-NV-750")
    sell(item, 7, TODAY)
    # QuickBooks allows an ItemRef (and a quantity) on other kinds of line; they sell nothing.
    invoice = InvoiceFactory(connection=books_a, txn_date=TODAY)
    for position, kind in enumerate(("SubTotalLineDetail", "GroupLineDetail")):
        InvoiceLineFactory(invoice=invoice, position=position, detail_type=kind,
                           item_qbo_id=item.qbo_id, qty=Decimal(50))  # fmt: skip

    assert only_row(depletion_report(user=alice, today=TODAY)).sold == 7


def test_unmapped_lines_are_counted_not_summed(alice: User, books_a: QBOConnection) -> None:
    item = mapped_item(books_a, "UF-CAL-NV-750")
    juliette = mapped_item(books_a, "UF-JUL-NV-750")
    sell(item, 7, TODAY)
    sell("999", 40, TODAY, connection=books_a)  # an item nobody mapped
    sell("999", 40, TODAY - timedelta(days=1), connection=books_a)
    sell("999", 40, TODAY - timedelta(days=40), connection=books_a)  # outside the window
    sell(juliette, 3, TODAY)
    # A line naming no item (a description or subtotal line) is not a sale of anything.
    InvoiceLineFactory(invoice=InvoiceFactory(connection=books_a, txn_date=TODAY), qty=None)

    report = depletion_report(user=alice, today=TODAY)
    only_callie = depletion_report(user=alice, today=TODAY, sku="UF-CAL-NV-750")

    assert [(r.sku, r.sold) for r in report.rows] == [
        ("UF-CAL-NV-750", D(7)),
        ("UF-JUL-NV-750", D(3)),
    ]
    assert report.unmapped_lines == 2
    # Filtering on one SKU hides the Juliette lines; it does not call them unmapped.
    assert [(r.sku, r.sold) for r in only_callie.rows] == [("UF-CAL-NV-750", D(7))]
    assert only_callie.unmapped_lines == 2


@pytest.mark.parametrize(
    ("on_hand", "threshold", "days", "low"),
    [
        (20, 21, Decimal("20.0"), True),
        (21, 21, Decimal("21.0"), False),  # exactly at the threshold is not under it
        (21, 30, Decimal("21.0"), True),
        (0, 21, Decimal("0.0"), True),
        (-5, 21, Decimal("-5.0"), True),  # QuickBooks allows negative stock: out of it
    ],
)
def test_days_on_hand_and_the_warning(
    alice: User, books_a: QBOConnection, on_hand: int, threshold: int, days: Decimal, low: bool
) -> None:
    item = mapped_item(books_a, "UF-CAL-NV-750", on_hand=on_hand)
    sell(item, 28, TODAY)  # 28 bottles in 28 days: one a day

    row = only_row(depletion_report(user=alice, today=TODAY, threshold_days=threshold))

    assert row.daily == Decimal("1.00")
    assert (row.days_on_hand, row.low) == (days, low)


def test_the_warning_compares_unrounded_days(alice: User, books_a: QBOConnection) -> None:
    # 20.96 days on hand shows as 21.0 but is under a threshold of 21.
    item = mapped_item(books_a, "UF-CAL-NV-750", on_hand=Decimal("524"))
    sell(item, 700, TODAY)  # 25 a day over 28 days

    row = only_row(depletion_report(user=alice, today=TODAY))

    assert (row.daily, row.days_on_hand, row.low) == (Decimal("25.00"), Decimal("21.0"), True)


def test_no_sales_or_no_known_stock_gives_no_days_and_no_warning(
    alice: User, books_a: QBOConnection
) -> None:
    still = mapped_item(books_a, "UF-CAL-NV-750", on_hand=3)
    untracked = mapped_item(books_a, "UF-JUL-NV-750", on_hand=None)
    sell(untracked, 50, TODAY)

    rows = {r.sku: r for r in depletion_report(user=alice, today=TODAY).rows}

    assert (rows[still.sku].sold, rows[still.sku].daily) == (D(0), Decimal("0.00"))
    assert (rows[still.sku].days_on_hand, rows[still.sku].low) == (None, False)
    assert (rows[untracked.sku].on_hand, rows[untracked.sku].days_on_hand) == (None, None)
    assert rows[untracked.sku].low is False


def test_a_partner_user_sees_only_their_partner(
    alice: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    sell(mapped_item(books_a, "UF-CAL-NV-750"), 7, TODAY)
    sell(mapped_item(books_b, "UF-CAL-NV-750"), 70, TODAY)
    sell("999", 1, TODAY, connection=books_b)  # bob's unmapped line is not alice's business

    mine = depletion_report(user=alice, today=TODAY)
    widened = depletion_report(user=alice, today=TODAY, partner_id=books_b.partner_id)

    assert [(r.partner_id, r.sold) for r in mine.rows] == [(books_a.partner_id, D(7))]
    assert mine.unmapped_lines == 0
    assert (widened.rows, widened.unmapped_lines) == ([], 0)


def test_staff_see_every_partner_and_can_narrow_to_one(
    sam: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    sell(mapped_item(books_a, "UF-CAL-NV-750"), 7, TODAY)
    sell(mapped_item(books_b, "UF-CAL-NV-750"), 70, TODAY)

    everyone = depletion_report(user=sam, today=TODAY)
    only_b = depletion_report(user=sam, today=TODAY, partner_id=books_b.partner_id)

    assert sorted(r.sold for r in everyone.rows) == [7, 70]
    assert [r.sold for r in only_b.rows] == [70]


def test_a_disconnected_company_sold_but_holds_nothing_now(
    alice: User, partner_a: Partner, books_a: QBOConnection
) -> None:
    """A partner that moved to a new QuickBooks company: the old one's sales happened, but
    its quantities froze when it was disconnected, so they are not stock on hand (the
    discrepancies page counts live companies only, too)."""
    old: QBOConnection = ConnectionFactory(
        partner=partner_a, status=QBOConnection.Status.DISCONNECTED
    )
    sell(mapped_item(old, "UF-CAL-NV-750", on_hand=500), 28, TODAY - timedelta(days=7))
    sell(mapped_item(books_a, "UF-CAL-NV-750", on_hand=40), 28, TODAY)

    row = only_row(depletion_report(user=alice, today=TODAY))

    assert (row.sold, row.on_hand) == (D(56), D(40))
    assert row.days_on_hand == Decimal("20.0")  # 40 ÷ (56 ÷ 28)


# --- Net depletion: sales receipts sell, credit memos and refund receipts come back -------

_doc_ids = iter(range(1, 10_000))


def document(
    model: Any, line_model: Any, item: QBOItem, qty: int, on: date, *, voided: bool = False
) -> None:
    """One sales-side document of ``model`` with one sales line of ``qty`` of ``item``."""
    made = model.objects.create(
        connection=item.connection, qbo_id=f"doc-{next(_doc_ids)}", txn_date=on, voided=voided
    )
    line_model.objects.create(
        **{line_model.DOCUMENT: made}, position=0, detail_type="SalesItemLineDetail",
        item_qbo_id=item.qbo_id, qty=D(qty),
    )  # fmt: skip


def test_depletion_is_net_of_cash_sales_and_customer_returns(
    alice: User, books_a: QBOConnection
) -> None:
    item = mapped_item(books_a, "UF-CAL-NV-750", per_unit=12, on_hand=10)  # 120 bottles
    sell(item, 2, date(2025, 3, 3))  # 24 bottles, W10
    document(QBOSalesReceipt, QBOSalesReceiptLine, item, 1, date(2025, 3, 11))  # +12, W11
    document(QBOCreditMemo, QBOCreditMemoLine, item, 1, date(2025, 3, 4))  # -12, W10
    document(QBORefundReceipt, QBORefundReceiptLine, item, 1, date(2025, 2, 20))  # -12, W08
    # Neither counts: a voided cash sale, and a return from before the window.
    document(QBOSalesReceipt, QBOSalesReceiptLine, item, 9, date(2025, 3, 5), voided=True)
    document(QBOCreditMemo, QBOCreditMemoLine, item, 9, date(2025, 2, 1))

    row = only_row(depletion_report(user=alice, today=TODAY))

    assert (row.sold, row.returned, row.net_depletion) == (D(36), D(24), D(12))
    assert [bottles for _, bottles in row.weekly] == [D(0), D(-12), D(0), D(12), D(12)]
    # Days on hand come from the net figure: 120 bottles ÷ (12 ÷ 28 days) = 280 days.
    assert (row.daily, row.days_on_hand) == (D("0.43"), D("280.0"))
    # ... and so does the warning: 280 days is low against 281, not against 280.
    assert only_row(depletion_report(user=alice, today=TODAY, threshold_days=281)).low
    assert not only_row(depletion_report(user=alice, today=TODAY, threshold_days=280)).low


def test_returns_outweighing_sales_leave_no_days_on_hand(
    alice: User, books_a: QBOConnection
) -> None:
    item = mapped_item(books_a, "UF-CAL-NV-750", on_hand=5)
    sell(item, 3, TODAY)
    document(QBOCreditMemo, QBOCreditMemoLine, item, 4, TODAY)

    row = only_row(depletion_report(user=alice, today=TODAY, threshold_days=90))

    assert row.net_depletion == D(-1)
    # Stock is not running out when more comes back than goes out: no days, no warning.
    assert (row.days_on_hand, row.low) == (None, False)
