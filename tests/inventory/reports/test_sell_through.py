"""/inventory/sell-through/: sell-in (bills from the Une Femme vendor), on order, sold on,
returned and net depletion per partner × SKU × period, in bottles and 9-litre cases; the
CSV, scoping, bad filters, query counts; and, against qbo_sandbox over HTTP, a seeded
company's figures equal to those computed from its documents over the API."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from datetime import date
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
from inventory.purchasing.models import (
    QBOBill,
    QBOBillLine,
    QBOPurchaseOrder,
    QBOPurchaseOrderLine,
    QBOVendorCredit,
    QBOVendorCreditLine,
    UneFemmeVendor,
)
from inventory.reports.sell_through import SellThroughRow, sell_through_report
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

URL = reverse("inventory:sell_through")
D = Decimal
UF = "56"  # the Une Femme vendor's id in the partners' books below
OTHER = "57"
MARCH = {"start": "2025-03", "end": "2025-04"}
_ids = itertools.count(1)


# --- Rows --------------------------------------------------------------------------------


@pytest.fixture
def books_a(partner_a: Partner) -> QBOConnection:
    connection: QBOConnection = ConnectionFactory(partner=partner_a, realm_id="4620000000000001")
    UneFemmeVendor.objects.create(
        connection=connection, vendor_qbo_id=UF, vendor_name="Une Femme Wines", source="name"
    )
    return connection


@pytest.fixture
def books_b(partner_b: Partner) -> QBOConnection:
    connection: QBOConnection = ConnectionFactory(partner=partner_b, realm_id="4620000000000002")
    UneFemmeVendor.objects.create(
        connection=connection, vendor_qbo_id=UF, vendor_name="Une Femme Wines", source="name"
    )
    return connection


def mapped_item(connection: QBOConnection, code: str, ml: int, *, per_unit: int = 1) -> QBOItem:
    sku, _ = CatalogSKU.objects.get_or_create(
        code=code, defaults={"wine": f"Wine {code}", "format_ml": ml, "bottles_per_case": 12}
    )
    item: QBOItem = ItemFactory(connection=connection, sku=code)
    SKUMapping.objects.create(
        connection=connection, catalog_sku=sku, item_qbo_id=item.qbo_id,
        unit=SKUMapping.Unit.BOTTLE if per_unit == 1 else SKUMapping.Unit.CASE,
        bottles_per_unit=per_unit, method=SKUMapping.Method.SKU, item_name=item.name,
        item_sku=code,
    )  # fmt: skip
    return item


SALES: dict[str, tuple[Any, Any]] = {
    "invoice": (QBOInvoice, QBOInvoiceLine),
    "sales_receipt": (QBOSalesReceipt, QBOSalesReceiptLine),
    "credit_memo": (QBOCreditMemo, QBOCreditMemoLine),
    "refund_receipt": (QBORefundReceipt, QBORefundReceiptLine),
}
PURCHASES: dict[str, tuple[Any, Any]] = {
    "bill": (QBOBill, QBOBillLine),
    "purchase_order": (QBOPurchaseOrder, QBOPurchaseOrderLine),
    "vendor_credit": (QBOVendorCredit, QBOVendorCreditLine),
}


def doc(kind: str, item: QBOItem, qty: int, on: date, **fields: Any) -> None:
    """One document of ``kind`` with one item line of ``qty`` and one line that is not
    an item's (a subtotal, or freight), which must count nothing."""
    if kind in SALES:
        model, line_model = SALES[kind]
        item_detail, other = "SalesItemLineDetail", "SubTotalLineDetail"
    else:
        model, line_model = PURCHASES[kind]
        item_detail, other = QBOBillLine.ITEM_BASED, QBOBillLine.ACCOUNT_BASED
        fields.setdefault("vendor_qbo_id", UF)
    made = model.objects.create(
        connection=item.connection, qbo_id=f"{kind}-{next(_ids)}", txn_date=on, **fields
    )
    line_model.objects.create(
        **{kind: made}, position=0, detail_type=item_detail, item_qbo_id=item.qbo_id, qty=qty
    )
    line_model.objects.create(
        **{kind: made}, position=1, detail_type=other, item_qbo_id=item.qbo_id, qty=1000
    )


