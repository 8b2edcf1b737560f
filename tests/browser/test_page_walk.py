"""Every page, as each role sees it, in real Chromium: the page walk.

Staff, an admin and a partner user each sign in through the real form and follow their
navigation, link by link, against qbo_sandbox's three demo companies as the real import
brought them in (tests/browser/demo_books.py). The links come from the page and must equal
``accounts.context_processors.NAVIGATION`` for the role, menu by menu (a link is followed by
opening its menu first); a link with no walker below fails the test, so a new page cannot be
left out silently. A NAVIGATION entry whose URL name does not reverse (a page another change
has not landed yet) is not shown, and not walked. Sub-pages (an invoice, a connection,
the catalog import, the warehouse API tokens, an admin's draft of a QuickBooks push) are
walked from the page that leads there.

On every page: no response of the app's ≥ 500 (nor a 4xx on a page or htmx request), no
script error, its heading, figures from QuickBooks (read again over HTTP from the sandbox,
not from the mirror), no other partner's name for a partner user, and a full-page
screenshot test-artifacts/screenshots/walk-<role>-<page>.png. Every table page also gets
an htmx interaction (a sort or a filter): the table changes, the URL is pushed, the
document is not reloaded; filter forms are submitted with the Enter key.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from playwright.sync_api import Locator, Page, Response, expect

from accounts.context_processors import NAVIGATION, Menu
from accounts.models import User
from accounts.roles import Role
from inventory.catalog.services import DEMO_SKUS
from inventory.mapping.models import MappingConflict, SKUMapping
from notifications.models import Delivery, Kind, SentMessage
from notifications.selectors import preference_kinds_for, preferences_for
from tests.browser.conftest import screenshot, sign_in
from tests.browser.demo_books import (
    UPLOAD_NAME,
    Company,
    DemoBooks,
    Upstream,
    dec,
    read_upstream,
    remaining_credit,
)
from tests.factories import PASSWORD

if TYPE_CHECKING:
    from pytest_django.live_server_helper import LiveServer

pytestmark = pytest.mark.django_db(transaction=True)

ROLES = {"staff": Role.STAFF, "admin": Role.ADMIN, "partner": Role.PARTNER}
# The partner user walks as Bubbles & Brine's buyer; the two other demo distributors must
# then never show.
PARTNER_SLUG = "bubbles-brine"
# Pages a navigation page's walker goes on to (by its URL name), and for which roles.
SUB_PAGES: dict[str, tuple[set[str], set[str]]] = {
    "billing:invoices": ({"invoice"}, set(ROLES)),
    "sync:connections": ({"connection"}, set(ROLES)),
    "inventory:catalog": ({"catalog-import"}, {"admin"}),
    "inventory:warehouse_upload": ({"warehouse-tokens"}, {"admin"}),
    "inventory:push_jobs": ({"push-stock-new", "push-job"}, {"admin"}),
    "inventory:sell_through": ({"suppliers"}, set(ROLES)),
    "inventory:placements": ({"accounts-sku"}, set(ROLES)),
    "accounts:people": ({"person"}, {"staff", "admin"}),
}
MARK = "not reloaded"


# --- what the test expects, written independently of the app's formatting -----------------


def usd(amount: Decimal) -> str:
    # Credits are negative: a true minus sign before the dollar, as pages print money.
    return f"{'−' if amount < 0 else ''}${abs(amount):,.2f}"


def bottles(amount: Decimal) -> str:
    text = f"{amount:,.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# --- one walk ----------------------------------------------------------------------------------


@dataclass
class Walk:
    page: Page
    role: str
    books: DemoBooks
    user: User
    visible: list[Company]
    hidden: list[Company]
    upstream: dict[str, Upstream]  # partner slug -> its QuickBooks, read over HTTP
    problems: list[str] = field(default_factory=list)
    shots: dict[str, Path] = field(default_factory=dict)  # page -> screenshot

    @property
    def sees_all(self) -> bool:
        return self.role != "partner"

    def visible_upstream(self) -> list[tuple[Company, Upstream]]:
        return [(c, self.upstream[c.partner.slug]) for c in self.visible]

    def arrive(self, name: str, heading: str) -> None:
        """On a page just opened: its heading, nothing wrong, nothing of another partner;
        then mark the document (htmx must not replace it) and take its screenshot."""
        expect(self.page.get_by_role("heading", level=1, name=heading, exact=True)).to_have_count(1)
        self._arrived(name)

    def arrive_prefix(self, name: str, heading: str) -> None:
        """``arrive`` on a page whose heading starts with ``heading``."""
        expect(self.page.get_by_role("heading", level=1)).to_have_text(
            re.compile("^" + re.escape(heading))
        )
        self._arrived(name)

    def _arrived(self, name: str) -> None:
        self.check()
        self.page.evaluate(f"window.walkMark = {MARK!r}")
        self.shots[name] = screenshot(self.page, f"walk-{self.role}-{name}")

    def check(self) -> None:
        assert not self.problems, f"{self.page.url}: {self.problems}"
        # text_content, not inner_text: hidden text (select options, captions) counts too.
        text = self.page.locator("body").text_content() or ""
        leaked = [c.name for c in self.hidden if c.name in text]
        assert not leaked, f"{self.role} sees {leaked} on {self.page.url}"

    def not_reloaded(self) -> None:
        assert self.page.evaluate("window.walkMark") == MARK, "the page was reloaded"
        self.check()


def watch(page: Page, problems: list[str], origin: str) -> None:
    """Record the app's failures as they happen: a 5xx on anything, a 4xx on a page or an
    htmx request, and uncaught script errors."""

    def on_response(response: Response) -> None:
        if not response.url.startswith(origin):
            return
        kind = response.request.resource_type
        if response.status >= 500 or (response.status >= 400 and kind in ("document", "xhr")):
            problems.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", on_response)
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def table_rows(table: Locator) -> list[dict[str, str]]:
    """A table's body rows as {column header: cell text} (sort arrows left out)."""
    rows: list[dict[str, str]] = table.evaluate(
        """table => {
            const heads = [...table.querySelectorAll('thead th')]
                .map(th => th.innerText.replace(/[▲▼]/g, '').trim());
            return [...table.querySelectorAll('tbody tr')].map(tr => Object.fromEntries(
                [...tr.querySelectorAll('td')].map((td, i) => [heads[i], td.innerText.trim()])
            ));
        }"""
    )
    return rows


