"""Where the wine goes, account by account: per partner × SKU over a period, the retail and
on-premise accounts (each partner's QuickBooks customers) that bought it, the new
placements, the accounts lost, how often accounts reorder and which buy the most. Reads
only; the rules are written down once in docs/reports.md, "Accounts and placements".

- An account's bottles of a SKU on a day: its net depletion that day (docs/reports.md,
  "Net depletion"): invoice and sales-receipt lines less credit-memo and refund-receipt
  lines of items mapped to the SKU, voided documents left out.
- A **purchase** is a day on which that is above zero: a day whose returns outweigh its
  sales is not a purchase, nor is a day of nothing but returns.
- **Buying** in the period: net depletion over the whole period above zero.
- **New placement**: buying in the period with no purchase in the ``new_after_months``
  months before the period starts. A company whose books begin inside that window makes
  all its first buyers new: there is nothing earlier to say otherwise.
- **Lost**: the account's last purchase (up to the period's end) is ``lost_after_days``
  days old at some day of the period, so it turned lost in the period: a last purchase
  between start − days and end − days. An account lost earlier is not lost again.
- **Reorder interval**: the account's mean days between purchases over the year ending
  with the period (its first to its last purchase in that year ÷ one less than their
  number); an account with one purchase has none. A partner's is the median of its
  accounts'.

- **Channel**: each account's on-premise / off-premise / other, as docs/reports.md,
  "Channels" decides it (``inventory.channels.selectors.account_channels``); the page can
  keep one channel's accounts, and counts buying, new and lost accounts per channel.

Cost: one SQL statement (the four kinds of line, joined to the SKU mappings, grouped by
account × SKU × day and then by account × SKU in PostgreSQL) returning a row per account
and SKU with any purchase in the window: a few thousand at the ~100,000-invoice scale,
whatever the number of lines; then the channels' four queries, whatever the number of
accounts (none when no account is in the answer). The statement's rows are kept in the
figures cache until a sync or a mapping changes what they read (``_fetch``;
docs/architecture.md, "Cached figures").
"""

from __future__ import annotations

import calendar
import statistics
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import connection as db

from accounts.models import Partner
from billing.models import (
    QBOCreditMemo,
    QBOCreditMemoLine,
    QBOCustomer,
    QBOInvoice,
    QBOInvoiceLine,
    QBORefundReceipt,
    QBORefundReceiptLine,
    QBOSalesReceipt,
    QBOSalesReceiptLine,
)
from common import generations
from inventory.catalog.models import CatalogSKU
from inventory.channels.models import Channel
from inventory.channels.selectors import account_channels
from inventory.mapping.models import SKUMapping
from sync.models import QBOConnection

from . import refresh

if TYPE_CHECKING:
    from django.db.models import Model

    from accounts.models import User

__all__ = [
    "AccountFigures",
    "ChannelCounts",
    "PlacementRules",
    "PlacementRow",
    "Placements",
    "accounts_buying_by_month",
    "channel_counts",
    "months_before",
    "placements",
]

ZERO = Decimal("0")
TENTH = Decimal("0.1")
SALES_ITEM = "SalesItemLineDetail"
# How far back a reorder interval looks, ending with the period.
REORDER_YEAR = timedelta(days=365)
TOP_ACCOUNTS = 5


@dataclass(frozen=True)
class PlacementRules:
    """The two settings the brand chooses (docs/reports.md, "Accounts and placements")."""

    new_after_months: int = 6
    lost_after_days: int = 90

    def __post_init__(self) -> None:
        if not 1 <= self.new_after_months <= 60:
            raise ValueError("new_after_months must be between 1 and 60")
        if not 1 <= self.lost_after_days <= 730:
            raise ValueError("lost_after_days must be between 1 and 730")


@dataclass(frozen=True)
class AccountFigures:
    """One account's figures for one SKU."""

    connection_id: int
    customer_qbo_id: str
    name: str
    net: Decimal  # net bottles over the period
    first_purchase: date | None  # its first purchase in the period
    last_purchase: date | None  # its last purchase up to the period's end
    buying: bool
    new: bool
    lost: bool
    reorder_days: Decimal | None
    channel: Channel = Channel.OTHER  # docs/reports.md, "Channels"

    @property
    def channel_label(self) -> str:
        return Channel(self.channel).label

    @property
    def status(self) -> str:
        """What the period makes of the account, in a word for the page and the export."""
        if self.new:
            return "New"
        if self.buying:
            return "Buying"
        if self.lost:
            return "Lost"
        return "Not buying"