def row(rows: list[SellThroughRow], sku: str, period: str) -> SellThroughRow:
    [found] = [r for r in rows if r.sku == sku and r.period_label == period]
    return found


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


# --- Figures -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_figures_per_partner_sku_and_month(sam: User, books_a: QBOConnection) -> None:
    std = mapped_item(books_a, "UF-CAL-NV-750", 750, per_unit=12)  # counted in cases of 12
    magnum = mapped_item(books_a, "UF-CAL-NV-1500", 1500)
    half = mapped_item(books_a, "UF-CAL-NV-375", 375)
    unmapped = ItemFactory(connection=books_a)

    doc("bill", std, 10, date(2025, 3, 3))  # 120 bottles received
    doc("bill", std, 5, date(2025, 3, 9), vendor_qbo_id=OTHER)  # another supplier: ignored
    doc("vendor_credit", std, 1, date(2025, 3, 20))  # 12 returned to Une Femme
    doc("purchase_order", std, 2, date(2025, 3, 21), po_status="Open")  # 24 on order
    doc("purchase_order", std, 7, date(2025, 3, 1), po_status="Closed")  # received: no
    doc("purchase_order", std, 3, date(2025, 3, 1), po_status="Open", vendor_qbo_id=OTHER)
    doc("invoice", std, 4, date(2025, 3, 10))  # 48 sold
    doc("invoice", std, 9, date(2025, 3, 11), voided=True)  # voided: nothing
    doc("sales_receipt", std, 1, date(2025, 3, 31))  # 12 sold
    doc("credit_memo", std, 1, date(2025, 3, 15))  # 12 returned
    doc("refund_receipt", std, 1, date(2025, 4, 1))  # April: 12 returned
    doc("invoice", magnum, 6, date(2025, 3, 5))
    doc("invoice", half, 24, date(2025, 3, 5))
    doc("invoice", std, 100, date(2025, 2, 28))  # before the period
    doc("invoice", unmapped, 1, date(2025, 3, 5))  # unmapped: counted apart

    report = sell_through_report(
        user=sam, start=date(2025, 3, 1), end=date(2025, 4, 30), grouping="month"
    )

    march = row(report.rows, "UF-CAL-NV-750", "2025-03")
    assert (march.received, march.returned_to_une_femme) == (D(120), D(12))
    assert (march.sold, march.returned, march.net_depletion) == (D(60), D(12), D(48))
    assert (march.received_cases, march.net_depletion_cases) == (D(10), D(4))
    april = row(report.rows, "UF-CAL-NV-750", "2025-04")
    assert (april.received, april.sold, april.returned, april.net_depletion) == (
        D(0), D(0), D(12), D(-12),
    )  # fmt: skip
    assert april.net_depletion_cases == D(-1)
    assert row(report.rows, "UF-CAL-NV-1500", "2025-03").sold_cases == D(1)  # 6 × 1/6
    assert row(report.rows, "UF-CAL-NV-375", "2025-03").sold_cases == D(1)  # 24 × 1/24
    [on_order] = report.on_order
    assert (on_order.sku, on_order.bottles, on_order.cases) == ("UF-CAL-NV-750", D(24), D(2))
    assert report.unmapped_lines == 1
    assert report.without_vendor == []
    totals = report.totals
    assert (totals["received"], totals["sold"], totals["net_depletion"]) == (D(120), D(90), D(66))
    assert totals["net_depletion_cases"] == D(4) - D(1) + D(1) + D(1)
    assert [p.label for p in report.periods] == ["2025-03", "2025-04"]