def expect_count(region: Locator, count: int, per_page: int = 50) -> None:
    """The table's "Showing 1–50 of 118": every row the filters select is counted."""
    expect(region.locator(".table-count")).to_have_text(
        f"Showing 1–{min(count, per_page)} of {count}"
    )


# The cells one of whose texts is laid out on more than one line: a text node's boxes at
# distinct heights (boxes of different elements on one line may sit a pixel apart).
_WRAPPED = """cells => cells.filter(cell => {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const range = document.createRange();
        range.selectNodeContents(node);
        const tops = new Set([...range.getClientRects()].map(box => Math.round(box.top)));
        if (tops.size > 1) return true;
    }
    return false;
}).map(cell => cell.textContent.trim())"""


def on_one_line(cells: Locator) -> None:
    """Every one of ``cells`` (dates, times, SKU codes) reads on one line at 1280 px."""
    assert cells.count(), "no cell to check"
    wrapped = cells.evaluate_all(_WRAPPED)
    assert not wrapped, f"broken over lines: {wrapped[:5]}"


def definitions(scope: Locator) -> dict[str, str]:
    """A <dl>'s terms and their definitions."""
    found: dict[str, str] = scope.evaluate(
        """dl => Object.fromEntries([...dl.querySelectorAll('div')].map(div => [
            div.querySelector('dt').innerText.trim(), div.querySelector('dd').innerText.trim()
        ]))"""
    )
    return found


def column(table: Locator, label: str) -> Locator:
    # The sort arrow is aria-hidden, so it is no part of the header's name.
    return table.get_by_role("columnheader", name=label, exact=True)


def header_link(table: Locator, label: str) -> Locator:
    return column(table, label).get_by_role("link", name=label, exact=True)


def mapped_bottles(walk: Walk) -> dict[tuple[str, str], Decimal]:
    """(partner name, SKU code) -> bottles QuickBooks holds: each mapped item's QtyOnHand
    as the sandbox answers it × the mapping's bottles per unit. The mapping is the app's
    decision; the quantities are QuickBooks'."""
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for company, upstream in walk.visible_upstream():
        mappings = SKUMapping.objects.filter(connection=company.connection).values_list(
            "catalog_sku__code", "item_qbo_id", "bottles_per_unit"
        )
        for code, item_id, per_unit in mappings:
            totals[(company.name, code)] += upstream.qty_on_hand(item_id) * per_unit
    return dict(totals)


def out_of_tolerance(walk: Walk) -> int:
    """Mapped partner × SKU rows whose QuickBooks bottles differ from today's warehouse
    count by more than the page's stated tolerance: 1 % of the warehouse count or 1
    bottle, whichever is larger."""
    names = {c.partner.slug: c.name for c in walk.visible}
    qbo = mapped_bottles(walk)
    count = 0
    for (slug, code), warehouse in walk.books.warehouse_today.items():
        if slug in names and (slug, code) not in walk.books.unmapped:
            difference = abs(qbo[(names[slug], code)] - warehouse)
            if difference > max(warehouse * Decimal("0.01"), Decimal(1)):
                count += 1
    return count


# --- the pages ---------------------------------------------------------------------------------


def walk_dashboard(walk: Walk) -> None:
    page = walk.page
    walk.arrive("dashboard", "Dashboard")
    count = len(walk.visible)

    def figure(tile: str) -> Locator:
        return page.locator(f'[data-tile="{tile}"] .tile-figure')

    expect(figure("partners")).to_have_text(f"{count} of {count}")
    upstream = [u for _, u in walk.visible_upstream()]
    expect(figure("receivables")).to_have_text(
        usd(sum((u.open_balance for u in upstream), Decimal(0)))
    )
    expect(figure("unapplied")).to_have_text(usd(sum((u.unapplied for u in upstream), Decimal(0))))
    expect(figure("discrepancies")).to_have_text(str(out_of_tolerance(walk)))
    expect(figure("failing-syncs")).to_have_text("0")
    if walk.role == "admin":
        expect(figure("conflicts")).to_have_text(
            str(MappingConflict.objects.filter(status=MappingConflict.Status.OPEN).count())
        )
    else:
        expect(figure("conflicts")).to_have_count(0)


