"""Operations shared by single requests and batch items: entity writes and queries."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

# The rule modules register their entity specs in books.SPECS when imported.
import qbo_sandbox.accounting  # noqa: F401
import qbo_sandbox.entities  # noqa: F401
import qbo_sandbox.lists  # noqa: F401
import qbo_sandbox.purchases  # noqa: F401
import qbo_sandbox.sales  # noqa: F401
from qbo_sandbox import books, query
from qbo_sandbox.books import SPECS, Books
from qbo_sandbox.common import DEFAULT_NAIVE_TIME_ZONE, JSON, Fault, unsupported_operation


@dataclass
class ApiOptions:
    # Sku is only returned when a query names it (`SELECT *, Sku`), as python-quickbooks
    # 0.9.12 (PR #379) works around; reads, writes and CDC always include it.
    sku_in_select_star: bool = False
    # Intuit's batch ceiling is 30 items today; older material says 10 or 50 (docs/qbo-api.md §4).
    batch_max_items: int = 30
    # Switches for what Intuit's CDC documentation leaves open (app.Config, README):
    # which 1000 changes of an entity CDC keeps when more match ("oldest", "newest",
    # "arbitrary"); the probability that CDC reports a live object as Deleted (Intuit's
    # .NET SDK issue #189); the zone a timestamp without an offset is read in.
    cdc_cap_order: str = "oldest"
    cdc_spurious_deleted: float = 0.0
    naive_time_zone: str = DEFAULT_NAIVE_TIME_ZONE


def write(bk: Books, entity: str, params: dict[str, str], body: Any) -> JSON:
    """One POST on an entity, picked by `operation` (and `include`) as QBO does."""
    operation = params.get("operation")
    if operation == "delete":
        return {entity: books.delete(bk, entity, body)}
    if operation == "void" or (operation == "update" and params.get("include") == "void"):
        return {entity: books.void(bk, entity, body)}
    if operation not in (None, "update"):
        raise unsupported_operation(f"{operation} for {entity}")
    has_id = isinstance(body, dict) and str(body.get("Id") or "0").strip() not in ("", "0")
    if operation == "update" or has_id:
        return {entity: books.update(bk, entity, body)}
    return {entity: books.create(bk, entity, body)}


# ---------------------------------------------------------------- query


def run_query(bk: Books, options: ApiOptions, statement: str) -> JSON:
    try:
        parsed = query.parse(statement)
    except query.QueryError as error:
        raise Fault(error.code, error.message, error.detail) from None
    result = execute(bk, parsed)
    response = query.to_response(parsed, result)
    if (
        parsed.entity == "Item"
        and not options.sku_in_select_star
        and "Sku" not in (parsed.fields or ())
        and "Item" in response
    ):
        response["Item"] = [
            {k: v for k, v in row.items() if k != "Sku"} for row in response["Item"]
        ]
    return response


def run_query_text(bk: Books, options: ApiOptions, statement: str) -> str | None:
    """The body of a plain page of whole objects, spliced from the stored JSON texts, or
    None when the query needs ``run_query``.

    An import reads a company in pages of 1000 (`SELECT * ... WHERE Id > '…' ORDERBY Id
    MAXRESULTS 1000`). Decoding 1000 stored objects only to encode them again was most of
    the sandbox's time per page; real QBO answers from its own servers, so the sandbox
    must not be what limits a client's import on a shared machine. The objects come back
    exactly as ``run_query`` would return them (same order, same text).
    """
    try:
        parsed = query.parse(statement)
    except query.QueryError:
        return None
    if parsed.count or parsed.entity == "Item" and not options.sku_in_select_star:
        return None
    spec = SPECS[parsed.entity]
    kinds = query.QUERYABLE[parsed.entity]
    where: list[str] = []
    params: list[Any] = []
    for condition in parsed.conditions:
        sql = _pushdown(condition, kinds[condition.field], spec.hides_inactive)
        if sql is None or not sql[2]:
            return None
        where.append(sql[0])
        params.extend(sql[1])
    if spec.hides_inactive and all(c.field != "Active" for c in parsed.conditions):
        where.append("active = 1")
    order = _sql_order(parsed.order_by)
    if order is None:
        return None
    texts = bk.tx.select_texts(
        bk.realm_id,
        spec.name,
        where,
        params,
        order=order,
        limit=parsed.max_results,
        offset=parsed.start_position - 1,
    )
    if not texts:
        return "{}"  # what to_response answers for an empty page
    return (
        f'{{"{parsed.entity}":[{",".join(texts)}],'
        f'"startPosition":{parsed.start_position},"maxResults":{len(texts)}}}'
    )


def execute(bk: Books, parsed: query.Query) -> query.QueryResult:
    """Run a parsed query, letting SQLite do what its indexes can.

    Conditions on Id, Active, DocNumber, TxnDate, references, amounts and
    MetaData.LastUpdatedTime become SQL predicates. When every condition translated
    exactly and the order is by Id or TxnDate (or unspecified), SQLite also sorts,
    pages and counts, so a page of 1000 out of 100,000 invoices reads 1000 rows.
    Otherwise the SQL predicates only narrow the candidates and query.execute, which
    re-applies every condition, decides.
    """
    spec = SPECS[parsed.entity]
    kinds = query.QUERYABLE[parsed.entity]
    where: list[str] = []
    params: list[Any] = []
    exact = True
    for condition in parsed.conditions:
        sql = _pushdown(condition, kinds[condition.field], spec.hides_inactive)
        if sql is None:
            exact = False
            continue
        clause, values, is_exact = sql
        where.append(clause)
        params.extend(values)
        exact &= is_exact
    if spec.hides_inactive and all(c.field != "Active" for c in parsed.conditions):
        where.append("active = 1")
    tx, realm = bk.tx, bk.realm_id
    order = _sql_order(parsed.order_by)
    if exact and order is not None:
        if parsed.count:
            total = tx.count(realm, spec.name, where, params)
            return query.QueryResult(objects=[], total_count=total)
        rows = tx.select(
            realm,
            spec.name,
            where,
            params,
            order=order,
            limit=parsed.max_results,
            offset=parsed.start_position - 1,
        )
        page = replace(parsed, start_position=1)
        return query.execute(page, rows, hides_inactive=spec.hides_inactive)
    rows = tx.select(realm, spec.name, where, params, order=None)
    return query.execute(parsed, rows, hides_inactive=spec.hides_inactive)


def _sql_order(order_by: tuple[tuple[str, bool], ...]) -> str | None:
    """The SQL for query.py's order (ties broken by ascending Id), when SQL can match it."""
    fields = [field for field, _ in order_by]
    if not fields or fields == ["Id"]:
        return "id DESC" if order_by and order_by[0][1] else "id"
    if fields[0] == "TxnDate" and fields[1:] in ([], ["Id"]):
        # query.py puts a missing value first when ascending; so does SQLite with NULL.
        date_order = "txn_date DESC" if order_by[0][1] else "txn_date"
        id_order = "id DESC" if len(order_by) == 2 and order_by[1][1] else "id"
        return f"{date_order}, {id_order}"
    return None


