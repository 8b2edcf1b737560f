"""What every mirrored QuickBooks record shares, wherever the app that owns it.

An app owns the rows of the QuickBooks entities it reads (billing: customers, invoices,
payments; inventory: items). It declares each with a model on ``MirroredRecord`` and a
``MirrorSpec`` (how QuickBooks' JSON fills the model's columns), written beside the model,
and registers the spec when Django starts (its ``AppConfig.ready``). sync fetches pages and
CDC windows and hands each entity's objects to ``mirror_apply`` / ``mirror_prune`` here,
which find the spec in the registry: sync never imports the apps that own the rows, and
those apps never import sync. docs/architecture.md shows the flow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, ClassVar

from django.db import models
from django.db.models import BigIntegerField, Case, Value, When
from django.db.models.functions import Cast

from accounts.access import ConnectionScopedQuerySet

from .qbo_json import json_number, parse_time

CENT = Decimal("0.01")
QTY = Decimal("0.0001")
JSON = dict[str, Any]


class MirroredRecord(models.Model):
    """What every mirrored QuickBooks object carries besides its own columns: its id in
    that company (ids collide across companies, so each concrete model is unique on
    (connection, qbo_id)), the version and time QuickBooks last changed it, and the whole
    object as QuickBooks sent it. Each concrete model declares its own ``connection``
    foreign key to ``"sync.QBOConnection"`` (by name: the owning app imports nothing of
    sync), with its own related name."""

    qbo_id = models.CharField(max_length=32)
    sync_token = models.CharField(max_length=32, blank=True)
    qbo_updated_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict)

    objects: ClassVar[ConnectionScopedQuerySet] = ConnectionScopedQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        abstract = True


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class MirrorSpec:
    """How one QuickBooks entity is mirrored: the model its rows go to and how an object's
    JSON fills its columns (``fields``); for documents with lines, how the lines become
    child rows (``children``, into ``child_model`` under the foreign key ``child_parent``),
    replaced whole whenever the document changes. ``order`` places the entity in the
    import and in each CDC request (customers and items before the documents that name
    them)."""

    entity: str
    label: str  # what pages call its rows: "Invoices"
    model: type[models.Model]
    fields: Callable[[JSON], JSON]
    order: int
    children: Callable[[Any, JSON], list[models.Model]] | None = None
    child_model: type[models.Model] | None = None
    child_parent: str = ""

    @property
    def count_name(self) -> str:
        """What pages call the number of its rows: ``item_count`` for Item."""
        return f"{self.entity.lower()}_count"


@dataclass(frozen=True)
class AfterSync:
    """Work an app does once a sync of a connection has committed (inventory matches the
    items just synced to the catalog). It never fails the sync: see ``run_after_sync``."""

    name: str
    run: Callable[[int], object]


_SPECS: dict[str, MirrorSpec] = {}
_AFTER_SYNC: list[AfterSync] = []


def register(spec: MirrorSpec) -> None:
    """Make ``spec`` the way its entity is mirrored. Called from the owning app's
    ``AppConfig.ready``; registering an entity twice is a programming error."""
    if _SPECS.get(spec.entity, spec) != spec:
        raise ValueError(f"{spec.entity} is mirrored by two apps.")
    _SPECS[spec.entity] = spec


def register_after_sync(hook: AfterSync) -> None:
    if hook not in _AFTER_SYNC:
        _AFTER_SYNC.append(hook)


def spec_for(entity: str) -> MirrorSpec:
    return _SPECS[entity]


def specs() -> list[MirrorSpec]:
    """Every mirrored entity, in import order."""
    return sorted(_SPECS.values(), key=lambda spec: spec.order)


def entities() -> tuple[str, ...]:
    return tuple(spec.entity for spec in specs())


def model_for(entity: str) -> type[models.Model]:
    """The model of an entity another app owns, for a read that needs it (the invoice page
    names the items on its lines) without importing that app."""
    return spec_for(entity).model


def after_sync_hooks() -> list[AfterSync]:
    return list(_AFTER_SYNC)


# ---------------------------------------------------------------- reading QuickBooks' JSON


def decimal_at(value: Any, step: Decimal) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value)).quantize(step, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None


def money(value: Any) -> Decimal:
    return decimal_at(value, CENT) or Decimal("0.00")


def qty(value: Any) -> Decimal | None:
    return decimal_at(value, QTY)


def date_of(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def text(value: Any, limit: int) -> str:
    return "" if value is None else str(value)[:limit]


def ref(obj: JSON, key: str) -> tuple[str, str]:
    found = obj.get(key) or {}
    if not isinstance(found, dict):
        return "", ""
    return text(found.get("value"), 32), text(found.get("name"), 255)


def updated_at(obj: JSON) -> datetime | None:
    return parse_time((obj.get("MetaData") or {}).get("LastUpdatedTime"))


def is_voided(obj: JSON) -> bool:
    # QBO keeps a voided transaction with its amounts zeroed and "Voided" in PrivateNote
    # (docs/qbo-api.md §6, python-quickbooks' test_payment::test_void).
    note = str(obj.get("PrivateNote") or "")
    return note.lower().startswith("voided") and money(obj.get("TotalAmt")) == 0


def jsonable(value: Any) -> Any:
    """QBO's document with Decimals back as JSON numbers, for the ``raw`` column."""
    if isinstance(value, Decimal):
        return json_number(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def common_columns(obj: JSON) -> JSON:
    """The columns of ``MirroredRecord`` itself, for any entity."""
    return {
        "sync_token": text(obj.get("SyncToken"), 32),
        "qbo_updated_at": updated_at(obj),
        "raw": jsonable(obj),
    }


# ---------------------------------------------------------------- applying changes


@dataclass
class Applied:
    upserted: int = 0
    deleted: int = 0
    unchanged: int = 0

    def add(self, other: Applied) -> None:
        self.upserted += other.upserted
        self.deleted += other.deleted
        self.unchanged += other.unchanged

    def as_dict(self) -> dict[str, int]:
        return {"upserted": self.upserted, "deleted": self.deleted, "unchanged": self.unchanged}

    @property
    def wrote(self) -> bool:
        return bool(self.upserted or self.deleted)


def _token_number(token: str) -> int | None:
    return int(token) if token.isdigit() else None


def _is_newer(obj: JSON, stored: tuple[str, datetime | None]) -> bool | None:
    """True to write, False if identical to what is stored, None if older (skip)."""
    token = text(obj.get("SyncToken"), 32)
    stored_token, stored_at = stored
    if token == stored_token and updated_at(obj) == stored_at:
        return False
    new, old = _token_number(token), _token_number(stored_token)
    if new is not None and old is not None and new < old:
        return None  # an older version than we hold: never go backwards
    return True


def _latest(objects: Iterable[JSON]) -> dict[str, JSON]:
    """One entry per Id: the most recently updated; on a tie a deletion wins."""
    latest: dict[str, JSON] = {}
    for obj in objects:
        key = str(obj.get("Id") or "")
        if not key:
            continue
        seen = latest.get(key)
        if seen is None:
            latest[key] = obj
            continue
        a, b = updated_at(obj), updated_at(seen)
        if (a and b and a > b) or (a == b and obj.get("status") == "Deleted"):
            latest[key] = obj
    return latest


def mirror_apply(*, connection_id: int, entity: str, objects: Iterable[JSON]) -> Applied:
    """Upsert live objects and delete tombstoned ones (``"status": "Deleted"``)."""
    spec = spec_for(entity)
    manager = spec.model._default_manager
    latest = _latest(objects)
    deleted_ids = [key for key, obj in latest.items() if obj.get("status") == "Deleted"]
    live = {key: obj for key, obj in latest.items() if obj.get("status") != "Deleted"}
    result = Applied()

    if deleted_ids:
        doomed = manager.filter(connection_id=connection_id, qbo_id__in=deleted_ids)
        result.deleted = doomed.count()
        if result.deleted:
            doomed.delete()
        result.unchanged += len(deleted_ids) - result.deleted

    if not live:
        return result
    stored = {
        qbo_id: (token, at)
        for qbo_id, token, at in manager.filter(
            connection_id=connection_id, qbo_id__in=list(live)
        ).values_list("qbo_id", "sync_token", "qbo_updated_at")
    }
    changed: list[tuple[str, JSON]] = []
    for key, obj in live.items():
        verdict = _is_newer(obj, stored[key]) if key in stored else True
        if verdict:
            changed.append((key, obj))
        else:
            result.unchanged += 1
    if not changed:
        return result

    rows = [
        spec.model(
            connection_id=connection_id, qbo_id=key, **spec.fields(obj), **common_columns(obj)
        )
        for key, obj in changed
    ]
    update_fields = [*spec.fields(changed[0][1]), *common_columns(changed[0][1])]
    # One INSERT ... ON CONFLICT (connection, qbo_id) DO UPDATE for the batch; on
    # PostgreSQL it returns every row's primary key, which the children need.
    saved = manager.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["connection", "qbo_id"],
        update_fields=update_fields,
        batch_size=500,
    )
    result.upserted = len(saved)
    if spec.children is not None and spec.child_model is not None:
        children_manager = spec.child_model._default_manager
        children_manager.filter(**{f"{spec.child_parent}__in": [r.pk for r in saved]}).delete()
        children: list[models.Model] = []
        for row, (_, obj) in zip(saved, changed, strict=True):
            children.extend(spec.children(row, obj))
        children_manager.bulk_create(children, batch_size=1000)
    return result