def open_items(walk: Walk) -> list[tuple[Company, str, str, Decimal, str, dict[str, Any]]]:
    """What the open-invoices page lists, read from QuickBooks: (company, type, number,
    signed balance, customer, document) for each open invoice, credit memo with credit
    left and payment with money unapplied."""
    items: list[tuple[Company, str, str, Decimal, str, dict[str, Any]]] = []
    for company, upstream in walk.visible_upstream():
        for i in upstream.open_invoices:
            items.append((company, "Invoice", str(i.get("DocNumber") or ""),
                          dec(i["Balance"]), i["CustomerRef"]["name"], i))  # fmt: skip
        for c in upstream.open_credits:
            items.append((company, "Credit memo", str(c.get("DocNumber") or ""),
                          -remaining_credit(c), c["CustomerRef"]["name"], c))  # fmt: skip
        for p in upstream.unapplied_payments:
            # A payment without a reference shows a dash, as every empty cell does.
            items.append((company, "Unapplied payment", str(p.get("PaymentRefNum") or "—"),
                          -dec(p.get("UnappliedAmt")), p["CustomerRef"]["name"], p))  # fmt: skip
    return items


def walk_invoices(walk: Walk) -> None:
    page = walk.page
    walk.arrive("invoices", "Open invoices and credits")
    items = open_items(walk)
    invoices = [(c, doc) for c, kind, _, _, _, doc in items if kind == "Invoice"]
    region = page.locator("#invoice-table")
    table = region.get_by_role("table", name="Open invoices and credits", exact=True)
    expect_count(region, len(items))
    total = sum((balance for _, _, _, balance, _, _ in items), Decimal(0))
    expect(region.locator(".aging-totals strong")).to_have_text(usd(total))
    known = {(c.name, kind, number) for c, kind, number, _, _, _ in items}
    by_number = {(c.name, str(i["DocNumber"])): i for c, i in invoices}
    partner_of = (
        (lambda row: row["Partner"]) if walk.sees_all else (lambda row: walk.visible[0].name)
    )
    rows = table_rows(table)
    assert len(rows) == min(50, len(items))
    unknown = [r for r in rows if (partner_of(r), r["Type"], r["Number"]) not in known]
    assert not unknown, (unknown[:3], sorted(known)[:5])
    if not walk.sees_all:
        expect(column(table, "Partner")).to_have_count(0)

    # htmx: sort by balance from its column header.
    header_link(table, "Balance").click()
    expect(page).to_have_url(re.compile(r"[?&]sort=balance(&|$)"))
    expect(column(table, "Balance")).to_have_attribute("aria-sort", "ascending")
    smallest = min(balance for _, _, _, balance, _, _ in items)
    assert table_rows(table)[0]["Balance"] == usd(smallest)
    walk.not_reloaded()

    # Keyboard: the customer filter, submitted with Enter; the sort rides along.
    by_customer: dict[str, int] = defaultdict(int)
    for _, invoice in invoices:
        by_customer[invoice["CustomerRef"]["name"]] += 1
    customer = max(sorted(by_customer), key=lambda name: by_customer[name])
    matching = [item for item in items if customer.casefold() in item[4].casefold()]
    page.get_by_label("Customer", exact=True).fill(customer)
    page.get_by_label("Customer", exact=True).press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]customer="))
    assert query_of(page)["customer"] == [customer]
    assert query_of(page)["sort"] == ["balance"]
    expect_count(region, len(matching))
    rows = table_rows(table)
    assert len(rows) == len(matching)
    assert all(customer.casefold() in r["Customer"].casefold() for r in rows)
    walk.not_reloaded()

    # The first invoice of them (credits have no page of their own), on its own page.
    at, first = next((n, r) for n, r in enumerate(rows) if r["Type"] == "Invoice")
    invoice = by_number[(partner_of(first), first["Number"])]
    row = table.locator("tbody tr").nth(at)
    row.get_by_role("link", name=first["Number"], exact=True).click()
    walk_invoice(walk, partner_of(first), invoice)


def walk_invoice(walk: Walk, partner: str, invoice: dict[str, Any]) -> None:
    page = walk.page
    walk.arrive("invoice", f"Invoice {invoice['DocNumber']}")
    facts = definitions(page.locator("dl.facts"))
    assert facts["Partner"] == partner
    assert facts["Customer"] == invoice["CustomerRef"]["name"]
    assert facts["Total"] == usd(dec(invoice["TotalAmt"]))
    assert facts["Balance"] == usd(dec(invoice["Balance"]))
    lines = page.get_by_role("heading", name="Lines", exact=True).locator(
        "xpath=following-sibling::table[1]"
    )
    # QuickBooks' subtotal line is the table's foot, not a line.
    sold = [line for line in invoice["Line"] if line.get("DetailType") != "SubTotalLineDetail"]
    expect(lines.locator("tbody tr")).to_have_count(len(sold))
    expect(lines.locator("tfoot")).to_contain_text(usd(dec(invoice["TotalAmt"])))
    # What QuickBooks took off the balance is what the payments applied to it add up to.
    paid = dec(invoice["TotalAmt"]) - dec(invoice["Balance"])
    if paid:
        applied = page.get_by_role("heading", name="Payments applied", exact=True).locator(
            "xpath=following-sibling::table[1]"
        )
        expect(applied.locator("tfoot td")).to_have_text(usd(paid))
    else:
        expect(page.get_by_text("No payment has been applied to this invoice.")).to_be_visible()


