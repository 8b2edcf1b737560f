"""Reads of the pushes into QuickBooks: what the drafting forms offer, and a
job's progress. The writes are in ``inventory.push``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from accounts.access import AuthedRequest
from inventory.catalog.models import CatalogSKU
from inventory.mapping.models import QBOItem, SKUMapping
from inventory.reports.costs import ItemCost, bill_average_costs, item_cost, mapping_order
from inventory.reports.selectors import discrepancy_rows
from sync.models import QBOConnection

from .models import PushItem, PushJob
from .split import Part, SplitRefused, split_by_stock

if TYPE_CHECKING:
    from accounts.models import User


Unit = SKUMapping.Unit
ItemStatus = PushItem.Status
# What the stock form sends for a SKU whose adjustment is shared among its items by stock.
SPLIT = "split"
ITEM_NAME_MAX = 100  # QuickBooks' limit on an item's Name


# ------------------------------------------------------------------ what the forms offer


@dataclass
class ItemOption:
    """One of the QuickBooks items mapped to a SKU, as a place for its adjustment."""

    mapping: SKUMapping
    item: QBOItem | None
    # What one unit of the item costs (docs/reports.md, "Value at cost"); None if unknown.
    cost: ItemCost | None
    # Why it cannot take the adjustment, in words (empty when it can).
    problem: str = ""
    # The SKU's adjustment on this item at its cost: what QuickBooks would book.
    value: Decimal | None = None

    @property
    def usable(self) -> bool:
        return not self.problem

    @property
    def tracked(self) -> bool:
        """An active inventory item: it can hold a part of a split adjustment."""
        item = self.item
        return item is not None and item.active and item.item_type == "Inventory"

    @property
    def item_qbo_id(self) -> str:
        return self.mapping.item_qbo_id

    @property
    def label(self) -> str:
        name = self.item.name if self.item is not None else self.mapping.item_name
        if self.mapping.unit == Unit.CASE:
            return f"{name} (case of {self.mapping.bottles_per_unit})"
        return f"{name} (bottle)"

    @property
    def bottles_on_hand(self) -> Decimal | None:
        if self.item is None or self.item.qty_on_hand is None:
            return None
        return self.item.qty_on_hand * self.mapping.bottles_per_unit


@dataclass
class StockCandidate:
    """One SKU of a partner whose warehouse quantity could be written to QuickBooks."""

    sku: CatalogSKU
    warehouse_bottles: Decimal
    warehouse_as_of: date
    qbo_bottles: Decimal | None
    status: str
    # The item that takes the adjustment: the only usable one, or, with several, none
    # until an admin chooses (``options``).
    target: SKUMapping | None
    options: list[ItemOption] = field(default_factory=list)
    # Why it cannot be pushed, in words (empty when it can).
    blocked: str = ""
    # Ticked on the form, and the item chosen there (set by the view).
    checked: bool = False
    chosen: str = ""
    # Shared by stock instead (inventory.push.split), as the mirror's quantities would
    # share it now: item id → units; or why it cannot be shared.
    split_units: dict[str, Decimal] | None = None
    split_problem: str = ""

    @property
    def adjustment(self) -> Decimal | None:
        """What QuickBooks must gain (or lose, negative) to hold the warehouse count. The
        opposite sign of the discrepancies page's difference (QuickBooks − warehouse)."""
        return None if self.qbo_bottles is None else self.warehouse_bottles - self.qbo_bottles

    @property
    def pushable(self) -> bool:
        return not self.blocked

    @property
    def usable_options(self) -> list[ItemOption]:
        return [option for option in self.options if option.usable]

    @property
    def needs_choice(self) -> bool:
        """Several items could take the adjustment: an admin says which, none is assumed."""
        return self.pushable and len(self.usable_options) > 1

    @property
    def split_options(self) -> list[ItemOption]:
        return [option for option in self.options if option.tracked]

    @property
    def split_value(self) -> Decimal | None:
        """The split adjustment at its items' costs; None if any moving item has none."""
        if self.split_units is None:
            return None
        total = Decimal("0.00")
        for option in self.split_options:
            units = self.split_units.get(option.item_qbo_id, Decimal(0))
            if units == 0:
                continue
            if option.cost is None:
                return None
            total += option.cost.value_of(units * option.mapping.bottles_per_unit)
        return total

    @property
    def split_summary(self) -> str:
        """ "−1 case of 12 on “X”, −12 bottles on “Y”": the preview, in words."""
        if self.split_units is None:
            return ""
        return (
            ", ".join(
                f"{units.normalize():+f} {_unit_words(option.mapping)} on “{option.label}”"
                for option in self.split_options
                if (units := self.split_units.get(option.item_qbo_id, Decimal(0)))
            )
            or "nothing to move"
        )

    def option(self, item_qbo_id: str) -> ItemOption | None:
        return next((o for o in self.options if o.item_qbo_id == item_qbo_id), None)

    @property
    def target_option(self) -> ItemOption | None:
        return None if self.target is None else self.option(self.target.item_qbo_id)

    @property
    def value(self) -> Decimal | None:
        """The adjustment at the target item's cost (what QuickBooks books), when the item
        is known; with a choice to make, each option has its own."""
        option = self.target_option
        return None if option is None else option.value


def _unit_words(mapping: SKUMapping) -> str:
    return "bottles" if mapping.unit == Unit.BOTTLE else f"cases of {mapping.bottles_per_unit}"


