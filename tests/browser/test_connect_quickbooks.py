"""Connecting QuickBooks, end to end in real Chromium: a partner user's first
connection, from the Connect button to the finished import.

A partner user signs in, opens Connections, presses Connect to QuickBooks, picks their
company on QuickBooks' (qbo_sandbox's) consent page and comes back to watch the import
finish on the page itself: its htmx progress, no reloads. The mirror then equals the
company's books, read again over HTTP with a token of its own. Afterwards, changes made in
QuickBooks reach the mirror through a webhook, with no schedule running, and the page shows
them after Sync now.

Nothing is faked: the live server, the sandbox (OAuth, API, signed webhooks) and a real
Celery worker are separate actors (tests/browser/conftest.py).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from accounts.demo import DEMO_PARTNERS
from accounts.models import Partner, User
from billing.models import QBOInvoice, QBOPayment
from common import mirror
from inventory.mapping.models import QBOItem
from sync import locks
from sync.models import QBOConnection, SyncRun, WebhookEvent
from tests.browser.conftest import LiveApp, screenshot, sign_in, wait_for
from tests.factories import PASSWORD, PartnerFactory, partner_user
from tests.sync.books import Books, Figures, mirrored, upstream

pytestmark = pytest.mark.django_db(transaction=True)

# Generous for a loaded 2-core machine (a demo company imports in about a second when
# idle), bounded so that a stuck import fails the test instead of hanging it.
IMPORT_TIMEOUT_MS = 60_000
WEBHOOK_TIMEOUT_S = 30.0
SYNC_NOW_TIMEOUT_S = 60.0
# The counts table's columns, and the entity each one counts.
COUNT_COLUMNS = {spec.label: spec.entity for spec in mirror.specs()}
CENT = Decimal("0.01")


# --- people and companies ------------------------------------------------------------------


def demo_partner(index: int) -> tuple[Partner, User]:
    """One of the demo distributors (qbo_sandbox's demo companies bear the same names) and
    a partner user of theirs."""
    name, slug, contact = DEMO_PARTNERS[index]
    partner = PartnerFactory(name=name, slug=slug, contact_email=contact)
    return partner, partner_user(partner, email=f"buyer@{slug}.test")


def realm_named(app: LiveApp, company: str) -> str:
    [realm] = [realm for realm, name in app.sandbox.realms.items() if name == company]
    return realm


# --- what the Connections page shows ---------------------------------------------------------


def card_of(page: Page, company: str) -> Locator:
    # The card is a <section> labelled by its heading: the company's name and its status.
    return page.get_by_role("region", name=company)


def counts_shown(card: Locator) -> dict[str, int]:
    """The "Mirrored in unefemme" table, by entity: {"Customer": 138, ...}."""
    table = card.get_by_role("table", name="Mirrored in unefemme")
    labels = table.get_by_role("columnheader").all_inner_texts()
    values = table.get_by_role("cell").all_inner_texts()
    return {
        COUNT_COLUMNS[label.strip()]: int(value.strip().replace(",", ""))
        for label, value in zip(labels, values, strict=True)
    }


def latest_run_shown(card: Locator) -> dict[str, str]:
    """The newest row of "Recent syncs", by column: {"Kind": "Initial import", ...}."""
    table = card.get_by_role("table", name="Recent syncs")
    columns = table.locator("thead th").all_inner_texts()
    cells = table.locator("tbody tr").first.locator("td").all_inner_texts()
    return {column.strip(): cell.strip() for column, cell in zip(columns, cells, strict=True)}


def fact_shown(card: Locator, label: str) -> str:
    # ``has`` is matched inside each row, hence a locator from the page, not from the card.
    header = card.page.get_by_role("rowheader", name=label, exact=True)
    row = card.get_by_role("row").filter(has=header)
    return row.get_by_role("cell").inner_text().strip()


# --- the flow --------------------------------------------------------------------------------


def connect_quickbooks(page: Page, app: LiveApp, company: str, *, shots: str = "") -> Locator:
    """Signed in as a partner user: open Connections, press Connect to QuickBooks, choose
    ``company`` on the consent page and press Connect; then, back on Connections, wait for
    the page's own progress to reach the end of the import. Returns the connection's card.
    With ``shots``, screenshots are saved under that prefix."""
    nav = page.get_by_role("navigation", name="Main")
    # Connections is in a menu of the navigation (accounts/context_processors.py): open it.
    connections = page.get_by_role("link", name="Connections", include_hidden=True)
    nav.locator("li.nav-menu").filter(has=connections).locator("summary").click()
    nav.get_by_role("link", name="Connections").click()
    expect(page.get_by_role("heading", name="Connections", level=1)).to_be_visible()
    page.get_by_role("button", name="Connect to QuickBooks").click()

    # QuickBooks' consent page, on QuickBooks' own origin.
    expect(page).to_have_url(re.compile("^" + re.escape(app.sandbox.base_url + "/connect/oauth2")))
    expect(page.get_by_role("heading", name="Connect to QuickBooks (sandbox)")).to_be_visible()
    choice = page.get_by_label(company)
    choice.check()
    expect(choice).to_be_checked()
    if shots:
        screenshot(page, f"{shots}-2-consent")
    page.get_by_role("button", name="Connect", exact=True).click()

    # Back in unefemme: the callback has exchanged the code and queued the import.
    expect(page).to_have_url(app.url + reverse("sync:connections"))
    # One period after the name, even when the name ends in one ("Côte Ouest Wine Co.").
    sentence = company if company.endswith(".") else f"{company}."
    welcome = page.get_by_text(f"Connected to {sentence} The first import has started")
    expect(welcome).to_be_visible()
    card = card_of(page, company)
    expect(card).to_be_visible()
    progress = card.get_by_role("status")  # "Importing from QuickBooks: …%" and its table
    if shots and progress.count():
        screenshot(page, f"{shots}-3-importing")
    # A mark on this very document: it survives only if nothing reloads the page, so the
    # end of the import must come from the page's own polling.
    page.evaluate("window.unefemmeTestMark = 'not reloaded'")
    expect(progress).to_have_count(0, timeout=IMPORT_TIMEOUT_MS)
    expect(card.get_by_role("table", name="Recent syncs")).to_be_visible()
    assert page.evaluate("window.unefemmeTestMark") == "not reloaded"
    return card


def issue_figures(expected: Figures) -> dict[str, Any]:
    """The figures the check is about: rows per entity and three sums to the cent."""
    return {
        "counts": expected.counts,
        "invoice TotalAmt": expected.invoice_total,
        "invoice Balance": expected.invoice_balance,
        "payment TotalAmt": expected.payment_total,
    }


# --- 1. connect and import -------------------------------------------------------------------


def test_a_partner_user_connects_quickbooks_and_sees_the_import_finish(
    page: Page, live_app: LiveApp
) -> None:
    partner, user = demo_partner(0)
    company = partner.name
    realm = realm_named(live_app, company)

    page.goto("/")
    # Signed out, so unefemme asks who this is first.
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "connect-quickbooks-1-sign-in")
    sign_in(page, user.email, PASSWORD)

    card = connect_quickbooks(page, live_app, company, shots="connect-quickbooks")

    # What the person sees once the import is over.
    books = Books(live_app.sandbox, realm)
    expected = upstream(books)
    expect(card.get_by_role("heading", level=2)).to_contain_text(f"{company} Connected")
    assert counts_shown(card) == expected.counts
    run = latest_run_shown(card)
    assert (run["Kind"], run["Trigger"]) == ("Initial import", "connect")
    assert run["Result"].startswith("Succeeded"), run  # then Intuit's reference, if any
    assert fact_shown(card, "Last sync") != "Not yet"
    assert fact_shown(card, "QuickBooks company id (realm)") == realm
    expect(card.get_by_text("The last sync did not finish")).to_have_count(0)
    screenshot(page, "connect-quickbooks-4-imported")

    connection = QBOConnection.objects.get(partner=partner)
    assert (connection.realm_id, connection.company_name, connection.connected_by) == (
        realm, company, user,
    )  # fmt: skip
    assert connection.status == QBOConnection.Status.CONNECTED
    # The mirror equals QuickBooks (read over HTTP with a token of its own, paged by
    # STARTPOSITION, summed in Decimal): rows per entity, inactive items included, and the
    # invoice total, invoice balance and payment total to the cent.
    mirror = mirrored(connection)
    assert issue_figures(mirror) == issue_figures(expected)
    assert mirror == expected  # and every row at QuickBooks' version (SyncToken)
    inactive = [row["Id"] for row in books.all("Item") if row.get("Active") is False]
    assert inactive, "the demo company has inactive items; the mirror must hold them too"
    assert sorted(
        QBOItem.objects.filter(connection=connection, active=False).values_list("qbo_id", flat=True)
    ) == sorted(inactive)
    assert all(n > 0 for n in expected.counts.values())
    assert expected.invoice_total > expected.invoice_balance > 0


# --- 2. changes in QuickBooks arrive by webhook ------------------------------------------------


@dataclass(frozen=True)
class Changes:
    new_invoice: dict[str, Any]
    paid_invoice: dict[str, Any]
    payment: dict[str, Any]
    deleted_invoice_id: str
    renamed_item: dict[str, Any]
    seconds: float  # how long the four writes took


def change_the_books(books: Books) -> Changes:
    """Through QuickBooks' public API, as the partner's bookkeeper would: a new invoice, a
    payment applied to an open invoice, an invoice deleted, an item renamed."""
    customer = books.query("SELECT * FROM Customer MAXRESULTS 1")["Customer"][0]
    items = [
        item
        for item in books.query("SELECT * FROM Item MAXRESULTS 1000")["Item"]
        if item["Type"] in ("Inventory", "NonInventory") and "ParentRef" not in item
    ]
    sold, renamed = items[0], items[1]
    # Untouched invoices (nothing paid on them) to delete and to pay.
    unpaid = [
        i for i in books.all("Invoice")
        if i["Balance"] == i["TotalAmt"] > 0 and not i.get("LinkedTxn")
    ]  # fmt: skip
    doomed, to_pay = unpaid[0], unpaid[1]
    # Whole amounts arrive as JSON integers, the rest as Decimal (Books parses them so).
    amount = (Decimal(str(to_pay["Balance"])) / 2).quantize(CENT)

    started = time.monotonic()
    # Four writes in a row, as a bookkeeper's morning would bring; the sandbox gathers the
    # change events of about a second into one webhook POST, as Intuit does.
    new_invoice = books.post("Invoice", {
        "CustomerRef": {"value": customer["Id"]},
        "Line": [{
            "Amount": 63.00, "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": sold["Id"]}, "Qty": 3, "UnitPrice": 21.00},
        }],
    })["Invoice"]  # fmt: skip
    payment = books.post("Payment", {
        "CustomerRef": to_pay["CustomerRef"],
        "TotalAmt": float(amount),
        "Line": [{"Amount": float(amount),
                  "LinkedTxn": [{"TxnId": to_pay["Id"], "TxnType": "Invoice"}]}],
    })["Payment"]  # fmt: skip
    books.post("Invoice", {"Id": doomed["Id"], "SyncToken": doomed["SyncToken"]},
               operation="delete")  # fmt: skip
    renamed_item = books.post("Item", {
        "Id": renamed["Id"], "SyncToken": renamed["SyncToken"], "sparse": True,
        "Name": f"{renamed['Name']} (renamed)",
    })["Item"]  # fmt: skip
    seconds = time.monotonic() - started

    assert new_invoice["TotalAmt"] == Decimal("63.00")
    return Changes(
        new_invoice=new_invoice,
        paid_invoice=books.read("Invoice", to_pay["Id"]),
        payment=payment,
        deleted_invoice_id=str(doomed["Id"]),
        renamed_item=renamed_item,
        seconds=seconds,
    )


def test_changes_in_quickbooks_reach_the_mirror_by_webhook_and_the_page_after_sync_now(
    page: Page, live_app: LiveApp
) -> None:
    partner, user = demo_partner(1)
    company = partner.name
    realm = realm_named(live_app, company)
    sign_in(page, user.email, PASSWORD)
    connect_quickbooks(page, live_app, company)
    connection = QBOConnection.objects.get(partner=partner)
    books = Books(live_app.sandbox, realm)
    before = upstream(books)
    assert mirrored(connection) == before
    runs_before = set(SyncRun.objects.filter(connection=connection).values_list("pk", flat=True))

    changes = change_the_books(books)
    expected = upstream(books)
    assert expected.counts["Invoice"] == before.counts["Invoice"]  # one new, one deleted
    assert expected.counts["Payment"] == before.counts["Payment"] + 1

    # No beat runs in these tests and the schedule's next slot is minutes away: only the
    # webhook can bring the changes in this soon.
    connection.refresh_from_db()
    assert connection.next_sync_at is not None
    assert connection.next_sync_at > timezone.now() + timedelta(seconds=WEBHOOK_TIMEOUT_S)
    wait_for(
        lambda: mirrored(connection) == expected,
        timeout=WEBHOOK_TIMEOUT_S,
        what="the changes made in QuickBooks reaching the mirror",
    )
    mirror = QBOInvoice.objects.filter(connection=connection)
    assert mirror.get(qbo_id=changes.new_invoice["Id"]).total_amt == Decimal("63.00")
    assert not mirror.filter(qbo_id=changes.deleted_invoice_id).exists()
    paid = mirror.get(qbo_id=changes.paid_invoice["Id"])
    assert paid.balance == changes.paid_invoice["Balance"] < paid.total_amt
    payment = QBOPayment.objects.get(connection=connection, qbo_id=changes.payment["Id"])
    assert [(a.txn_qbo_id, a.amount) for a in payment.applications.all()] == [
        (changes.paid_invoice["Id"], changes.payment["TotalAmt"])
    ]
    item = QBOItem.objects.get(connection=connection, qbo_id=changes.renamed_item["Id"])
    assert item.name == changes.renamed_item["Name"]

    # Who applied them: one change poll, started by the webhook. One, because the sandbox
    # (as Intuit does) gathers a second's change events into one POST, and the four writes
    # take milliseconds.
    def finished_runs() -> list[SyncRun] | None:
        runs = SyncRun.objects.filter(connection=connection).exclude(pk__in=runs_before)
        if runs.filter(status=SyncRun.Status.RUNNING).exists() or locks.realm_lock_held(
            realm_id=realm
        ):
            return None  # still at work (the realm's lease is released last)
        return list(runs.order_by("started_at"))

    runs = wait_for(finished_runs, timeout=WEBHOOK_TIMEOUT_S, what="the webhook's poll finishing")
    deliveries = live_app.sandbox.control("GET", "/_sandbox/status")["stats"]["webhooks"]
    assert [(r.kind, r.trigger, r.status) for r in runs] == [
        (SyncRun.Kind.POLL, "webhook", SyncRun.Status.SUCCEEDED)
    ], f"writes took {changes.seconds:.3f} s; sandbox webhook deliveries: {deliveries}"
    applied = runs[0].counts
    assert applied["Invoice"]["deleted"] == 1
    assert applied["Invoice"]["upserted"] >= 2  # the new one and the one paid
    assert applied["Payment"]["upserted"] >= 1 and applied["Item"]["upserted"] >= 1
    events = WebhookEvent.objects.filter(realm_id=realm)
    assert {
        ("Invoice", changes.new_invoice["Id"], "Create"),
        ("Payment", changes.payment["Id"], "Create"),
        ("Invoice", changes.deleted_invoice_id, "Delete"),
        ("Item", changes.renamed_item["Id"], "Update"),
    } <= set(events.values_list("entity", "entity_id", "operation"))
    assert set(events.values_list("status", flat=True)) == {WebhookEvent.Status.ENQUEUED}

    # The page, open since the import, shows the mirror after Sync now.
    card = card_of(page, company)
    card.get_by_role("button", name="Sync now").click()
    expect(page.get_by_text("A sync has been queued")).to_be_visible()
    run = wait_for_run_shown(page, company, trigger="manual")
    card = card_of(page, company)
    assert run["Kind"] == "Change poll" and run["Result"].startswith("Succeeded"), run
    assert counts_shown(card) == expected.counts
    screenshot(page, "webhook-changes-after-sync-now")


def wait_for_run_shown(page: Page, company: str, *, trigger: str) -> dict[str, str]:
    """Wait until the page's newest run is a finished one started by ``trigger``.

    While the sync runs the card polls by itself. A sync still queued when the page was
    rendered shows no progress to follow, so then (only then) the page is reloaded, as a
    person would.
    """
    deadline = time.monotonic() + SYNC_NOW_TIMEOUT_S
    while True:
        card = card_of(page, company)
        run = latest_run_shown(card)
        if run["Trigger"] == trigger and not run["Result"].startswith("Running"):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"no finished {trigger} run on the page: {run}")
        if card.get_attribute("hx-trigger") is None:
            page.reload()
        page.wait_for_timeout(500)