def walk_payments(walk: Walk) -> None:
    page = walk.page
    walk.arrive("payments", "Payments")
    upstream = [u for _, u in walk.visible_upstream()]
    payments = [p for u in upstream for p in u.payments]
    region = page.locator("#payment-table")
    totals = definitions(region.locator("dl.totals"))
    assert totals == {
        "Received": usd(sum((u.received for u in upstream), Decimal(0))),
        "Applied to invoices": usd(sum((u.applied for u in upstream), Decimal(0))),
        "Unapplied": usd(sum((u.unapplied for u in upstream), Decimal(0))),
        # Voided payments are listed but not counted (QuickBooks zeroes their amounts).
        "Payments": str(sum(1 for p in payments if not str(p.get("PrivateNote") or "")
                            .lower().startswith("voided"))),
    }  # fmt: skip
    expect(region.get_by_role("alert")).to_have_count(0)  # "do not add up"
    expect_count(region, len(payments))
    on_one_line(region.locator("tbody td.nowrap"))  # the dates

    # htmx: sort by the amount received.
    table = region.get_by_role("table", name="Payments", exact=True)
    header_link(table, "Received").click()
    expect(page).to_have_url(re.compile(r"[?&]sort=received(&|$)"))
    expect(column(table, "Received")).to_have_attribute("aria-sort", "ascending")
    assert table_rows(table)[0]["Received"] == usd(min(dec(p.get("TotalAmt")) for p in payments))
    walk.not_reloaded()


def walk_discrepancies(walk: Walk) -> None:
    page = walk.page
    walk.arrive("discrepancies", "Stock discrepancies")
    slugs = {c.partner.slug: c.name for c in walk.visible}
    expected = {
        (slugs[slug], code): quantity
        for (slug, code), quantity in walk.books.warehouse_today.items()
        if slug in slugs
    }
    unmapped = {(slugs[slug], code) for slug, code in walk.books.unmapped if slug in slugs}
    qbo = mapped_bottles(walk)
    region = page.locator("#discrepancy-table")
    on_one_line(region.locator("tbody td:has(code), tbody td:has(time)"))
    table = region.get_by_role("table", name="Stock discrepancies", exact=True)
    expect_count(region, len(expected))
    rows = {(r["Partner"], r["SKU"]): r for r in table_rows(table)}
    assert set(rows) == set(expected)
    for key, row in rows.items():
        assert row["Warehouse (bottles)"].split("\n")[0] == bottles(expected[key]), (key, row)
        if key in unmapped:
            assert row["QuickBooks (bottles)"] == "—", row
            assert row["Status"].startswith("Unmapped"), row
        else:
            assert row["QuickBooks (bottles)"] == bottles(qbo[key]), (key, row)
    # (Admins also get a "Push…" link under the status.)
    statuses = {row["Status"].split("\n")[0] for row in rows.values()}
    if walk.sees_all:
        assert statuses == {"Within", "Over", "Under", "Unmapped"}

    # Keyboard and htmx: one SKU, typed and submitted with Enter.
    code = "UF-JUL-NV-750"
    field = page.get_by_label("SKU code")
    field.fill(code)
    field.press("Enter")
    expect(page).to_have_url(re.compile(rf"[?&]sku={code}(&|$)"))
    wanted = sorted(key for key in expected if key[1] == code)
    expect_count(region, len(wanted))
    assert sorted((r["Partner"], r["SKU"]) for r in table_rows(table)) == wanted
    walk.not_reloaded()


def walk_depletion(walk: Walk) -> None:
    page = walk.page
    walk.arrive("depletion", "Depletion")
    on_hand = mapped_bottles(walk)
    region = page.locator("#depletion-table")
    table = region.get_by_role("table", name="Depletion by partner and SKU", exact=True)
    expect_count(region, len(on_hand))
    rows = {(r["Partner"], r["SKU"]): r for r in table_rows(table)}
    assert {key: row["On hand (bottles)"] for key, row in rows.items()} == {
        key: bottles(quantity) for key, quantity in on_hand.items()
    }

    # htmx: sort by what is on hand; only the table's region is swapped.
    header_link(table, "On hand (bottles)").click()
    expect(page).to_have_url(re.compile(r"[?&]sort=on_hand(&|$)"))
    expect(column(table, "On hand (bottles)")).to_have_attribute("aria-sort", "ascending")
    shown = [Decimal(r["On hand (bottles)"].replace(",", "")) for r in table_rows(table)]
    assert shown == sorted(on_hand.values())
    walk.not_reloaded()

    # Keyboard: another warning threshold, submitted with Enter; the sort is kept.
    threshold = page.get_by_label("Warn under (days on hand)")
    threshold.fill("90")
    threshold.press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]threshold=90(&|$)"))
    assert query_of(page)["sort"] == ["on_hand"]
    expect(page.locator(".depletion-window")).to_contain_text("Warning under 90 days on hand.")
    walk.not_reloaded()