def live_connection(partner_id: int) -> QBOConnection | None:
    connection: QBOConnection | None = (
        QBOConnection.objects.live().filter(partner_id=partner_id).select_related("partner").first()
    )
    return connection


def target_mapping(mappings: Sequence[SKUMapping]) -> SKUMapping | None:
    """The first of a SKU's items: a bottle item first, then the smallest case."""
    if not mappings:
        return None
    return min(mappings, key=lambda m: mapping_order(m.unit, m.bottles_per_unit, m.item_qbo_id))


def _problem(option: ItemOption, adjustment: Decimal | None, *, several: bool) -> str:
    target, item = option.mapping, option.item
    if item is None or not item.active:
        return f"The mapped item {target.item_qbo_id} is no longer active in QuickBooks."
    if item.item_type != "Inventory":
        return (
            f"“{item.name}” is a {item.item_type or 'non-stock'} item; "
            "QuickBooks tracks no quantity for it."
        )
    if adjustment is not None and adjustment % target.bottles_per_unit != 0:
        return (
            f"The adjustment, {adjustment.normalize():f} bottles, is not a whole number of "
            f"cases of {target.bottles_per_unit}"
            + (", and no bottle item is mapped." if not several else ".")
        )
    return ""


def stock_candidates(*, user: User, connection: QBOConnection) -> list[StockCandidate]:
    """The partner's SKUs with a warehouse quantity, as the push form offers them, each
    with the items mapped to it and whether each could take the adjustment. A constant
    number of queries: the discrepancy rows, the mappings, their items, the bills of the
    items QuickBooks has no cost for, and the SKUs."""
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
    averages = bill_average_costs(
        (connection.pk, m.item_qbo_id)
        for ms in mappings.values()
        for m in ms
        if not _has_purchase_cost(items.get(m.item_qbo_id))
    )
    skus = CatalogSKU.objects.in_bulk([row.sku_id for row in rows])
    candidates = []
    for row in rows:
        mapped = sorted(
            mappings.get(row.sku_id, []),
            key=lambda m: mapping_order(m.unit, m.bottles_per_unit, m.item_qbo_id),
        )
        candidate = StockCandidate(
            sku=skus[row.sku_id],
            warehouse_bottles=row.warehouse_bottles,
            warehouse_as_of=row.warehouse_as_of,
            qbo_bottles=row.qbo_bottles,
            status=row.status,
            target=None,
        )
        for m in mapped:
            item = items.get(m.item_qbo_id)
            option = ItemOption(
                mapping=m,
                item=item,
                cost=item_cost(
                    item_qbo_id=m.item_qbo_id,
                    bottles_per_unit=m.bottles_per_unit,
                    purchase_cost=item.purchase_cost if item is not None else None,
                    bill_average=averages.get((connection.pk, m.item_qbo_id)),
                ),
            )
            option.problem = _problem(option, candidate.adjustment, several=len(mapped) > 1)
            if option.cost is not None and candidate.adjustment is not None:
                option.value = option.cost.value_of(candidate.adjustment)
            candidate.options.append(option)
        usable = candidate.usable_options
        if not mapped:
            candidate.blocked = "No QuickBooks item is mapped to this SKU."
        elif not usable:
            # The first item's reason: with one item, the only one; with several, why
            # even the bottle item cannot take it.
            candidate.blocked = candidate.options[0].problem
        elif len(usable) == 1:
            candidate.target = usable[0].mapping
        if candidate.needs_choice and candidate.adjustment is not None:
            try:
                candidate.split_units = split_by_stock(
                    candidate.adjustment,
                    [
                        Part(
                            o.item_qbo_id,
                            o.item.qty_on_hand or Decimal(0),
                            o.mapping.bottles_per_unit,
                        )
                        for o in candidate.split_options
                        if o.item is not None
                    ],
                )
            except SplitRefused as refused:
                candidate.split_problem = str(refused)
        candidates.append(candidate)
    return candidates


def _has_purchase_cost(item: QBOItem | None) -> bool:
    return item is not None and item.purchase_cost is not None and item.purchase_cost > 0


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


@dataclass(frozen=True)
class JobValue:
    """A stock job's adjustments at cost: what QuickBooks books to the adjustment account
    (negative for a loss). Before the job runs, what the draft plans; once it has run,
    what was written. ``unvalued`` counts the adjustments with no cost known."""

    total: Decimal
    unvalued: int
    booked: bool


# An item's adjustment stands in the total while it may still be written, or once it is.
_COUNTED = {ItemStatus.PENDING, ItemStatus.SENT, ItemStatus.WRITTEN}


def job_value(job: PushJob, items: Sequence[PushItem]) -> JobValue | None:
    """The value of ``items`` (the job's, already loaded: no query). None for a job that
    creates items, which books nothing."""
    if job.kind != PushJob.Kind.STOCK:
        return None
    booked = job.status not in (PushJob.Status.DRAFT, *PushJob.ACTIVE)
    counted = {ItemStatus.WRITTEN} if booked else _COUNTED
    total = Decimal("0.00")
    unvalued = 0
    for item in items:
        if item.status not in counted:
            continue
        value = item.value
        if value is None:
            unvalued += 1
        else:
            total += value
    return JobValue(total=total, unvalued=unvalued, booked=booked)


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
