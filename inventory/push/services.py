"""Writes into a partner's QuickBooks: warehouse quantities as
InventoryAdjustments, catalog SKUs as items. Web requests only plan and approve; a Celery
job (``push_job_run``) does the writing.

The life of a job: an admin drafts it (``push_stock_draft`` / ``push_items_draft``: the
plan is stored and shown), approves it (``push_job_approve``: queued), a worker runs it
(``push_job_run``), and failed items can be retried (``push_job_retry``).

How a retry never writes twice:

1. Items are sent in batches of at most 30 (QuickBooks' limit). A batch row, with a fresh
   ``requestid``, the exact items and, for stock, the adjustment each will carry, is
   committed BEFORE the request goes out.
2. A job that stops after that point (worker killed, QuickBooks unreachable, the task's
   time limit) resends the unanswered batch with the same ``requestid`` and the same
   bodies; QuickBooks answers a repeated id with its stored answer instead of writing
   again (docs/qbo-api.md §6), and the answer is recorded item by item.
3. An admin's "Retry failed items" only re-runs items QuickBooks *refused*, which wrote
   nothing; they get a new batch and a new ``requestid`` (the old one would replay the
   refusal). Before each new batch the job re-reads QuickBooks: a stock adjustment is
   computed from the quantity QuickBooks holds then (so an adjustment that did land is
   not applied twice), and an item to create is first looked up by name (so an item
   that exists is recognised, not duplicated; QuickBooks would refuse a duplicate name
   anyway).

Quantities: the warehouse counts bottles; a mapped item counts bottles or cases of N. A
SKU's QuickBooks quantity is the sum over all its mapped items (as on the discrepancies
page); the adjustment goes to one item, a bottle item if the SKU has one, and must then be
a whole number of that item's units.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django import db
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from common.publish import publish_quietly
from inventory.mapping import services as mapping
from inventory.mapping.models import MappingConflict, QBOItem, SKUMapping
from sync import conf, locks
from sync.clients import qbo
from sync.models import QBOConnection
from sync.services import connection_sync_now
from sync.tokens import ConnectionTokens

from .models import PushBatch, PushItem, PushJob, Share
from .selectors import (
    SPLIT,
    ItemOption,
    StockCandidate,
    item_candidates,
    job_progress,
    live_connection,
    stock_candidates,
)
from .split import Part, SplitRefused, split_by_stock

if TYPE_CHECKING:
    from accounts.models import User


logger = logging.getLogger(__name__)

BATCH_SIZE = qbo.BATCH_LIMIT

Unit = SKUMapping.Unit
JobStatus = PushJob.Status
ItemStatus = PushItem.Status


# ------------------------------------------------------------------ drafts


def _refuse_if_busy(connection: QBOConnection, kind: str) -> None:
    busy = (
        PushJob.objects.filter(connection=connection, kind=kind)
        .filter(status__in=[JobStatus.DRAFT, *PushJob.ACTIVE])
        .first()
    )
    if busy is not None:
        raise ValidationError(
            f"Job #{busy.pk} for {connection.partner.name} is {busy.get_status_display().lower()}; "
            "approve, discard or let it finish before starting another."
        )


def _draft_start(
    partner_id: int, kind: str, sku_ids: Iterable[int]
) -> tuple[QBOConnection, set[int]]:
    """The partner's connection, locked for the draft's transaction, once it is known to be
    connected and free of another draft or running job of this kind; and the SKUs asked
    for. One job of a kind at a time per partner, so two admins cannot push twice."""
    connection = live_connection(partner_id)
    if connection is None:
        raise ValidationError("This partner has not connected QuickBooks.")
    if connection.status != QBOConnection.Status.CONNECTED:
        raise ValidationError(
            f"{connection.partner.name}'s QuickBooks connection needs to be reconnected first."
        )
    QBOConnection.objects.select_for_update().filter(pk=connection.pk).first()
    _refuse_if_busy(connection, kind)
    wanted = set(sku_ids)
    if not wanted:
        raise ValidationError("Choose at least one SKU.")
    return connection, wanted


@transaction.atomic
def push_stock_draft(
    *,
    user: User,
    partner_id: int,
    sku_ids: Iterable[int],
    item_choices: Mapping[int, str] | None = None,
) -> PushJob:
    """A draft job setting QuickBooks' quantities of ``sku_ids`` to the warehouse's.

    ``item_choices`` maps a SKU's id to the QuickBooks id of the item that takes its
    adjustment. A SKU with several items that could take it must have one: which item a
    partner's stock moves on is the admin's decision, never a guess (a bottle item took
    −1,320 bottles once a case item was mapped). The chosen item must be mapped to that
    SKU in this partner's books."""
    connection, wanted = _draft_start(partner_id, PushJob.Kind.STOCK, sku_ids)
    choices = item_choices or {}
    by_sku = {c.sku.pk: c for c in stock_candidates(user=user, connection=connection)}
    problems = []
    planned: list[tuple[StockCandidate, ItemOption, bool]] = []
    splits: list[StockCandidate] = []
    for sku_id in sorted(wanted):
        candidate = by_sku.get(sku_id)
        if candidate is None:
            problems.append(f"SKU {sku_id} has no warehouse quantity for this partner.")
            continue
        if candidate.blocked:
            problems.append(f"{candidate.sku.code}: {candidate.blocked}")
            continue
        chosen = choices.get(sku_id, "")
        if chosen == SPLIT:
            if not candidate.needs_choice:
                problems.append(
                    f"{candidate.sku.code}: only one QuickBooks item can take this SKU's "
                    "adjustment, so there is nothing to split."
                )
            elif candidate.split_problem:
                problems.append(f"{candidate.sku.code}: {candidate.split_problem}")
            else:
                splits.append(candidate)
        elif chosen:
            option = candidate.option(chosen)
            if option is None:
                problems.append(
                    f"{candidate.sku.code}: item {chosen} is not mapped to this SKU in "
                    f"{connection.partner.name}'s QuickBooks; choose one of the items listed."
                )
            elif not option.usable:
                problems.append(f"{candidate.sku.code}: {option.problem}")
            else:
                planned.append((candidate, option, candidate.needs_choice))
        elif candidate.needs_choice:
            problems.append(
                f"{candidate.sku.code}: {len(candidate.usable_options)} QuickBooks items are "
                "mapped to this SKU ("
                + ", ".join(f"“{o.label}”" for o in candidate.usable_options)
                + "); choose which one takes the adjustment."
            )
        else:
            assert candidate.target is not None
            option = candidate.option(candidate.target.item_qbo_id)
            assert option is not None
            planned.append((candidate, option, False))
    if problems:
        raise ValidationError(problems)
    job = PushJob.objects.create(connection=connection, kind=PushJob.Kind.STOCK, created_by=user)
    PushItem.objects.bulk_create(
        PushItem(
            job=job,
            catalog_sku=c.sku,
            item_qbo_id=option.item_qbo_id,
            item_name=option.item.name if option.item is not None else option.mapping.item_name,
            unit=option.mapping.unit,
            bottles_per_unit=option.mapping.bottles_per_unit,
            target_bottles=c.warehouse_bottles,
            qbo_bottles_before=c.qbo_bottles,
            # The cost as it is now, kept: the job's value must not move later.
            unit_cost=option.cost.unit_cost if option.cost is not None else None,
            cost_source=option.cost.source if option.cost is not None else "",
            item_chosen=chosen,
        )
        for c, option, chosen in planned
    )
    PushItem.objects.bulk_create(
        PushItem(
            job=job,
            catalog_sku=c.sku,
            item_name="Shared among its items by stock on hand",
            target_bottles=c.warehouse_bottles,
            qbo_bottles_before=c.qbo_bottles,
            split=True,
            item_chosen=True,
            shares=[
                _share(option, (c.split_units or {}).get(option.item_qbo_id, Decimal(0))).as_json()
                for option in c.split_options
            ],
        )
        for c in splits
    )
    return job