@pytest.mark.django_db
def test_week_grouping_uses_iso_weeks(sam: User, books_a: QBOConnection) -> None:
    item = mapped_item(books_a, "UF-CAL-NV-750", 750)
    doc("invoice", item, 3, date(2025, 3, 9))  # Sunday of 2025-W10
    doc("invoice", item, 5, date(2025, 3, 10))  # Monday of 2025-W11
    doc("bill", item, 24, date(2025, 3, 12))

    report = sell_through_report(
        user=sam, start=date(2025, 3, 1), end=date(2025, 3, 31), grouping="week"
    )

    assert [(r.period_label, r.sold, r.received) for r in report.rows] == [
        ("2025-W10", D(3), D(0)),
        ("2025-W11", D(5), D(24)),
    ]
    assert report.periods[0].label == "2025-W09"  # Saturday 1 March's week


@pytest.mark.django_db
def test_a_sku_without_a_size_reads_in_bottles_only(sam: User, books_a: QBOConnection) -> None:
    # The catalog requires a size today; the page must still not invent cases for one.
    sized = sell_through_report(
        user=sam, start=date(2025, 3, 1), end=date(2025, 3, 31), grouping="month"
    )
    assert sized.totals["sold_cases"] == D(0)
    unsized = SellThroughRow(
        partner_id=1, partner="P", sku="X", wine="W", format_ml=None,
        period=sized.periods[0], sold=D(7),
    )  # fmt: skip
    assert (unsized.sold, unsized.sold_cases) == (D(7), None)
    sized.rows.append(unsized)
    assert sized.totals["sold"] == D(7) and sized.totals["sold_cases"] is None
    assert sized.unsized_skus == ["X"]


@pytest.mark.django_db
def test_without_an_une_femme_vendor_nothing_is_sell_in(sam: User, books_a: QBOConnection) -> None:
    item = mapped_item(books_a, "UF-CAL-NV-750", 750)
    doc("bill", item, 24, date(2025, 3, 3))
    UneFemmeVendor.objects.filter(connection=books_a).update(vendor_qbo_id="", source="not_found")

    page = signed_in(sam).get(URL, MARCH).content.decode()

    assert "No Une Femme vendor is known for" in page
    assert reverse("inventory:suppliers") in page


@pytest.mark.django_db
def test_without_mappings_the_page_says_what_to_do(ana_admin: User) -> None:
    page = signed_in(ana_admin).get(URL).content.decode()
    assert "no QuickBooks item is mapped" in page
    assert reverse("inventory:conflicts") in page


@pytest.fixture
def ana_admin(db: None) -> User:
    from accounts.roles import Role
    from tests.factories import UserFactory

    user: User = UserFactory(email="ana@unefemme.test", full_name="Ana", role=Role.ADMIN)
    return user


# --- The page and its export ---------------------------------------------------------------


@pytest.mark.django_db
def test_csv_has_the_page_rows_and_totals(sam: User, books_a: QBOConnection) -> None:
    a = mapped_item(books_a, "UF-CAL-NV-750", 750)
    b = mapped_item(books_a, "UF-CAL-NV-1500", 1500)
    doc("bill", a, 36, date(2025, 3, 3))
    doc("invoice", a, 12, date(2025, 3, 4))
    doc("credit_memo", a, 1, date(2025, 4, 4))
    doc("sales_receipt", b, 6, date(2025, 4, 5))
    client = signed_in(sam)

    page = client.get(URL, MARCH)
    rows = _csv(client.get(URL, {**MARCH, "format": "csv"}))

    report = page.context["report"]
    assert [(r["SKU"], r["Period"]) for r in rows] == [(x.sku, x.period_label) for x in report.rows]
    for key, label in (("received", "Received from Une Femme"), ("net_depletion", "Net depletion")):
        for unit, suffix in (("", "bottles"), ("_cases", "9L cases")):
            column = sum(D(r[f"{label} ({suffix})"]) for r in rows)
            assert column == report.totals[f"{key}{unit}"], (label, suffix)
    assert report.totals["net_depletion"] == D(12 - 1 + 6)
    html = page.content.decode()
    assert "Sell-in and sell-through" in html and "2025-04" in html
    assert "Net depletion" in html and "9L cases" in html


