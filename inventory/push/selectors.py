"""Reads of the pushes into QuickBooks: what the drafting forms offer, and a
job's progress. The writes are in ``inventory.push``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from accounts.access import AuthedRequest
from inventory.catalog.models import CatalogSKU
from inventory.mapping.models import QBOItem, SKUMapping
from inventory.reports.selectors import discrepancy_rows
from sync.models import QBOConnection

from .models import PushItem, PushJob

if TYPE_CHECKING:
    from accounts.models import User


Unit = SKUMapping.Unit
ItemStatus = PushItem.Status
ITEM_NAME_MAX = 100  # QuickBooks' limit on an item's Name


# ------------------------------------------------------------------ what the forms offer


@dataclass
class StockCandidate:
    """One SKU of a partner whose warehouse quantity could be written to QuickBooks."""

    sku: CatalogSKU
    warehouse_bottles: Decimal
    warehouse_as_of: date
    qbo_bottles: Decimal | None
    status: str
    target: SKUMapping | None
    # Why it cannot be pushed, in words (empty when it can).
    blocked: str = ""
    # Ticked on the form (set by the view).
    checked: bool = False

    @property
    def adjustment(self) -> Decimal | None:
        """What QuickBooks must gain (or lose, negative) to hold the warehouse count. The
        opposite sign of the discrepancies page's difference (QuickBooks − warehouse)."""
        return None if self.qbo_bottles is None else self.warehouse_bottles - self.qbo_bottles

    @property
    def pushable(self) -> bool:
        return not self.blocked


def live_connection(partner_id: int) -> QBOConnection | None:
    connection: QBOConnection | None = (
        QBOConnection.objects.live().filter(partner_id=partner_id).select_related("partner").first()
    )
    return connection


def target_mapping(mappings: Sequence[SKUMapping]) -> SKUMapping | None:
    """The item an adjustment goes to: a bottle item first, then the smallest case."""
    if not mappings:
        return None
    return min(mappings, key=lambda m: (m.unit != Unit.BOTTLE, m.bottles_per_unit, m.item_qbo_id))


def stock_candidates(*, user: User, connection: QBOConnection) -> list[StockCandidate]:
    """The partner's SKUs with a warehouse quantity, as the push form offers them."""
    rows = discrepancy_rows(user=user, partner_id=connection.partner_id)
    mappings: dict[int, list[SKUMapping]] = defaultdict(list)
    for m in SKUMapping.objects.filter(connection=connection).order_by("item_qbo_id"):
        mappings[m.catalog_sku_id].append(m)
    items = {
        i.qbo_id: i
        for i in QBOItem.objects.filter(
            connection=connection,
            qbo_id__in=[m.item_qbo_id for ms in mappings.values() for m in ms],
        )
    }
    skus = CatalogSKU.objects.in_bulk([row.sku_id for row in rows])
    candidates = []
    for row in rows:
        target = target_mapping(mappings.get(row.sku_id, []))
        candidate = StockCandidate(
            sku=skus[row.sku_id],
            warehouse_bottles=row.warehouse_bottles,
            warehouse_as_of=row.warehouse_as_of,
            qbo_bottles=row.qbo_bottles,
            status=row.status,
            target=target,
        )
        item = items.get(target.item_qbo_id) if target else None
        if target is None:
            candidate.blocked = "No QuickBooks item is mapped to this SKU."
        elif item is None or not item.active:
            candidate.blocked = (
                f"The mapped item {target.item_qbo_id} is no longer active in QuickBooks."
            )
        elif item.item_type != "Inventory":
            candidate.blocked = (
                f"“{item.name}” is a {item.item_type or 'non-stock'} item; "
                "QuickBooks tracks no quantity for it."
            )
        elif candidate.adjustment is not None and (
            candidate.adjustment % target.bottles_per_unit != 0
        ):
            candidate.blocked = (
                f"The adjustment, {candidate.adjustment.normalize():f} bottles, is not a whole "
                f"number of cases of {target.bottles_per_unit}, and no bottle item is mapped."
            )
        candidates.append(candidate)
    return candidates


