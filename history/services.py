"""Writes of the daily history: a day's snapshot, and the backfill of past days
(docs/reports.md, "Daily history").

A day is written whole, in one transaction: its rows are deleted and written again, so
running a day twice (the job retried, an admin re-running today, a backfill over days the
job already took) leaves exactly the rows of the last run.

What each figure is comes from the app that owns it, never from a rule written here:
receivables, credits and credit sales from ``billing.selectors``; stock on hand from the
stock ledger (``inventory.reports.stock_ledger``: QuickBooks' quantity on a day); net
depletion from the depletion report (``inventory.reports.selectors``). Every read is a
handful of aggregate queries whatever the size of the books, so a day takes seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from accounts.models import Partner, User
from accounts.roles import Role
from billing.selectors import (
    BUCKET_KEYS,
    DSO_DAYS,
    PartnerReceivables,
    credit_sales_by_partner_all,
    payments_by_partner_all,
    receivables_by_partner_all,
    receivables_by_partner_on,
)
from inventory.catalog.models import CatalogSKU
from inventory.reports.selectors import DEFAULT_WINDOW, depletion_report
from inventory.reports.stock_ledger import stock_ledger
from sync.models import SyncRun

from .models import BUCKET_FIELDS, PartnerDay, StockDay

ZERO = Decimal("0.00")
# Net depletion is kept over the depletion page's default window, four whole weeks.
DEPLETION_DAYS = DEFAULT_WINDOW
# The furthest back the backfill goes in one run: a year is what the documents of a
# company's mirror can be trusted to hold (older ones may have been archived).
BACKFILL_MAX_DAYS = 366

MONEY_FIELDS = (
    *BUCKET_FIELDS.values(), "owed", "overdue", "credits", "unapplied", "cash_received",
    "credit_sales",
)  # fmt: skip


def _every_partner() -> User:
    # The inventory reports read what a user may see (``visible_to(user)``). The job runs
    # for nobody and must read every partner: an unsaved staff user is exactly that scope
    # (staff see every partner and change nothing), without a second, unscoped copy of
    # each report.
    return User(role=Role.STAFF, email="history-job@unefemme.invalid")


@dataclass(frozen=True)
class DayResult:
    day: date
    partners: int  # partner rows written (the total row not counted)
    stock_rows: int


def _money(receivables: PartnerReceivables | None) -> dict[str, Decimal]:
    figures = dict.fromkeys(MONEY_FIELDS, ZERO)
    if receivables is not None:
        for key in BUCKET_KEYS:
            figures[BUCKET_FIELDS[key]] = receivables.by_bucket[key]
        figures["owed"] = receivables.owed
        figures["overdue"] = receivables.overdue
        figures["credits"] = receivables.credits
    return figures


def _partner_days(day: date, *, from_documents: bool) -> list[dict[str, Decimal | int | None]]:
    if from_documents:
        receivables = receivables_by_partner_on(day=day)
    else:
        receivables = receivables_by_partner_all(today=day)
    payments = payments_by_partner_all(day=day)
    sales = credit_sales_by_partner_all(start=day - timedelta(days=DSO_DAYS - 1), end=day)
    rows: list[dict[str, Decimal | int | None]] = []
    total = dict.fromkeys(MONEY_FIELDS, ZERO)
    # Every partner has a row each day, zeros included: a series with a hole reads as
    # missing data, where a zero is a figure.
    for partner_id in Partner.objects.order_by("pk").values_list("pk", flat=True):
        figures = _money(receivables.get(partner_id))
        paid = payments.get(partner_id)
        if paid is not None:
            figures["unapplied"] = paid.unapplied
            figures["cash_received"] = paid.received
        figures["credit_sales"] = sales.get(partner_id, ZERO)
        for name in MONEY_FIELDS:
            total[name] += figures[name]
        rows.append({"partner_id": partner_id, **figures})
    rows.append({"partner_id": None, **total})
    return rows


def _stock_days(day: date) -> list[dict[str, Decimal | int]]:
    reader = _every_partner()
    # Start and end on the day: the ledger's expected closing is QuickBooks' quantity at
    # the end of it (QtyOnHand now less the movements dated after it).
    ledger = stock_ledger(user=reader, start=day, end=day)
    depletion = depletion_report(user=reader, today=day, window_days=DEPLETION_DAYS)
    figures: dict[tuple[int, str], dict[str, Decimal]] = {}
    for row in ledger.rows:
        figures.setdefault((row.partner_id, row.sku), {})["on_hand"] = row.closing
    for depleted in depletion.rows:
        key = (depleted.partner_id, depleted.sku)
        figures.setdefault(key, {})["depletion"] = depleted.net_depletion
    sku_ids = dict(
        CatalogSKU.objects.filter(code__in={code for _, code in figures}).values_list("code", "pk")
    )
    return [
        {
            "partner_id": partner_id,
            "sku_id": sku_ids[code],
            "on_hand": values.get("on_hand", ZERO),
            "depletion": values.get("depletion", ZERO),
        }
        for (partner_id, code), values in sorted(figures.items())
        if code in sku_ids
    ]


@transaction.atomic
def snapshot_day(day: date, *, from_documents: bool = False) -> DayResult:
    """Take ``day``'s snapshot, replacing whatever rows the day had.

    By default receivables are the mirror's balances as they are now, which is what they
    were at the end of ``day`` when ``day`` has just ended (the nightly job). With
    ``from_documents`` they are rebuilt from the documents dated on or before ``day``
    (``billing.selectors.receivables_by_partner_on``), which is what the backfill needs
    for days long past. Stock on hand, depletion, cash and credit sales are read from
    dated documents either way."""
    partner_rows = _partner_days(day, from_documents=from_documents)
    stock_rows = _stock_days(day)
    taken_at = timezone.now()
    PartnerDay.objects.filter(day=day).delete()
    StockDay.objects.filter(day=day).delete()
    PartnerDay.objects.bulk_create(
        PartnerDay(day=day, taken_at=taken_at, **row) for row in partner_rows
    )
    StockDay.objects.bulk_create(StockDay(day=day, taken_at=taken_at, **row) for row in stock_rows)
    return DayResult(day=day, partners=len(partner_rows) - 1, stock_rows=len(stock_rows))


def last_finished_day() -> date:
    """The business day that ended last (in TIME_ZONE): the nightly job's day."""
    return timezone.localdate() - timedelta(days=1)


