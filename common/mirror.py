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

import csv
import io
import json
import operator
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, ClassVar

from django.db import connection, models, transaction
from django.db.models import BigIntegerField, Case, Value, When
from django.db.models.functions import Cast
from django.utils import timezone
from psycopg import sql
from psycopg.types.json import Json, Jsonb

from accounts.access import ConnectionScopedQuerySet

from . import generations
from .db import copy_text
from .qbo_json import json_default, parse_time

CENT = Decimal("0.01")
QTY = Decimal("0.0001")
JSON = dict[str, Any]


class RawJSONField(models.JSONField):
    """A JSONField stored as PostgreSQL ``json`` (the text, checked to be JSON) instead of
    ``jsonb`` (parsed into a binary tree on the way in).

    ``raw`` is the object exactly as QuickBooks sent it, read back whole and never queried
    into, so jsonb's parse bought nothing and cost about a third of the import's database
    time (docs/architecture.md, "The write path"); ``json`` also keeps the text as sent.
    What it gives up: ``json`` has no equality, so a query may not DISTINCT, GROUP BY or
    UNION whole mirror rows, and it has no containment lookups (``raw__contains``).
    """

    def db_type(self, connection: Any) -> str:
        return "json"

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        adapted = super().get_db_prep_value(value, connection, prepared)
        # Django adapts JSON for jsonb; the same document goes as psycopg's Json (json).
        if isinstance(adapted, Jsonb):
            return Json(adapted.obj, dumps=adapted.dumps)
        return adapted

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # psycopg decodes json columns itself (Django hands it only jsonb's text).
        if not isinstance(value, str):
            return value
        return super().from_db_value(value, expression, connection)


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
    raw = RawJSONField(default=dict)

    objects: ClassVar[ConnectionScopedQuerySet] = ConnectionScopedQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        abstract = True


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class MirrorSpec:
    """How one QuickBooks entity is mirrored: the model its rows go to and how an object's
    JSON fills its columns (``fields``: every column of the model but the ones
    ``MirroredRecord`` and the connection fill); for documents with lines, how the lines
    become child rows (``children``: each line's columns but its parent, into
    ``child_model`` under the foreign key ``child_parent``), replaced whole whenever the
    document changes. ``order`` places the entity in the
    import and in each CDC request (customers and items before the documents that name
    them)."""

    entity: str
    label: str  # what pages call its rows: "Invoices"
    model: type[models.Model]
    fields: Callable[[JSON], JSON]
    order: int
    children: Callable[[JSON], list[JSON]] | None = None
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


@dataclass(frozen=True)
class AfterImport:
    """A read an app makes from QuickBooks once a company's import has stored every page,
    through the import's own client: what CDC does not carry (inventory reads the
    CustomerType names), read once. Its requests go through the realm's limiter and are
    counted in the import's run like the import's own (docs/reliability.md: every request
    sent to QuickBooks is in a run's log). A failure is logged; it never fails the import."""

    name: str
    read: Callable[[int, Any], object]


_SPECS: dict[str, MirrorSpec] = {}
_AFTER_SYNC: list[AfterSync] = []
_AFTER_IMPORT: list[AfterImport] = []


def register(spec: MirrorSpec) -> None:
    """Make ``spec`` the way its entity is mirrored. Called from the owning app's
    ``AppConfig.ready``; registering an entity twice is a programming error."""
    if _SPECS.get(spec.entity, spec) != spec:
        raise ValueError(f"{spec.entity} is mirrored by two apps.")
    _SPECS[spec.entity] = spec


def register_after_sync(hook: AfterSync) -> None:
    if hook not in _AFTER_SYNC:
        _AFTER_SYNC.append(hook)


def register_after_import(hook: AfterImport) -> None:
    if hook not in _AFTER_IMPORT:
        _AFTER_IMPORT.append(hook)