def _share(option: ItemOption, qty_diff: Decimal) -> Share:
    return Share(
        item_qbo_id=option.item_qbo_id,
        item_name=option.item.name if option.item is not None else option.mapping.item_name,
        unit=option.mapping.unit,
        bottles_per_unit=option.mapping.bottles_per_unit,
        unit_cost=option.cost.unit_cost if option.cost is not None else None,
        cost_source=option.cost.source if option.cost is not None else "",
        qty_diff=qty_diff,
    )


@transaction.atomic
def push_items_draft(
    *, user: User, partner_id: int, sku_ids: Iterable[int], conflict_id: int | None = None
) -> PushJob:
    """A draft job creating ``sku_ids`` as items in the partner's QuickBooks."""
    connection, wanted = _draft_start(partner_id, PushJob.Kind.ITEMS, sku_ids)
    conflict = None
    if conflict_id is not None:
        conflict = MappingConflict.objects.filter(pk=conflict_id, connection=connection).first()
        if conflict is None:
            raise ValidationError(
                f"That conflict is not one of {connection.partner.name}'s; nothing was started."
            )
        if not conflict.is_open:
            raise ValidationError("That conflict is no longer open; nothing was started.")
        if len(wanted) != 1:
            raise ValidationError("A conflict is settled by creating exactly one item.")
    by_sku = {c.sku.pk: c for c in item_candidates(connection=connection)}
    problems = []
    for sku_id in sorted(wanted):
        candidate = by_sku.get(sku_id)
        if candidate is None:
            problems.append(f"SKU {sku_id} is not an active catalog SKU.")
        elif not candidate.pushable:
            problems.append(
                f"{candidate.sku.code} is already in this QuickBooks as "
                + ", ".join(f"“{name}”" for name in candidate.mapped_to)
                + "."
            )
    if problems:
        raise ValidationError(problems)
    job = PushJob.objects.create(
        connection=connection, kind=PushJob.Kind.ITEMS, created_by=user, conflict=conflict
    )
    PushItem.objects.bulk_create(
        PushItem(job=job, catalog_sku=by_sku[s].sku, item_name=by_sku[s].name)
        for s in sorted(wanted)
    )
    return job


