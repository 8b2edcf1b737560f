"""What the books say a program owes: each account's net bottles of each SKU per month,
and the allowance they earn (docs/reports.md, "Depletion allowances").

- **Qualifying bottles** of an account, SKU and month: its net depletion ("Net depletion":
  invoice and sales-receipt lines less credit-memo and refund-receipt lines, voided
  documents left out) of one of the program's SKUs, dated within the program's period, for
  an account of one of its partners in its channel (every channel when it names none). An
  account whose returns outweigh its purchases of a SKU in a month qualifies for none of it,
  not for less than none: an allowance is never clawed back.
- **Units**: bottles, or 9-litre cases (bottles × the SKU's bottle size ÷ 9,000 ml; twelve
  750 ml bottles are one).
- **Due** per account and month: its qualifying volume in the program's unit × the rate,
  rounded once to the cent, and no more than the program's cap per account and month.

Cost: one SQL statement over the lines of the program's period, grouped in PostgreSQL by
account × SKU × month (a few thousand rows at the ~100,000-invoice scale), plus the channel
of every account when the program names one (inventory.channels.selectors).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection as db

from inventory.catalog.models import CatalogSKU
from inventory.channels.models import Channel
from inventory.channels.selectors import account_channels
from inventory.mapping.models import SKUMapping
from inventory.reports.placements import SALES_ITEM, SALES_SOURCES

from .models import CENT, AllowanceProgram

ZERO = Decimal("0")
NINE_LITRES_ML = Decimal(9000)
UNITS_PLACES = Decimal("0.0001")

# (connection id, customer's QBO id, SKU id, month's first day)
Key = tuple[int, str, int, date]


def month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def net_bottles(
    *, connection_ids: Sequence[int], start: date, end: date, sku_ids: Iterable[int] | None = None
) -> dict[Key, Decimal]:
    """Each account's net bottles of each SKU per month, from ``start`` to ``end``
    (inclusive), for the given connections; negative where returns outweigh sales."""
    if not connection_ids or start > end:
        return {}
    skus = sorted(set(sku_ids)) if sku_ids is not None else None
    if skus is not None and not skus:
        return {}
    parts: list[str] = []
    params: list[Any] = []
    for doc, line, key, sign in SALES_SOURCES:
        parts.append(
            f"""SELECT d.connection_id, d.customer_qbo_id, d.txn_date, l.item_qbo_id,
                       {sign} * l.qty AS qty
                  FROM {line._meta.db_table} l JOIN {doc._meta.db_table} d ON d.id = l.{key}
                 WHERE d.connection_id = ANY(%s) AND NOT d.voided AND d.customer_qbo_id <> ''
                   AND l.qty IS NOT NULL AND l.detail_type = %s
                   AND d.txn_date BETWEEN %s AND %s"""
        )
        params += [list(connection_ids), SALES_ITEM, start, end]
    sku_filter = "AND s.catalog_sku_id = ANY(%s)" if skus is not None else ""
    sql = f"""
        SELECT m.connection_id, m.customer_qbo_id, s.catalog_sku_id,
               date_trunc('month', m.txn_date)::date, SUM(m.qty * s.bottles_per_unit)
          FROM ({" UNION ALL ".join(parts)}) m
          JOIN {SKUMapping._meta.db_table} s
            ON s.connection_id = m.connection_id AND s.item_qbo_id = m.item_qbo_id
         WHERE TRUE {sku_filter}
         GROUP BY 1, 2, 3, 4"""
    if skus is not None:
        params.append(skus)
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return {(c, cust, s, m): Decimal(b) for c, cust, s, m, b in cursor.fetchall()}


def units_of(bottles: Decimal, sku_format_ml: int, unit: str) -> Decimal:
    """Bottles in the program's unit."""
    if unit == AllowanceProgram.Unit.BOTTLE:
        return bottles
    return (bottles * sku_format_ml / NINE_LITRES_ML).quantize(UNITS_PLACES, ROUND_HALF_UP)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


@dataclass
class AccountMonth:
    """One account's qualifying depletion and allowance in one month of a program."""

    connection_id: int
    customer_qbo_id: str
    month: date
    bottles: dict[int, Decimal] = field(default_factory=dict)  # per SKU id, each above zero
    units: Decimal = ZERO
    earned: Decimal = ZERO  # units × rate, before the cap
    due: Decimal = ZERO

    @property
    def capped(self) -> bool:
        return self.due < self.earned


@dataclass(frozen=True)
class ProgramTerms:
    """What of a program the computation reads, loaded once."""

    program: AllowanceProgram
    sku_formats: dict[int, int]  # SKU id → bottle size in ml
    partner_ids: frozenset[int]

    @classmethod
    def of(cls, program: AllowanceProgram) -> ProgramTerms:
        formats = dict(
            CatalogSKU.objects.filter(allowance_programs=program).values_list("pk", "format_ml")
        )
        partners = frozenset(program.partners.values_list("pk", flat=True))
        return cls(program=program, sku_formats=formats, partner_ids=partners)

    def window(self, start: date, end: date) -> tuple[date, date]:
        """``start``..``end`` clipped to the program's period."""
        return max(start, self.program.start), min(end, self.program.end)

    def channel_ok(self, channel: Channel | str | None) -> bool:
        return not self.program.channel or channel == self.program.channel

    def allowance(self, bottles: dict[int, Decimal]) -> Decimal:
        """What bottles of the program's SKUs (by SKU id) earn at its rate, to the cent:
        rounded once, from the exact volume, so a month's allowance does not depend on
        how its bottles were split between SKUs or lines."""
        program = self.program
        if program.unit == AllowanceProgram.Unit.BOTTLE:
            return money(sum(bottles.values(), ZERO) * program.rate)
        millilitres = sum((b * self.sku_formats[s] for s, b in bottles.items()), ZERO)
        return money(millilitres * program.rate / NINE_LITRES_ML)

    def capped(self, amount: Decimal) -> Decimal:
        cap = self.program.account_cap
        return amount if cap is None else min(amount, cap)


def qualifying(
    terms: ProgramTerms,
    *,
    connection_ids: Sequence[int],
    start: date | None = None,
    end: date | None = None,
) -> dict[tuple[int, str, date], AccountMonth]:
    """Every account-month of the program with qualifying depletion, within ``start``..
    ``end`` (default: the whole period), for the given connections (of the program's
    partners; the caller scopes them to the reader)."""
    program = terms.program
    lo, hi = terms.window(start or program.start, end or program.end)
    found = net_bottles(
        connection_ids=connection_ids, start=lo, end=hi, sku_ids=terms.sku_formats.keys()
    )
    channels: dict[tuple[int, str], Any] = {}
    if program.channel and found:
        channels = account_channels(connection_ids={k[0] for k in found})
    months: dict[tuple[int, str, date], AccountMonth] = {}
    for (conn, customer, sku, month), bottles in found.items():
        if bottles <= 0 or not terms.channel_ok(channels.get((conn, customer), Channel.OTHER)):
            continue
        key = (conn, customer, month)
        entry = months.get(key)
        if entry is None:
            entry = months[key] = AccountMonth(conn, customer, month)
        entry.bottles[sku] = bottles
    for entry in months.values():
        entry.units = sum(
            (units_of(b, terms.sku_formats[s], program.unit) for s, b in entry.bottles.items()),
            ZERO,
        )
        entry.earned = terms.allowance(entry.bottles)
        entry.due = terms.capped(entry.earned)
    return months
