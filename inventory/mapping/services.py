"""SKU mapping: matching partners' QuickBooks items to Une Femme's catalog, and the
decisions admins take on what the matching will not decide alone.

How ``mapping_refresh`` (run after every successful sync) decides, per connection:

1. **Admin mappings stand.** An item an admin mapped keeps its mapping; it is only
   looked at again when QuickBooks renames it, changes its Sku, deactivates or deletes it
   (an ``item_changed`` conflict; the mapping keeps counting until an admin decides).
2. **Every other active item gets proposals**: its ``Sku`` equal to a catalog code
   first; otherwise its normalised name (case, accents, punctuation, vintage, format and
   case size) against the catalog's wine names. A Sku that one SKU fits while the name
   fits others is not trusted either.
3. **Conflicts.** An item with several proposals (``ambiguous_item``); several items
   proposed for the same SKU and unit (``duplicate_items``); an item that looks like Une
   Femme's (the brand in its name, or a ``UF-`` Sku) but fits nothing (``unmatched``).
   Items in a conflict get no automatic mapping; mappings they already have are kept.
4. **Automatic mappings** for the rest (method ``sku`` or ``name``).

A conflict is stored under a fingerprint of the facts it was raised on. An admin's
decision (resolved or ignored) is kept under that fingerprint, so the next sync, seeing
the same facts, raises nothing; changed facts (a rename, another item with the code) give
a new fingerprint and a new conflict. An open conflict whose facts went away is closed by
the sync, with an audit row saying so.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from inventory.catalog.models import CatalogSKU
from sync.models import QBOConnection

from .matching import (
    Kind,
    Method,
    Proposal,
    Unit,
    catalog_words,
    looks_like_une_femme,
    normalise,
    parse_name,
    proposals_for,
    unit_for,
)
from .models import MappingConflict, MappingDecision, QBOItem, SKUMapping

if TYPE_CHECKING:
    from datetime import datetime

    from accounts.models import User


# ------------------------------------------------------------------ name normalisation


# ------------------------------------------------------------------ the engine


@dataclass
class Detected:
    kind: str
    fingerprint: str
    item_qbo_id: str = ""
    sku_code: str = ""
    candidates: dict[str, Any] = field(default_factory=dict)
    item_ids: tuple[str, ...] = ()


@dataclass
class RefreshResult:
    mapped: int = 0  # automatic mappings created
    opened: int = 0  # conflicts newly raised
    closed: int = 0  # open conflicts whose facts went away
    open: int = 0  # conflicts open after the refresh


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _item_facts(item: QBOItem) -> list[Any]:
    # Normalised, so QuickBooks re-saving "Rosé" as "Rose" or adding a space is not a rename.
    return [item.qbo_id, normalise(item.name), item.sku.strip().upper(), item.active]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _item_json(
    item: QBOItem | None,
    *,
    qbo_id: str,
    proposal: Proposal | None = None,
    mapping: SKUMapping | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {"qbo_id": qbo_id, "deleted": item is None}
    if item is not None:
        row |= {
            "name": item.name,
            "sku": item.sku,
            "active": item.active,
            "qty_on_hand": None if item.qty_on_hand is None else str(item.qty_on_hand),
            "updated_at": _iso(item.qbo_updated_at),
        }
    if proposal is not None:
        row["proposed"] = _proposal_json(proposal)
    if mapping is not None:
        row["mapped"] = mapping.as_audit()
    return row


def _proposal_json(proposal: Proposal) -> dict[str, Any]:
    return {
        "code": proposal.sku.code,
        "method": proposal.method,
        "unit": proposal.unit,
        "bottles_per_unit": proposal.bottles_per_unit,
    }


def _sku_json(sku: CatalogSKU, **extra: Any) -> dict[str, Any]:
    return {
        "code": sku.code,
        "wine": sku.wine,
        "vintage": sku.vintage_label,
        "format_ml": sku.format_ml,
        "bottles_per_case": sku.bottles_per_case,
        **extra,
    }


def _detect(
    items: list[QBOItem],
    catalog: list[CatalogSKU],
    mappings: dict[str, SKUMapping],
) -> tuple[list[Detected], dict[str, Proposal]]:
    """The conflicts these facts raise, and the items' single proposals (which become
    automatic mappings unless the item is in a conflict or already mapped)."""
    indexed = [(sku, catalog_words(sku)) for sku in catalog if sku.active]
    by_id = {item.qbo_id: item for item in items}
    detected: list[Detected] = []
    single: dict[str, Proposal] = {}
    # (sku code, unit, bottles per unit) -> the items that count that SKU in that unit.
    claims: dict[tuple[str, str, int], list[str]] = defaultdict(list)

    for qbo_id, mapping in mappings.items():
        item = by_id.get(qbo_id)
        changed = (
            item is None
            or not item.active
            or normalise(item.name) != normalise(mapping.item_name)
            or item.sku.strip().upper() != mapping.item_sku.strip().upper()
        )
        if changed:
            facts = _item_facts(item) if item else [qbo_id, "deleted"]
            proposals = proposals_for(item, indexed) if item and item.active else []
            skus = [_sku_json(mapping.catalog_sku, via="current mapping")]
            skus += [
                _sku_json(p.sku, via=p.method)
                for p in proposals
                if p.sku.code != mapping.catalog_sku.code
            ]
            detected.append(
                Detected(
                    kind=Kind.ITEM_CHANGED,
                    fingerprint=_digest(Kind.ITEM_CHANGED, facts, mapping.as_audit()),
                    item_qbo_id=qbo_id,
                    sku_code=mapping.catalog_sku.code,
                    candidates={
                        "items": [
                            _item_json(
                                item,
                                qbo_id=qbo_id,
                                mapping=mapping,
                                proposal=proposals[0] if len(proposals) == 1 else None,
                            )
                        ],
                        "skus": skus,
                        "mapping": mapping.as_audit(),
                    },
                    item_ids=(qbo_id,),
                )
            )
        if item is not None and item.active:
            key = (mapping.catalog_sku.code, mapping.unit, mapping.bottles_per_unit)
            claims[key].append(qbo_id)

    for item in items:
        if not item.active or item.qbo_id in mappings:
            continue
        proposals = proposals_for(item, indexed)
        if len(proposals) == 1:
            p = proposals[0]
            single[item.qbo_id] = p
            claims[(p.sku.code, p.unit, p.bottles_per_unit)].append(item.qbo_id)
        elif len(proposals) > 1:
            codes = sorted(p.sku.code for p in proposals)
            detected.append(
                Detected(
                    kind=Kind.AMBIGUOUS_ITEM,
                    fingerprint=_digest(Kind.AMBIGUOUS_ITEM, _item_facts(item), codes),
                    item_qbo_id=item.qbo_id,
                    candidates={
                        "items": [_item_json(item, qbo_id=item.qbo_id)],
                        "skus": [
                            _sku_json(
                                p.sku,
                                via=p.method,
                                unit=p.unit,
                                bottles_per_unit=p.bottles_per_unit,
                            )
                            for p in proposals
                        ],
                    },
                    item_ids=(item.qbo_id,),
                )
            )
        elif looks_like_une_femme(item):
            detected.append(
                Detected(
                    kind=Kind.UNMATCHED,
                    fingerprint=_digest(Kind.UNMATCHED, _item_facts(item)),
                    item_qbo_id=item.qbo_id,
                    candidates={"items": [_item_json(item, qbo_id=item.qbo_id)], "skus": []},
                    item_ids=(item.qbo_id,),
                )
            )

    skus_by_code = {sku.code: sku for sku in catalog}
    for (code, unit, per_unit), qbo_ids in sorted(claims.items()):
        if len(qbo_ids) < 2:
            continue
        ids = sorted(qbo_ids, key=lambda i: (len(i), i))
        # Which items compete for the SKU is the fact decided on: renaming one of them is
        # an item_changed conflict of its own, not a new contest.
        detected.append(
            Detected(
                kind=Kind.DUPLICATE_ITEMS,
                fingerprint=_digest(Kind.DUPLICATE_ITEMS, code, unit, per_unit, ids),
                sku_code=code,
                candidates={
                    "items": [
                        _item_json(
                            by_id[i], qbo_id=i, proposal=single.get(i), mapping=mappings.get(i)
                        )
                        for i in ids
                    ],
                    "skus": [_sku_json(skus_by_code[code], unit=unit, bottles_per_unit=per_unit)],
                },
                item_ids=tuple(ids),
            )
        )
    return detected, single


def _lock_connection(connection_id: int) -> QBOConnection:
    # One refresh or decision at a time per connection: a sync's refresh and an admin's
    # choice must not both decide the same item from the same stale facts.
    try:
        connection: QBOConnection = QBOConnection.objects.select_for_update().get(pk=connection_id)
    except QBOConnection.DoesNotExist:
        raise ValidationError("This QuickBooks connection no longer exists.") from None
    return connection


@transaction.atomic
def mapping_refresh(*, connection_id: int) -> RefreshResult:
    """Match the connection's items to the catalog again; raise and close conflicts."""
    connection = _lock_connection(connection_id)
    return _refresh(connection)


