"""The partner scorecard (/partners/, dashboard.scorecard): each figure is the figure of the
page it links to, narrowed to the partner; who sees which partner; the connection's
health; sorting; the empty state; a constant number of queries."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta
from decimal import Decimal
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Partner, User
from billing.models import QBOInvoice
from billing.selectors import dso_by_partner
from dashboard.scorecard import Health, ScorecardRow, scorecard
from inventory.mapping.models import MappingConflict, QBOItem
from inventory.purchasing.models import QBOBill, QBOBillLine, UneFemmeVendor
from inventory.reports.selectors import DEFAULT_WINDOW
from sync.models import QBOConnection, SyncRun
from tests.billing.factories import (
    ConnectionFactory,
    CreditMemoFactory,
    InvoiceFactory,
    PaymentFactory,
)
from tests.conftest import signed_in
from tests.factories import PartnerFactory, partner_user
from tests.inventory.reports.test_depletion_selectors import mapped_item, sell
from tests.inventory.reports.test_discrepancies_selectors import sku, snap

pytestmark = pytest.mark.django_db

URL = reverse("partners")
D = Decimal
UF = "56"  # the Une Femme vendor's id in every partner's books below
_ids = itertools.count(1)


# --- Books ---------------------------------------------------------------------------------


def received(item: QBOItem, qty: int, on: date) -> None:
    """A bill from the Une Femme vendor dated ``on`` receiving ``qty`` of ``item``."""
    bill = QBOBill.objects.create(
        connection=item.connection, qbo_id=f"bill-{next(_ids)}", txn_date=on, vendor_qbo_id=UF
    )
    QBOBillLine.objects.create(
        bill=bill, position=0, detail_type=QBOBillLine.ITEM_BASED, item_qbo_id=item.qbo_id,
        qty=D(qty),
    )  # fmt: skip


def books(partner: Partner, *, scale: int, today: date) -> QBOConnection:
    """A partner's company with something behind every figure, its amounts and quantities
    scaled so that no two partners' figures are equal by accident: invoices overdue and
    current, a credit memo and an unapplied payment, two SKUs in stock and sold (one in
    cases), bottles received this month, warehouse counts out of tolerance and within,
    and open and decided mapping conflicts."""
    connection: QBOConnection = ConnectionFactory(partner=partner)
    UneFemmeVendor.objects.create(
        connection=connection, vendor_qbo_id=UF, vendor_name="Une Femme Wines", source="name"
    )
    money = D(scale)
    InvoiceFactory(connection=connection, txn_date=today - timedelta(days=50),
                   due_date=today - timedelta(days=20), total_amt=D("1000.00") * money,
                   balance=D("700.25") * money)  # fmt: skip
    InvoiceFactory(connection=connection, txn_date=today, due_date=today + timedelta(days=30),
                   total_amt=D("400.00") * money)  # fmt: skip
    CreditMemoFactory(connection=connection, txn_date=today - timedelta(days=3),
                      total_amt=D("50.00") * money)  # fmt: skip
    PaymentFactory(connection=connection, txn_date=today - timedelta(days=2),
                   total_amt=D("30.00") * money, unapplied_amt=D("30.00") * money)  # fmt: skip

    callie = mapped_item(connection, "UF-CAL-NV-750", on_hand=300 * scale)
    juliette = mapped_item(connection, "UF-JUL-NV-750", per_unit=12, on_hand=10 * scale)
    # Sold in the depletion window (this month too: today), and once before it. Those
    # invoices (120.00 each) are credit sales, paid already.
    sell(callie, 42 * scale, today)
    sell(juliette, 2 * scale, today - timedelta(days=3))
    sell(callie, 500, today - timedelta(days=DEFAULT_WINDOW + 5))
    QBOInvoice.objects.filter(connection=connection, lines__isnull=False).update(balance=0)
    received(callie, 120 * scale, today)
    received(juliette, 5 * scale, today.replace(day=1))

    # Warehouse counts: the Callie far off QuickBooks, the Juliette equal to it.
    snap(partner, sku("UF-CAL-NV-750"), 300 * scale + 50)
    snap(partner, sku("UF-JUL-NV-750"), 120 * scale)
    for n, status in enumerate(("open", "open", "resolved")):
        MappingConflict.objects.create(
            connection=connection, kind="unmatched", status=status, fingerprint=f"f{n}"
        )
    return connection


@pytest.fixture
def today() -> date:
    return timezone.localdate()


@pytest.fixture
def books_a(partner_a: Partner, today: date) -> QBOConnection:
    return books(partner_a, scale=1, today=today)


@pytest.fixture
def books_b(partner_b: Partner, today: date) -> QBOConnection:
    return books(partner_b, scale=3, today=today)


def rows_of(client: Client, **params: str) -> list[ScorecardRow]:
    response = client.get(URL, params)
    assert response.status_code == 200
    rows: list[ScorecardRow] = response.context["table"].rows
    return rows


def row_for(client: Client, partner: Partner) -> ScorecardRow:
    (row,) = [r for r in rows_of(client) if r.partner_id == partner.pk]
    return row


def context_of(client: Client, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context


# --- Each figure is its page's ---------------------------------------------------------------


@pytest.mark.parametrize("who", ["sam", "alice"])
def test_each_figure_equals_the_page_it_links_to(
    who: str, cast: dict[str, User], books_a: QBOConnection, books_b: QBOConnection, today: date
) -> None:
    user = cast[who]
    client = signed_in(user)
    partner = books_a.partner
    row = row_for(client, partner)

    # Receivables: the open-invoices page's total (credits netted), and its overdue part.
    totals = context_of(client, row.urls["receivables"])["totals"]
    assert row.receivables == totals["total"] == D("700.25") + D("400.00") - D("50.00") - D("30")
    current = next(b for b in totals["buckets"] if b["key"] == "current")
    overdue = context_of(client, row.urls["overdue"])["totals"]
    assert row.overdue == totals["owed"] - current["owed"] == D("700.25")
    assert overdue["owed"] == totals["owed"]  # the invoices alone, the same ones

    # DSO: billing's own per-partner figure, and the formula written out.
    expected_dso = dso_by_partner(user=user, today=today)[partner.pk].dso
    sales = D("1000.00") + D("400.00") + 3 * D("120.00") - D("50.00")
    assert row.dso == expected_dso == (row.receivables / sales * 91).quantize(D("0.1"))

    # Stock: the Depletion page's rows for the partner, added up.
    depletion = context_of(client, row.urls["stock"])["report"]
    assert {r.partner_id for r in depletion.rows} == {partner.pk}
    on_hand = sum(r.on_hand for r in depletion.rows)
    net = sum(r.net_depletion for r in depletion.rows)
    assert row.on_hand == on_hand == 300 + 10 * 12
    assert net == 42 + 2 * 12
    assert row.days_on_hand == (on_hand * DEFAULT_WINDOW / net).quantize(D("0.1"))
    assert depletion.end == today and (depletion.end - depletion.start).days + 1 == DEFAULT_WINDOW

    # Sell-in and sell-through: the Sell-through page's totals for this month.
    flow = context_of(client, row.urls["sell_through"])["report"]
    # This month, whole, as that page shows a month.
    assert flow.start == today.replace(day=1)
    assert flow.end.month == today.month and (flow.end + timedelta(days=1)).day == 1
    assert row.sell_in == flow.totals["received"] == 120 + 5 * 12
    juliette_this_month = (today - timedelta(days=3)).month == today.month
    assert row.sell_through == flow.totals["net_depletion"]
    assert row.sell_through == 42 + (2 * 12 if juliette_this_month else 0)

    # Discrepancies: the page's rows for the partner over or under tolerance.
    found = 0
    for status in ("over", "under"):
        url = f"{row.urls['discrepancies']}&status={status}"
        found += context_of(client, url)["table"].count
    assert row.discrepancies == found == 1


def test_conflicts_are_counted_for_admins_only(
    ada: User, sam: User, alice: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    client = signed_in(ada)
    row = row_for(client, books_a.partner)
    assert row.conflicts == 2
    queue = context_of(client, row.urls["conflicts"])
    assert queue["total"] == 2
    assert {c.connection.partner_id for c in queue["conflicts"]} == {books_a.partner_id}
    assert ">Conflicts<" in client.get(URL).content.decode()

    for someone in (sam, alice):
        page = signed_in(someone).get(URL)
        assert ">Conflicts<" not in page.content.decode()
        assert all(r.conflicts is None for r in page.context["table"].rows)


def test_every_link_of_a_row_carries_its_partner(
    ada: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    html = signed_in(ada).get(URL).content.decode()
    for connection in (books_a, books_b):
        partner = connection.partner
        match = re.search(rf'<tr data-partner="{partner.pk}">(.*?)</tr>', html, re.S)
        assert match, partner
        links = [unescape(href) for href in re.findall(r'href="([^"]+)"', match.group(1))]
        assert reverse("sync:connection", args=[connection.pk]) in links
        figures = [link for link in links if "?" in link]
        # Receivables, overdue, DSO, stock twice, sell-in/through twice, discrepancies,
        # conflicts.
        assert len(figures) == 9, figures
        for link in figures:
            query = parse_qs(urlsplit(link).query)
            wanted = (
                partner.slug if link.startswith(reverse("inventory:conflicts")) else str(partner.pk)
            )
            assert query["partner"] == [wanted], link


# --- Who sees what ---------------------------------------------------------------------------


def test_a_partner_user_sees_their_own_partner_and_nothing_of_another(
    alice: User,
    bob: User,
    sam: User,
    books_a: QBOConnection,
    books_b: QBOConnection,
    today: date,
) -> None:
    everyone = {r.partner_id: r for r in scorecard(user=sam, today=today).rows}
    for user, own, other in ((alice, books_a, books_b), (bob, books_b, books_a)):
        assert [r.partner_id for r in scorecard(user=user, today=today).rows] == [own.partner_id]
        html = unescape(signed_in(user).get(URL).content.decode())
        assert own.partner.name in html
        for marker in (
            other.partner.name,
            other.partner.contact_email,
            other.company_name,
            f'data-partner="{other.partner_id}"',
            f"partner={other.partner_id}&",
        ):
            assert marker not in html, marker
        # Nor any of their figures.
        theirs = everyone[other.partner_id]
        for figure in (theirs.receivables, theirs.overdue):
            assert figure is not None
            assert f"${figure:,.2f}" not in html, figure


def test_staff_and_admins_see_every_partner(
    sam: User, ada: User, partner_a: Partner, partner_b: Partner, today: date
) -> None:
    unconnected = PartnerFactory(name="Zinfandel Imports")
    for user in (sam, ada):
        names = [r.name for r in scorecard(user=user, today=today).rows]
        assert names == sorted([partner_a.name, partner_b.name, unconnected.name])


# --- Connection health -----------------------------------------------------------------------


def _run(connection: QBOConnection, status: str, minutes_ago: int) -> SyncRun:
    started = timezone.now() - timedelta(minutes=minutes_ago)
    finished = None if status == "running" else started + timedelta(seconds=10)
    run: SyncRun = SyncRun.objects.create(
        connection=connection, kind="poll", status=status, started_at=started, finished_at=finished
    )
    return run


def test_connection_health_and_the_last_successful_sync(sam: User, today: date) -> None:
    ok, failing, retrying, stale, never = (
        ConnectionFactory(partner=PartnerFactory(name=f"Partner {n}")) for n in "ABCDE"
    )
    good = _run(ok, "succeeded", 5)
    _run(ok, "skipped", 1)  # another sync held the lock: says nothing
    earlier = _run(failing, "succeeded", 60)
    _run(failing, "failed", 10)
    _run(retrying, "failed", 10)
    _run(retrying, "running", 1)  # a retry in progress does not hide the failure
    stale.status = QBOConnection.Status.NEEDS_RECONNECT
    stale.save()
    gone = ConnectionFactory(partner=PartnerFactory(name="Partner F"))
    gone.status = QBOConnection.Status.DISCONNECTED
    gone.save()
    PartnerFactory(name="Partner G")

    rows = {r.name: r for r in scorecard(user=sam, today=today).rows}
    assert {name: r.health for name, r in rows.items()} == {
        "Partner A": Health.CONNECTED,
        "Partner B": Health.FAILING,
        "Partner C": Health.FAILING,
        "Partner D": Health.NEEDS_RECONNECT,
        "Partner E": Health.CONNECTED,
        "Partner F": Health.NOT_CONNECTED,
        "Partner G": Health.NOT_CONNECTED,
    }
    assert rows["Partner A"].last_success_at == good.finished_at
    assert rows["Partner B"].last_success_at == earlier.finished_at
    assert rows["Partner B"].latest_sync_status == "failed"
    assert rows["Partner E"].last_success_at is None
    assert never.pk == rows["Partner E"].connection_id


def test_a_partner_without_a_connection_says_so_and_links_to_connections(
    alice: User, sam: User, partner_a: Partner
) -> None:
    for user, words in ((alice, "Connect your QuickBooks"), (sam, "Connections")):
        response = signed_in(user).get(URL)
        html = response.content.decode()
        assert "Not connected" in html
        assert f'<a href="{reverse("sync:connections")}">{words}</a>' in html
        (row,) = [r for r in response.context["table"].rows if r.partner_id == partner_a.pk]
        # Nothing to count: no figure rather than zeros.
        assert row.receivables is None and row.discrepancies is None


def test_a_disconnected_company_still_counts_where_its_pages_count_it(
    sam: User, partner_a: Partner, today: date
) -> None:
    # Its documents stay in the mirror: the open-invoices page still lists them, so the
    # scorecard shows them too, beside "Not connected".
    gone: QBOConnection = ConnectionFactory(
        partner=partner_a, status=QBOConnection.Status.DISCONNECTED
    )
    InvoiceFactory(connection=gone, txn_date=today, due_date=today, total_amt=D("99.99"))
    client = signed_in(sam)
    row = row_for(client, partner_a)
    assert row.health == Health.NOT_CONNECTED
    assert row.receivables == context_of(client, row.urls["receivables"])["totals"]["total"]
    assert row.receivables == D("99.99")
    assert row.urls["connection"] == reverse("sync:connections")


# --- The table -------------------------------------------------------------------------------


def test_sortable_by_each_figure(ada: User, books_a: QBOConnection, books_b: QBOConnection) -> None:
    PartnerFactory(name="Aardvark Wines")  # no books: last whichever the direction
    client = signed_in(ada)
    a, b = books_a.partner.name, books_b.partner.name
    for key in ("receivables", "overdue", "dso", "on_hand", "sell_in", "sell_through"):
        ascending = [r.name for r in rows_of(client, sort=key)]
        descending = [r.name for r in rows_of(client, sort=f"-{key}")]
        assert ascending == [a, b, "Aardvark Wines"], key
        assert descending == [b, a, "Aardvark Wines"], key
    headers = signed_in(ada).get(URL).context["table"].headers
    assert all(h["url"] for h in headers), [h["label"] for h in headers if not h["url"]]
    assert [r.name for r in rows_of(client)] == sorted([a, b, "Aardvark Wines"])


def test_the_table_sorts_and_pages_as_an_htmx_fragment(
    sam: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    response = signed_in(sam).get(URL, {"sort": "-receivables"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<h1>" not in html and 'id="partners-table"' in html
    assert html.index(books_b.partner.name) < html.index("Bubbles &amp; Brine")


@pytest.mark.parametrize(("who", "says"), [("ada", "Add one</a>"), ("sam", "An admin adds")])
def test_the_empty_state_says_what_to_do(
    who: str, says: str, request: pytest.FixtureRequest
) -> None:
    user: User = request.getfixturevalue(who)
    assert not Partner.objects.exists()
    html = signed_in(user).get(URL).content.decode()
    assert "No partners yet." in html and says in html


# --- Cost ------------------------------------------------------------------------------------


def _queries(client: Client) -> int:
    with CaptureQueriesContext(db_connection) as ctx:
        response = client.get(URL)
        assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_same_queries_for_n_and_10n_partners(ada: User, today: date) -> None:
    client = signed_in(ada)

    def grow(count: int) -> None:
        start = Partner.objects.count()
        for n in range(start, start + count):
            partner = PartnerFactory(name=f"Distributor {n:03d}", slug=f"distributor-{n}")
            partner_user(partner)
            connection = books(partner, scale=n + 1, today=today)
            _run(connection, "succeeded" if n % 2 else "failed", 5)

    grow(2)
    few = _queries(client)
    grow(18)
    many = _queries(client)
    assert len(rows_of(client)) == 20
    assert few == many, (few, many)
    assert many <= 20, many