def walk_sell_through(walk: Walk) -> None:
    """Sell-in against sell-through: the demo companies bill Une Femme's wines and sell
    them on, so every visible company has rows (its figures against QuickBooks' documents
    are checked in tests/inventory/reports/test_sell_through.py)."""
    page = walk.page
    walk.arrive("sell-through", "Sell-in and sell-through")
    region = page.locator("#sell-through-results")
    table = region.get_by_role(
        "table", name="Sell-in and sell-through by partner, SKU and period", exact=True
    )
    rows = table_rows(table)
    assert rows, "no sell-in or sell-through row for the demo companies"
    if walk.sees_all:
        assert {r["Partner"] for r in rows} <= {c.name for c in walk.visible}
    else:
        expect(column(table, "Partner")).to_have_count(0)
    mapped = set(
        SKUMapping.objects.filter(connection__in=[c.connection for c in walk.visible]).values_list(
            "catalog_sku__code", flat=True
        )
    )
    assert {r["SKU"] for r in rows} <= mapped, rows[:3]

    # htmx: sort by net depletion from its header; the page is not reloaded.
    header_link(table, "Net depletion (bottles)").click()
    expect(page).to_have_url(re.compile(r"[?&]sort=net_depletion(&|$)"))
    expect(column(table, "Net depletion (bottles)")).to_have_attribute("aria-sort", "ascending")
    walk.not_reloaded()

    # The same rows in 9-litre cases: one unit at a time keeps the table to the page's width.
    page.get_by_label("Show in").select_option("cases")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"[?&]unit=cases(&|$)"))
    expect(column(table, "Net depletion (9L cases)")).to_have_count(1)
    expect(column(table, "Net depletion (bottles)")).to_have_count(0)
    assert len(table_rows(table)) == len(rows)
    walk.not_reloaded()

    # On to which vendor counts as Une Femme: every visible company, found after the import
    # (the demo books bill Une Femme's wines from their Une Femme vendor); admins may change it.
    page.get_by_role("link", name="Which vendor is Une Femme in each company").click()
    walk.arrive_prefix("suppliers", "Une Femme's vendor in")
    suppliers = table_rows(
        page.get_by_role("table", name="Une Femme's vendor per QuickBooks company")
    )
    assert sorted(r["Partner"] for r in suppliers) == sorted(c.name for c in walk.visible)
    assert all(r["Une Femme is"] not in ("", "—") for r in suppliers), suppliers
    expect(page.get_by_role("button", name="Save")).to_have_count(
        len(walk.visible) if walk.role == "admin" else 0
    )


def walk_placements(walk: Walk) -> None:
    """Accounts and placements: the demo companies' customers buying Une Femme's wines, per
    partner × SKU over a month (the rules against a seeded company's documents are checked
    in tests/inventory/reports/test_placements.py)."""
    page = walk.page
    walk.arrive("accounts", "Accounts and placements")
    region = page.locator("#placements-results")
    table = region.get_by_role("table", name="Accounts per partner and SKU", exact=True)
    if not table.count():
        # Nothing sold yet this month (today may be the 1st): last month, from the filters.
        today = timezone.localdate()
        previous = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        page.get_by_label("Month", exact=True).fill(previous)
        page.get_by_role("button", name="Apply").click()
        expect(page).to_have_url(re.compile(rf"[?&]month={previous}(&|$)"))
        expect(table.locator("tbody tr").first).to_be_visible()
        walk.not_reloaded()
    rows = table_rows(table)
    assert rows, "no account bought an Une Femme wine at the demo companies"
    if walk.sees_all:
        assert {r["Partner"] for r in rows} <= {c.name for c in walk.visible}
    else:
        expect(column(table, "Partner")).to_have_count(0)
    mapped = set(
        SKUMapping.objects.filter(connection__in=[c.connection for c in walk.visible]).values_list(
            "catalog_sku__code", flat=True
        )
    )
    assert {r["SKU"] for r in rows} <= mapped, rows[:3]

    # htmx: sort by the accounts buying from its header; the page is not reloaded.
    header_link(table, "Accounts buying").click()
    expect(page).to_have_url(re.compile(r"[?&]sort=buying(&|$)"))
    expect(column(table, "Accounts buying")).to_have_attribute("aria-sort", "ascending")
    shown = [int(r["Accounts buying"].replace(",", "")) for r in table_rows(table)]
    assert shown == sorted(shown), shown
    walk.not_reloaded()

    # The first row's SKU opens its accounts, for the same month.
    first = table.locator("tbody tr").first
    code = table_rows(table)[0]["SKU"]
    first.get_by_role("link", name=code, exact=True).click()
    walk.arrive_prefix("accounts-sku", "Accounts:")
    expect(page.get_by_role("heading", level=1)).to_contain_text(code)
    accounts = page.get_by_role("table", name="Accounts of this SKU", exact=True)
    assert table_rows(accounts), f"no account of {code} on its drill-down"


def walk_connections(walk: Walk) -> None:
    page = walk.page
    walk.arrive("connections", "Connections")
    for company in walk.visible:
        card = page.get_by_role("region", name=company.name)
        expect(card.get_by_role("heading", level=2)).to_have_text(f"{company.name} Connected")
        expect(card.get_by_text("The last sync did not finish")).to_have_count(0)
    expect(page.locator("section.connection")).to_have_count(len(walk.visible))

    company = walk.visible[0]
    page.get_by_role("region", name=company.name).get_by_role("link", name=company.name).click()
    walk.arrive("connection", "Connection")
    header = page.get_by_role("rowheader", name="QuickBooks company id (realm)", exact=True)
    expect(page.get_by_role("row").filter(has=header).get_by_role("cell")).to_have_text(
        company.realm
    )


def walk_partners(walk: Walk) -> None:
    """The partner scorecard: one row per partner the user sees (its figures against the
    pages they link to are checked in tests/dashboard/)."""
    page = walk.page
    walk.arrive("partners", "Partners")
    rows = table_rows(page.locator("#partners-table table"))
    assert sorted((r["Name"], r["Contact"], r["People"]) for r in rows) == sorted(
        (c.name, c.partner.contact_email, "1") for c in walk.visible
    )


def walk_stock_ledger(walk: Walk) -> None:
    """The stock ledger as the navigation opens it (this month); its figures, filters and
    drill-downs are walked in tests/browser/test_ledger_walk.py."""
    page = walk.page
    walk.arrive("stock-ledger", "Stock ledger")
    table = page.get_by_role("table", name="Stock ledger by partner and SKU", exact=True)
    hrefs = [a.get_attribute("href") or "" for a in table.locator("tbody a").all()]
    partners = {int(m.group(1)) for h in hrefs if (m := re.search(r"/inventory/ledger/(\d+)/", h))}
    assert partners <= {c.partner.pk for c in walk.visible}, partners


