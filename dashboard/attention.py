"""What needs someone's attention, for the dashboard: the most overdue customers, the
largest stock discrepancies by value, the accounts lost this month, failing syncs and
reconciliation breaks, each a short list whose rows link to the page that shows them
filtered.

A constant number of queries whatever the books hold: each list is cut to its length in
PostgreSQL (tests/dashboard/test_attention.py counts them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.urls import reverse

from billing.selectors import most_overdue_customers
from inventory.reports.selectors import largest_discrepancies_by_value
from reconciliation.selectors import failing_connections as reconciliation_breaks
from sync.models import QBOConnection
from sync.selectors import failing_connections as failing_syncs

if TYPE_CHECKING:
    from collections.abc import Iterable

    from accounts.models import User

    from .selectors import LostAccount

# Each list's length: enough to act on today, short enough to read at a glance.
LIST_LENGTH = 5


@dataclass(frozen=True)
class Line:
    """One row of the attention list: what it is about, the figure that puts it there,
    and where to go to deal with it."""

    label: str  # "Château d'Yquem Wine Bar"
    context: str  # the partner, and anything that places the row ("since 3 Dec")
    figure: str  # "$1,200.00 overdue, 94 days"
    url: str
    # An amount to format in the template (money), when the figure is one.
    amount: Decimal | None = None


@dataclass(frozen=True)
class Attention:
    overdue_customers: list[Line]
    discrepancies: list[Line]
    failing_syncs: list[Line]
    reconciliation_breaks: list[Line]
    lost_accounts: list[Line] = field(default_factory=list)

    @property
    def sections(self) -> list[tuple[str, list[Line], str, str]]:
        """(title, lines, the whole list's page, that link's text), in the order a person
        deals with them: money first, then stock, then whatever stops the figures being
        right."""
        return [
            ("Most overdue accounts", self.overdue_customers,
             reverse("billing:receivables"), "All receivables by customer"),
            ("Largest discrepancies by value", self.discrepancies,
             reverse("inventory:discrepancies"), "All discrepancies"),
            ("Lost accounts this month", self.lost_accounts,
             reverse("inventory:placements"), "All accounts and placements"),
            ("Failing syncs", self.failing_syncs,
             reverse("sync:connections"), "All connections"),
            ("Reconciliation breaks", self.reconciliation_breaks,
             reverse("reconciliation:index"), "All reconciliation checks"),
        ]  # fmt: skip

    @property
    def empty(self) -> bool:
        return not (
            self.overdue_customers
            or self.discrepancies
            or self.lost_accounts
            or self.failing_syncs
            or self.reconciliation_breaks
        )


def _since(moment: datetime | None) -> str:
    return f"since {moment:%-d %b}" if moment else "never synced"


def attention(*, user: User, today: date, lost: Iterable[LostAccount] = ()) -> Attention:
    """The lists; ``lost``: the accounts lost this month that the dashboard's tile already
    read (dashboard.selectors.placement_counts), most recent first."""
    overdue = [
        Line(
            label=row.customer_name,
            context=row.partner,
            figure=f"{row.invoices} invoice{'s' if row.invoices != 1 else ''}, "
            f"oldest {row.oldest_days} day{'s' if row.oldest_days != 1 else ''} past due",
            amount=row.overdue,
            url=reverse(
                "billing:receivables_customer",
                kwargs={"connection_id": row.connection_id, "customer_qbo_id": row.customer_qbo_id},
            ),
        )
        for row in most_overdue_customers(user=user, today=today, limit=LIST_LENGTH)
    ]
    discrepancies = [
        Line(
            label=row.sku,
            context=row.partner,
            figure=f"{row.difference:+,} bottles".replace("-", "\u2212"),
            amount=row.value,
            url=row.url,
        )
        for row in largest_discrepancies_by_value(user=user, limit=LIST_LENGTH)
    ]
    syncs = [
        Line(
            label=connection.partner.name,
            context=connection.company_name,
            figure="needs reconnecting"
            if connection.status == QBOConnection.Status.NEEDS_RECONNECT
            else f"last sync failed, {_since(connection.latest_finished_at)}",  # type: ignore[attr-defined]
            url=reverse("sync:connection", args=[connection.pk]),
        )
        for connection in failing_syncs(user=user)[:LIST_LENGTH]
    ]
    breaks = [
        Line(
            label=row.partner,
            context="Reconciliation with QuickBooks' reports",
            figure=f"{row.differences} difference{'s' if row.differences != 1 else ''}",
            url=reverse("reconciliation:connection", args=[row.connection_id]),
        )
        for row in reconciliation_breaks(user=user, limit=LIST_LENGTH)
    ]
    lost_accounts = [
        Line(
            label=row.account.name,
            context=f"{row.partner} · {row.sku}",
            figure=f"last bought {row.account.last_purchase:%-d %b %Y}"
            + (
                f", usually every {row.account.reorder_days:,} days"
                if row.account.reorder_days is not None
                else ""
            ),
            url=reverse("inventory:placements_row", args=[row.partner_id, row.sku]),
        )
        for row in lost
    ]
    return Attention(
        lost_accounts=lost_accounts,
        overdue_customers=overdue,
        discrepancies=discrepancies,
        failing_syncs=syncs,
        reconciliation_breaks=breaks,
    )