def after_import_hooks() -> list[AfterImport]:
    return list(_AFTER_IMPORT)


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
    kind = type(value)
    # Decimals and ints (most of an import's numbers) skip the round trip through str.
    if kind is Decimal or kind is int:
        number = Decimal(value)
    elif value is None or value == "" or kind is bool:
        return None
    else:
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return None
    try:
        return number.quantize(step, rounding=ROUND_HALF_UP)
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


# ---------------------------------------------------------------- applying changes


@dataclass
class Applied:
    """What a sync did to one entity's mirror rows, and what it cost beyond the poll's own
    request (SyncRun.counts; docs/qbo-api.md §3, "Open questions")."""

    upserted: int = 0
    deleted: int = 0
    unchanged: int = 0
    # Requests spent reading the entity whole because its CDC answer hit the 1,000 cap.
    reread_requests: int = 0
    # CDC tombstones checked against QuickBooks, the requests that took, and how many of
    # them named objects that still exist (kept, with their current version).
    tombstones_checked: int = 0
    tombstone_requests: int = 0
    tombstones_live: int = 0

    def add(self, other: Applied) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        # The three counts always; the costs only when there were any, so an ordinary
        # run's log stays as short as before.
        core = ("upserted", "deleted", "unchanged")
        return {name: value for name, value in vars(self).items() if name in core or value}

    @property
    def wrote(self) -> bool:
        return bool(self.upserted or self.deleted)


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


def mirror_apply(
    *,
    connection_id: int,
    entity: str,
    objects: Iterable[JSON],
    texts: Sequence[str] | None = None,
    run_id: int | None = None,
) -> Applied:
    """Upsert live objects and delete tombstoned ones (``"status": "Deleted"``):
    ``mirror_prepare`` then ``mirror_write``."""
    return mirror_write(
        mirror_prepare(connection_id=connection_id, entity=entity, objects=objects, texts=texts),
        run_id=run_id,
    )


@dataclass(frozen=True)
class Prepared:
    """QuickBooks objects turned into the rows ``mirror_write`` stores, already in COPY's
    text format: the live objects' rows (columns in ``_table`` order); each one's lines as
    CSV lines of every column but the parent's key, which is known only once the parent
    is written and is then put in front of them; the Ids of tombstones, and each one as
    QuickBooks sent it (what its "deleted" version keeps)."""

    entity: str
    connection_id: int
    deleted_ids: list[str]
    live: int
    rows: str
    children: dict[str, list[str]]  # by qbo_id
    tombstones: list[str] = field(default_factory=list)  # parallel to deleted_ids


def mirror_prepare(
    *, connection_id: int, entity: str, objects: Iterable[JSON], texts: Sequence[str] | None = None
) -> Prepared:
    """Everything of applying ``objects`` that needs no database: the import runs it on the
    thread that fetches the next page, while this one's rows are written.

    ``texts``, when given, holds each object's JSON exactly as QuickBooks sent it (parallel
    to ``objects``): it goes into ``raw`` as it is, with no re-encoding. Without it the
    object is encoded again (numbers as ``json_number`` makes them).
    """
    spec = spec_for(entity)
    objects = list(objects)
    raw_of: dict[int, str] = {}
    if texts is not None and len(texts) == len(objects):
        raw_of = {id(obj): text for obj, text in zip(objects, texts, strict=True)}
    latest = _latest(objects)
    table = _table(spec.model)
    row_values = operator.itemgetter(*table.columns)
    child_values = (
        operator.itemgetter(*_child_table(spec).columns) if spec.children is not None else None
    )
    deleted_ids: list[str] = []
    tombstones: list[str] = []
    rows: list[str] = []
    children: dict[str, list[str]] = {}
    # The lines of the whole page are formatted into one buffer, each one's end noted, and
    # cut into one string per line: the writing thread then only prefixes each with its
    # parent's key (formatting them there took a tenth of its time).
    lines = io.StringIO()
    write_line = csv_writer(lines).writerow
    ends = [0]
    owners: list[str] = []
    for key, obj in latest.items():
        found = raw_of.get(id(obj))
        if obj.get("status") == "Deleted":
            deleted_ids.append(key)
            tombstones.append(found if found is not None else _encoded(obj))
            continue
        row = spec.fields(obj)
        row["connection_id"] = connection_id
        row["qbo_id"] = key
        row["sync_token"] = text(obj.get("SyncToken"), 32)
        row["qbo_updated_at"] = updated_at(obj)
        row["raw"] = found if found is not None else _encoded(obj)
        rows.append(copy_line(row_values(row)))
        if child_values is not None:
            assert spec.children is not None
            for child in spec.children(obj):
                write_line(child_values(child))
                ends.append(lines.tell())
                owners.append(key)
            children[key] = []
    if owners:
        formatted = lines.getvalue()
        for owner, start, end in zip(owners, ends, ends[1:], strict=False):
            children[owner].append(formatted[start:end])
    return Prepared(
        entity, connection_id, deleted_ids, len(rows), "".join(rows), children, tombstones
    )


