"""/inventory/ledger/: the stock ledger per partner × SKU (opening, received, returned to
suppliers, sold, returned, adjusted, expected closing; QuickBooks now and the warehouse
count beside it), its drill-down and CSV, scoping, bad filters, query counts; and, against
qbo_sandbox over HTTP, a seeded company's ledger equal to QuickBooks' own
InventoryValuationSummary and to figures computed from its documents over the API."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Partner, User
from billing.models import (
    QBOCreditMemo,
    QBOCreditMemoLine,
    QBOInvoice,
    QBOInvoiceLine,
    QBORefundReceipt,
    QBORefundReceiptLine,
    QBOSalesReceipt,
    QBOSalesReceiptLine,
)
from inventory.catalog.models import CatalogSKU
from inventory.catalog.services import catalog_demo_load
from inventory.mapping.models import QBOItem, SKUMapping
from inventory.purchasing.models import QBOBill, QBOBillLine, QBOVendorCredit, QBOVendorCreditLine
from inventory.reports.stock_ledger import LedgerRow, stock_ledger
from inventory.stock.models import QBOInventoryAdjustment, QBOInventoryAdjustmentLine
from inventory.warehouse.models import WarehouseSnapshot
from sync import services as sync
from sync.models import QBOConnection, SyncRun
from tests.billing.factories import ConnectionFactory, ItemFactory
from tests.conftest import signed_in
from tests.sync.books import Books, connection_for
from tests.sync.conftest import (  # noqa: F401 (fixtures, found by pytest by name)
    pointed_at,
    sandbox_server,
)

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

D = Decimal
_ids = itertools.count(1)


URL = reverse("inventory:stock_ledger")
MARCH = {"start": "2025-03-01", "end": "2025-03-31"}


def detail_url(connection: QBOConnection, sku: str) -> str:
    return reverse("inventory:stock_ledger_row", args=[connection.partner_id, sku])


# --- Rows --------------------------------------------------------------------------------


@pytest.fixture
def books_a(partner_a: Partner) -> QBOConnection:
    connection: QBOConnection = ConnectionFactory(partner=partner_a, realm_id="4620000000000001")
    return connection


@pytest.fixture
def books_b(partner_b: Partner) -> QBOConnection:
    connection: QBOConnection = ConnectionFactory(partner=partner_b, realm_id="4620000000000002")
    return connection


def mapped_item(
    connection: QBOConnection, code: str, *, on_hand: int, per_unit: int = 1,
    item_type: str = "Inventory", ml: int = 750,
) -> QBOItem:  # fmt: skip
    sku, _ = CatalogSKU.objects.get_or_create(
        code=code, defaults={"wine": f"Wine {code}", "format_ml": ml, "bottles_per_case": 12}
    )
    item: QBOItem = ItemFactory(
        connection=connection, sku=code, item_type=item_type,
        qty_on_hand=D(on_hand) if item_type == "Inventory" else None,
    )  # fmt: skip
    SKUMapping.objects.create(
        connection=connection, catalog_sku=sku, item_qbo_id=item.qbo_id,
        unit=SKUMapping.Unit.BOTTLE if per_unit == 1 else SKUMapping.Unit.CASE,
        bottles_per_unit=per_unit, method=SKUMapping.Method.SKU, item_name=item.name,
        item_sku=code,
    )  # fmt: skip
    return item


DOCS: dict[str, tuple[Any, Any, str, str]] = {
    "invoice": (QBOInvoice, QBOInvoiceLine, "SalesItemLineDetail", "qty"),
    "sales_receipt": (QBOSalesReceipt, QBOSalesReceiptLine, "SalesItemLineDetail", "qty"),
    "credit_memo": (QBOCreditMemo, QBOCreditMemoLine, "SalesItemLineDetail", "qty"),
    "refund_receipt": (QBORefundReceipt, QBORefundReceiptLine, "SalesItemLineDetail", "qty"),
    "bill": (QBOBill, QBOBillLine, "ItemBasedExpenseLineDetail", "qty"),
    "vendor_credit": (
        QBOVendorCredit, QBOVendorCreditLine, "ItemBasedExpenseLineDetail", "qty",
    ),
    "adjustment": (
        QBOInventoryAdjustment, QBOInventoryAdjustmentLine, "ItemAdjustmentLineDetail",
        "qty_diff",
    ),
}  # fmt: skip


def doc(kind: str, item: QBOItem, qty: int, on: date, **fields: Any) -> Any:
    """One document of ``kind`` with one line of ``qty`` of ``item``, and for every kind but
    an adjustment a line that is not an item's, which must count nothing."""
    model, line_model, detail, column = DOCS[kind]
    made = model.objects.create(
        connection=item.connection, qbo_id=f"{kind}-{next(_ids)}", txn_date=on,
        doc_number=f"N{next(_ids)}", **fields,
    )  # fmt: skip
    line_model.objects.create(
        **{kind: made}, position=0, detail_type=detail, item_qbo_id=item.qbo_id, **{column: qty}
    )
    if kind != "adjustment":
        line_model.objects.create(
            **{kind: made}, position=1, detail_type="SubTotalLineDetail",
            item_qbo_id=item.qbo_id, **{column: 1000},
        )  # fmt: skip
    return made