def item_name_for(sku: CatalogSKU) -> str:
    """The name a catalog SKU gets in a partner's QuickBooks: the brand, the wine, the
    vintage and the format, which the mapping's name matching reads back to the same SKU.
    QuickBooks forbids ':' in names (it separates sub-items)."""
    name = f"Une Femme {sku.wine} {sku.vintage_label} {sku.format_ml}ml".replace(":", " -")
    return " ".join(name.split())[:ITEM_NAME_MAX]


@dataclass
class ItemCandidate:
    sku: CatalogSKU
    name: str
    # What the partner's QuickBooks already has of this SKU ("already in QuickBooks as …").
    mapped_to: list[str]
    # Ticked on the form (set by the view).
    checked: bool = False

    @property
    def pushable(self) -> bool:
        return not self.mapped_to


def item_candidates(*, connection: QBOConnection) -> list[ItemCandidate]:
    """Active catalog SKUs, each with what the partner's QuickBooks (as last synced)
    already has of it: items mapped to it, and unmapped items that carry its code as their
    Sku or the very name a created item would get (say, an item in an open conflict)."""
    live_items = list(
        QBOItem.objects.filter(connection=connection, active=True).values_list(
            "qbo_id", "name", "sku"
        )
    )
    names = {qbo_id: name for qbo_id, name, _ in live_items}
    by_sku: dict[str, list[str]] = defaultdict(list)
    by_name: dict[str, list[str]] = defaultdict(list)
    for _, name, sku_code in live_items:
        if sku_code:
            by_sku[sku_code.strip().upper()].append(name)
        by_name[name.casefold()].append(name)
    mapped: dict[int, list[str]] = defaultdict(list)
    for m in SKUMapping.objects.filter(connection=connection):
        if m.item_qbo_id in names:
            mapped[m.catalog_sku_id].append(names[m.item_qbo_id])
    candidates = []
    for sku in CatalogSKU.objects.filter(active=True).order_by("code"):
        name = item_name_for(sku)
        there = [
            *mapped.get(sku.pk, []),
            *by_sku.get(sku.code, []),
            *by_name.get(name.casefold(), []),
        ]
        candidates.append(ItemCandidate(sku=sku, name=name, mapped_to=sorted(set(there))))
    return candidates


# ------------------------------------------------------------------ jobs


def push_jobs(
    *, user: User, partner_id: int | None = None, status: str | None = None, kind: str | None = None
) -> QuerySet[PushJob]:
    """The jobs ``user`` may see, with their item counts, for the jobs list."""
    jobs: QuerySet[PushJob] = (
        PushJob.objects.visible_to(user)
        .select_related("connection__partner", "created_by")
        .annotate(
            item_count=Count("items"),
            written_count=Count("items", filter=Q(items__status=ItemStatus.WRITTEN)),
            failed_count=Count("items", filter=Q(items__status=ItemStatus.FAILED)),
        )
    )
    if partner_id:
        jobs = jobs.filter(connection__partner_id=partner_id)
    if status:
        jobs = jobs.filter(status=status)
    if kind:
        jobs = jobs.filter(kind=kind)
    return jobs


@dataclass(frozen=True)
class Progress:
    total: int
    done: int
    written: int
    unchanged: int
    failed: int

    @property
    def percent(self) -> int:
        return 100 if not self.total else round(100 * self.done / self.total)


def job_progress(job: PushJob) -> Progress:
    counts = job.items.aggregate(
        total=Count("pk"),
        written=Count("pk", filter=Q(status=ItemStatus.WRITTEN)),
        unchanged=Count("pk", filter=Q(status=ItemStatus.UNCHANGED)),
        failed=Count("pk", filter=Q(status=ItemStatus.FAILED)),
    )
    done = counts["written"] + counts["unchanged"] + counts["failed"]
    return Progress(
        total=counts["total"],
        done=done,
        written=counts["written"],
        unchanged=counts["unchanged"],
        failed=counts["failed"],
    )


def get_job_for_user(request: AuthedRequest, pk: int) -> PushJob:
    job: PushJob | None = (
        PushJob.objects.visible_to(request.user)
        .select_related("connection__partner", "created_by", "approved_by", "conflict")
        .filter(pk=pk)
        .first()
    )
    if job is None:
        raise Http404("No such job.")
    return job