# ------------------------------------------------------------------ admin decisions


def _locked_job(job_id: int) -> PushJob:
    job: PushJob | None = PushJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None:
        raise ValidationError("This job no longer exists.")
    return job


def _enqueue(job_id: int) -> None:
    # On commit, and quietly: with the broker down the job stays queued and beat's resume
    # sweep (push_jobs_resume) starts it later; the admin's approval is not lost to a 500.
    from inventory.tasks import push_job_run

    transaction.on_commit(
        lambda: publish_quietly(push_job_run, job_id, timeout=conf.seconds("SYNC_ENQUEUE_TIMEOUT"))
    )


@transaction.atomic
def push_job_approve(*, job_id: int, user: User) -> PushJob:
    job = _locked_job(job_id)
    if job.status != JobStatus.DRAFT:
        raise ValidationError(
            f"This job is {job.get_status_display().lower()}, not awaiting approval."
        )
    if job.connection.status != QBOConnection.Status.CONNECTED:
        raise ValidationError("The partner's QuickBooks connection needs to be reconnected first.")
    now = timezone.now()
    job.status = JobStatus.QUEUED
    job.approved_by = user
    job.approved_at = now
    job.heartbeat_at = now
    job.save(update_fields=["status", "approved_by", "approved_at", "heartbeat_at"])
    _enqueue(job.pk)
    return job


@transaction.atomic
def push_job_discard(*, job_id: int, user: User) -> PushJob:
    job = _locked_job(job_id)
    if job.status != JobStatus.DRAFT:
        raise ValidationError("Only a job awaiting approval can be discarded.")
    job.status = JobStatus.DISCARDED
    job.finished_at = timezone.now()
    job.error = f"Discarded by {user.email}."
    job.save(update_fields=["status", "finished_at", "error"])
    return job


@transaction.atomic
def push_job_retry(*, job_id: int, user: User) -> PushJob:
    """Run again: a stopped job resumes where it stopped; a finished one re-runs the items
    QuickBooks refused (each gets a new batch and a new requestid)."""
    job = _locked_job(job_id)
    if not job.is_retryable:
        raise ValidationError("Only a stopped job or one with failed items can be retried.")
    if job.connection.status != QBOConnection.Status.CONNECTED:
        raise ValidationError("The partner's QuickBooks connection needs to be reconnected first.")
    # Refused items wrote nothing; items in an unanswered batch keep it (and its requestid).
    job.items.filter(status=ItemStatus.FAILED).update(
        status=ItemStatus.PENDING, batch=None, bid="", fault_code="", updated_at=timezone.now(),
        message=f"Retried by {user.email}.",
    )  # fmt: skip
    job.status = JobStatus.QUEUED
    job.error = ""
    job.intuit_tid = ""
    job.finished_at = None
    job.heartbeat_at = timezone.now()
    job.save(update_fields=["status", "error", "intuit_tid", "finished_at", "heartbeat_at"])
    _enqueue(job.pk)
    return job


# ------------------------------------------------------------------ the job

# What a query raises when PostgreSQL cannot be reached or cut the session.
DB_UNAVAILABLE = (db.OperationalError, db.InterfaceError)


def push_jobs_resume() -> list[int]:
    """Beat's safety net: re-enqueue queued or running jobs nobody has touched for a while
    (a broker that was down at approval, a worker killed mid-job). Running one twice is
    harmless: the job lock lets one through and the other finds nothing to do."""
    cutoff = timezone.now() - conf.duration("PUSH_STALE_AFTER")
    stale = list(
        PushJob.objects.filter(status__in=PushJob.ACTIVE)
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, approved_at__lt=cutoff))
        .values_list("pk", flat=True)
    )
    for job_id in stale:
        if not locks.lease_held(_lock_key(job_id)):
            _enqueue(job_id)
    return stale