@pytest.mark.django_db
def test_the_table_shows_one_unit_at_a_time_and_the_export_both(
    sam: User, books_a: QBOConnection
) -> None:
    doc("invoice", mapped_item(books_a, "UF-CAL-NV-750", 750), 24, date(2025, 3, 4))
    client = signed_in(sam)

    def headers(params: dict[str, str]) -> list[str]:
        table = client.get(URL, {**MARCH, **params}).context["table"]
        return [c.label for c in table.columns]

    bottles, cases = headers({}), headers({"unit": "cases"})
    assert "Net depletion (bottles)" in bottles and "Net depletion (9L cases)" not in bottles
    assert "Net depletion (9L cases)" in cases and "Net depletion (bottles)" not in cases
    # Five measures, not ten, fit the page's width.
    assert sum("(bottles)" in h or "(9L cases)" in h for h in bottles) == 5
    assert headers({"unit": "litres"}) == bottles  # a bad value falls back to bottles
    # A sort by a column the page does not show falls back to the default sort.
    page = client.get(URL, {**MARCH, "unit": "cases", "sort": "sold"})
    assert page.status_code == 200 and page.context["table"].sort_key == "partner"
    [row] = _csv(client.get(URL, {**MARCH, "unit": "cases", "format": "csv"}))
    assert (row["Sold on (bottles)"], row["Sold on (9L cases)"]) == ("24", "2")


@pytest.mark.django_db
def test_htmx_filter_gets_the_results_fragment(sam: User, books_a: QBOConnection) -> None:
    doc("invoice", mapped_item(books_a, "UF-CAL-NV-750", 750), 5, date(2025, 3, 4))
    response = signed_in(sam).get(URL, MARCH, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="sell-through-results"')
    assert "<h1>" not in html
    # The table's sort links swap this whole fragment, so it never nests in itself.
    assert 'hx-target="#sell-through-results"' in html
    assert html.count('id="sell-through-results"') == 1


@pytest.mark.django_db
def test_partner_user_sees_only_own_rows_on_page_and_in_export(
    alice: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    doc("invoice", mapped_item(books_a, "UF-CAL-NV-750", 750), 5, date(2025, 3, 4))
    doc("bill", mapped_item(books_b, "UF-BDB-2021-750", 750), 48, date(2025, 3, 4))
    client = signed_in(alice)
    widen = {**MARCH, "partner": str(books_b.partner_id)}

    page = client.get(URL, widen).content.decode()
    rows = _csv(client.get(URL, {**widen, "format": "csv"}))

    assert "UF-CAL-NV-750" in page and "UF-BDB-2021-750" not in page
    assert 'name="partner"' not in page
    assert [(r["SKU"], r["Sold on (bottles)"]) for r in rows] == [("UF-CAL-NV-750", "5")]


@pytest.mark.django_db
def test_staff_narrow_to_one_partner_and_sku(
    sam: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    doc("invoice", mapped_item(books_a, "UF-CAL-NV-750", 750), 5, date(2025, 3, 4))
    doc("invoice", mapped_item(books_b, "UF-BDB-2021-750", 750), 7, date(2025, 3, 4))
    client = signed_in(sam)

    both = _csv(client.get(URL, {**MARCH, "format": "csv"}))
    only_b = _csv(client.get(URL, {**MARCH, "format": "csv", "partner": str(books_b.partner_id)}))
    by_sku = _csv(client.get(URL, {**MARCH, "format": "csv", "sku": "UF-CAL-NV-750"}))

    assert sorted(r["SKU"] for r in both) == ["UF-BDB-2021-750", "UF-CAL-NV-750"]
    assert [r["SKU"] for r in only_b] == ["UF-BDB-2021-750"]
    assert [r["SKU"] for r in by_sku] == ["UF-CAL-NV-750"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"start": "March"},
        {"start": "2025-13"},
        {"start": "2025-05", "end": "2025-03"},
        {"start": "1900-01", "end": "2025-03"},
        {"group": "fortnight"},
        {"sku": "NOPE"},
        {"partner": "x"},
        {"start": "\x00"},
    ],
)
def test_bad_filters_are_reported_and_defaults_used(
    sam: User, books_a: QBOConnection, params: dict[str, str]
) -> None:
    response = signed_in(sam).get(URL, params)
    assert response.status_code == 200
    assert "Some filters could not be read" in response.content.decode()
    assert response.context["report"].start <= response.context["report"].end


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["page", "csv"])
def test_query_count_is_constant(sam: User, books_a: QBOConnection, fmt: str) -> None:
    client = signed_in(sam)
    params = {**MARCH, **({"format": "csv"} if fmt == "csv" else {})}

    def grow(n: int) -> int:
        for i in range(n):
            item = mapped_item(books_a, f"UF-T{next(_ids)}-750", 750)
            for kind in ("bill", "invoice", "credit_memo", "vendor_credit"):
                doc(kind, item, i + 1, date(2025, 3, 1 + i % 28))
            doc("purchase_order", item, 1, date(2025, 3, 1), po_status="Open")
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