def csv_writer(buffer: io.StringIO) -> Any:
    """Lines as PostgreSQL's COPY reads CSV, from tuples of Python values: text quoted,
    numbers (Decimal, int, bool as True/False) bare, dates and times as ISO text. None and
    "" both become a quoted empty value; ``copy_text(csv_nulls=...)`` makes it NULL in the
    columns that may be NULL, and ``_csv_table`` ensures no text column is one of them.
    Lines are many small rows, which the csv module (C) formats faster than ``copy_line``;
    documents' rows are few and long, and CSV's doubling of every quote in ``raw`` made
    them several times slower."""
    return csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")


def mirror_write(prepared: Prepared, *, run_id: int | None = None) -> Applied:
    """Store what ``mirror_prepare`` made, in one transaction (the caller's, if any).

    The write is PostgreSQL's COPY into a temporary staging table and one ``INSERT ... ON
    CONFLICT ... DO UPDATE ... WHERE`` from it, which writes a row only when its version
    differs from the stored one and never an older version over a newer one; the changed
    rows' lines are replaced whole. COPY takes the rows as one stream with no model
    instance and no placeholder per value, which is what makes an import of 100,000
    invoices a matter of seconds (docs/architecture.md, "The write path").

    Every row written, and every row deleted, leaves a ``MirrorVersion`` (of sync run
    ``run_id``) written by the same statements: what changed is only known inside them,
    and a row left unchanged leaves none (docs/architecture.md, "The mirror's history").
    """
    spec = spec_for(prepared.entity)
    result = Applied()
    seen_at = timezone.now()
    with transaction.atomic():
        if prepared.deleted_ids:
            manager = spec.model._default_manager
            # The versions first: they read the rows' last token before the rows go.
            result.deleted = _versions_of_deleted(
                spec,
                prepared.connection_id,
                dict(zip(prepared.deleted_ids, prepared.tombstones, strict=False)),
                run_id=run_id,
                seen_at=seen_at,
            )
            if result.deleted:
                manager.filter(
                    connection_id=prepared.connection_id, qbo_id__in=prepared.deleted_ids
                ).delete()
            result.unchanged += len(prepared.deleted_ids) - result.deleted
        if not prepared.live:
            if result.deleted:
                generations.bump(generations.mirror(prepared.connection_id))
            return result
        written = _upsert(
            _table(spec.model),
            prepared.rows,
            history=_History.of(spec),
            entity=spec.entity,
            run_id=run_id,
            seen_at=seen_at,
        )
        result.upserted = len(written)
        result.unchanged += prepared.live - len(written)
        if spec.children is not None and written:
            children = _child_table(spec)
            parent = f"{spec.child_parent}_id"
            replaced = [pk for pk, _, inserted in written if not inserted]
            if replaced:
                with connection.cursor() as cursor:
                    cursor.execute(
                        sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(
                            sql.Identifier(children.name), sql.Identifier(parent)
                        ),
                        [replaced],
                    )
            # Each line behind its parent's key, known only now.
            lines = "".join(
                [f"{pk},{line}" for pk, qbo_id, _ in written for line in prepared.children[qbo_id]]
            )
            copy_text(
                children.name, [parent, *children.columns], lines, csv_nulls=children.nullable
            )
        if result.wrote:
            # In this transaction: cached figures of this company are recomputed exactly
            # when the change becomes visible (common.generations).
            generations.bump(generations.mirror(prepared.connection_id))
    return result