def _lock_key(job_id: int) -> str:
    return f"{locks.KEY_PREFIX}:push-job:{job_id}"


class _Stop(Exception):
    """The job cannot go on (connection gone, lease lost); items stay as they are."""


def push_job_run(*, job_id: int) -> PushJob | None:
    """Write a queued job's items into QuickBooks. Safe to call any number of times."""
    lease = locks.lease_acquire(_lock_key(job_id), ttl_ms=int(conf.seconds("PUSH_LOCK_TTL") * 1000))
    if lease is None:
        # Running elsewhere, or its worker died and the lease has not lapsed yet (the task
        # retries; see inventory/tasks.py).
        logger.info("push job %s is locked", job_id)
        return None
    try:
        with transaction.atomic():
            job: PushJob = (
                PushJob.objects.select_for_update().select_related("connection").get(pk=job_id)
            )
            if job.status not in PushJob.ACTIVE:
                return job
            job.status = JobStatus.RUNNING
            job.started_at = job.started_at or timezone.now()
            job.heartbeat_at = timezone.now()
            job.save(update_fields=["status", "started_at", "heartbeat_at"])
        meter = qbo.Meter()
        try:
            _run(job, lease, meter)
        except (qbo.QBOError, locks.LeaseLost, _Stop) as exc:
            _stopped(job, exc, meter)
            return job
        except DB_UNAVAILABLE:
            # PostgreSQL went away (a restart, a failover): nothing is wrong with the job,
            # so it is not failed for an admin to retry. It stays running, and the task
            # retries it with the same requestids once the database answers
            # (inventory/tasks.py); the batch answered meanwhile is not sent twice.
            raise
        except Exception as exc:
            _stopped(job, exc, meter)
            raise
        _finished(job, meter)
        return job
    finally:
        lease.release()


def _run(job: PushJob, lease: locks.Lease, meter: qbo.Meter) -> None:
    connection = job.connection
    if connection.status != QBOConnection.Status.CONNECTED:
        raise qbo.ReconnectRequired("the connection needs reconnecting")
    client = qbo.QBOClient(
        realm_id=connection.realm_id,
        tokens=ConnectionTokens(connection.pk),
        meter=meter,
        heartbeat=lease.renew,
    )
    context = _JobContext(job=job, client=client)
    # A batch formed but never sent (the job stopped in between) is planned afresh: its
    # adjustments were computed from quantities that may have moved since.
    with transaction.atomic():
        unsent = job.batches.filter(answered_at__isnull=True, sent_at__isnull=True)
        PushItem.objects.filter(batch__in=unsent, status=ItemStatus.SENT).update(
            status=ItemStatus.PENDING, batch=None, bid="", qty_diff=None, updated_at=timezone.now()
        )
        unsent.delete()
    # Then the batches sent before a stop, with their own requestids: QuickBooks replays.
    for batch in job.batches.filter(answered_at__isnull=True).order_by("pk"):
        lease.renew()
        _send(context, batch)
    while True:
        lease.renew()
        pending = list(
            job.items.filter(status=ItemStatus.PENDING, batch__isnull=True)
            .select_related("catalog_sku")
            .order_by("pk")[:BATCH_SIZE]
        )
        if not pending:
            break
        formed = _form_batch(context, pending)
        if formed is not None:
            _send(context, formed)
        PushJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())


@dataclass
class _JobContext:
    job: PushJob
    client: qbo.QBOClient
    accounts: dict[str, dict[str, str]] | None = None
    item_refs: dict[str, Any] | None = None


def _form_batch(context: _JobContext, pending: list[PushItem]) -> PushBatch | None:
    """Decide what each item will send, from QuickBooks as it is now; store it with a new
    batch (and requestid) in one transaction. None when nothing needs sending."""
    if context.job.kind == PushJob.Kind.STOCK:
        plans = _stock_plans(context, pending)
    else:
        plans = _item_plans(context, pending)
    now = timezone.now()
    with transaction.atomic():
        batch = None
        to_send = [item for item in pending if plans[item.pk].status == ItemStatus.SENT]
        if to_send:
            batch = PushBatch.objects.create(job=context.job)
        for number, item in enumerate(pending, start=1):
            plan = plans[item.pk]
            item.status = plan.status
            item.message = plan.message
            item.qbo_bottles_before = plan.qbo_bottles_before
            item.qty_diff = plan.qty_diff
            if plan.shares is not None:
                item.shares = plan.shares
            if plan.result_qbo_id:
                item.result_qbo_id = plan.result_qbo_id
                item.item_qbo_id = plan.result_qbo_id
            if plan.status == ItemStatus.SENT:
                item.batch = batch
                item.bid = str(number)
            item.updated_at = now
        PushItem.objects.bulk_update(
            pending,
            ["status", "message", "qbo_bottles_before", "qty_diff", "result_qbo_id",
             "item_qbo_id", "batch", "bid", "updated_at", "shares"],
        )  # fmt: skip
        for item in pending:
            if (
                plans[item.pk].status == ItemStatus.UNCHANGED
                and context.job.kind == PushJob.Kind.ITEMS
            ):
                _settle_conflict(context.job, item)
    return batch