def snap(partner: Partner, code: str, bottles: int, on: date) -> None:
    WarehouseSnapshot.objects.create(
        partner=partner, sku=CatalogSKU.objects.get(code=code), as_of=on,
        bottles=D(bottles), source="csv",
    )  # fmt: skip


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def march(books_a: QBOConnection) -> QBOItem:
    """A case item of 12 with 20 cases (240 bottles) on hand now, and its movements."""
    item = mapped_item(books_a, "UF-CAL-NV-750", on_hand=20, per_unit=12)
    doc("bill", item, 10, date(2025, 2, 20))  # before: in the opening
    doc("bill", item, 5, date(2025, 3, 3))  # +60 received
    doc("vendor_credit", item, 1, date(2025, 3, 4))  # −12 to the supplier
    doc("invoice", item, 4, date(2025, 3, 10))  # −48 sold
    doc("invoice", item, 9, date(2025, 3, 11), voided=True)  # nothing
    doc("sales_receipt", item, 1, date(2025, 3, 12))  # −12 sold
    doc("credit_memo", item, 1, date(2025, 3, 15))  # +12 returned
    doc("refund_receipt", item, 1, date(2025, 3, 16))  # +12 returned
    doc("adjustment", item, -2, date(2025, 3, 20))  # −24 adjusted
    doc("invoice", item, 3, date(2025, 4, 2))  # after: −36
    doc("bill", item, 6, date(2025, 4, 5))  # after: +72
    return item


# --- Figures -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_figures_of_a_period(sam: User, march: QBOItem) -> None:
    [row] = stock_ledger(user=sam, start=date(2025, 3, 1), end=date(2025, 3, 31)).rows
    assert row.qbo_now == D(240)
    assert (row.received, row.supplier_returns, row.sold, row.returned, row.adjusted) == (
        D(60), D(12), D(60), D(24), D(-24),
    )  # fmt: skip
    assert row.after_end == D(36) and row.after_end_lines == 2
    assert row.closing == D(240 - 36)
    assert row.opening == D(204 - 60 + 12 + 60 - 24 + 24)
    assert row.opening + row.net_movement == row.closing
    assert row.closing_cases == D(17)  # 204 bottles of 750 ml
    assert row.status == "explained" and not row.negative
    assert any("2 lines dated after 2025-03-31" in r for r in row.reasons)


@pytest.mark.django_db
def test_untracked_items_are_explained_not_counted(sam: User, books_a: QBOConnection) -> None:
    tracked = mapped_item(books_a, "UF-CAL-NV-750", on_hand=100)
    loose = mapped_item(books_a, "UF-CAL-NV-750", on_hand=0, item_type="NonInventory")
    doc("invoice", tracked, 10, date(2025, 3, 5))
    doc("invoice", loose, 7, date(2025, 3, 6))
    [row] = stock_ledger(user=sam, start=date(2025, 3, 1), end=date(2025, 3, 31)).rows
    assert (row.sold, row.untracked) == (D(10), {"sold": D(7)})
    assert "7 bottles sold through an untracked item (not in QuickBooks' stock)" in row.reasons