# ---------------------------------------------------------------- the history


# Columns every mirrored row has that a version keeps in its own fields, not in
# ``changes``; ``raw`` (json) has no equality to compare with anyway.
_NOT_COMPARED = frozenset({"connection_id", "qbo_id", "sync_token", "qbo_updated_at", "raw"})
# jsonb_build_object takes at most 100 arguments: the changes are built 40 columns at a time.
_PAIRS_PER_CALL = 40


def _versions_table() -> sql.Identifier:
    # Imported here: common.models imports this module for RawJSONField.
    from .models import MirrorVersion

    return sql.Identifier(MirrorVersion._meta.db_table)


@dataclass(frozen=True)
class _History:
    """The SQL that turns one entity's written rows into versions: ``changes`` as
    {column: [before, after]} of the columns compared (``o``: the stored row as it was,
    ``w``: as written), and whether the entity can be voided."""

    changes: sql.Composable
    voidable: bool

    _cache: ClassVar[dict[type[models.Model], _History]] = {}

    @classmethod
    def of(cls, spec: MirrorSpec) -> _History:
        found = cls._cache.get(spec.model)
        if found is None:
            columns = [
                str(f.column)
                for f in spec.model._meta.concrete_fields
                if not f.primary_key
                and f.column not in _NOT_COMPARED
                and f.db_type(connection) not in ("json", "jsonb")
            ]
            calls = [
                sql.SQL("jsonb_build_object({})").format(
                    sql.SQL(", ").join(
                        sql.SQL(
                            "{name}, CASE WHEN o.{col} IS DISTINCT FROM w.{col} "
                            "THEN jsonb_build_array(o.{col}, w.{col}) END"
                        ).format(name=sql.Literal(column), col=sql.Identifier(column))
                        for column in columns[start : start + _PAIRS_PER_CALL]
                    )
                )
                for start in range(0, len(columns), _PAIRS_PER_CALL)
            ]
            # An unchanged column's pair is NULL, which jsonb_strip_nulls drops.
            changes = (
                sql.SQL("jsonb_strip_nulls({})").format(sql.SQL(" || ").join(calls))
                if calls
                else sql.SQL("'{}'::jsonb")
            )
            found = cls._cache[spec.model] = cls(changes, "voided" in columns)
        return found


def _versions_of_deleted(
    spec: MirrorSpec,
    connection_id: int,
    tombstones: Mapping[str, str | None],
    *,
    run_id: int | None,
    seen_at: datetime,
) -> int:
    """A "deleted" version for each stored row of ``tombstones``' Ids (the tombstone as
    sent, None when nothing was), written before the rows are deleted; how many."""
    if not tombstones:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "INSERT INTO {versions} (connection_id, entity, qbo_id, kind, sync_token, "
                "seen_at, sync_run_id, changes, raw) "
                "SELECT t.connection_id, %s, t.qbo_id, 'deleted', t.sync_token, %s, %s, "
                "'{{}}'::jsonb, d.raw::json "
                "FROM {table} t JOIN unnest(%s::text[], %s::text[]) AS d(qbo_id, raw) "
                "ON d.qbo_id = t.qbo_id WHERE t.connection_id = %s"
            ).format(versions=_versions_table(), table=sql.Identifier(spec.model._meta.db_table)),
            [
                spec.entity,
                seen_at,
                run_id,
                list(tombstones),
                list(tombstones.values()),
                connection_id,
            ],
        )
        written: int = cursor.rowcount
        return written


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]  # every concrete column but the primary key, model order
    nullable: tuple[str, ...]  # those of them that may be NULL
    stage: str  # the session's staging table for these columns and types (see _upsert)


_TABLES: dict[tuple[type[models.Model], tuple[str, ...]], _Table] = {}