@dataclass
class _Plan:
    status: str
    message: str = ""
    qbo_bottles_before: Decimal | None = None
    qty_diff: Decimal | None = None
    result_qbo_id: str = ""
    # A split adjustment: each item's part, as it will be sent.
    shares: list[dict[str, Any]] | None = None


def _stock_plans(context: _JobContext, pending: list[PushItem]) -> dict[int, _Plan]:
    job = context.job
    sku_ids = [item.catalog_sku_id for item in pending]
    mappings: dict[int, list[SKUMapping]] = defaultdict(list)
    for m in SKUMapping.objects.filter(connection=job.connection, catalog_sku_id__in=sku_ids):
        mappings[m.catalog_sku_id].append(m)
    ids = sorted(
        {m.item_qbo_id for ms in mappings.values() for m in ms}
        | {i.item_qbo_id for i in pending if not i.split}
    )
    found = {
        str(row["Id"]): row
        for row in context.client.find(
            "Item", where=[("Id", "IN", ids), ("Active", "IN", (True, False))]
        )
    }
    plans: dict[int, _Plan] = {}
    for item in pending:
        if item.split:
            plans[item.pk] = _split_plan(item, mappings.get(item.catalog_sku_id, []), found)
            continue
        row = found.get(item.item_qbo_id)
        if row is None:
            plans[item.pk] = _Plan(
                ItemStatus.FAILED, f"Item {item.item_qbo_id} is no longer in QuickBooks."
            )
            continue
        if not row.get("Active", True):
            plans[item.pk] = _Plan(
                ItemStatus.FAILED, f"“{row.get('Name')}” is inactive in QuickBooks."
            )
            continue
        if row.get("Type") != "Inventory" or not row.get("TrackQtyOnHand", True):
            plans[item.pk] = _Plan(
                ItemStatus.FAILED, f"“{row.get('Name')}” does not track a quantity in QuickBooks."
            )
            continue
        # QuickBooks' quantity of the SKU now: every mapped item still active, in bottles.
        before = Decimal(0)
        for m in mappings.get(item.catalog_sku_id, []):
            other = found.get(m.item_qbo_id)
            if other is not None and other.get("Active", True):
                before += Decimal(str(other.get("QtyOnHand") or 0)) * m.bottles_per_unit
        assert item.target_bottles is not None
        difference = item.target_bottles - before
        if difference == 0:
            plans[item.pk] = _Plan(
                ItemStatus.UNCHANGED,
                f"QuickBooks already holds {before.normalize():f} bottles.",
                qbo_bottles_before=before,
                qty_diff=Decimal(0),
            )
            continue
        if difference % item.bottles_per_unit:
            plans[item.pk] = _Plan(
                ItemStatus.FAILED,
                f"The adjustment, {difference.normalize():f} bottles, is not a whole number of "
                f"cases of {item.bottles_per_unit}.",
                qbo_bottles_before=before,
            )
            continue
        plans[item.pk] = _Plan(
            ItemStatus.SENT,
            qbo_bottles_before=before,
            qty_diff=difference / item.bottles_per_unit,
        )
    return plans


def _tracks_quantity(row: dict[str, Any] | None) -> bool:
    return (
        row is not None
        and bool(row.get("Active", True))
        and row.get("Type") == "Inventory"
        and bool(row.get("TrackQtyOnHand", True))
    )