@pytest.mark.django_db
def test_a_negative_quantity_is_flagged(sam: User, books_a: QBOConnection) -> None:
    # Sold on the 5th, the bill that brought the bottles in dated the 20th.
    item = mapped_item(books_a, "UF-CAL-NV-750", on_hand=2)
    doc("invoice", item, 10, date(2025, 3, 5))
    doc("bill", item, 12, date(2025, 3, 20))
    [row] = stock_ledger(user=sam, start=date(2025, 3, 1), end=date(2025, 3, 31)).rows
    assert (row.opening, row.lowest, row.lowest_on) == (D(0), D(-10), date(2025, 3, 5))
    assert row.status == "flagged"
    assert any("goes negative (-10 on 2025-03-05)" in r for r in row.reasons)


@pytest.mark.django_db
def test_the_warehouse_count_is_compared_on_its_own_day(
    sam: User, partner_a: Partner, march: QBOItem
) -> None:
    # QuickBooks on 2025-03-12: 240 now, less what moved after that day
    # (+12 +12 −24 in March, −36 +72 in April: +36), so 204.
    snap(partner_a, "UF-CAL-NV-750", 204, date(2025, 3, 12))
    ledger = stock_ledger(user=sam, start=date(2025, 3, 1), end=date(2025, 3, 31))
    [row] = ledger.rows
    assert (row.qbo_on_count_day, row.warehouse_difference) == (D(204), D(0))
    assert row.status == "explained"
    WarehouseSnapshot.objects.update(bottles=D(190))
    [row] = stock_ledger(user=sam, start=date(2025, 3, 1), end=date(2025, 3, 31)).rows
    assert row.warehouse_difference == D(14) and row.status == "flagged"
    # A count long before the period: the movements since it are read too.
    WarehouseSnapshot.objects.update(as_of=date(2025, 1, 31), bottles=D(0))
    [row] = stock_ledger(user=sam, start=date(2025, 3, 1), end=date(2025, 3, 31)).rows
    # After January: the February bill +120, March −12, April +36.
    assert row.qbo_on_count_day == D(240 - (120 - 12 + 36))


# --- The page, its drill-down and its export --------------------------------------------------


@pytest.mark.django_db
def test_page_csv_and_totals_agree(sam: User, march: QBOItem, books_b: QBOConnection) -> None:
    other = mapped_item(books_b, "UF-BDB-2021-750", on_hand=30)
    doc("invoice", other, 6, date(2025, 3, 9))
    client = signed_in(sam)
    page = client.get(URL, MARCH)
    assert page.status_code == 200
    ledger = page.context["ledger"]
    rows = _csv(client.get(URL, {**MARCH, "format": "csv"}))
    assert [(r["Partner"], r["SKU"]) for r in rows] == [(x.partner, x.sku) for x in ledger.rows]
    for key, words in (("opening", "Opening"), ("sold", "Sold"), ("closing", "Expected closing")):
        for unit, suffix in (("", "bottles"), ("_cases", "9L cases")):
            column = sum(D(r[f"{words} ({suffix})"]) for r in rows)
            assert column == ledger.totals[f"{key}{unit}"], (words, suffix)
    # The explanations are in the export; on the page, in each row's drill-down.
    [callie] = [r for r in rows if r["SKU"] == "UF-CAL-NV-750"]
    assert "2 lines dated after 2025-03-31" in callie["Explanation"]
    html = page.content.decode()
    assert "Stock ledger" in html and "Expected closing" in html
    assert detail_url(march.connection, "UF-CAL-NV-750") in html