def mirror_prune(
    *, connection_id: int, entity: str, after_id: str, last_id: str | None, keep: set[str]
) -> int:
    """Delete stored rows an import page proves gone: Ids in (after_id, last_id] that the
    page did not return (``last_id`` None: every Id after ``after_id``).

    Only a re-import can find any (the first import starts from an empty mirror); it is
    how deletions that happened while CDC was out of reach are caught.
    """
    manager = spec_for(entity).model._default_manager
    rows = manager.filter(connection_id=connection_id)
    if not rows.exists():
        return 0
    # QBO Ids are numeric strings, compared as numbers; CASE keeps the cast away from
    # anything that is not a number.
    numbered = rows.annotate(
        number=Case(
            When(qbo_id__regex=r"^[0-9]{1,18}$", then=Cast("qbo_id", BigIntegerField())),
            default=Value(None),
            output_field=BigIntegerField(),
        )
    )
    if after_id:
        numbered = numbered.filter(number__gt=int(after_id))
    if last_id is not None:
        numbered = numbered.filter(number__lte=int(last_id))
    doomed = numbered.filter(number__isnull=False).exclude(qbo_id__in=keep)
    count: int = doomed.count()
    if count:
        manager.filter(pk__in=list(doomed.values_list("pk", flat=True))).delete()
    return count