def _split_plan(
    item: PushItem, mappings: list[SKUMapping], found: dict[str, dict[str, Any]]
) -> _Plan:
    """A split adjustment, shared from QuickBooks' quantities as they are now among the
    SKU's items that still track one (inventory.push.split). Each item keeps the cost it
    had when the job was drafted; an item mapped since has none."""
    drafted = {share.item_qbo_id: share for share in item.share_rows}
    live = sorted(
        (m for m in mappings if _tracks_quantity(found.get(m.item_qbo_id))),
        key=lambda m: (m.unit != Unit.BOTTLE, m.bottles_per_unit, m.item_qbo_id),
    )
    before = sum(
        (Decimal(str(found[m.item_qbo_id].get("QtyOnHand") or 0)) * m.bottles_per_unit
         for m in live),
        Decimal(0),
    )  # fmt: skip
    assert item.target_bottles is not None
    difference = item.target_bottles - before
    if difference == 0:
        return _Plan(
            ItemStatus.UNCHANGED,
            f"QuickBooks already holds {before.normalize():f} bottles.",
            qbo_bottles_before=before,
        )
    parts = [
        Part(m.item_qbo_id, Decimal(str(found[m.item_qbo_id].get("QtyOnHand") or 0)),
             m.bottles_per_unit)
        for m in live
    ]  # fmt: skip
    try:
        units = split_by_stock(difference, parts)
    except SplitRefused as refused:
        return _Plan(ItemStatus.FAILED, str(refused), qbo_bottles_before=before)
    shares = []
    for m in live:
        was = drafted.get(m.item_qbo_id)
        shares.append(
            Share(
                item_qbo_id=m.item_qbo_id,
                item_name=str(found[m.item_qbo_id].get("Name") or m.item_name),
                unit=m.unit,
                bottles_per_unit=m.bottles_per_unit,
                unit_cost=was.unit_cost if was is not None else None,
                cost_source=was.cost_source if was is not None else "",
                qty_diff=units[m.item_qbo_id],
            ).as_json()
        )
    return _Plan(ItemStatus.SENT, qbo_bottles_before=before, shares=shares)


def _item_plans(context: _JobContext, pending: list[PushItem]) -> dict[int, _Plan]:
    names = [item.item_name for item in pending]
    existing = {
        str(row.get("Name", "")).casefold(): row
        for row in context.client.find(
            "Item", where=[("Name", "IN", names), ("Active", "IN", (True, False))]
        )
    }
    plans: dict[int, _Plan] = {}
    for item in pending:
        row = existing.get(item.item_name.casefold())
        if row is None:
            plans[item.pk] = _Plan(ItemStatus.SENT)
        elif str(row.get("Sku") or "").upper() == item.catalog_sku.code and row.get("Active", True):
            # Ours from an earlier run (or someone made it exactly so): nothing to create.
            plans[item.pk] = _Plan(
                ItemStatus.UNCHANGED,
                f"Already in QuickBooks as item {row['Id']}.",
                result_qbo_id=str(row["Id"]),
            )
        else:
            where = f"(item {row['Id']}, Sku {row.get('Sku') or 'none'})"
            if not row.get("Active", True):
                # QuickBooks keeps an inactive item's name taken.
                message = (
                    f"QuickBooks already has an inactive item named “{row.get('Name')}” {where}: "
                    "reactivate it in QuickBooks and map it from the conflicts queue, or rename "
                    "it there and retry."
                )
            else:
                message = (
                    f"QuickBooks already has an item named “{row.get('Name')}” {where}; map it "
                    "from the conflicts queue, or rename it in QuickBooks and retry."
                )
            plans[item.pk] = _Plan(ItemStatus.FAILED, message)
    return plans


def _adjust_account(context: _JobContext) -> dict[str, str]:
    """The account an adjustment books against: "Inventory Shrinkage", which QuickBooks
    itself proposes for quantity adjustments, else the first Cost of Goods Sold account."""
    accounts = _accounts(context)
    if "shrinkage" in accounts:
        return accounts["shrinkage"]
    if "cogs" in accounts:
        return accounts["cogs"]
    raise _Stop(
        "The partner's chart of accounts has no Cost of Goods Sold account to adjust against."
    )


def _accounts(context: _JobContext) -> dict[str, dict[str, str]]:
    if context.accounts is None:
        rows = context.client.find("Account", where=[("Active", "=", True)])
        found: dict[str, dict[str, str]] = {}
        for row in rows:
            ref = {"value": str(row["Id"]), "name": str(row.get("Name", ""))}
            kind, sub = row.get("AccountType"), row.get("AccountSubType")
            if str(row.get("Name", "")).casefold() == "inventory shrinkage":
                found.setdefault("shrinkage", ref)
            if kind == "Cost of Goods Sold":
                found.setdefault("cogs", ref)
            if kind == "Income" and sub == "SalesOfProductIncome":
                found.setdefault("income", ref)
            if kind == "Other Current Asset" and sub == "Inventory":
                found.setdefault("asset", ref)
        context.accounts = found
    return context.accounts