@pytest.mark.django_db
def test_htmx_filter_gets_the_results_fragment(sam: User, march: QBOItem) -> None:
    response = signed_in(sam).get(URL, MARCH, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="stock-ledger-results"')
    assert "<h1>" not in html and html.count('id="stock-ledger-results"') == 1


@pytest.mark.django_db
def test_drill_down_lists_the_documents_with_invoice_links(sam: User, march: QBOItem) -> None:
    client = signed_in(sam)
    response = client.get(detail_url(march.connection, "UF-CAL-NV-750"), MARCH)
    assert response.status_code == 200
    lines = response.context["table"].rows
    # Voided and non-item lines aside: 7 in March, 2 after it; the February bill is not.
    assert len(lines) == 9 and sum(1 for line in lines if line.after_end) == 2
    assert sum(line.bottles for line in lines if not line.after_end) == (
        response.context["row"].net_movement
    )
    invoice = QBOInvoice.objects.filter(voided=False).order_by("txn_date").first()
    assert invoice is not None
    html = response.content.decode()
    assert reverse("billing:invoice", args=[invoice.pk]) in html
    rows = _csv(
        client.get(detail_url(march.connection, "UF-CAL-NV-750"), {**MARCH, "format": "csv"})
    )
    assert sum(D(r["Bottles (+ in, − out)"]) for r in rows) == sum(line.bottles for line in lines)


@pytest.mark.django_db
def test_partner_user_sees_only_own_rows_drill_downs_and_export(
    alice: User, march: QBOItem, books_b: QBOConnection
) -> None:
    other = mapped_item(books_b, "UF-BDB-2021-750", on_hand=30)
    doc("invoice", other, 6, date(2025, 3, 9))
    client = signed_in(alice)
    widen = {**MARCH, "partner": str(books_b.partner_id)}
    page = client.get(URL, widen).content.decode()
    assert "UF-CAL-NV-750" in page and "UF-BDB-2021-750" not in page
    assert 'name="partner"' not in page
    rows = _csv(client.get(URL, {**widen, "format": "csv"}))
    assert [r["SKU"] for r in rows] == ["UF-CAL-NV-750"]
    assert client.get(detail_url(books_b, "UF-BDB-2021-750"), MARCH).status_code == 404
    assert (
        client.get(detail_url(books_b, "UF-BDB-2021-750"), {**MARCH, "format": "csv"}).status_code
        == 404
    )
    # Their own partner with another partner's SKU: nothing of theirs is mapped to it.
    assert client.get(detail_url(march.connection, "UF-BDB-2021-750")).status_code == 404
    assert client.get(detail_url(march.connection, "UF-CAL-NV-750"), MARCH).status_code == 200


@pytest.mark.django_db
def test_empty_states_say_what_to_do(alice: User, sam: User, partner_a: Partner) -> None:
    page = signed_in(alice).get(URL).content.decode()
    assert "no QuickBooks company is connected" in page
    assert reverse("sync:connections") in page
    ConnectionFactory(partner=partner_a, realm_id="4620000000000009")
    page = signed_in(alice).get(URL).content.decode()
    assert "no QuickBooks item is mapped" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"start": "March"},
        {"start": "2025-02-30"},
        {"start": "2025-05-01", "end": "2025-03-01"},
        {"start": "0001-01-01"},
        {"end": "9999-12-31"},
        {"sku": "NOPE"},
        {"unit": "litres"},
        {"partner": "x"},
        {"start": "\x00"},
    ],
)
def test_bad_filters_are_reported_and_defaults_used(
    sam: User, march: QBOItem, params: dict[str, str]
) -> None:
    client = signed_in(sam)
    for url in (URL, detail_url(march.connection, "UF-CAL-NV-750")):
        response = client.get(url, params)
        assert response.status_code == 200
        assert "Some filters could not be read" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["page", "csv"])