@dataclass(frozen=True)
class ChannelCounts:
    """One channel's share of a set of accounts' figures."""

    channel: Channel
    buying: int
    new: int
    lost: int

    @property
    def label(self) -> str:
        return Channel(self.channel).label


def channel_counts(accounts: list[AccountFigures]) -> list[ChannelCounts]:
    """Accounts buying, new and lost per channel, every channel listed (zeros included) in
    the enum's order."""
    return [
        ChannelCounts(
            channel=channel,
            buying=sum(1 for a in accounts if a.channel == channel and a.buying),
            new=sum(1 for a in accounts if a.channel == channel and a.new),
            lost=sum(1 for a in accounts if a.channel == channel and a.lost),
        )
        for channel in Channel
    ]


@dataclass
class PlacementRow:
    """One partner × SKU: its accounts, and what they add up to."""

    partner_id: int
    partner: str
    sku: str
    wine: str
    accounts: list[AccountFigures] = field(default_factory=list)

    @property
    def buying(self) -> list[AccountFigures]:
        return [a for a in self.accounts if a.buying]

    @property
    def new(self) -> list[AccountFigures]:
        return [a for a in self.accounts if a.new]

    @property
    def lost(self) -> list[AccountFigures]:
        return [a for a in self.accounts if a.lost]

    @property
    def net(self) -> Decimal:
        return sum((a.net for a in self.accounts), ZERO)

    @property
    def reorder_days(self) -> Decimal | None:
        intervals = [a.reorder_days for a in self.accounts if a.reorder_days is not None]
        if not intervals:
            return None
        # To a tenth of a day, as each account's is (the median of an even count halves).
        return statistics.median(intervals).quantize(TENTH)

    @property
    def top(self) -> list[AccountFigures]:
        ranked = sorted(self.buying, key=lambda a: (-a.net, a.name.casefold(), a.customer_qbo_id))
        return ranked[:TOP_ACCOUNTS]

    # Counts and words for the tables and exports.
    @property
    def buying_count(self) -> int:
        return len(self.buying)

    @property
    def new_count(self) -> int:
        return len(self.new)

    @property
    def lost_count(self) -> int:
        return len(self.lost)

    @property
    def top_names(self) -> str:
        return ", ".join(a.name for a in self.top)

    @property
    def by_channel(self) -> list[ChannelCounts]:
        return channel_counts(self.accounts)

    def buying_in(self, channel: Channel) -> int:
        return sum(1 for a in self.accounts if a.channel == channel and a.buying)


@dataclass
class Placements:
    rows: list[PlacementRow]
    start: date
    end: date
    rules: PlacementRules


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (the month's last day where the
    earlier month is shorter: 31 May less 3 months is 28 or 29 February)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


# The sales forms whose lines deplete (+1) or return (-1), with each line's key to its form.
SALES_SOURCES: tuple[tuple[type[Model], type[Model], str, int], ...] = (
    (QBOInvoice, QBOInvoiceLine, "invoice_id", 1),
    (QBOSalesReceipt, QBOSalesReceiptLine, "sales_receipt_id", 1),
    (QBOCreditMemo, QBOCreditMemoLine, "credit_memo_id", -1),
    (QBORefundReceipt, QBORefundReceiptLine, "refund_receipt_id", -1),
)


def _scope(user: User, partner_id: int | None) -> tuple[str, list[Any], list[int]]:
    """The connections ``user`` may see (``partner_id`` narrowing), as SQL of (connection
    id, partner id, partner name) with its parameters, and their ids: the access rule stays
    the queryset's (``visible_to``), and the report is one statement. The SQL names the ids
    themselves, so a cached answer (``_fetch``) is keyed by exactly the companies it read."""
    connections = QBOConnection.objects.visible_to(user)
    if partner_id is not None:
        connections = connections.filter(partner_id=partner_id)
    ids = sorted(connections.values_list("pk", flat=True))
    sql = f"""SELECT c.id, c.partner_id, p.name
                FROM {QBOConnection._meta.db_table} c
                JOIN {Partner._meta.db_table} p ON p.id = c.partner_id
               WHERE c.id = ANY(%s)"""
    return sql, [ids], ids


def _fetch(namespace: str, connection_ids: list[int], sql: str, params: list[Any]) -> list[Any]:
    """The rows of one of this module's statements (``namespace``: ``ACCOUNTS``,
    ``BUYING_BY_MONTH``), from the figures cache when none of what
    it reads has changed since (common.generations): the companies' mirrors, and the catalog,
    mappings and partners (``reference``). At the ~100,000-invoice scale the statement reads
    every sales line of a year, a few hundred milliseconds, and the dashboard, the accounts
    page, its export and an account row's page all ask for it.

    When a sync has changed them, the last rows computed are read for up to
    ``FIGURES_STALE_SECONDS`` while the worker computes the new ones (``refresh.figure``): a
    busy company's webhooks bring a sync every few seconds, and each reader paying for the
    statement after each of them was what kept these pages over a second under load."""
    depends_on = [generations.REFERENCE, *map(generations.mirror, connection_ids)]
    rows: list[Any] = refresh.figure(namespace, (sql, params), depends_on)
    return rows