ITEM_LINES = ("SalesItemLineDetail", "ItemBasedExpenseLineDetail")


def _api_bottles(
    books: Books, entity: str, items: dict[str, int], *, vendor: str | None = None, **match: Any
) -> Decimal:
    """Bottles of the mapped ``items`` (QuickBooks id → bottles per unit) on the item lines
    of every ``entity`` the sandbox's API lists, optionally from ``vendor`` only. A voided
    document's lines have zero quantities in QuickBooks, so it adds nothing here either."""
    total = Decimal(0)
    for document in books.all(entity):
        if vendor is not None and str(document.get("VendorRef", {}).get("value")) != vendor:
            continue
        if any(document.get(key) != value for key, value in match.items()):
            continue
        for line in document.get("Line", []):
            detail = line.get(line.get("DetailType", ""), {})
            item_id = str(detail.get("ItemRef", {}).get("value", ""))
            item_line = line.get("DetailType") in ITEM_LINES
            if item_line and item_id in items:
                total += Decimal(str(detail.get("Qty") or 0)) * items[item_id]
    return total


@pytest.mark.django_db(transaction=True)
def test_a_seeded_company_matches_its_documents_over_the_api(
    sandbox: SandboxProcess, partner_a: Partner, sam: User
) -> None:
    catalog_demo_load()
    realm = sandbox.new_company(seed="demo", scale=0.05)
    books = Books(sandbox, realm)
    connection = connection_for(sandbox, partner_a, realm, company_name="Seeded books")
    run = sync.connection_sync(connection_id=connection.pk, trigger="test")
    assert run is not None and run.status == SyncRun.Status.SUCCEEDED, run and run.error
    vendor = UneFemmeVendor.objects.get(connection=connection).vendor_qbo_id
    assert vendor

    # The SKU with the most mapped items' bills: one SKU, computed independently.
    mappings = SKUMapping.objects.filter(connection=connection).select_related("catalog_sku")
    by_sku: dict[str, dict[str, int]] = {}
    for mapping in mappings:
        by_sku.setdefault(mapping.catalog_sku.code, {})[mapping.item_qbo_id] = (
            mapping.bottles_per_unit
        )
    start, end = date(1990, 1, 1), date(2100, 12, 31)
    report = sell_through_report(user=sam, start=start, end=end, grouping="month")
    received: dict[str, Decimal] = {}
    for r in report.rows:
        received[r.sku] = received.get(r.sku, D(0)) + r.received
    code = max(received, key=lambda c: received[c])
    items = by_sku[code]
    mine = [r for r in report.rows if r.sku == code]

    sell_in = _api_bottles(books, "Bill", items, vendor=vendor)
    sold = _api_bottles(books, "Invoice", items) + _api_bottles(books, "SalesReceipt", items)
    returned = _api_bottles(books, "CreditMemo", items) + _api_bottles(
        books, "RefundReceipt", items
    )
    on_order = _api_bottles(books, "PurchaseOrder", items, vendor=vendor, POStatus="Open")

    assert sell_in > 0
    assert sum((r.received for r in mine), D(0)) == sell_in
    assert sum((r.net_depletion for r in mine), D(0)) == sold - returned
    assert sum((o.bottles for o in report.on_order if o.sku == code), D(0)) == on_order