def _table(model: type[models.Model], exclude: tuple[str, ...] = ()) -> _Table:
    found = _TABLES.get((model, exclude))
    if found is None:
        fields = [
            field
            for field in model._meta.concrete_fields
            if not field.primary_key and field.column not in exclude
        ]
        columns = tuple(str(field.column) for field in fields)
        types = "\t".join(f"{f.column} {f.db_type(connection)}" for f in fields)
        found = _TABLES[(model, exclude)] = _Table(
            model._meta.db_table,
            columns,
            tuple(str(field.column) for field in fields if field.null),
            f"stage_{model._meta.db_table}_{zlib.crc32(types.encode()):08x}",
        )
    return found


def _csv_table(model: type[models.Model], exclude: tuple[str, ...] = ()) -> _Table:
    # Rows go in as CSV, where NULL and an empty string are told apart by column (see
    # csv_writer): a nullable text column would lose its empty strings.
    assert not any(
        field.null and isinstance(field, models.CharField | models.TextField)
        for field in model._meta.concrete_fields
    ), f"{model.__name__}: a nullable text column cannot be mirrored"
    table = _table(model, exclude)
    assert len(table.columns) > 1, model  # itemgetter of one column gives no tuple
    return table


def _child_table(spec: MirrorSpec) -> _Table:
    assert spec.child_model is not None, spec.entity
    return _csv_table(spec.child_model, exclude=(f"{spec.child_parent}_id",))


def _encoded(obj: JSON) -> str:
    return json.dumps(obj, default=json_default, ensure_ascii=False, separators=(",", ":"))


def copy_line(values: Sequence[Any]) -> str:
    """One row in COPY's text format (tab-separated, ``\\N`` for NULL, backslash escapes),
    made where the rows are prepared so that the writing thread only sends them."""
    return "\t".join([_copy_value(value) for value in values]) + "\n"


def _copy_value(value: Any) -> str:
    kind = type(value)
    if kind is str:
        if "\\" in value:
            value = value.replace("\\", "\\\\")
        if "\t" in value or "\n" in value or "\r" in value:
            value = value.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        return str(value)
    if value is None:
        return "\\N"
    if kind is bool:
        return "t" if value else "f"
    if kind is Decimal:
        return format(value, "f")
    if kind is datetime or kind is date:
        return str(value.isoformat())
    if kind is int:
        return str(value)
    raise TypeError(f"no COPY text for a {kind.__name__} column value")