def _rows(sql: str, params: list[Any]) -> list[Any]:
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        rows: list[Any] = cursor.fetchall()
    return rows


ACCOUNTS = refresh.refreshable("placements.accounts", lambda key: _rows(*key))
BUYING_BY_MONTH = refresh.refreshable("placements.buying_by_month", lambda key: _rows(*key))


def _moves(since: date, end: date, sku: str = "") -> tuple[str, list[Any]]:
    """Every sales-form item line of the scope's companies (``scope``, a CTE) from ``since``
    to ``end``, signed: sold positive, returned negative; only the lines of items mapped to
    ``sku`` when one is given (an account row's page), so the grouping after reads a few
    hundred lines, not the year's every line."""
    mapping, catalog = SKUMapping._meta.db_table, CatalogSKU._meta.db_table
    parts, params = [], []
    for doc, line, key, sign in SALES_SOURCES:
        parts.append(
            f"""SELECT d.connection_id, d.customer_qbo_id, d.txn_date AS day, l.item_qbo_id,
                       {sign} * l.qty AS qty
                  FROM {line._meta.db_table} l JOIN {doc._meta.db_table} d ON d.id = l.{key}
                 WHERE d.connection_id IN (SELECT connection_id FROM scope) AND NOT d.voided
                   AND d.customer_qbo_id <> '' AND l.qty IS NOT NULL
                   AND l.detail_type = %s AND d.txn_date BETWEEN %s AND %s
                   AND (%s = '' OR (d.connection_id, l.item_qbo_id) IN (
                        SELECT s.connection_id, s.item_qbo_id
                          FROM {mapping} s JOIN {catalog} k ON k.id = s.catalog_sku_id
                         WHERE k.code = %s))"""
        )
        params += [SALES_ITEM, since, end, sku, sku]
    return "\nUNION ALL\n".join(parts), params


def _days_sql() -> str:
    """Each account's net bottles of each SKU per day, from ``moves`` (a CTE); the SKU's
    code given as one parameter twice ('' for every SKU)."""
    mapping, catalog = SKUMapping._meta.db_table, CatalogSKU._meta.db_table
    return f"""
        SELECT m.connection_id, m.customer_qbo_id, s.catalog_sku_id, m.day,
               SUM(m.qty * s.bottles_per_unit) AS bottles
          FROM moves m
          JOIN {mapping} s ON s.connection_id = m.connection_id AND s.item_qbo_id = m.item_qbo_id
          JOIN {catalog} k ON k.id = s.catalog_sku_id
         WHERE (%s = '' OR k.code = %s)
         GROUP BY 1, 2, 3, 4"""