def _item_account_refs(context: _JobContext) -> dict[str, Any]:
    """Accounts for a new inventory item: those the partner's own inventory items use,
    else the standard ones of its chart (sales of product income, inventory asset, cost
    of goods sold)."""
    if context.item_refs is None:
        model = (
            QBOItem.objects.filter(
                connection=context.job.connection, active=True, item_type="Inventory"
            )
            .order_by("qbo_id")
            .values_list("raw", flat=True)
            .first()
        )
        keys = ("IncomeAccountRef", "AssetAccountRef", "ExpenseAccountRef")
        if model and all(isinstance(model.get(k), dict) for k in keys):
            context.item_refs = {k: {"value": str(model[k]["value"])} for k in keys}
        else:
            accounts = _accounts(context)
            missing = [name for name in ("income", "asset", "cogs") if name not in accounts]
            if missing:
                raise _Stop(
                    "The partner's chart of accounts lacks "
                    + ", ".join(missing)
                    + " accounts for a new inventory item."
                )
            context.item_refs = {
                "IncomeAccountRef": {"value": accounts["income"]["value"]},
                "AssetAccountRef": {"value": accounts["asset"]["value"]},
                "ExpenseAccountRef": {"value": accounts["cogs"]["value"]},
            }
    return context.item_refs


def _operation(context: _JobContext, batch: PushBatch, item: PushItem) -> qbo.BatchOperation:
    job = context.job
    # The batch's own date, not today's: a resend the next day carries the same body.
    day = timezone.localdate(batch.created_at).isoformat()
    if job.kind == PushJob.Kind.STOCK:
        account = _adjust_account(context)
        if job.adjust_account != account["name"]:
            job.adjust_account = account["name"]
            PushJob.objects.filter(pk=job.pk).update(adjust_account=account["name"])
        assert item.target_bottles is not None
        if item.split:
            lines = [
                {"ItemRef": {"value": share.item_qbo_id}, "QtyDiff": share.qty_diff.normalize()}
                for share in item.share_rows
                if share.qty_diff
            ]
        else:
            assert item.qty_diff is not None
            lines = [{"ItemRef": {"value": item.item_qbo_id}, "QtyDiff": item.qty_diff.normalize()}]
        return qbo.BatchOperation(
            bid=item.bid,
            entity="InventoryAdjustment",
            body={
                "TxnDate": day,
                "AdjustAccountRef": {"value": account["value"]},
                "PrivateNote": (
                    f"unefemme push #{job.pk}: set {item.catalog_sku.code} to the warehouse "
                    f"count of {item.target_bottles.normalize():f} bottles"
                )[:4000],
                # One line per item moved: a split is one adjustment of several lines.
                "Line": [
                    {"DetailType": "ItemAdjustmentLineDetail", "ItemAdjustmentLineDetail": line}
                    for line in lines
                ],
            },
        )
    sku = item.catalog_sku
    vintage = sku.vintage_label
    return qbo.BatchOperation(
        bid=item.bid,
        entity="Item",
        body={
            "Name": item.item_name,
            "Sku": sku.code,
            "Type": "Inventory",
            "TrackQtyOnHand": True,
            "QtyOnHand": 0,
            "InvStartDate": day,
            "Description": f"Une Femme {sku.wine} {vintage}, {sku.format_ml} ml ({sku.code})",
            **_item_account_refs(context),
        },
    )


def _send(context: _JobContext, batch: PushBatch) -> None:
    items = list(
        batch.items.filter(status=ItemStatus.SENT).select_related("catalog_sku").order_by("pk")
    )
    if not items:
        PushBatch.objects.filter(pk=batch.pk).update(answered_at=timezone.now())
        return
    operations = [_operation(context, batch, item) for item in items]
    PushBatch.objects.filter(pk=batch.pk, sent_at__isnull=True).update(sent_at=timezone.now())
    try:
        outcomes = context.client.batch(operations, request_id=batch.request_id)
    except qbo.QBOError as exc:
        if exc.transient or exc.status != 400:
            raise  # unanswered: the job stops and a retry resends this batch as it is
        # QuickBooks refused the batch as a whole (a malformed body, a size limit): it
        # wrote none of it. Each item says so and "Retry failed items" sends them anew.
        _refused_whole(batch, items, exc)
        return
    now = timezone.now()
    with transaction.atomic():
        for item in items:
            outcome = outcomes.get(item.bid)
            item.updated_at = now
            if outcome is None:
                item.status = ItemStatus.FAILED
                item.message = (
                    "QuickBooks' answer did not mention this item; nothing is known to be written."
                )
            elif outcome.ok:
                assert outcome.entity is not None
                item.status = ItemStatus.WRITTEN
                item.result_qbo_id = str(outcome.entity.get("Id", ""))
                item.fault_code = ""
                if context.job.kind == PushJob.Kind.ITEMS:
                    item.item_qbo_id = item.result_qbo_id
                    item.message = f"Created as item {item.result_qbo_id}."
                else:
                    item.message = (
                        f"Adjusted by {_moved(item)} (InventoryAdjustment {item.result_qbo_id})."
                    )
            else:
                item.status = ItemStatus.FAILED
                item.fault_code = outcome.fault_code or ""
                item.message = (
                    "QuickBooks refused it: "
                    + (outcome.fault_message or "no reason given")
                    + (f" (code {outcome.fault_code})" if outcome.fault_code else "")
                )
        PushItem.objects.bulk_update(
            items, ["status", "result_qbo_id", "item_qbo_id", "fault_code", "message", "updated_at"]
        )
        PushBatch.objects.filter(pk=batch.pk).update(
            answered_at=now, intuit_tid=context.client.meter.last_intuit_tid or ""
        )
        if context.job.kind == PushJob.Kind.ITEMS:
            for item in items:
                if item.status == ItemStatus.WRITTEN:
                    _settle_conflict(context.job, item)