def _upsert(
    table: _Table,
    rows: str,
    *,
    history: _History,
    entity: str,
    run_id: int | None,
    seen_at: datetime,
) -> list[tuple[int, str, bool]]:
    """COPY ``rows`` into a staging table, then insert new ones and update changed ones,
    with a version of each; returns (pk, qbo_id, inserted) of each row written."""
    stage = sql.Identifier(table.stage)
    columns = sql.SQL(", ").join(map(sql.Identifier, table.columns))
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(column))
        for column in table.columns
        if column not in ("connection_id", "qbo_id")
    )
    returned = sql.SQL(", ").join(
        sql.SQL("t.{0} AS {0}").format(sql.Identifier(column)) for column in table.columns
    )
    kind = (
        sql.SQL("WHEN w._inserted THEN 'created' WHEN w.voided AND c ? 'voided' THEN 'voided'")
        if history.voidable
        else sql.SQL("WHEN w._inserted THEN 'created'")
    )
    with connection.cursor() as cursor:
        # The staging table lives as long as the database session and is emptied at each
        # commit: creating and dropping one per page changed the catalog twice a page. Its
        # name carries the columns and their types, so a session that outlives a
        # migration makes a new one. A second page in the same transaction finds it
        # holding the first's rows.
        cursor.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
                "SELECT {columns} FROM {table} WITH NO DATA; DELETE FROM {stage}"
            ).format(stage=stage, columns=columns, table=sql.Identifier(table.name))
        )
    copy_text(table.stage, table.columns, rows)
    with connection.cursor() as cursor:
        # Written: a new Id, or a version that differs from the stored one (SyncToken or
        # LastUpdatedTime) unless both tokens are numbers and the stored one is higher, an
        # older version arriving late (docs/reliability.md #15). xmax = 0 tells an insert
        # from an update: only updated rows have lines to replace.
        #
        # The versions are written by the same statement: every sub-statement of a WITH
        # reads the snapshot taken before any of them wrote, so ``o`` (the table read by
        # id) is each updated row as it was, and ``w`` (RETURNING) as it is now. The
        # lookup of ``o`` only runs for updates (a CASE evaluates only the branch it
        # takes), so an import's inserts pay for none.
        cursor.execute(
            sql.SQL(
                "WITH written AS ("
                "INSERT INTO {table} AS t ({columns}) SELECT {columns} FROM {stage} "
                "ON CONFLICT (connection_id, qbo_id) DO UPDATE SET {updates} "
                "WHERE (t.sync_token, t.qbo_updated_at) "
                "IS DISTINCT FROM (EXCLUDED.sync_token, EXCLUDED.qbo_updated_at) "
                "AND NOT COALESCE(CASE WHEN t.sync_token ~ '^[0-9]{{1,30}}$' "
                "AND EXCLUDED.sync_token ~ '^[0-9]{{1,30}}$' "
                "THEN EXCLUDED.sync_token::numeric < t.sync_token::numeric END, false) "
                "RETURNING t.id AS id, (t.xmax = 0) AS _inserted, {returned}"
                "), changed AS ("
                "SELECT w.*, CASE WHEN w._inserted THEN '{{}}'::jsonb "
                "ELSE (SELECT {changes} FROM {table} o WHERE o.id = w.id) END AS c "
                "FROM written w"
                "), versions AS ("
                "INSERT INTO {versions} (connection_id, entity, qbo_id, kind, sync_token, "
                "seen_at, sync_run_id, changes, raw) "
                "SELECT w.connection_id, %(entity)s, w.qbo_id, "
                "CASE {kind} ELSE 'updated' END, w.sync_token, %(seen_at)s, %(run_id)s, "
                "w.c, w.raw FROM changed w"
                ") SELECT id, qbo_id, _inserted FROM written"
            ).format(
                table=sql.Identifier(table.name),
                columns=columns,
                stage=stage,
                updates=updates,
                returned=returned,
                changes=history.changes,
                versions=_versions_table(),
                kind=kind,
            ),
            {"entity": entity, "seen_at": seen_at, "run_id": run_id},
        )
        # (bigint, text, boolean): psycopg's own int, str and bool.
        return cursor.fetchall()  # type: ignore[no-any-return]


def mirror_analyze(entities: Iterable[str]) -> None:
    """Refresh the planner's statistics of ``entities``' tables (their lines' too): after
    an import, which can take a table from empty to 100,000 rows in a minute."""
    with connection.cursor() as cursor:
        for entity in entities:
            spec = spec_for(entity)
            for model in (spec.model, spec.child_model):
                if model is not None:
                    cursor.execute(
                        sql.SQL("ANALYZE {}").format(sql.Identifier(model._meta.db_table))
                    )


def mirror_prune(
    *,
    connection_id: int,
    entity: str,
    after_id: str,
    last_id: str | None,
    keep: set[str],
    run_id: int | None = None,
) -> int:
    """Delete stored rows an import page proves gone: Ids in (after_id, last_id] that the
    page did not return (``last_id`` None: every Id after ``after_id``).

    Only a re-import can find any (the first import starts from an empty mirror); it is
    how deletions that happened while CDC was out of reach are caught.
    """
    spec = spec_for(entity)
    manager = spec.model._default_manager
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
    gone = dict(doomed.values_list("pk", "qbo_id"))
    if gone:
        # Each keeps its history, closed by a "deleted" version with no tombstone: the
        # page's silence is all QuickBooks said.
        _versions_of_deleted(
            spec,
            connection_id,
            dict.fromkeys(gone.values()),
            run_id=run_id,
            seen_at=timezone.now(),
        )
        manager.filter(pk__in=list(gone)).delete()
        generations.bump(generations.mirror(connection_id))
    return len(gone)