def _refresh(connection: QBOConnection) -> RefreshResult:
    now = timezone.now()
    items = list(QBOItem.objects.filter(connection=connection).order_by("qbo_id"))
    catalog = list(CatalogSKU.objects.all())
    mappings = {
        m.item_qbo_id: m
        for m in SKUMapping.objects.filter(connection=connection).select_related("catalog_sku")
    }
    detected, single = _detect(items, catalog, mappings)
    result = RefreshResult()

    fingerprints = {d.fingerprint for d in detected}
    known = {
        c.fingerprint: c
        for c in MappingConflict.objects.filter(connection=connection).filter(
            fingerprint__in=fingerprints
        )
    }
    in_conflict: set[str] = set()
    for found in detected:
        conflict = known.get(found.fingerprint)
        in_conflict.update(found.item_ids)
        if conflict is None:
            MappingConflict.objects.create(
                connection=connection,
                kind=found.kind,
                fingerprint=found.fingerprint,
                item_qbo_id=found.item_qbo_id,
                sku_code=found.sku_code,
                candidates=found.candidates,
                detected_at=now,
                last_seen_at=now,
            )
            result.opened += 1
        elif conflict.is_open:
            conflict.candidates = found.candidates
            conflict.last_seen_at = now
            conflict.save(update_fields=["candidates", "last_seen_at"])
        # A resolved or ignored conflict with the same facts stays as decided.

    for conflict in (
        MappingConflict.objects.open()
        .filter(connection=connection)
        .exclude(fingerprint__in=fingerprints)
    ):
        before = {"status": conflict.status}
        conflict.status = MappingConflict.Status.RESOLVED
        conflict.decided_at = now
        conflict.outcome = "No longer applies: QuickBooks or the catalog changed."
        conflict.save(update_fields=["status", "decided_at", "outcome"])
        MappingDecision.objects.create(
            connection=connection,
            conflict=conflict,
            action=MappingDecision.Action.CLOSED_BY_SYNC,
            before=before,
            after={"status": conflict.status},
            created_at=now,
        )
        result.closed += 1

    by_id = {item.qbo_id: item for item in items}
    new = [
        SKUMapping(
            connection=connection,
            catalog_sku=proposal.sku,
            item_qbo_id=qbo_id,
            unit=proposal.unit,
            bottles_per_unit=proposal.bottles_per_unit,
            method=proposal.method,
            item_name=by_id[qbo_id].name,
            item_sku=by_id[qbo_id].sku,
            created_at=now,
            updated_at=now,
        )
        for qbo_id, proposal in single.items()
        if qbo_id not in in_conflict
    ]
    SKUMapping.objects.bulk_create(new)
    result.mapped = len(new)
    result.open = MappingConflict.objects.open().filter(connection=connection).count()
    return result