def walk_reconciliation(walk: Walk) -> None:
    """One row per QuickBooks company the user sees, none run yet in this walk (a run is
    walked in tests/browser/test_reconciliation_walk.py)."""
    page = walk.page
    walk.arrive("reconciliation", "Reconciliation with QuickBooks")
    overview = page.get_by_role("table", name="QuickBooks companies")
    expect(overview.locator("tbody tr")).to_have_count(len(walk.visible))
    for company in walk.visible:
        expect(overview).to_contain_text(company.connection.company_name)


def walk_receivables(walk: Walk) -> None:
    """Receivables by customer: the demo companies' customers owe money, so it has rows
    (to the cent against the open invoices in tests/billing/; a customer's page and
    statement in tests/browser/test_finance_walk.py)."""
    page = walk.page
    walk.arrive("receivables", "Receivables by customer")
    table = page.locator("#receivables-table table")
    assert table_rows(table), "no customer with receivables in the demo companies"


def walk_trends(walk: Walk) -> None:
    """Trends from the daily history (its figures are tested in tests/history/)."""
    walk.arrive("trends", "Trends")


def walk_catalog(walk: Walk) -> None:
    page = walk.page
    walk.arrive("catalog", "Catalog")
    table = page.locator("#catalog-table table")
    assert sorted(r["Code"] for r in table_rows(table)) == sorted(s.code for s in DEMO_SKUS)
    expect(page.locator("#catalog-table")).to_contain_text(
        f"{len(DEMO_SKUS)} of {len(DEMO_SKUS)} SKUs."
    )

    # htmx: the search filters as one types (no button pressed).
    page.get_by_label("Search code or wine").fill("blanc")
    expect(page).to_have_url(re.compile(r"[?&]q=blanc(&|$)"))
    wanted = sorted(s.code for s in DEMO_SKUS if "blanc" in f"{s.code} {s.wine}".casefold())
    expect(table.locator("tbody tr")).to_have_count(len(wanted))
    assert sorted(r["Code"] for r in table_rows(table)) == wanted
    walk.not_reloaded()

    csv_import = page.get_by_role("link", name="CSV import", exact=True)
    if walk.role != "admin":
        expect(csv_import).to_have_count(0)
        return
    csv_import.click()
    walk.arrive("catalog-import", "Import the catalog")
    expect(page.get_by_text("code,wine,vintage,format_ml,bottles_per_case,active")).to_be_visible()
    expect(page.get_by_label("Catalog CSV")).to_be_visible()


def walk_warehouse_upload(walk: Walk) -> None:
    page = walk.page
    walk.arrive("warehouse-upload", "Warehouse stock upload")
    recent = table_rows(page.locator("main table"))
    assert [(r["File"], r["By"], r["Status"]) for r in recent] == [
        (UPLOAD_NAME, walk.books.admin.email, "Applied")
    ]

    # No page links to the API tokens (reported); open them by their address.
    response = page.goto(reverse("inventory:warehouse_tokens"))
    assert response is not None and response.status == 200
    walk.arrive("warehouse-tokens", "Warehouse API tokens")
    tokens = table_rows(page.locator("main table"))
    assert sorted((r["Partner"], r["For"], r["Status"]) for r in tokens) == sorted(
        (c.name, "WMS production", "Live") for c in walk.books.companies
    )
    # Each token pushed its partner's earlier days.
    assert all(r["Last used"] != "never" for r in tokens), tokens


def walk_conflicts(walk: Walk) -> None:
    page = walk.page
    walk.arrive("conflicts", "Mapping conflicts")
    open_conflicts = list(
        MappingConflict.objects.filter(status=MappingConflict.Status.OPEN).select_related(
            "connection__partner"
        )
    )
    assert open_conflicts, "the demo companies raise conflicts (a Sku collision, at least)"
    listing = page.locator("#conflict-list")
    expect(listing.locator("article.conflict")).to_have_count(len(open_conflicts))
    expect(listing).to_contain_text(f"{len(open_conflicts)} open conflicts.")
    for conflict in open_conflicts:
        article = listing.locator(f"#conflict-{conflict.pk}")
        expect(article).to_contain_text(conflict.connection.partner.name)
        if conflict.item_qbo_id:
            # The item in question, by the name QuickBooks gives it.
            upstream = walk.upstream[conflict.connection.partner.slug]
            expect(article).to_contain_text(upstream.items[conflict.item_qbo_id]["Name"])

    # htmx: choosing a partner filters the queue at once.
    company = walk.books.company(PARTNER_SLUG)
    page.get_by_label("Partner", exact=True).select_option(label=company.name)
    expect(page).to_have_url(re.compile(rf"[?&]partner={PARTNER_SLUG}(&|$)"))
    theirs = [c for c in open_conflicts if c.connection.partner_id == company.partner.pk]
    expect(listing.locator("article.conflict")).to_have_count(len(theirs))
    for article in listing.locator("article.conflict").all():
        expect(article).to_contain_text(company.name)
    walk.not_reloaded()


