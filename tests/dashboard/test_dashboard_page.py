"""The dashboard (/): its tiles' figures, who sees which partner's, the htmx refresh."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Partner, User
from billing.models import QBOInvoice, QBOPayment
from common.templatetags.ui import format_money
from dashboard import selectors
from dashboard.selectors import dashboard_tiles
from inventory.models import MappingConflict
from sync.models import QBOConnection, SyncRun
from tests.billing.factories import ConnectionFactory, InvoiceFactory, PaymentFactory
from tests.conftest import signed_in
from tests.factories import PartnerFactory
from tests.inventory.reports.test_discrepancies_selectors import mapped, sku, snap

URL = reverse("dashboard")
TODAY = date(2025, 3, 15)
ZERO = Decimal("0.00")

pytestmark = pytest.mark.django_db


@dataclass
class Books:
    """One partner's mirrored rows, kept so the expected figures are summed here in
    Python rather than by the code under test."""

    connection: QBOConnection
    invoices: list[QBOInvoice] = field(default_factory=list)
    payments: list[QBOPayment] = field(default_factory=list)

    def open_invoices(self) -> list[QBOInvoice]:
        return [i for i in self.invoices if i.balance > 0 and not i.voided]

    def open_amount(self) -> Decimal:
        return sum((i.balance for i in self.open_invoices()), ZERO)

    def overdue(self, today: date) -> list[QBOInvoice]:
        def due(i: QBOInvoice) -> date | None:
            return i.due_date or i.txn_date

        return [i for i in self.open_invoices() if (d := due(i)) is not None and d < today]

    def overdue_amount(self, today: date) -> Decimal:
        return sum((i.balance for i in self.overdue(today)), ZERO)

    def unapplied(self) -> Decimal:
        return sum((p.unapplied_amt for p in self.payments if not p.voided), ZERO)


def _books(partner: Partner, *, scale: Decimal) -> Books:
    """A mix of rows that must and must not count, amounts scaled per partner so that
    one partner's figures can never equal another's by accident."""
    books = Books(ConnectionFactory(partner=partner))
    c = books.connection

    def amt(value: str) -> Decimal:
        return (Decimal(value) * scale).quantize(Decimal("0.01"))

    books.invoices += [
        # Overdue: due before today.
        InvoiceFactory(connection=c, due_date=TODAY - timedelta(days=40),
                       total_amt=amt("1200.10"), balance=amt("1000.05")),
        InvoiceFactory(connection=c, due_date=TODAY - timedelta(days=1),
                       total_amt=amt("333.33"), balance=amt("333.33")),
        # Due today: open but not overdue yet.
        InvoiceFactory(connection=c, due_date=TODAY, total_amt=amt("250.00"),
                       balance=amt("250.00")),
        # Not due yet.
        InvoiceFactory(connection=c, due_date=TODAY + timedelta(days=30),
                       total_amt=amt("99.99"), balance=amt("0.01")),
        # No due date: due on its transaction date, which is past.
        InvoiceFactory(connection=c, due_date=None, txn_date=TODAY - timedelta(days=3),
                       total_amt=amt("45.50"), balance=amt("45.50")),
        # Neither date: open, never overdue.
        InvoiceFactory(connection=c, due_date=None, txn_date=None, total_amt=amt("10.00"),
                       balance=amt("10.00")),
        # Never counted: paid in full, voided (its balance is not money owed).
        InvoiceFactory(connection=c, due_date=TODAY - timedelta(days=90),
                       total_amt=amt("500.00"), balance=ZERO),
        InvoiceFactory(connection=c, due_date=TODAY - timedelta(days=90),
                       total_amt=amt("700.00"), balance=amt("700.00"), voided=True),
    ]  # fmt: skip
    books.payments += [
        PaymentFactory(connection=c, total_amt=amt("400.00"), unapplied_amt=amt("150.25")),
        PaymentFactory(connection=c, total_amt=amt("80.00"), unapplied_amt=amt("0.75")),
        PaymentFactory(connection=c, total_amt=amt("60.00"), unapplied_amt=ZERO),
        # A voided payment's credit was never received.
        PaymentFactory(connection=c, total_amt=amt("900.00"), unapplied_amt=amt("900.00"),
                       voided=True),
    ]  # fmt: skip
    return books


@pytest.fixture
def books_a(partner_a: Partner) -> Books:
    return _books(partner_a, scale=Decimal("1"))


@pytest.fixture
def books_b(partner_b: Partner) -> Books:
    return _books(partner_b, scale=Decimal("3.7"))


def _tile(html: str, name: str) -> str:
    match = re.search(rf'<a class="tile"[^>]*data-tile="{name}">(.*?)</a>', html, re.S)
    assert match, f"no {name} tile in the page"
    return match.group(1)


# --- Receivables and unapplied cash --------------------------------------------------------


def test_staff_figures_are_every_partners_sums(sam: User, books_a: Books, books_b: Books) -> None:
    tiles = dashboard_tiles(user=sam, today=TODAY)

    everyone = (books_a, books_b)
    assert tiles.receivables.open_amount == sum((b.open_amount() for b in everyone), ZERO)
    assert tiles.receivables.open_count == sum(len(b.open_invoices()) for b in everyone) == 12
    assert tiles.receivables.overdue_amount == sum(
        (b.overdue_amount(TODAY) for b in everyone), ZERO
    )
    assert tiles.receivables.overdue_count == sum(len(b.overdue(TODAY)) for b in everyone) == 6
    assert tiles.unapplied.amount == books_a.unapplied() + books_b.unapplied()
    assert tiles.unapplied.count == 4
    # The figures are exact Decimals, not floats that happen to print the same.
    assert isinstance(tiles.receivables.open_amount, Decimal)
    assert tiles.receivables.open_amount == Decimal("1638.89") + Decimal("6063.89")


def test_alice_sees_only_partner_as_figures(alice: User, books_a: Books, books_b: Books) -> None:
    tiles = dashboard_tiles(user=alice, today=TODAY)

    assert tiles.receivables.open_amount == books_a.open_amount() == Decimal("1638.89")
    assert tiles.receivables.overdue_amount == books_a.overdue_amount(TODAY) == Decimal("1378.88")
    assert tiles.receivables.open_count == 6
    assert tiles.unapplied.amount == books_a.unapplied() == Decimal("151.00")


def test_the_page_shows_alice_her_figures_and_none_of_bobs(
    alice: User, books_a: Books, books_b: Books
) -> None:
    today = timezone.localdate()  # the page uses the real today
    html = signed_in(alice).get(URL).content.decode()

    receivables = _tile(html, "receivables")
    assert format_money(books_a.open_amount()) in receivables
    assert f"{format_money(books_a.overdue_amount(today))} overdue" in receivables
    assert format_money(books_a.unapplied()) in _tile(html, "unapplied")
    for figure in (books_b.open_amount(), books_b.unapplied(),
                   books_a.open_amount() + books_b.open_amount()):  # fmt: skip
        assert format_money(figure) not in html


def test_sam_sees_every_partners_figures_on_the_page(
    sam: User, books_a: Books, books_b: Books
) -> None:
    html = signed_in(sam).get(URL).content.decode()

    assert format_money(books_a.open_amount() + books_b.open_amount()) in _tile(html, "receivables")
    assert format_money(books_a.unapplied() + books_b.unapplied()) in _tile(html, "unapplied")


def test_an_empty_mirror_shows_zeroes(alice: User) -> None:
    tiles = dashboard_tiles(user=alice, today=TODAY)
    assert tiles.receivables == selectors.Receivables(ZERO, 0, ZERO, 0)
    assert tiles.unapplied == selectors.UnappliedCash(ZERO, 0)
    assert "$0.00" in _tile(signed_in(alice).get(URL).content.decode(), "receivables")


def test_overdue_is_counted_from_the_users_own_today(sam: User, partner_a: Partner) -> None:
    # Kiritimati (UTC+14) and Pago Pago (UTC−11) are always on different dates, so an
    # invoice due on Pago Pago's today is already overdue in Kiritimati.
    pago_today = timezone.localdate(timezone=zoneinfo.ZoneInfo("Pacific/Pago_Pago"))
    InvoiceFactory(connection=ConnectionFactory(partner=partner_a), due_date=pago_today,
                   total_amt=Decimal("42.00"), balance=Decimal("42.00"))  # fmt: skip

    sam.time_zone = "Pacific/Pago_Pago"
    sam.save()
    assert "$0.00 overdue" in _tile(signed_in(sam).get(URL).content.decode(), "receivables")
    sam.time_zone = "Pacific/Kiritimati"
    sam.save()
    assert "$42.00 overdue" in _tile(signed_in(sam).get(URL).content.decode(), "receivables")


def test_receivables_net_the_credits_as_the_open_invoices_page_does(
    sam: User, partner_a: Partner
) -> None:
    from billing.models import QBOCreditMemo

    connection = ConnectionFactory(partner=partner_a)
    # Dated two days back: in every zone already past, so no document is "dated after
    # today" whatever the zone the request or an earlier test left active.
    today = timezone.now().date() - timedelta(days=2)
    InvoiceFactory(connection=connection, due_date=today - timedelta(days=40),
                   total_amt=Decimal("500.00"), balance=Decimal("500.00"))  # fmt: skip
    InvoiceFactory(connection=connection, due_date=today + timedelta(days=10),
                   total_amt=Decimal("120.00"), balance=Decimal("120.00"))  # fmt: skip
    QBOCreditMemo.objects.create(connection=connection, qbo_id="900", customer_name="Cave",
                                 txn_date=today, total_amt=Decimal("80.00"),
                                 balance=Decimal("75.00"))  # fmt: skip
    PaymentFactory(connection=connection, total_amt=Decimal("30.00"),
                   unapplied_amt=Decimal("25.00"), txn_date=today)  # fmt: skip
    client = signed_in(sam)

    tile = " ".join(_tile(client.get(URL).content.decode(), "receivables").split())

    # $620.00 of invoices less $100.00 of credits (what the memo has left, the payment's
    # unapplied money); the overdue part is the invoices' alone.
    assert "$520.00" in tile
    assert "2 open invoices ($620.00) less $100.00 of credits" in tile
    assert "$500.00 overdue" in tile and "(1 invoice)" in tile
    page = client.get(reverse("billing:invoices")).content.decode()
    assert "<strong>$520.00</strong>" in page  # the page's own net total


# --- Partners connected and failing syncs --------------------------------------------------


def _run(connection: QBOConnection, status: str, minutes_ago: int) -> SyncRun:
    run: SyncRun = SyncRun.objects.create(
        connection=connection, kind=SyncRun.Kind.POLL, status=status,
        started_at=timezone.now() - timedelta(minutes=minutes_ago),
    )  # fmt: skip
    return run


def test_partners_connected_counts_live_connections(
    alice: User, bob: User, sam: User, partner_a: Partner, partner_b: Partner
) -> None:
    ConnectionFactory(partner=partner_a)
    ConnectionFactory(partner=partner_b, status=QBOConnection.Status.DISCONNECTED)
    needs_reconnect = PartnerFactory()
    ConnectionFactory(partner=needs_reconnect, status=QBOConnection.Status.NEEDS_RECONNECT)
    # Two old, disconnected companies must not count this partner twice or at all.
    reconnected = PartnerFactory()
    ConnectionFactory.create_batch(2, partner=reconnected, status="disconnected")
    ConnectionFactory(partner=reconnected)
    PartnerFactory()  # never connected

    assert selectors.partners_connected(user=sam) == selectors.PartnersConnected(3, 5)
    assert selectors.partners_connected(user=alice) == selectors.PartnersConnected(1, 1)
    assert selectors.partners_connected(user=bob) == selectors.PartnersConnected(0, 1)
    assert "3 <span" in _tile(signed_in(sam).get(URL).content.decode(), "partners")
    assert "is not connected yet" in _tile(signed_in(bob).get(URL).content.decode(), "partners")


START_ON_CONNECTIONS = "to connect your QuickBooks Online company"


@pytest.mark.parametrize(
    ("statuses", "told_to_connect"),
    [
        ([], True),  # never connected
        ([QBOConnection.Status.DISCONNECTED], True),
        ([QBOConnection.Status.CONNECTED], False),
        # Still their company: the failing-syncs tile says to reconnect, not this line.
        ([QBOConnection.Status.NEEDS_RECONNECT], False),
        ([QBOConnection.Status.DISCONNECTED, QBOConnection.Status.CONNECTED], False),
    ],
)
def test_partners_are_told_to_connect_only_without_a_live_connection(
    alice: User, partner_a: Partner, statuses: list[str], told_to_connect: bool
) -> None:
    for status in statuses:
        ConnectionFactory(partner=partner_a, status=status)

    html = signed_in(alice).get(URL).content.decode()

    assert "You are signed in for <strong>Bubbles &amp; Brine Distributing</strong>." in html
    assert (START_ON_CONNECTIONS in html) is told_to_connect


def test_staff_are_not_told_to_connect(sam: User) -> None:
    assert START_ON_CONNECTIONS not in signed_in(sam).get(URL).content.decode()


FILL_IN = "The figures fill in as partners connect QuickBooks"


def test_the_fill_in_line_goes_once_every_partner_is_connected(
    sam: User, partner_a: Partner, partner_b: Partner
) -> None:
    ConnectionFactory(partner=partner_a)
    assert FILL_IN in signed_in(sam).get(URL).content.decode()  # 1 of 2

    ConnectionFactory(partner=partner_b)
    assert FILL_IN not in signed_in(sam).get(URL).content.decode()  # 2 of 2


def test_failing_syncs_are_reconnects_and_latest_failed_runs(
    alice: User, bob: User, sam: User, partner_a: Partner, partner_b: Partner
) -> None:
    # A's last finished run failed; the retry in progress does not clear it.
    a = ConnectionFactory(partner=partner_a)
    _run(a, SyncRun.Status.SUCCEEDED, 30)
    _run(a, SyncRun.Status.FAILED, 20)
    _run(a, SyncRun.Status.RUNNING, 1)
    # B failed, then recovered; a skipped run since does not matter.
    b = ConnectionFactory(partner=partner_b)
    _run(b, SyncRun.Status.FAILED, 30)
    _run(b, SyncRun.Status.SUCCEEDED, 20)
    _run(b, SyncRun.Status.SKIPPED, 1)
    # Needs reconnecting, whatever its runs say.
    ConnectionFactory(partner=PartnerFactory(), status=QBOConnection.Status.NEEDS_RECONNECT)
    # Disconnected: no longer syncing, so not failing, even with a failed last run.
    gone = ConnectionFactory(partner=PartnerFactory(), status=QBOConnection.Status.DISCONNECTED)
    _run(gone, SyncRun.Status.FAILED, 5)
    # Connected and never synced yet: nothing has failed.
    ConnectionFactory(partner=PartnerFactory())

    assert selectors.failing_syncs(user=sam) == 2
    assert selectors.failing_syncs(user=alice) == 1
    assert selectors.failing_syncs(user=bob) == 0
    assert '<p class="tile-figure alert">2</p>' in _tile(
        signed_in(sam).get(URL).content.decode(), "failing-syncs"
    )


# --- Conflicts and discrepancies -----------------------------------------------------------


def test_only_admins_get_the_conflicts_tile(alice: User, sam: User, ada: User) -> None:
    conflicts_link = f'href="{reverse("inventory:conflicts")}"'
    assert conflicts_link not in signed_in(alice).get(URL).content.decode()
    assert conflicts_link not in signed_in(sam).get(URL).content.decode()
    assert conflicts_link in signed_in(ada).get(URL).content.decode()
    assert selectors.conflicts_open(user=sam) is None


def test_conflicts_count_the_open_rows_of_the_queue(ada: User, partner_a: Partner) -> None:
    connection = ConnectionFactory(partner=partner_a)
    for n, status in enumerate(("open", "resolved", "ignored", "open", "open")):
        MappingConflict.objects.create(
            connection=connection, kind="unmatched", status=status, fingerprint=f"f{n}"
        )

    assert selectors.conflicts_open(user=ada) == 3
    assert '<p class="tile-figure">3</p>' in _tile(
        signed_in(ada).get(URL).content.decode(), "conflicts"
    )


def test_discrepancies_count_the_rows_out_of_tolerance_the_user_sees(
    alice: User, sam: User, partner_a: Partner, partner_b: Partner
) -> None:
    callie = sku("UF-CAL-NV-750")
    books_a, books_b = ConnectionFactory(partner=partner_a), ConnectionFactory(partner=partner_b)
    snap(partner_a, callie, 100)
    mapped(books_a, callie, "120", qbo_id="1")  # over
    snap(partner_b, callie, 100)
    mapped(books_b, callie, "50", qbo_id="1")  # under
    snap(partner_b, sku("UF-JUL-NV-750"), 100)  # unmapped: not a disagreement, not counted

    tile = _tile(signed_in(alice).get(URL).content.decode(), "discrepancies")
    assert '<p class="tile-figure">1</p>' in tile
    assert "over or under the warehouse records" in tile
    assert '<p class="tile-figure">2</p>' in _tile(
        signed_in(sam).get(URL).content.decode(), "discrepancies"
    )


def test_discrepancies_tile_says_when_everything_agrees(alice: User) -> None:
    tile = _tile(signed_in(alice).get(URL).content.decode(), "discrepancies")
    assert '<p class="tile-figure">0</p>' in tile
    assert "agrees with the warehouse records" in tile


def test_each_tile_links_to_its_page(ada: User) -> None:
    html = signed_in(ada).get(URL).content.decode()
    expected = {
        "partners": "sync:connections",
        "discrepancies": "inventory:discrepancies",
        "receivables": "billing:invoices",
        "unapplied": "billing:payments",
        "conflicts": "inventory:conflicts",
        "failing-syncs": "sync:connections",
        "reconciliation": "reconciliation:index",
        "new-placements": "inventory:placements",
        "lost-accounts": "inventory:placements",
    }
    links = re.findall(r'<a class="tile" href="([^"]+)" data-tile="([^"]+)">', html)
    assert {tile: url for url, tile in links} == {
        tile: reverse(name) for tile, name in expected.items()
    }
    assert len(links) == len(expected)


# --- htmx refresh --------------------------------------------------------------------------


def test_the_page_polls_its_tiles_with_a_link_fallback(alice: User) -> None:
    html = signed_in(alice).get(URL).content.decode()
    assert "<html" in html
    refresh = re.search(r'<a href="([^"]+)" hx-get="([^"]+)" hx-trigger="([^"]+)"', html)
    assert refresh, "no refresh link"
    assert refresh.group(1) == refresh.group(2) == URL
    assert "every 60s" in refresh.group(3)


def test_htmx_gets_only_the_tiles(alice: User, books_a: Books) -> None:
    response = signed_in(alice).get(URL, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="dashboard-tiles"')
    assert "<html" not in html and "<h1>" not in html
    # The fragment carries the polling link, so it keeps refreshing after the swap.
    assert 'hx-trigger="click, every 60s"' in html
    assert format_money(books_a.open_amount()) in _tile(html, "receivables")


def test_a_boosted_request_gets_the_whole_page(alice: User) -> None:
    response = signed_in(alice).get(URL, headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in response.content.decode()


def test_it_rejects_post(alice: User) -> None:
    assert signed_in(alice).post(URL).status_code == 405


def test_signed_out_visitors_are_sent_to_sign_in(client: Any) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


# --- Query counts ----------------------------------------------------------------------------


def _mirror(connections: list[QBOConnection], rows: int) -> None:
    """``rows`` more invoices, payments and sync runs in each of ``connections``."""
    for connection in connections:
        InvoiceFactory.create_batch(rows, connection=connection)
        PaymentFactory.create_batch(rows, connection=connection, unapplied_amt=Decimal("1.00"))
        for minutes in range(rows):
            _run(connection, SyncRun.Status.FAILED, minutes)


def _connections(*partners: Partner) -> list[QBOConnection]:
    return [ConnectionFactory(partner=p) for p in (*partners, PartnerFactory(), PartnerFactory())]


def test_each_figure_is_one_query(ada: User, monkeypatch: pytest.MonkeyPatch,
                                  django_assert_num_queries: Any) -> None:  # fmt: skip
    _mirror(_connections(), 3)
    # Partners, receivables, unapplied cash, failing syncs, conflicts, the
    # discrepancies' two (latest snapshots, mapped QuickBooks quantities), and the
    # reconciliation check.
    with django_assert_num_queries(8):
        dashboard_tiles(user=ada, today=TODAY)


@pytest.mark.parametrize("user_name", ["alice", "ada"])
def test_the_page_does_not_grow_with_the_mirror(
    user_name: str, cast: dict[str, User], partner_a: Partner,
    monkeypatch: pytest.MonkeyPatch, django_assert_max_num_queries: Any,
) -> None:  # fmt: skip
    connections = _connections(partner_a)  # alice's partner among them
    client = signed_in(cast[user_name])
    counts = []
    for rows in (3, 27):  # N, then 10N in all
        _mirror(connections, rows)
        # Session and user, the tiles' eight, and the month-ago snapshot (history).
        with django_assert_max_num_queries(11), CaptureQueriesContext(db_connection) as ctx:
            response = client.get(URL, headers={"HX-Request": "true"})
        assert response.status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
    # And the rows were there to be summed: $1.00 unapplied on each of 30 payments per
    # partner, of one partner for alice and three for ada.
    expected = Decimal("30.00") * (1 if user_name == "alice" else 3)
    assert format_money(expected) in _tile(response.content.decode(), "unapplied")