def test_query_count_is_constant(
    sam: User, partner_a: Partner, books_a: QBOConnection, fmt: str
) -> None:
    client = signed_in(sam)
    params = {**MARCH, **({"format": "csv"} if fmt == "csv" else {})}

    def grow(n: int) -> int:
        for i in range(n):
            code = f"UF-T{next(_ids)}-750"
            item = mapped_item(books_a, code, on_hand=100 + i)
            for kind in DOCS:
                doc(kind, item, i + 1, date(2025, 3, 1 + i % 28))
            doc("invoice", item, 1, date(2025, 4, 1))
            snap(partner_a, code, 90, date(2025, 3, 15))
        with CaptureQueriesContext(db_connection) as ctx:
            response = client.get(URL, params)
            assert response.status_code == 200
            response.getvalue()
        return len(ctx.captured_queries)

    grow(1)  # a session's first request does one-off work
    assert grow(2) == grow(18)


# --- Against qbo_sandbox over HTTP -------------------------------------------------------------


@pytest.fixture
def sandbox(sandbox_server: SandboxProcess) -> Iterator[SandboxProcess]:  # noqa: F811
    with pointed_at(sandbox_server):
        yield sandbox_server


# Which documents move stock, as the test reads QuickBooks' documents: its item line
# detail, the quantity's key, and the ledger's measure (the signs are in the assertion).
# Written out here rather than taken from the app, so the comparison is independent of it.
MOVES = {
    "Bill": ("ItemBasedExpenseLineDetail", "Qty", "received"),
    "VendorCredit": ("ItemBasedExpenseLineDetail", "Qty", "supplier_returns"),
    "Invoice": ("SalesItemLineDetail", "Qty", "sold"),
    "SalesReceipt": ("SalesItemLineDetail", "Qty", "sold"),
    "CreditMemo": ("SalesItemLineDetail", "Qty", "returned"),
    "RefundReceipt": ("SalesItemLineDetail", "Qty", "returned"),
    "InventoryAdjustment": ("ItemAdjustmentLineDetail", "QtyDiff", "adjusted"),
}


def api_measures(books: Books, items: dict[str, int], start: date, end: date) -> dict[str, Decimal]:
    """Bottles of the tracked ``items`` (QuickBooks id → bottles per unit) each measure
    moved from ``start`` to ``end``, from every document the sandbox's API lists; each a
    positive number of bottles moved its own way (adjusted signed)."""
    totals = {measure: D(0) for *_, measure in MOVES.values()}
    for entity, (detail_type, key, measure) in MOVES.items():
        for document in books.all(entity):
            if not start <= date.fromisoformat(document["TxnDate"]) <= end:
                continue
            for line in document.get("Line", []):
                if line.get("DetailType") != detail_type:
                    continue
                detail = line[detail_type]
                item_id = str(detail.get("ItemRef", {}).get("value", ""))
                if item_id in items:
                    moved = D(str(detail.get(key) or 0)) * items[item_id]
                    totals[measure] += moved
    return totals