def walk_push_jobs(walk: Walk) -> None:
    page = walk.page
    walk.arrive("push-jobs", "QuickBooks pushes")
    region = page.locator("#push-job-table")
    if walk.role == "admin":
        _draft_a_stock_push(walk)
        page.get_by_role("link", name="← All pushes").click()
        expect(page.get_by_role("heading", level=1, name="QuickBooks pushes")).to_be_visible()
        jobs = table_rows(region.locator("table"))
        company = walk.books.company(PARTNER_SLUG)
        assert [(r["Partner"], r["Status"]) for r in jobs] == [
            (company.name, "Awaiting approval")
        ], jobs
    else:
        # Nothing has been pushed in this walk (drafts are the admin's).
        expect(region).to_contain_text("Nothing has been written to QuickBooks yet.")
    page.evaluate(f"window.walkMark = {MARK!r}")

    # htmx: a filter applied with its button swaps the table and pushes the URL.
    page.get_by_label("Status", exact=True).select_option("failed")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"[?&]status=failed(&|$)"))
    expect(region).to_contain_text("No job matches these filters.")
    walk.not_reloaded()


def _draft_a_stock_push(walk: Walk) -> None:
    """The admin's draft of a stock push for one partner: its out-of-tolerance SKUs, ticked
    by default. A draft writes nothing to QuickBooks (approving would)."""
    page = walk.page
    company = walk.books.company(PARTNER_SLUG)
    page.get_by_role("link", name="Push warehouse quantities…").click()
    page.get_by_role("combobox", name="Partner", exact=True).select_option(label=company.name)
    page.get_by_role("button", name="Show SKUs").click()
    walk.arrive("push-stock-new", "Push warehouse quantities to QuickBooks")
    table = page.get_by_role("table", name=f"{company.name}: warehouse against QuickBooks")
    candidates = table_rows(table)
    codes = {r["SKU"].split("\n")[0] for r in candidates}
    assert codes == {code for slug, code in walk.books.warehouse_today if slug == PARTNER_SLUG}
    ticked = [
        r["SKU"].split("\n")[0]
        for r, box in zip(candidates, table.locator("tbody tr").all(), strict=True)
        if box.locator("input[type=checkbox]:checked").count()
    ]
    assert ticked, "some SKU of the partner is out of tolerance"
    page.get_by_role("button", name="Make a draft for approval").click()
    walk.arrive_prefix("push-job", "Push #")
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"{company.name}'s QuickBooks")
    expect(page.locator("#job-progress h2")).to_have_text("Status: Awaiting approval")
    expect(page.locator("#job-progress")).to_contain_text("Nothing has been written.")
    items = table_rows(page.get_by_role("table", name="Items"))
    assert sorted(r["SKU"] for r in items) == sorted(ticked)


def walk_people(walk: Walk) -> None:
    """Everyone who can sign in, for Une Femme only; admins open a person and see the
    deactivate button, staff do not."""
    page = walk.page
    walk.arrive("people", "People")
    rows = table_rows(page.get_by_role("table", name="People", exact=True))
    assert sorted(r["E-mail"] for r in rows) == sorted(
        User.objects.values_list("email", flat=True)
    ), rows
    page.get_by_role("link", name=walk.user.email, exact=True).first.click()
    walk.arrive("person", walk.user.email)
    # Nobody is offered to deactivate themself.
    expect(page.get_by_role("link", name="Deactivate…")).to_have_count(0)


def walk_sent_emails(walk: Walk) -> None:
    """The e-mails the app sent, newest first, for admins to read (in the demo, the only
    place an invitation can be read)."""
    page = walk.page
    walk.arrive("sent-emails", "Sent e-mails")
    sent = list(SentMessage.objects.order_by("-sent_at", "-pk")[:100])
    if not sent:
        expect(page.get_by_text("No e-mail has been sent yet.")).to_have_count(1)
        return
    listing = page.get_by_role("list", name="Sent e-mails")
    expect(listing.locator("> li")).to_have_count(len(sent))
    listing.locator("summary").first.click()
    expect(listing.get_by_role("region", name="Text part").first).to_be_visible()


def walk_notifications(walk: Walk) -> None:
    """One's own notification settings: the kinds one's role is told of, each at its
    default until chosen; a choice saved stays chosen."""
    page = walk.page
    walk.arrive("notifications", "Notifications")
    kinds = preference_kinds_for(walk.user)
    legends = page.locator("main fieldset legend")
    expect(legends).to_have_text([Kind(kind).label for kind in kinds])
    expect(page.get_by_role("radio", name="Immediately", checked=True)).to_have_count(len(kinds))
    first = page.locator("main fieldset").first
    first.get_by_role("radio", name="In my daily digest").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your notification settings are saved.")).to_be_visible()
    expect(first.get_by_role("radio", name="In my daily digest")).to_be_checked()
    assert preferences_for(walk.user)[kinds[0]] == Delivery.DIGEST


def walk_allowance_programs(walk: Walk) -> None:
    """Depletion allowance programs: none in the demo yet, so the empty state says who
    defines them; only admins are offered "New program" (the whole way from a program to
    a paid claim is tests/browser/test_allowances_in_browser.py)."""
    page = walk.page
    walk.arrive("allowance-programs", "Depletion allowance programs")
    empty = page.locator("#programs-table .empty")
    if walk.role == "admin":
        expect(empty).to_contain_text("“New program” defines one")
        expect(page.get_by_role("link", name="New program")).to_have_count(1)
    else:
        expect(empty).to_contain_text("Une Femme's admins define them")
        expect(page.get_by_role("link", name="New program")).to_have_count(0)


def walk_claims(walk: Walk) -> None:
    """Billback claims: none yet; a partner's user and an admin are offered to send one,
    staff (who read and decide nothing) are not."""
    page = walk.page
    walk.arrive("claims", "Billback claims")
    expect(page.locator("#claims-table .empty")).to_contain_text("No claim yet.")
    offered = 0 if walk.role == "staff" else 1
    expect(page.get_by_role("link", name="Send a claim")).to_have_count(offered)


