"""The CSV exports add up to QuickBooks' own figures (the export totals check).

qbo_sandbox's three demo companies are imported by the real worker (demo_books). A staff
member, then each partner user, signs in in Chromium and downloads the exports the pages
offer ("Export CSV": every row the filters select, not one page). Their columns are summed
in Decimal and compared, to the cent, with sums computed independently: the sandbox's
query endpoint over HTTP (``requests``, a token of our own, STARTPOSITION/MAXRESULTS
paging; tests/browser/demo_books.py), not the app's selectors or its mirror.

- Open invoices and credits: rows and balances (invoices with ``Balance > '0'``, less credit
  memos with credit left and payments with money unapplied, as AgedReceivables nets them).
- Payments: received (TotalAmt), applied (the amounts of Payment lines that link an
  invoice, less the credit memos used), unapplied (UnappliedAmt).
- Stock discrepancies and depletion: bottles on hand, i.e. each mapped item's QtyOnHand
  × the mapping's bottles per unit (the mapping is the app's decision, the quantities are
  QuickBooks'); depletion's net bottles too, from the sales and return documents of its
  window (invoices and sales receipts less credit memos and refund receipts).

Staff's exports are compared partner by partner; a partner user's equal its own company's
figures and nothing of the others.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from accounts.models import User
from inventory.mapping.models import SKUMapping
from tests.browser.conftest import sign_in
from tests.browser.demo_books import (
    Company,
    DemoBooks,
    Upstream,
    dec,
    read_upstream,
    select_all,
)
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

ZERO = Decimal(0)


# --- the exports, as a person downloads them -----------------------------------------------


def download_csv(page: Page, url_name: str) -> list[dict[str, str]]:
    """Open the page, press its "Export CSV" link and read the file it downloads."""
    response = page.goto(reverse(url_name))
    assert response is not None and response.status == 200, url_name
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile(r"^Export CSV")).click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv"), download.suggested_filename
    with open(download.path(), encoding="utf-8-sig", newline="") as file:  # BOM for Excel
        return list(csv.DictReader(file))


def money(value: str) -> Decimal:
    # Exports carry raw numbers: "1234.50", never "$1,234.50".
    assert re.fullmatch(r"-?\d+(\.\d+)?", value), value
    return Decimal(value)


def total(rows: Iterable[dict[str, str]], column: str) -> Decimal:
    return sum((money(row[column]) for row in rows if row[column] != ""), ZERO)


def by_partner(
    rows: list[dict[str, str]], company: Company | None
) -> dict[str, list[dict[str, str]]]:
    """Rows per partner: the Partner column in staff's exports; a partner user's exports
    leave it out (every row is theirs), so ``company`` names it."""
    grouped: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        if company is not None:
            # Where the column is kept, it can only name their own partner.
            assert row.get("Partner", company.name) == company.name, row
        grouped[row["Partner"] if company is None else company.name].append(row)
    return dict(grouped)


# --- the figures, from QuickBooks ----------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """One company's figures as the exports should sum them."""

    open_invoices: int
    open_balance: Decimal
    open_total: Decimal
    payments: int
    received: Decimal
    applied: Decimal
    unapplied: Decimal
    on_hand: dict[str, Decimal]  # SKU code -> bottles
    sold: dict[str, Decimal]  # SKU code -> net bottles depleted in the depletion window


def expected_for(company: Company, upstream: Upstream, window: tuple[date, date]) -> Expected:
    mappings = list(
        SKUMapping.objects.filter(connection=company.connection).values_list(
            "catalog_sku__code", "item_qbo_id", "bottles_per_unit"
        )
    )
    on_hand: dict[str, Decimal] = defaultdict(Decimal)
    per_item: dict[str, tuple[str, int]] = {}
    for code, item_id, per_unit in mappings:
        on_hand[code] += upstream.qty_on_hand(item_id) * per_unit
        per_item[item_id] = (code, per_unit)
    sold: dict[str, Decimal] = dict.fromkeys(on_hand, ZERO)
    start, end = window
    # Every sales and return document of the window, paid or not (docs/reports.md, "Net
    # depletion"). Voided ones count nothing: QuickBooks zeroes a voided document's
    # quantities.
    dated = f"WHERE TxnDate >= '{start.isoformat()}' AND TxnDate <= '{end.isoformat()}'"
    for entity, sign in (
        ("Invoice", 1),
        ("SalesReceipt", 1),
        ("CreditMemo", -1),
        ("RefundReceipt", -1),
    ):
        for document in select_all(company.books, entity, dated):
            for line in document.get("Line") or []:
                detail: dict[str, Any] = line.get("SalesItemLineDetail") or {}
                item_id = str((detail.get("ItemRef") or {}).get("value") or "")
                if item_id in per_item:
                    code, per_unit = per_item[item_id]
                    sold[code] += sign * dec(detail.get("Qty")) * per_unit
    return Expected(
        open_invoices=upstream.open_items,
        open_balance=upstream.open_balance,
        open_total=upstream.open_total,
        payments=len(upstream.payments),
        received=upstream.received,
        applied=upstream.applied,
        unapplied=upstream.unapplied,
        on_hand=dict(on_hand),
        sold=sold,
    )


