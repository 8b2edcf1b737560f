"""Reconciliation: the mirror against QuickBooks' own reports, per connection.

A run asks QuickBooks for two reports as of one date, AgedReceivables and
InventoryValuationSummary, and compares them with what the mirror says as of the same
date: each customer's aging (billing.selectors, per bucket and in total, to the cent) and
each inventory item's quantity on hand (to the unit). Every figure that disagrees is a
``Difference``; one that persists keeps its ``first_seen``, one that agrees again is
deleted. A run that cannot fetch a report fails and leaves the earlier differences as they
were: "we could not look" is not "they agree".

Which date. Our aging counts days overdue to "today" and QuickBooks ages its report to its
``report_date``, so both must be the same day. We send ``report_date`` explicitly, the
date in ``settings.TIME_ZONE`` (Une Femme's and its distributors' zone; the mirror stores
no company's own zone), and ``aging_method=Report_Date``, so QuickBooks ages to that date
whatever its own default (Intuit documents Report_Date and Current; which is the default
is not documented clearly enough to rely on). Sending the date, rather than reading the
report's EndPeriod, also keeps the two reports on the same day if a run straddles
midnight.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing.selectors import BUCKET_KEYS, aging_by_customer_for_connection
from common.publish import publish_quietly
from inventory.mapping.models import QBOItem
from sync import locks
from sync.clients import qbo
from sync.models import QBOConnection
from sync.tokens import ConnectionTokens

from .models import STALE_AFTER, Difference, ReconciliationRun

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
ZERO = Decimal("0")
# Our buckets, then the customer's total, in the report's column order.
RECEIVABLE_SLOTS = (*BUCKET_KEYS, "total")
# AgedReceivables' columns with aging_period 30 and num_periods 4 (Intuit's defaults, which
# we also send): the name, Current, three periods, "91 and over", Total.
AGING_COLUMNS = ["", "Current", "1 - 30", "31 - 60", "61 - 90", "91 and over", "Total"]
AGING_PARAMS = {"aging_method": "Report_Date", "aging_period": "30", "num_periods": "4"}

# How long a run may hold its connection's lock: well over two report requests, each of
# which may wait for the limiter and retry (QBO_LIMITER_WAIT, QBO_CALL_DEADLINE).
LOCK_TTL_MS = 20 * 60 * 1000

RECONNECT_MESSAGE = (
    "The QuickBooks connection needs reconnecting, so its reports could not be fetched. "
    "The differences below are from the last run that could compare."
)
UNAVAILABLE_MESSAGE = (
    "QuickBooks was busy or could not be reached, so its reports could not be fetched. "
    "The differences below are from the last run that could compare; the next run tries "
    "again."
)
REFUSED_MESSAGE = (
    "QuickBooks refused a report request. The differences below are from the last run "
    "that could compare; quote the reference if you contact Une Femme."
)
SKIPPED_MESSAGE = "Another reconciliation of this company was running; its result stands."
INTERRUPTED_MESSAGE = "Interrupted before it finished (the worker stopped)."


class ReportUnreadable(Exception):
    """A report came back in a shape we cannot compare (other columns, an unreadable
    figure): better a failed run than differences that are not there."""


def company_today() -> date:
    """The report date: today in ``settings.TIME_ZONE`` (see the module's docstring),
    whatever zone a request has activated."""
    return timezone.localdate(timezone=ZoneInfo(settings.TIME_ZONE))


# The first key of reconciliation's PostgreSQL advisory locks (the second is the
# connection's id): "RC" in ASCII, so that no other lock of ours takes the same pair.
_ADVISORY_CLASS = 0x5243


def _lock_key(connection_id: int) -> str:
    return f"{locks.KEY_PREFIX}:reconcile-lock:{connection_id}"


# ---------------------------------------------------------------- asking for runs


def reconciliation_request(*, connection: QBOConnection, user: User) -> ReconciliationRun:
    """Someone pressed "Run now": the run that will answer them, queued and published on
    commit. A run already waiting or running for the connection is returned instead of a
    second one (pressing twice starts one run)."""
    if connection.status != QBOConnection.Status.CONNECTED:
        raise ValidationError(
            "Only a connected QuickBooks company can be reconciled. Reconnect it first."
        )
    with transaction.atomic():
        # Serialises two presses on the same connection: the second sees the first's run.
        # An advisory lock rather than the connection's row: the sync holds that row FOR
        # SHARE in every transaction it writes (sync.locks.RealmLease.check_fence).
        with db_connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_ADVISORY_CLASS, connection.pk])
        pending: ReconciliationRun | None = (
            ReconciliationRun.objects.filter(
                connection=connection,
                status__in=[ReconciliationRun.Status.QUEUED, ReconciliationRun.Status.RUNNING],
                # An older one was lost (ReconciliationRun.is_stale): make a fresh one.
                created_at__gte=timezone.now() - STALE_AFTER,
            )
            .order_by("-created_at")
            .first()
        )
        if pending is not None:
            return pending
        run = ReconciliationRun.objects.create(
            connection=connection, trigger="manual", requested_by=user
        )
        _enqueue(connection.pk, run.pk, "manual", quietly=True)
    return run


def reconciliation_schedule() -> list[int]:
    """Beat's nightly run: one reconciliation per live connection, enqueued on commit.
    A connection that needs reconnecting is run too: its run fails and says so."""
    ids = list(QBOConnection.objects.live().order_by("pk").values_list("pk", flat=True))
    for connection_id in ids:
        _enqueue(connection_id, None, "schedule", quietly=False)
    return ids


def _enqueue(connection_id: int, run_id: int | None, trigger: str, *, quietly: bool) -> None:
    from . import tasks  # tasks import this module

    if quietly:
        # From a request: a broker outage must not turn the press into a 500. The run
        # stays queued; once it is stale a new press makes a fresh one.
        transaction.on_commit(
            lambda: publish_quietly(tasks.reconciliation_run, connection_id, run_id, trigger)
        )
    else:
        transaction.on_commit(
            lambda: tasks.reconciliation_run.delay(connection_id, run_id, trigger)
        )


# ---------------------------------------------------------------- one run


@dataclass(frozen=True)
class _Figure:
    name: str
    ours: Decimal
    theirs: Decimal


_Key = tuple[str, str, str]  # kind, qbo_id, bucket


def reconciliation_run(
    *, connection_id: int, run_id: int | None = None, trigger: str = "schedule"
) -> ReconciliationRun | None:
    """The task's body: fetch both reports, compare, record the run and its differences.

    ``run_id`` is the queued run a person asked for; without it a run is made here (the
    nightly schedule). One run per connection at a time (a Redis lease): a second one is
    recorded as skipped rather than interleaving its writes with the first's.
    """
    connection = QBOConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return None
    if run_id is not None:
        run = ReconciliationRun.objects.filter(pk=run_id, connection=connection).first()
        if run is None or run.status != ReconciliationRun.Status.QUEUED:
            return run  # delivered twice, or already ended: nothing to do
    else:
        run = ReconciliationRun.objects.create(connection=connection, trigger=trigger[:20])
    lease = locks.lease_acquire(_lock_key(connection_id), ttl_ms=LOCK_TTL_MS)
    if lease is None:
        _end(run, ReconciliationRun.Status.SKIPPED, SKIPPED_MESSAGE)
        return run
    try:
        return _run_locked(connection, run, lease)
    finally:
        lease.release()


def _run_locked(
    connection: QBOConnection, run: ReconciliationRun, lease: locks.Lease
) -> ReconciliationRun:
    now = timezone.now()
    # We hold the connection's lock, so any other run still marked running was cut short.
    ReconciliationRun.objects.filter(
        connection=connection, status=ReconciliationRun.Status.RUNNING
    ).exclude(pk=run.pk).update(
        status=ReconciliationRun.Status.FAILED, finished_at=now, error=INTERRUPTED_MESSAGE
    )
    report_date = company_today()
    run.status = ReconciliationRun.Status.RUNNING
    run.started_at = now
    run.report_date = report_date
    run.save(update_fields=["status", "started_at", "report_date"])
    meter = qbo.Meter()
    try:
        _compare_and_record(connection, run, lease, report_date, meter)
    except qbo.QBOError as exc:
        run.api_requests = meter.requests
        _end(run, ReconciliationRun.Status.FAILED, _describe(exc), exc.intuit_tid or "")
        logger.warning(
            "reconciliation of realm %s failed: %s", connection.realm_id, type(exc).__name__
        )
    except ReportUnreadable as exc:
        run.api_requests = meter.requests
        _end(run, ReconciliationRun.Status.FAILED, str(exc))
    except locks.LeaseLost:
        # Paused past the lease: a newer run may hold the connection now; its result stands.
        run.api_requests = meter.requests
        _end(run, ReconciliationRun.Status.FAILED, INTERRUPTED_MESSAGE)
    except Exception:
        # Recorded, then raised for the worker's log: a run must never stay "running".
        run.api_requests = meter.requests
        _end(run, ReconciliationRun.Status.FAILED, "An unexpected error stopped this run.")
        raise
    return run


def _compare_and_record(
    connection: QBOConnection,
    run: ReconciliationRun,
    lease: locks.Lease,
    report_date: date,
    meter: qbo.Meter,
) -> None:
    """Fetch, compare, and write the differences and the finished run in one transaction;
    anything that fails before the write leaves the earlier differences as they were."""
    client = qbo.QBOClient(
        realm_id=connection.realm_id, tokens=ConnectionTokens(connection.pk), meter=meter
    )
    day = {"report_date": report_date.isoformat()}
    theirs_receivable = _their_receivables(
        client.report("AgedReceivables", {**day, **AGING_PARAMS})
    )
    theirs_stock = _their_stock(client.report("InventoryValuationSummary", day))
    run.api_requests = meter.requests
    # Our side is read after QuickBooks answered, so the mirror is as fresh as it can be.
    # A sync writing meanwhile can make a figure differ for one run; that is why only a
    # difference that outlasts a sync interval fails the check (selectors.failing_check).
    ours_receivable = _our_receivables(connection.pk, report_date)
    ours_stock = _our_stock(connection.pk)
    found: dict[_Key, _Figure] = {}
    found.update(_compare(Difference.Kind.RECEIVABLES, ours_receivable, theirs_receivable))
    found.update(_compare(Difference.Kind.STOCK, ours_stock, theirs_stock))
    with transaction.atomic():
        # A run that outlived its lease must not write over its successor's result.
        lease.renew()
        _differences_write(connection, run, found)
        run.customers_compared = len(
            {k[0] for k in ours_receivable} | {k[0] for k in theirs_receivable}
        )
        run.items_compared = len({k[0] for k in ours_stock} | {k[0] for k in theirs_stock})
        run.differences = len(found)
        _end(run, ReconciliationRun.Status.SUCCEEDED, "")


def _end(run: ReconciliationRun, status: str, error: str, tid: str = "") -> None:
    run.status = status
    run.finished_at = timezone.now()
    run.error = error
    run.error_tid = tid
    run.save()


def _describe(exc: qbo.QBOError) -> str:
    if isinstance(exc, qbo.ReconnectRequired):
        return RECONNECT_MESSAGE
    if exc.transient or exc.status == 429:
        return UNAVAILABLE_MESSAGE
    detail = ", ".join(
        part
        for part in (
            f"status {exc.status}" if exc.status else "",
            f"code {exc.code}" if exc.code else "",
        )
        if part
    )
    return f"{REFUSED_MESSAGE} ({detail})" if detail else REFUSED_MESSAGE


def _differences_write(
    connection: QBOConnection, run: ReconciliationRun, found: dict[_Key, _Figure]
) -> None:
    """Keep the differences that persist (their first_seen with them), add the new ones,
    delete the ones that agree again."""
    now = timezone.now()
    existing = {
        (d.kind, d.qbo_id, d.bucket): d
        for d in Difference.objects.select_for_update().filter(connection=connection)
    }
    gone = [d.pk for key, d in existing.items() if key not in found]
    Difference.objects.filter(pk__in=gone).delete()
    kept: list[Difference] = []
    new: list[Difference] = []
    for key, figure in found.items():
        difference = existing.get(key)
        if difference is None:
            kind, qbo_id, bucket = key
            new.append(
                Difference(
                    connection=connection, kind=kind, qbo_id=qbo_id, bucket=bucket,
                    name=figure.name[:255], ours=figure.ours, theirs=figure.theirs,
                    first_seen=now, last_run=run,
                )
            )  # fmt: skip
        else:
            difference.name = figure.name[:255]
            difference.ours = figure.ours
            difference.theirs = figure.theirs
            difference.last_run = run
            kept.append(difference)
    Difference.objects.bulk_update(kept, ["name", "ours", "theirs", "last_run"], batch_size=500)
    Difference.objects.bulk_create(new, batch_size=500)


def _compare(
    kind: str,
    ours: dict[tuple[str, str], tuple[str, Decimal]],
    theirs: dict[tuple[str, str], tuple[str, Decimal]],
) -> dict[_Key, _Figure]:
    """Every (id, bucket) where the two disagree; one side's missing figure is zero."""
    found: dict[_Key, _Figure] = {}
    for key in ours.keys() | theirs.keys():
        our_name, our_value = ours.get(key, ("", ZERO))
        their_name, their_value = theirs.get(key, ("", ZERO))
        if our_value != their_value:
            qbo_id, bucket = key
            found[(kind, qbo_id, bucket)] = _Figure(
                name=our_name or their_name, ours=our_value, theirs=their_value
            )
    return found


# ---------------------------------------------------------------- the two sides


def _our_receivables(connection_id: int, today: date) -> dict[tuple[str, str], tuple[str, Decimal]]:
    """Per (customer id, bucket or "total"): the name and our net open amount.

    A customer billed in two currencies has two aging rows and one report row, so they
    are added here. That only agrees when the company has one currency: QuickBooks prints
    a multicurrency company's aging in its home currency, and the mirror keeps each
    document's own amounts, so such a company's foreign-currency customers will show as
    differences (none of our partners uses multicurrency today)."""
    figures: dict[tuple[str, str], tuple[str, Decimal]] = {}
    aging = aging_by_customer_for_connection(connection_id=connection_id, today=today)
    for row in aging.rows:
        for slot in RECEIVABLE_SLOTS:
            key = (row["customer_qbo_id"], slot)
            _, before = figures.get(key, ("", ZERO))
            figures[key] = (row["customer_name"], before + row[slot])
    return figures


def _their_receivables(report: qbo.Report) -> dict[tuple[str, str], tuple[str, Decimal]]:
    if report.columns != AGING_COLUMNS:
        raise ReportUnreadable(
            "QuickBooks' AgedReceivables came back with the columns "
            f"{', '.join(repr(c) for c in report.columns)}; we compare only "
            f"{', '.join(repr(c) for c in AGING_COLUMNS)}."
        )
    figures: dict[tuple[str, str], tuple[str, Decimal]] = {}
    for row in report.rows:
        if len(row.cells) != len(RECEIVABLE_SLOTS):
            raise ReportUnreadable(f"AgedReceivables' row for {row.name!r} has the wrong width.")
        for slot, cell in zip(RECEIVABLE_SLOTS, row.cells, strict=True):
            # The report leaves a customer's empty periods blank.
            figures[(row.id, slot)] = (row.name, _number(cell, row.name).quantize(CENT))
    return figures


def _our_stock(connection_id: int) -> dict[tuple[str, str], tuple[str, Decimal]]:
    items = QBOItem.objects.filter(connection_id=connection_id, item_type="Inventory")
    return {
        (qbo_id, ""): (name, qty or ZERO)
        for qbo_id, name, qty in items.values_list("qbo_id", "name", "qty_on_hand")
    }


def _their_stock(report: qbo.Report) -> dict[tuple[str, str], tuple[str, Decimal]]:
    # The quantity's column by its title: Intuit's example has SKU before it, and a
    # company's report settings may add or drop columns.
    titles = report.columns[1:]
    if "Qty" not in titles:
        raise ReportUnreadable(
            "QuickBooks' InventoryValuationSummary came back without a Qty column."
        )
    at = titles.index("Qty")
    figures: dict[tuple[str, str], tuple[str, Decimal]] = {}
    for row in report.rows:
        if len(row.cells) <= at:
            raise ReportUnreadable(
                f"InventoryValuationSummary's row for {row.name!r} has no quantity."
            )
        figures[(row.id, "")] = (row.name, _number(row.cells[at], row.name))
    return figures


def _number(text: str, name: str) -> Decimal:
    try:
        # Blank is zero; QuickBooks prints amounts without thousands separators in JSON,
        # but a comma would not hurt.
        return Decimal(text.replace(",", "") or "0")
    except InvalidOperation:
        raise ReportUnreadable(
            f"A report's figure for {name!r} is not a number: {text!r}."
        ) from None
