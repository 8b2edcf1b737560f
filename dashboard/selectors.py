"""The dashboard's figures: one read per tile, each scoped to what the user may see.

A partner user gets their own partner's figures; staff and admins get every partner's.
Every figure is one aggregate query whatever the size of the mirror, because the tiles
are polled every minute by everyone who leaves the dashboard open. Money is summed by
PostgreSQL as Decimal, with the same rules as the page each tile links to, so a tile and
its page agree to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import Count, DecimalField, Q, Sum
from django.db.models.functions import Coalesce

from accounts.models import Partner
from billing.models import QBOPayment
from billing.selectors import aging_totals
from inventory.mapping.selectors import open_conflict_count
from inventory.reports.placements import AccountFigures, PlacementRules, placements
from inventory.reports.selectors import discrepancies_out_of_tolerance
from reconciliation.selectors import FailingCheck, failing_check
from sync.models import QBOConnection
from sync.selectors import failing_connections

if TYPE_CHECKING:
    from accounts.models import User

ZERO = Decimal("0.00")
MONEY = DecimalField(max_digits=18, decimal_places=2)


@dataclass(frozen=True)
class PartnersConnected:
    connected: int  # partners with a live (not disconnected) QuickBooks connection
    total: int


@dataclass(frozen=True)
class Receivables:
    open_amount: Decimal  # open invoices
    open_count: int
    overdue_amount: Decimal
    overdue_count: int
    # Open credit memos' credit and unapplied payments, zero or negative: what the
    # open-invoices page nets against the invoices (billing.selectors.aging_totals).
    credits: Decimal = Decimal(0)

    @property
    def net_amount(self) -> Decimal:
        """What customers owe once their credits are used: the open-invoices page's total."""
        return self.open_amount + self.credits

    @property
    def credit_amount(self) -> Decimal:
        """The credits as a positive amount, for "less $40.00 of credits"."""
        return -self.credits


@dataclass(frozen=True)
class UnappliedCash:
    amount: Decimal
    count: int  # payments with something left unapplied


@dataclass(frozen=True)
class Tiles:
    partners: PartnersConnected
    receivables: Receivables
    unapplied: UnappliedCash
    failing_syncs: int
    # None for anyone but admins: only they decide conflicts, so only they get the tile.
    conflicts_open: int | None
    # Partner × SKU rows over or under tolerance (inventory.reports.selectors); unlike the
    # other tiles it costs the page's two queries, not one aggregate.
    discrepancies_out_of_tolerance: int
    # Differences with QuickBooks' own reports older than one sync interval
    # (reconciliation.selectors): a failing check until a run finds them agreeing.
    reconciliation: FailingCheck


# How many lost accounts the dashboard's attention list names.
LOST_LISTED = 5


@dataclass(frozen=True)
class LostAccount:
    partner_id: int
    partner: str
    sku: str
    account: AccountFigures


@dataclass(frozen=True)
class PlacementCounts:
    new: int
    lost: int
    rules: PlacementRules
    # The accounts lost most recently (latest last purchase first), for the attention list:
    # read from the tile's own statement, not a second one.
    recently_lost: tuple[LostAccount, ...] = ()


def placement_counts(*, user: User, today: date) -> PlacementCounts:
    """New placements and lost accounts this month so far, summed over partner × SKU rows
    as the accounts page's totals are (inventory.reports.placements). One statement, but
    one that reads every sales line of the last year (a third of a second at ~100,000
    invoices), so the dashboard reads it with the page, not with the tiles it polls every
    minute: these figures move with a sync, not by the minute."""
    report = placements(user=user, start=today.replace(day=1), end=today)
    lost = [
        LostAccount(row.partner_id, row.partner, row.sku, account)
        for row in report.rows
        for account in row.lost
    ]
    lost.sort(key=lambda a: (a.account.last_purchase or date.min, a.account.name), reverse=True)
    return PlacementCounts(
        new=sum(row.new_count for row in report.rows),
        lost=len(lost),
        rules=report.rules,
        recently_lost=tuple(lost[:LOST_LISTED]),
    )


def partners_connected(*, user: User) -> PartnersConnected:
    # A partner has at most one live connection (a database constraint), so counting
    # distinct partners with one is counting live connections. Live is what
    # ConnectionQuerySet.live() says: one needing reconnect is still the partner's company.
    row = Partner.objects.visible_to(user).aggregate(
        total=Count("pk", distinct=True),
        connected=Count(
            "pk",
            filter=Q(connections__in=QBOConnection.objects.live()),
            distinct=True,
        ),
    )
    return PartnersConnected(connected=row["connected"], total=row["total"])


def receivables(*, user: User, today: date) -> Receivables:
    """Open invoices, the credits that offset them (open credit memos, unapplied payments)
    and the invoices past due as of ``today`` (the user's today: an invoice due today is
    overdue in Paris before it is in Los Angeles), in one query.

    The open-invoices page's own totals (``billing.selectors.aging_totals``), so the tile
    and the page it links to agree: the same documents (nothing voided, nothing dated after
    today), an invoice due on its due date or else its transaction date.
    """
    totals = aging_totals(user=user, today=today)
    current = next(b for b in totals["buckets"] if b["key"] == "current")
    return Receivables(
        open_amount=totals["owed"],
        open_count=totals["owed_count"],
        overdue_amount=totals["owed"] - current["owed"],
        overdue_count=totals["owed_count"] - current["owed_count"],
        credits=totals["credits"],
    )


def unapplied_cash(*, user: User) -> UnappliedCash:
    """Money received but not applied to an invoice: a credit the customer can still use.
    Voided payments are not money received."""
    payments = QBOPayment.objects.visible_to(user).filter(voided=False)
    row = payments.order_by().aggregate(
        amount=Coalesce(Sum("unapplied_amt"), ZERO, output_field=MONEY),
        count=Count("pk", filter=~Q(unapplied_amt=0)),
    )
    return UnappliedCash(**row)


def failing_syncs(*, user: User) -> int:
    """Live connections that need reconnecting, or whose latest finished sync failed.

    A run still in progress, or one skipped (another sync held the realm's lock), says
    nothing about whether syncing works, so the latest *finished* run decides: a
    connection stays failing while a retry runs, until a run succeeds.
    """
    # The rule is sync's (failing_connections), so the tile counts what the attention
    # list names.
    return failing_connections(user=user).order_by().count()


def conflicts_open(*, user: User) -> int | None:
    """Open SKU-mapping conflicts waiting for an admin's decision; None for anyone else
    (only admins decide them, so only they get the tile)."""
    if not user.is_admin:
        return None
    return open_conflict_count(user=user)


def dashboard_tiles(*, user: User, today: date) -> Tiles:
    return Tiles(
        partners=partners_connected(user=user),
        receivables=receivables(user=user, today=today),
        unapplied=unapplied_cash(user=user),
        failing_syncs=failing_syncs(user=user),
        conflicts_open=conflicts_open(user=user),
        discrepancies_out_of_tolerance=discrepancies_out_of_tolerance(user=user),
        reconciliation=failing_check(user=user),
    )