def _refused_whole(batch: PushBatch, items: list[PushItem], exc: qbo.QBOError) -> None:
    now = timezone.now()
    code = f" (code {exc.code})" if exc.code else ""
    with transaction.atomic():
        for item in items:
            item.status = ItemStatus.FAILED
            item.fault_code = exc.code or ""
            item.message = f"QuickBooks refused the whole batch{code}; nothing of it was written."
            item.updated_at = now
        PushItem.objects.bulk_update(items, ["status", "fault_code", "message", "updated_at"])
        PushBatch.objects.filter(pk=batch.pk).update(
            answered_at=now, intuit_tid=exc.intuit_tid or ""
        )


def _signed(value: Decimal | None) -> str:
    value = value or Decimal(0)
    return f"{'+' if value > 0 else ''}{value.normalize():f}"


def _unit_label(item: PushItem) -> str:
    return "bottles" if item.unit == Unit.BOTTLE else f"cases of {item.bottles_per_unit}"


def _moved(item: PushItem) -> str:
    if not item.split:
        return f"{_signed(item.qty_diff)} {_unit_label(item)}"
    return ", ".join(
        f"{_signed(share.qty_diff)} {share.unit_label} on item {share.item_qbo_id}"
        for share in item.share_rows
        if share.qty_diff
    )


def _settle_conflict(job: PushJob, item: PushItem) -> None:
    if job.conflict_id is None:
        return
    try:
        mapping.conflict_settle_created(
            conflict_id=job.conflict_id,
            user=job.approved_by or job.created_by,
            sku=item.catalog_sku,
            item_qbo_id=item.item_qbo_id,
            item_name=item.item_name,
        )
    except ValidationError as exc:
        item.message += " The conflict was not settled: " + " ".join(exc.messages)
        PushItem.objects.filter(pk=item.pk).update(message=item.message)


def _stopped(job: PushJob, exc: BaseException, meter: qbo.Meter) -> None:
    error = _stop_reason(exc)
    if not isinstance(exc, qbo.QBOError | locks.LeaseLost | _Stop):
        logger.exception("push job %s stopped", job.pk)
    PushJob.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED,
        error=error,
        intuit_tid=getattr(exc, "intuit_tid", None) or meter.last_intuit_tid or "",
        finished_at=timezone.now(),
        api_requests=job.api_requests + meter.requests,
    )
    job.refresh_from_db()


def _stop_reason(exc: BaseException) -> str:
    """Why a job stopped, for the admin who will press Retry. Items already answered keep
    their outcome; Retry resumes with the rest."""
    if isinstance(exc, _Stop):
        return str(exc)
    if isinstance(exc, qbo.ReconnectRequired):
        return "The partner's QuickBooks connection needs reconnecting; Retry once it is."
    if isinstance(exc, locks.LeaseLost):
        return "The job lost its lock (its worker paused too long); Retry resumes it."
    if isinstance(exc, qbo.QBOError):
        if exc.status == 429:
            return "QuickBooks asked us to slow down; Retry in a few minutes."
        if exc.transient:
            return "QuickBooks could not be reached or did not answer in time; Retry resumes."
        code = f" (code {exc.code})" if exc.code else ""
        return f"QuickBooks refused a request{code}; quote the reference below to Intuit."
    return "The job stopped unexpectedly; Retry resumes where it stopped."


def _finished(job: PushJob, meter: qbo.Meter) -> None:
    progress = job_progress(job)
    status = JobStatus.DONE_WITH_FAILURES if progress.failed else JobStatus.DONE
    PushJob.objects.filter(pk=job.pk).update(
        status=status,
        finished_at=timezone.now(),
        api_requests=job.api_requests + meter.requests,
        intuit_tid=meter.last_intuit_tid or "",
    )
    job.refresh_from_db()
    if progress.written:
        # The mirror (and so the discrepancies page and the mapping) catches up with what
        # was just written by an ordinary poll.
        connection_sync_now(connection=job.connection, trigger="push")