def valuation(books: Books, day: date) -> dict[str, Decimal]:
    """QuickBooks' own quantity of each item on ``day``: InventoryValuationSummary."""
    report = books._request(
        "GET", "reports/InventoryValuationSummary", params={"report_date": day.isoformat()}
    )
    quantities: dict[str, Decimal] = {}

    def walk(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if "ColData" in row and row["ColData"][0].get("id"):
                quantities[row["ColData"][0]["id"]] = D(row["ColData"][2]["value"] or "0")
            if "Header" in row and row["Header"]["ColData"][0].get("id"):
                cells = row["Header"]["ColData"]
                if cells[2].get("value"):
                    quantities[cells[0]["id"]] = D(cells[2]["value"])
            walk(row.get("Rows", {}).get("Row", []))

    walk(report["Rows"]["Row"])
    return quantities


def tracked_items(books: Books, connection: QBOConnection) -> dict[str, dict[str, int]]:
    """SKU code → {tracked item id: bottles per unit}: the mappings the sync made, kept to
    the items the sandbox's API says are inventory items."""
    inventory = {str(item["Id"]) for item in books.all("Item") if item.get("TrackQtyOnHand")}
    by_sku: dict[str, dict[str, int]] = {}
    for mapping in SKUMapping.objects.filter(connection=connection).select_related("catalog_sku"):
        if mapping.item_qbo_id in inventory:
            by_sku.setdefault(mapping.catalog_sku.code, {})[mapping.item_qbo_id] = (
                mapping.bottles_per_unit
            )
    return by_sku


def assert_ledger_matches_quickbooks(
    books: Books, connection: QBOConnection, user: User, start: date, end: date
) -> list[LedgerRow]:
    ledger = stock_ledger(user=user, start=start, end=end, partner_id=connection.partner_id)
    by_sku = tracked_items(books, connection)
    assert by_sku
    before, on_end = valuation(books, start - timedelta(days=1)), valuation(books, end)
    rows = {row.sku: row for row in ledger.rows}
    for code, items in by_sku.items():
        row = rows[code]
        opening = sum((before.get(i, D(0)) * n for i, n in items.items()), D(0))
        closing = sum((on_end.get(i, D(0)) * n for i, n in items.items()), D(0))
        assert (row.opening, row.closing) == (opening, closing), code
        moved = api_measures(books, items, start, end)
        assert {key: getattr(row, key) for key in moved} == moved, code
        assert (
            opening
            + moved["received"]
            - moved["supplier_returns"]
            - moved["sold"]
            + (moved["returned"] + moved["adjusted"])
            == closing
        ), code
    return ledger.rows


@pytest.mark.django_db(transaction=True)
def test_a_seeded_company_matches_quickbooks_reports_and_documents(
    sandbox: SandboxProcess, partner_a: Partner, sam: User
) -> None:
    catalog_demo_load()
    realm = sandbox.new_company(seed="demo", scale=0.05)
    books = Books(sandbox, realm)
    connection = connection_for(sandbox, partner_a, realm, company_name="Seeded books")
    run = sync.connection_sync(connection_id=connection.pk, trigger="test")
    assert run is not None and run.status == SyncRun.Status.SUCCEEDED, run and run.error
    # A period in the middle of the history: movements before, in and after it.
    days = sorted(date.fromisoformat(i["TxnDate"]) for i in books.all("Invoice"))
    start, end = days[len(days) // 3], days[2 * len(days) // 3]
    rows = assert_ledger_matches_quickbooks(books, connection, sam, start, end)
    assert any(row.sold and row.received for row in rows)
    assert any(row.after_end_lines for row in rows)

    # An adjustment posted through the API and polled moves the period's figures.
    items = tracked_items(books, connection)
    code = sorted(items)[0]
    item_id = sorted(items[code])[0]
    account = books.all("InventoryAdjustment")[0]["AdjustAccountRef"]
    books.post(
        "InventoryAdjustment",
        {"TxnDate": end.isoformat(), "AdjustAccountRef": {"value": account["value"]},
         "Line": [{"DetailType": "ItemAdjustmentLineDetail",
                   "ItemAdjustmentLineDetail": {"ItemRef": {"value": item_id}, "QtyDiff": -7}}]},
    )  # fmt: skip
    adjusted = next(r for r in rows if r.sku == code).adjusted
    run = sync.connection_sync(connection_id=connection.pk, trigger="test")
    assert run is not None and run.kind == SyncRun.Kind.POLL and run.status == "succeeded"
    rows = assert_ledger_matches_quickbooks(books, connection, sam, start, end)
    assert next(r for r in rows if r.sku == code).adjusted == adjusted - 7 * items[code][item_id]


# --- Links from the other report pages --------------------------------------------------------


@pytest.mark.django_db
def test_sell_through_and_discrepancy_rows_link_to_the_ledger(
    sam: User, partner_a: Partner, march: QBOItem
) -> None:
    client = signed_in(sam)
    ledger = detail_url(march.connection, "UF-CAL-NV-750")
    page = client.get(reverse("inventory:sell_through"), {"start": "2025-03", "end": "2025-03"})
    # The row's own month.
    assert f"{ledger}?start=2025-03-01&amp;end=2025-03-31" in page.content.decode()
    snap(partner_a, "UF-CAL-NV-750", 204, date(2025, 3, 12))
    page = client.get(reverse("inventory:discrepancies"))
    assert ledger in page.content.decode()
    assert client.get(ledger).status_code == 200