# ------------------------------------------------------------------ admins' decisions


def _open_conflict(conflict_id: int) -> tuple[MappingConflict, QBOConnection]:
    row = MappingConflict.objects.filter(pk=conflict_id).values_list("connection_id", flat=True)
    connection_id = row.first()
    if connection_id is None:
        raise ValidationError("This conflict no longer exists.")
    connection = _lock_connection(connection_id)
    conflict = MappingConflict.objects.get(pk=conflict_id)
    if not conflict.is_open:
        raise ValidationError(
            "This conflict was already settled"
            + (f" ({conflict.outcome})" if conflict.outcome else "")
            + ". Nothing was changed."
        )
    return conflict, connection


def _conflict_item_ids(conflict: MappingConflict) -> list[str]:
    return [str(row["qbo_id"]) for row in conflict.candidates.get("items", [])]


def _decide(
    conflict: MappingConflict,
    *,
    user: User,
    status: str,
    action: str,
    outcome: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> MappingDecision:
    now = timezone.now()
    before = {"status": conflict.status, **before}
    conflict.status = status
    conflict.decided_at = now
    conflict.decided_by = user
    conflict.outcome = outcome
    conflict.save(update_fields=["status", "decided_at", "decided_by", "outcome"])
    return MappingDecision.objects.create(
        connection_id=conflict.connection_id,
        conflict=conflict,
        actor=user,
        action=action,
        before=before,
        after={"status": status, **after},
        created_at=now,
    )


def _mappings_json(mappings: Iterable[SKUMapping]) -> list[dict[str, Any]]:
    return [m.as_audit() for m in mappings]


@transaction.atomic
def conflict_choose(
    *,
    conflict_id: int,
    user: User,
    sku_code: str,
    item_qbo_id: str | None = None,
    unit: str | None = None,
    bottles_per_unit: int | None = None,
) -> SKUMapping:
    """Map one of the conflict's items to ``sku_code`` (decided by an admin). For several
    items competing for a SKU, the other items lose their mapping to it."""
    conflict, connection = _open_conflict(conflict_id)
    item_ids = _conflict_item_ids(conflict)
    if item_qbo_id is None:
        if len(item_ids) != 1:
            raise ValidationError("Choose which QuickBooks item stands for the SKU.")
        item_qbo_id = item_ids[0]
    if item_qbo_id not in item_ids:
        raise ValidationError("That item is not one of this conflict's candidates.")
    item = QBOItem.objects.filter(connection=connection, qbo_id=item_qbo_id).first()
    if item is None:
        raise ValidationError(
            "That item is no longer in the partner's QuickBooks; remove the mapping instead."
        )
    sku = CatalogSKU.objects.filter(code=sku_code.strip().upper()).first()
    if sku is None:
        raise ValidationError(f"“{sku_code}” is not a catalog SKU.")
    if not sku.active:
        raise ValidationError(f"{sku.code} is inactive in the catalog; reactivate it first.")
    if conflict.kind == Kind.DUPLICATE_ITEMS and sku.code != conflict.sku_code:
        raise ValidationError(f"This conflict is about {conflict.sku_code}, not {sku.code}.")

    default_unit, default_per_unit = unit_for(parse_name(item.name), sku)
    if conflict.kind == Kind.DUPLICATE_ITEMS:
        # The contest was for the SKU in one unit; the winner keeps that unit, or the
        # losers would stop competing and be mapped automatically by the next sync.
        contested = conflict.candidates["skus"][0]
        unit, bottles_per_unit = contested["unit"], contested["bottles_per_unit"]
    unit = unit or default_unit
    if unit not in Unit.values:
        raise ValidationError("The unit must be bottle or case.")
    if unit == Unit.BOTTLE:
        per_unit = 1
    else:
        per_unit = bottles_per_unit or (
            default_per_unit if default_unit == Unit.CASE else sku.bottles_per_case
        )
    if not 1 <= per_unit <= 1000:
        raise ValidationError("Bottles per case must be between 1 and 1000.")

    # The SKU's other claimants in this conflict (several items for one SKU) give way.
    losers = SKUMapping.objects.filter(
        connection=connection, item_qbo_id__in=item_ids, catalog_sku=sku
    ).exclude(item_qbo_id=item_qbo_id)
    current = SKUMapping.objects.filter(connection=connection, item_qbo_id=item_qbo_id)
    before_rows = list(current.select_related("catalog_sku")) + list(
        losers.select_related("catalog_sku")
    )
    before = {"mappings": _mappings_json(before_rows)}
    losers.delete()
    now = timezone.now()
    decided = {
        "catalog_sku": sku,
        "unit": unit,
        "bottles_per_unit": per_unit,
        "method": Method.ADMIN,
        "item_name": item.name,
        "item_sku": item.sku,
        "decided_by": user,
        "updated_at": now,
    }
    mapping, _ = SKUMapping.objects.update_or_create(
        connection=connection,
        item_qbo_id=item_qbo_id,
        defaults=decided,
        create_defaults={**decided, "created_at": now},
    )
    label = "bottle" if unit == Unit.BOTTLE else f"case of {per_unit}"
    _decide(
        conflict,
        user=user,
        status=MappingConflict.Status.RESOLVED,
        action=MappingDecision.Action.CHOOSE,
        outcome=f"Mapped “{item.name}” to {sku.code}, counted per {label}.",
        before=before,
        after={"mappings": _mappings_json([mapping])},
    )
    _refresh(connection)
    return mapping


@transaction.atomic
def conflict_ignore(*, conflict_id: int, user: User) -> MappingConflict:
    """Leave things as they are; the same facts will not be raised again."""
    conflict, connection = _open_conflict(conflict_id)
    mappings = SKUMapping.objects.filter(
        connection=connection, item_qbo_id__in=_conflict_item_ids(conflict)
    ).select_related("catalog_sku")
    state = {"mappings": _mappings_json(mappings)}
    _decide(
        conflict,
        user=user,
        status=MappingConflict.Status.IGNORED,
        action=MappingDecision.Action.IGNORE,
        outcome="Ignored: left as it was.",
        before=state,
        after=state,
    )
    _refresh(connection)
    return conflict


@transaction.atomic
def conflict_unmap(*, conflict_id: int, user: User) -> MappingConflict:
    """Remove the mapping of a changed (renamed, deactivated, deleted) item."""
    conflict, connection = _open_conflict(conflict_id)
    if conflict.kind != Kind.ITEM_CHANGED:
        raise ValidationError("Only a changed item's mapping can be removed here.")
    mappings = SKUMapping.objects.filter(
        connection=connection, item_qbo_id=conflict.item_qbo_id
    ).select_related("catalog_sku")
    before = {"mappings": _mappings_json(mappings)}
    if not before["mappings"]:
        raise ValidationError("That item is not mapped any more.")
    mappings.delete()
    _decide(
        conflict,
        user=user,
        status=MappingConflict.Status.RESOLVED,
        action=MappingDecision.Action.UNMAP,
        outcome=f"Removed the mapping of item {conflict.item_qbo_id}.",
        before=before,
        after={"mappings": []},
    )
    # The item now goes through matching afresh, like any unmapped item.
    _refresh(connection)
    return conflict


@transaction.atomic
def conflict_settle_created(
    *, conflict_id: int, user: User, sku: CatalogSKU, item_qbo_id: str, item_name: str
) -> MappingConflict:
    """A push job created ``sku``'s item in the partner's QuickBooks for this conflict
    (the admin's "Create in QuickBooks"): the conflict is resolved, and a changed item's
    old mapping gives way to the new item. The new item carries the SKU's code as its
    Sku, so the next sync maps it like any other (method "sku"); mapping it here, before
    the mirror has the item, would make that sync see a mapping to an unknown item."""
    conflict, connection = _open_conflict(conflict_id)
    old = SKUMapping.objects.filter(connection=connection, item_qbo_id=conflict.item_qbo_id)
    before = {"mappings": _mappings_json(old.select_related("catalog_sku"))}
    if conflict.kind == Kind.ITEM_CHANGED:
        old.delete()
    _decide(
        conflict,
        user=user,
        status=MappingConflict.Status.RESOLVED,
        action=MappingDecision.Action.CREATE,
        outcome=f"Created “{item_name}” (item {item_qbo_id}) for {sku.code} in QuickBooks.",
        before=before,
        after={"created": {"item_qbo_id": item_qbo_id, "item_name": item_name, "sku": sku.code}},
    )
    return conflict


# ------------------------------------------------------------------ reads