# Every page the navigation can show, by URL name. A link with none here fails the walk.
WALKERS: dict[str, Callable[[Walk], None]] = {
    "dashboard": walk_dashboard,
    "inventory:discrepancies": walk_discrepancies,
    "inventory:depletion": walk_depletion,
    "inventory:sell_through": walk_sell_through,
    "inventory:placements": walk_placements,
    "billing:invoices": walk_invoices,
    "billing:payments": walk_payments,
    "sync:connections": walk_connections,
    "partners": walk_partners,
    "inventory:stock_ledger": walk_stock_ledger,
    "reconciliation:index": walk_reconciliation,
    "billing:receivables": walk_receivables,
    "history:trends": walk_trends,
    "inventory:catalog": walk_catalog,
    "inventory:warehouse_upload": walk_warehouse_upload,
    "inventory:conflicts": walk_conflicts,
    "inventory:push_jobs": walk_push_jobs,
    "accounts:people": walk_people,
    "notifications:sent": walk_sent_emails,
    "notifications:preferences": walk_notifications,
    "allowances:programs": walk_allowance_programs,
    "allowances:claims": walk_claims,
}
# The screenshot name of each navigation page.
PAGE_NAMES = {
    "dashboard": "dashboard",
    "inventory:discrepancies": "discrepancies",
    "inventory:depletion": "depletion",
    "inventory:sell_through": "sell-through",
    "inventory:placements": "accounts",
    "billing:invoices": "invoices",
    "billing:payments": "payments",
    "sync:connections": "connections",
    "partners": "partners",
    "inventory:stock_ledger": "stock-ledger",
    "reconciliation:index": "reconciliation",
    "billing:receivables": "receivables",
    "history:trends": "trends",
    "inventory:catalog": "catalog",
    "inventory:warehouse_upload": "warehouse-upload",
    "inventory:conflicts": "conflicts",
    "inventory:push_jobs": "push-jobs",
    "accounts:people": "people",
    "notifications:sent": "sent-emails",
    "notifications:preferences": "notifications",
    "allowances:programs": "allowance-programs",
    "allowances:claims": "claims",
}


def reverses(name: str) -> bool:
    try:
        reverse(name)
    except NoReverseMatch:
        return False
    return True


def navigation_for(role: Role) -> list[tuple[str | None, str, str]]:
    """(menu, label, URL name) of the links the role's navigation must show, in order: the
    pages it may open, of those in the URLconf; a menu left with one is that page's link
    (menu None), as a page of its own is."""
    shown: list[tuple[str | None, str, str]] = []
    for entry in NAVIGATION:
        links = entry.links if isinstance(entry, Menu) else (entry,)
        names = [(link.label, link.url_name) for link in links
                 if role in link.roles and reverses(link.url_name)]  # fmt: skip
        menu = entry.label if isinstance(entry, Menu) and len(names) > 1 else None
        shown.extend((menu, label, name) for label, name in names)
    return shown


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_walks_every_page_of_its_navigation(
    page: Page, demo_books: DemoBooks, live_server: LiveServer, role: str
) -> None:
    if role == "partner":
        user = demo_books.company(PARTNER_SLUG).user
    else:
        user = demo_books.staff if role == "staff" else demo_books.admin
    visible = [
        c for c in demo_books.companies if user.sees_all_partners or c.partner == user.partner
    ]
    walk = Walk(
        page=page,
        role=role,
        books=demo_books,
        user=user,
        visible=visible,
        hidden=[c for c in demo_books.companies if c not in visible],
        upstream={c.partner.slug: read_upstream(c.books) for c in demo_books.companies},
    )
    watch(page, walk.problems, live_server.url)
    assert all(u.open_invoices and u.payments for u in walk.upstream.values())

    sign_in(page, user.email, PASSWORD)
    navigation = navigation_for(ROLES[role])
    unwalked = [name for _, _, name in navigation if name not in WALKERS]
    assert not unwalked, f"navigation links this walk does not know: {unwalked}"
    nav = page.get_by_role("navigation", name="Main")
    # Every link, in its menu (the name on the menu's button; None: a link of its own),
    # read from the document: a closed menu's links are not on screen.
    shown = nav.evaluate(
        """nav => [...nav.querySelectorAll('a')].map(a => {
            const menu = a.closest('li.nav-menu');
            return [menu ? menu.querySelector('summary').textContent.trim() : null,
                    a.textContent.trim(), a.getAttribute('href')];
        })"""
    )
    assert [tuple(link) for link in shown] == [
        (menu, label, reverse(name)) for menu, label, name in navigation
    ]

    for menu, label, name in navigation:
        if menu is not None:
            nav.locator(f"summary:text-is({menu!r})").click()
        nav.get_by_role("link", name=label, exact=True).click()
        expect(page).to_have_url(live_server.url + reverse(name))
        link = nav.get_by_role("link", name=label, exact=True, include_hidden=True)
        expect(link).to_have_attribute("aria-current", "page")
        if menu is not None:
            expect(nav.locator("summary[aria-current=true]")).to_have_text(menu)
        WALKERS[name](walk)
        walk.check()

    expected = {PAGE_NAMES[name] for _, _, name in navigation}
    for _, _, name in navigation:
        pages, roles = SUB_PAGES.get(name, (set(), set()))
        expected |= pages if role in roles else set()
    assert set(walk.shots) == expected