def placements(
    *,
    user: User,
    start: date,
    end: date,
    rules: PlacementRules | None = None,
    partner_id: int | None = None,
    sku: str = "",
    channel: str = "",
) -> Placements:
    """Accounts per partner × SKU for ``start``..``end`` (inclusive), for what ``user`` may
    see; ``partner_id``, ``sku`` and ``channel`` (a ``Channel`` value; "" for all) narrow
    within that scope, never widen it. Rows come sorted by partner, then SKU; each row's
    accounts by name. A row none of whose accounts is in ``channel`` is left out."""
    rules = rules or PlacementRules()
    if start > end:
        raise ValueError("start must not be after end")
    result = Placements(rows=[], start=start, end=end, rules=rules)
    lost_after = timedelta(days=rules.lost_after_days)
    new_since = months_before(start, rules.new_after_months)
    year_since = end - REORDER_YEAR
    # The earliest day any figure reads: a lost account's last purchase can be as early
    # as start − days.
    since = min(new_since, year_since, start - lost_after)
    scope_sql, scope_params, scope_ids = _scope(user, partner_id)
    moves_sql, moves_params = _moves(since, end, sku)
    customer, catalog = QBOCustomer._meta.db_table, CatalogSKU._meta.db_table
    sql = f"""
    WITH scope (connection_id, partner_id, partner_name) AS ({scope_sql}),
    moves AS ({moves_sql}),
    days AS ({_days_sql()})
    SELECT g.connection_id, sc.partner_id, sc.partner_name, k.code, k.wine,
           g.customer_qbo_id, c.display_name,
           g.net, g.first_in_period, g.last_purchase, g.before_period,
           g.first_in_year, g.last_in_year, g.in_year
      FROM (
        SELECT connection_id, customer_qbo_id, catalog_sku_id,
               COALESCE(SUM(bottles) FILTER (WHERE day >= %s), 0) AS net,
               MIN(day) FILTER (WHERE bottles > 0 AND day >= %s) AS first_in_period,
               MAX(day) FILTER (WHERE bottles > 0) AS last_purchase,
               COUNT(*) FILTER (WHERE bottles > 0 AND day >= %s AND day < %s) AS before_period,
               MIN(day) FILTER (WHERE bottles > 0 AND day > %s) AS first_in_year,
               MAX(day) FILTER (WHERE bottles > 0 AND day > %s) AS last_in_year,
               COUNT(*) FILTER (WHERE bottles > 0 AND day > %s) AS in_year
          FROM days
         GROUP BY 1, 2, 3
      ) g
      JOIN scope sc ON sc.connection_id = g.connection_id
      JOIN {catalog} k ON k.id = g.catalog_sku_id
      LEFT JOIN {customer} c
        ON c.connection_id = g.connection_id AND c.qbo_id = g.customer_qbo_id
    """
    params = [
        *scope_params, *moves_params, sku, sku,
        start, start, new_since, start, year_since, year_since, year_since,
    ]  # fmt: skip
    rows: dict[tuple[int, str], PlacementRow] = {}
    fetched = _fetch(ACCOUNTS, scope_ids, sql, params)
    # Only the companies in the answer: the scope's CTE already kept them to the user's.
    channels = account_channels(connection_ids={row[0] for row in fetched})
    for (
        conn_id, partner_pk, partner_name, code, wine, customer_id, name, net,
        first_in_period, last_purchase, before_period, first_in_year, last_in_year, in_year,
    ) in fetched:  # fmt: skip
        row = rows.get((partner_pk, code))
        if row is None:
            row = rows[(partner_pk, code)] = PlacementRow(partner_pk, partner_name, code, wine)
        buying = net > 0
        lost = last_purchase is not None and start <= last_purchase + lost_after <= end
        reorder = None
        if in_year >= 2:
            reorder = Decimal((last_in_year - first_in_year).days) / (in_year - 1)
        if not (buying or lost or net or first_in_period or reorder is not None):
            continue  # a purchase only long before: nothing to say of this period
        account_channel = channels.get((conn_id, customer_id), Channel.OTHER)
        if channel and account_channel != channel:
            continue
        row.accounts.append(
            AccountFigures(
                connection_id=conn_id,
                customer_qbo_id=customer_id,
                name=name or customer_id,
                net=Decimal(net),
                first_purchase=first_in_period,
                last_purchase=last_purchase,
                buying=buying,
                new=buying and before_period == 0,
                lost=lost,
                reorder_days=reorder.quantize(TENTH) if reorder is not None else None,
                channel=account_channel,
            )
        )
    for row in rows.values():
        row.accounts.sort(key=lambda a: (a.name.casefold(), a.customer_qbo_id))
    result.rows = sorted(
        (row for row in rows.values() if row.accounts),
        key=lambda r: (r.partner.casefold(), r.partner_id, r.sku),
    )
    return result


def accounts_buying_by_month(
    *, user: User, partner_id: int, sku: str, start: date, end: date
) -> list[tuple[date, int]]:
    """For each month from ``start``'s to ``end``'s: how many of the partner's accounts had
    net depletion of ``sku`` above zero over that month (the month's "accounts buying"),
    zeros included; nothing outside ``user``'s scope."""
    first = start.replace(day=1)
    months = []
    while first <= end:
        months.append(first)
        first = (first + timedelta(days=32)).replace(day=1)
    counts: dict[date, int] = {}
    if months:
        scope_sql, scope_params, scope_ids = _scope(user, partner_id)
        moves_sql, moves_params = _moves(months[0], end, sku)
        sql = f"""
        WITH scope (connection_id, partner_id, partner_name) AS ({scope_sql}),
        moves AS ({moves_sql}),
        days AS ({_days_sql()})
        SELECT month, COUNT(*) FROM (
            SELECT date_trunc('month', day)::date AS month, connection_id, customer_qbo_id
              FROM days
             GROUP BY 1, 2, 3
            HAVING SUM(bottles) > 0
        ) buying
        GROUP BY month
        """
        params = [*scope_params, *moves_params, sku, sku]
        counts = dict(_fetch(BUYING_BY_MONTH, scope_ids, sql, params))
    return [(month, counts.get(month, 0)) for month in months]