def depletion_window(page: Page) -> tuple[date, date]:
    """The days the depletion page (and so its export) counts, as the page states them."""
    page.goto(reverse("inventory:depletion"))
    times = page.locator(".depletion-window time")
    expect(times).to_have_count(2)
    start, end = (date.fromisoformat(t.get_attribute("datetime") or "") for t in times.all())
    return start, end


# --- the comparison -------------------------------------------------------------------------------


def exported_figures(page: Page, company: Company | None) -> dict[str, dict[str, Any]]:
    """Partner name -> the figures the four exports give for it."""
    invoices = by_partner(download_csv(page, "billing:invoices"), company)
    payments = by_partner(download_csv(page, "billing:payments"), company)
    discrepancies = by_partner(download_csv(page, "inventory:discrepancies"), company)
    depletion = by_partner(download_csv(page, "inventory:depletion"), company)
    figures: dict[str, dict[str, Any]] = {}
    for name in set(invoices) | set(payments) | set(discrepancies) | set(depletion):
        figures[name] = {
            "open invoices": len(invoices.get(name, [])),
            "open balance": total(invoices.get(name, []), "Balance"),
            "open invoice totals": total(invoices.get(name, []), "Total"),
            "payments": len(payments.get(name, [])),
            "received": total(payments.get(name, []), "Received"),
            "applied": total(payments.get(name, []), "Applied"),
            "unapplied": total(payments.get(name, []), "Unapplied"),
            # Unmapped rows have no QuickBooks quantity (an empty cell).
            "discrepancies: QuickBooks bottles": {
                row["SKU"]: money(row["QuickBooks (bottles)"])
                for row in discrepancies.get(name, [])
                if row["QuickBooks (bottles)"]
            },
            "depletion: on hand bottles": {
                row["SKU"]: money(row["On hand (bottles)"]) for row in depletion.get(name, [])
            },
            "depletion: bottles sold": {
                row["SKU"]: money(row["Net depletion (bottles)"]) for row in depletion.get(name, [])
            },
        }
    return figures


def quickbooks_figures(
    companies: list[Company], books: DemoBooks, window: tuple[date, date]
) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    for company in companies:
        expected = expected_for(company, read_upstream(company.books), window)
        snapshots = {code for slug, code in books.warehouse_today if slug == company.partner.slug}
        figures[company.name] = {
            "open invoices": expected.open_invoices,
            "open balance": expected.open_balance,
            "open invoice totals": expected.open_total,
            "payments": expected.payments,
            "received": expected.received,
            "applied": expected.applied,
            "unapplied": expected.unapplied,
            # Discrepancies are the SKUs the warehouse reports; mapped ones have a figure.
            "discrepancies: QuickBooks bottles": {
                code: bottles for code, bottles in expected.on_hand.items() if code in snapshots
            },
            "depletion: on hand bottles": expected.on_hand,
            "depletion: bottles sold": expected.sold,
        }
    return figures


def summed(figures: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every partner's figures added up (SKU breakdowns summed over SKUs)."""
    sums: dict[str, Any] = defaultdict(int)
    for partner in figures.values():
        for key, value in partner.items():
            sums[key] += sum(value.values(), ZERO) if isinstance(value, dict) else value
    return dict(sums)


def check_figures(exported: dict[str, Any], upstream: dict[str, Any]) -> None:
    assert summed(exported) == summed(upstream)
    assert exported == upstream


# --- the tests ---------------------------------------------------------------------------------


def test_staff_exports_add_up_to_every_partners_quickbooks(
    page: Page, demo_books: DemoBooks
) -> None:
    staff: User = demo_books.staff
    sign_in(page, staff.email, PASSWORD)
    window = depletion_window(page)

    exported = exported_figures(page, None)
    upstream = quickbooks_figures(demo_books.companies, demo_books, window)

    print("export totals (staff):", summed(exported))
    check_figures(exported, upstream)
    # The exports hold every row, not a page of them, and the figures are not trivial.
    totals = summed(upstream)
    assert totals["open invoices"] > 50 and totals["payments"] > 50
    assert totals["open balance"] > 0 and totals["applied"] > 0 and totals["unapplied"] > 0
    assert totals["depletion: bottles sold"] > 0 and totals["depletion: on hand bottles"] > 0
    # QuickBooks' own identity: each payment is applied or left unapplied.
    assert totals["received"] == totals["applied"] + totals["unapplied"]


def test_each_partner_users_exports_add_up_to_its_own_quickbooks_only(
    page: Page, demo_books: DemoBooks
) -> None:
    for company in demo_books.companies:
        page.context.clear_cookies()
        sign_in(page, company.user.email, PASSWORD)
        window = depletion_window(page)

        exported = exported_figures(page, company)
        upstream = quickbooks_figures([company], demo_books, window)

        print(f"export totals ({company.name}):", summed(exported))
        check_figures(exported, upstream)
        assert summed(upstream)["open invoices"] > 0