def history_backfill(
    *, start: date, end: date, progress: Callable[[DayResult], None] | None = None
) -> list[DayResult]:
    """Rebuild every day from ``start`` to ``end`` (both included) from the documents,
    oldest first, each day in its own transaction: an interrupted backfill keeps the days
    it finished, and running it again redoes them harmlessly."""
    if start > end:
        raise ValueError("The first day is after the last.")
    if (end - start).days + 1 > BACKFILL_MAX_DAYS:
        raise ValueError(f"At most {BACKFILL_MAX_DAYS} days at a time.")
    results = []
    day = start
    while day <= end:
        result = snapshot_day(day, from_documents=True)
        results.append(result)
        if progress is not None:
            progress(result)
        day += timedelta(days=1)
    return results


# How far back the catch-up rebuilds: the trends page's 13 weeks.
CATCH_UP_DAYS = 91


def history_catch_up(*, today: date) -> list[DayResult]:
    """Rebuild the last ``CATCH_UP_DAYS`` days (from the documents) when the history does
    not hold them as the books now stand, and nothing otherwise; then today's snapshot.

    Two cases make the history stale: a day of the window has no snapshot (beat was down
    that night, or the history is new), or a company finished an import after the
    window's oldest snapshot was taken, so the days before it counted that partner as
    having no books. The first import of a newly connected partner is the common case:
    its trends fill in minutes after it connects instead of one point a night. A rebuild
    takes each day's rows again, so the next check finds them newer than every import
    and does nothing: two aggregate queries.
    """
    start = today - timedelta(days=CATCH_UP_DAYS)
    window = PartnerDay.objects.filter(partner__isnull=True, day__gte=start, day__lt=today)
    found = window.aggregate(days=Count("day", distinct=True), oldest=Min("taken_at"))
    last_import = SyncRun.objects.filter(
        kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.SUCCEEDED
    ).aggregate(at=Max("finished_at"))["at"]
    stale = found["days"] < CATCH_UP_DAYS or (
        last_import is not None and found["oldest"] is not None and last_import > found["oldest"]
    )
    if not stale:
        return []
    results = history_backfill(start=start, end=today - timedelta(days=1))
    results.append(snapshot_day(today))
    return results