_COMPARISONS = ("=", "<", ">", "<=", ">=")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _pushdown(
    condition: query.Condition, kind: query.Kind, hides_inactive: bool
) -> tuple[str, list[Any], bool] | None:
    """(SQL, parameters, exact?) for one condition, or None when SQL cannot help."""
    field, op = condition.field, condition.op
    if op not in (*_COMPARISONS, "IN"):
        return None
    values = condition.value if op == "IN" else (condition.value,)
    if any(value is None for value in values):
        return None  # The null literal ' ' matches missing properties; leave it to execute.
    marks = "(" + ",".join("?" * len(values)) + ")"
    sql_op = "IN" if op == "IN" else op
    target = marks if op == "IN" else "?"
    if field == "Id" or kind is query.Kind.REF:
        ids = [_canonical_id(value) for value in values]
        if any(i is None for i in ids):
            return None
        if field == "Id":
            return f"id {sql_op} {target}", [int(str(i)) for i in ids], True
        if op != "=" and op != "IN":
            return None
        # Ids are written canonically ("12"), so text equality is numeric equality.
        return f"json_extract(data, '$.{field}.value') {sql_op} {target}", ids, True
    if field == "Active":
        if not hides_inactive or op not in ("=", "IN"):
            return None
        if not all(isinstance(value, bool) for value in values):
            return None
        return f"active {sql_op} {target}", [int(value) for value in values], True
    if field == "DocNumber" and op in ("=", "IN"):
        texts = [_text(value) for value in values]
        if any(text is None for text in texts):
            return None
        return f"doc_key {sql_op} {target}", texts, True
    if kind is query.Kind.DATE:
        dates = [_date(value) for value in values]
        if any(day is None for day in dates):
            return None
        # The server writes dates as YYYY-MM-DD, so text order is date order.
        column = "txn_date" if field == "TxnDate" else f"json_extract(data, '$.{field}')"
        return f"{column} {sql_op} {target}", dates, True
    if field == "MetaData.LastUpdatedTime" and op != "IN":
        return _updated_bounds(op, values[0])
    if kind is query.Kind.NUMBER and op != "IN":
        number = _number(values[0])
        if number is None:
            return None
        # SQLite reads JSON numbers as doubles. The server writes amounts as the
        # shortest float that round-trips, and a literal of at most 15 significant
        # digits converts to a double without reordering or merging values, so the
        # double comparison agrees with query.py's Decimal one.
        return f"json_extract(data, '$.{field}') {op} ?", [number], True
    return None


def _updated_bounds(op: str, value: Any) -> tuple[str, list[Any], bool] | None:
    """MetaData.LastUpdatedTime as a range of the indexed `updated_ms` column.

    The printed time is the stored millisecond truncated to the second, so every
    comparison with it is an exact range of milliseconds.
    """
    if not isinstance(value, str):
        return None
    try:
        moment = query.parse_datetime(value)
    except ValueError:
        return None
    micros = (moment - _EPOCH) // timedelta(microseconds=1)
    floor_s, ceil_s = micros // 1_000_000, -(-micros // 1_000_000)
    if op == ">":
        return "updated_ms >= ?", [(floor_s + 1) * 1000], True
    if op == ">=":
        return "updated_ms >= ?", [ceil_s * 1000], True
    if op == "<":
        return "updated_ms < ?", [ceil_s * 1000], True
    if op == "<=":
        return "updated_ms < ?", [(floor_s + 1) * 1000], True
    if floor_s != ceil_s:
        return "0", [], True  # "=" to a fractional second: printed times never match.
    return "updated_ms >= ? AND updated_ms < ?", [floor_s * 1000, floor_s * 1000 + 1000], True


def _canonical_id(value: Any) -> str | None:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or len(text) > 17:
        return None
    return str(int(text))


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    return str(value).casefold()


def _date(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).date().isoformat()
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    try:
        exact = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not exact.is_finite() or len(exact.normalize().as_tuple().digits) > 15:
        return None
    return float(exact)
