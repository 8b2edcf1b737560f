"""The Accounting API: ``QBOClient``, one realm for the length of one job."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from types import GenericAlias
from typing import Any, TypeVar

import msgspec
import requests
from django.conf import settings
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException

from common.qbo_json import json_default, parse_time
from sync import conf
from sync.ratelimit import LimiterTimeout

from . import retry
from .errors import CDCTooOld, QBOError
from .http import ApiSession
from .query import EXTRA_FIELDS, QueryValue, identifier, including_inactive, statement
from .records import (
    BatchOperation,
    BatchOutcome,
    CDCBatch,
    CustomerType,
    Meter,
    QueryPage,
    Report,
    ReportRow,
    TokenSource,
)
from .retry import Failure, by_status, no_answer

T = TypeVar("T")

MINOR_VERSION = 75
# Intuit's ceilings: 1000 rows per query page, 1000 objects per entity in a CDC answer,
# 30 items per batch, whose requestid may be at most 36 characters and each bId 10
# (docs/qbo-api.md §2–§4, §6).
PAGE_SIZE = 1000
CDC_LIMIT = 1000
BATCH_LIMIT = 30
BATCH_REQUEST_ID_MAX = 36
BATCH_ID_MAX = 10


class QBOClient:
    """The Accounting API for one realm, for the length of one job.

    Every call: a token from ``tokens``, a rate-limiter slot, a timeout; retries with
    backoff on 429 (at least ``Retry-After``), 5xx and connection errors; one token
    refresh and retry on 401; no retry on any other fault.
    """

    def __init__(
        self,
        *,
        realm_id: str,
        tokens: TokenSource,
        meter: Meter | None = None,
        heartbeat: Callable[[], None] | None = None,
    ) -> None:
        self.realm_id = realm_id
        self.tokens = tokens
        self.meter = meter or Meter()
        self.heartbeat = heartbeat
        self._session = ApiSession(realm_id=realm_id, meter=self.meter, heartbeat=heartbeat)
        qb = QuickBooks(company_id=realm_id, minorversion=MINOR_VERSION, use_decimal=True)
        # Set on the instance: it is what python-quickbooks uses outside its own
        # "sandbox" mode, for Intuit's hosts and qbo_sandbox's alike.
        qb.api_url_v3 = settings.QBO_API_URL
        qb.session = self._session
        self._qb = qb

    # ------------------------------------------------------------ operations

    def count(self, entity: str) -> int:
        """How many ``entity`` rows the realm has (inactive ones included)."""
        text = statement(entity, where=including_inactive(entity), count=True)
        result = self._call(f"count {entity}", lambda: self._qb.query(text))
        return int((result.get("QueryResponse") or {}).get("totalCount", 0))

    def query_page(self, entity: str, *, after_id: str, page_size: int = PAGE_SIZE) -> QueryPage:
        """The next ``page_size`` rows by Id after ``after_id`` (inactive ones included).

        Keyset paging (``Id > last``) rather than STARTPOSITION: a row deleted or added
        while an import pages cannot shift later rows into or out of a page, and a
        resumed import starts exactly after the last row it stored.
        """
        where = including_inactive(entity)
        if after_id:
            where.append(("Id", ">", after_id))
        text = statement(
            entity,
            where=where,
            order_by="Id",
            max_results=page_size,
            extra_fields=EXTRA_FIELDS.get(entity, ()),
        )
        content = self._call(f"query {entity}", lambda: self._query_body(text))
        rows, texts = page_rows(content, entity)
        return QueryPage(
            entity=entity,
            rows=rows,
            after_id=after_id,
            page_size=page_size,
            texts=texts,
            answered_at=self._session.answered_at,
        )

    def live_by_ids(self, entity: str, ids: Sequence[str]) -> QueryPage:
        """Those of ``ids`` that exist (inactive ones included), each with its JSON as sent:
        one ``Id IN (…)`` query, for at most ``PAGE_SIZE`` ids.

        How a CDC tombstone is confirmed before a mirror row goes: Intuit's CDC has been
        seen reporting ``"status": "Deleted"`` for objects that still exist
        (docs/qbo-api.md §3, "Open questions").
        """
        if not 0 < len(ids) <= PAGE_SIZE:
            raise ValueError(f"ask for 1 to {PAGE_SIZE} ids, not {len(ids)}")
        text = statement(
            entity,
            where=[*including_inactive(entity), ("Id", "IN", tuple(ids))],
            order_by="Id",
            max_results=PAGE_SIZE,
            extra_fields=EXTRA_FIELDS.get(entity, ()),
        )
        content = self._call(f"query {entity} by Id", lambda: self._query_body(text))
        rows, texts = page_rows(content, entity)
        return QueryPage(
            entity=entity,
            rows=rows,
            after_id="",
            page_size=PAGE_SIZE,
            texts=texts,
            answered_at=self._session.answered_at,
        )

    def find(
        self,
        entity: str,
        *,
        where: Sequence[tuple[str, str, QueryValue]],
        max_results: int = PAGE_SIZE,
    ) -> list[dict[str, Any]]:
        """Rows matching ``where`` (values are quoted by ``statement``), e.g. an item by name."""
        text = statement(
            entity,
            where=where,
            order_by="Id",
            max_results=max_results,
            extra_fields=EXTRA_FIELDS.get(entity, ()),
        )
        result = self._call(f"query {entity}", lambda: self._qb.query(text))
        return list((result.get("QueryResponse") or {}).get(entity) or [])

    def cdc(self, entities: Sequence[str], *, changed_since: datetime) -> CDCBatch:
        """One CDC request for all ``entities`` changed at or after ``changed_since``.

        Sent in UTC with its offset: which zone Intuit reads a zone-less time in is not
        documented (docs/qbo-api.md §3, "Open questions")."""
        if changed_since.tzinfo is None:
            raise ValueError("changed_since must be an aware datetime")
        since = changed_since.astimezone(UTC).replace(microsecond=0)
        names = ",".join(identifier(e) for e in entities)
        try:
            result = self._call(
                "cdc", lambda: self._qb.change_data_capture(names, since.isoformat())
            )
        except QBOError as exc:
            if exc.status == 400 and exc.code in ("6000", "2010"):
                # The look-back fault (docs/qbo-api.md §3); our own 30-day guard normally
                # prevents it, a skewed clock can still cause it.
                raise CDCTooOld(
                    exc.message, intuit_tid=exc.intuit_tid, code=exc.code, status=exc.status
                ) from None
            raise
        changes: dict[str, list[dict[str, Any]]] = {name: [] for name in entities}
        for block in result.get("CDCResponse") or []:
            for response in block.get("QueryResponse") or []:
                for name in entities:
                    changes[name].extend(response.get(name) or [])
        capped = frozenset(name for name, rows in changes.items() if len(rows) >= CDC_LIMIT)
        texts = changes_as_sent(self._session.last_content, entities)
        return CDCBatch(
            changed_since=since,
            changes=changes,
            capped=capped,
            server_time=parse_time(result.get("time")),
            texts={
                name: texts[name] for name in entities if len(texts[name]) == len(changes[name])
            },
        )

    def batch(
        self, operations: Sequence[BatchOperation], *, request_id: str
    ) -> dict[str, BatchOutcome]:
        """Write up to 30 objects in one ``POST /batch?requestid=…``; outcomes by bId.

        python-quickbooks' own ``batch_operation`` cannot carry a ``requestid``, so the body
        is built here and sent through its ``make_request`` (same session, same seam).
        The ``requestid`` is what makes a retry safe: QuickBooks answers a repeated id with
        the stored answer of the first request instead of writing again (docs/qbo-api.md §6).
        So the caller must store ``request_id`` BEFORE calling and send the same one, with
        the same operations, when it retries; our own retries (429, 5xx, a lost
        connection) resend it too. A fault on one item leaves the others written.
        """
        if not 0 < len(operations) <= BATCH_LIMIT:
            raise ValueError(f"a batch holds 1 to {BATCH_LIMIT} operations, not {len(operations)}")
        if not 0 < len(request_id) <= BATCH_REQUEST_ID_MAX:
            raise ValueError(f"a batch requestid is 1 to {BATCH_REQUEST_ID_MAX} characters")
        bids = [op.bid for op in operations]
        if len(set(bids)) != len(bids) or any(not 0 < len(b) <= BATCH_ID_MAX for b in bids):
            raise ValueError(f"bIds must be unique and 1 to {BATCH_ID_MAX} characters")
        body = {
            "BatchItemRequest": [
                {"bId": op.bid, "operation": op.operation, identifier(op.entity): op.body}
                for op in operations
            ]
        }
        url = f"{self._qb.api_url}/company/{self.realm_id}/batch"
        text = json.dumps(body, default=json_default)
        result = self._call(
            f"batch of {len(operations)}",
            lambda: self._qb.make_request("POST", url, text, request_id=request_id),
        )
        by_entity = {op.bid: op.entity for op in operations}
        outcomes: dict[str, BatchOutcome] = {}
        for answer in result.get("BatchItemResponse") or []:
            bid = str(answer.get("bId") or "")
            if bid not in by_entity:
                continue
            fault = answer.get("Fault")
            if isinstance(fault, dict):
                errors = fault.get("Error") or [{}]
                first = errors[0] if isinstance(errors, list) and errors else {}
                outcomes[bid] = BatchOutcome(
                    bid=bid,
                    entity=None,
                    fault_code=str(first.get("code") or "") or None,
                    # A validation message names a field or a value (an item's name);
                    # it holds no token and is what an admin needs to fix the item.
                    fault_message=" ".join(
                        str(part) for part in (first.get("Message"), first.get("Detail")) if part
                    )[:500],
                )
            else:
                written = answer.get(by_entity[bid])
                outcomes[bid] = BatchOutcome(
                    bid=bid, entity=dict(written) if isinstance(written, dict) else None
                )
        return outcomes

    def report(self, name: str, params: Mapping[str, str] | None = None) -> Report:
        """``GET /reports/<name>`` with ``params`` (``report_date``, ``aging_method``, ...),
        flattened into a ``Report``.

        Through ``_call`` like every other request: it takes a slot of the realm's rate
        limiter (a report counts against Intuit's 500 a minute like a query does), is
        metered, and is retried on 429, 5xx and a lost connection.
        """
        if not name.isalnum():
            raise ValueError(f"not a report name: {name!r}")
        url = f"{self._qb.api_url}/company/{self.realm_id}/reports/{name}"
        result = self._call(
            f"report {name}", lambda: self._qb.get(url, {}, params=dict(params or {}))
        )
        return report_from_json(name, result)

    def customer_types(self) -> list[CustomerType]:
        """Every CustomerType of the company, inactive ones included (a customer may still
        name one that was deactivated). By query, page after page: CDC does not carry the
        entity (docs/qbo-api.md §6, "CustomerType"). A company keeps a handful, so this is
        one request in practice."""
        found: list[CustomerType] = []
        after = ""
        while True:
            page = self.query_page("CustomerType", after_id=after)
            for row in page.rows:
                found.append(
                    CustomerType(
                        id=str(row.get("Id") or ""),
                        name=str(row.get("Name") or ""),
                        active=row.get("Active") is not False,
                    )
                )
            if page.is_last:
                return [t for t in found if t.id]
            after = page.last_id

    def company_name(self) -> str:
        result = self._call(
            "read CompanyInfo", lambda: self._qb.get_single_object("CompanyInfo", self.realm_id)
        )
        return str((result.get("CompanyInfo") or {}).get("CompanyName") or "")

    def _query_body(self, text: str) -> bytes:
        """A query's answer, undecoded: python-quickbooks' ``query`` request, sent through
        the same session (limiter, meter, timeouts). The body is split and decoded once, by
        ``page_rows``, where python-quickbooks would first make text of it."""
        url = f"{self._qb.api_url}/company/{self.realm_id}/query"
        response = self._session.request(
            "POST",
            url,
            params={"minorversion": MINOR_VERSION},
            data=text.encode(),
            headers={
                "Content-Type": "application/text",
                "Accept": "application/json",
                "User-Agent": "python-quickbooks V3 library",
                "Authorization": f"Bearer {self._session.access_token}",
            },
        )
        if response.status_code != 200 or b'"Fault"' in response.content[:200]:
            # _fault reads what the session kept of the answer, as for the library's calls.
            raise QuickbooksException("QuickBooks answered a fault", response.status_code)
        return response.content

    # ------------------------------------------------------------ one call

    def _call(self, operation: str, send: Callable[[], T]) -> T:
        token = ""

        def attempt() -> T:
            nonlocal token
            token = self.tokens.access_token()
            self._session.access_token = token
            try:
                return send()
            except LimiterTimeout:
                raise QBOError(
                    f"{operation}: no rate-limit slot for realm {self.realm_id} in time",
                    transient=True,
                ) from None
            except requests.RequestException as exc:
                # Sending again is safe: a read changes nothing, and QuickBooks answers a
                # batch's repeated requestid with its first answer instead of writing again.
                raise no_answer(operation, exc, peer="QuickBooks", resend=True) from None
            except QuickbooksException:
                raise self._fault(operation) from None

        def refresh() -> None:
            self.tokens.refresh_after_401(failed_token=token)

        return retry.call(
            f"{operation} on realm {self.realm_id}",
            attempt,
            deadline=conf.seconds("QBO_CALL_DEADLINE"),
            heartbeat=self.heartbeat,
            refresh=refresh,
            on_retry=self.meter.count_retry,
        )

    def _fault(self, operation: str) -> Failure:
        answer = self._session.last
        if answer is None:  # pragma: no cover - the library raised before sending
            raise QBOError(f"{operation}: python-quickbooks refused the call") from None
        if answer.status == 429:
            self.meter.count_throttled()
        return Failure(
            f"{operation}: QuickBooks answered {answer.status}",
            by_status(answer.status),
            status=answer.status,
            intuit_tid=answer.intuit_tid,
            code=answer.fault_code,
            retry_after=answer.retry_after,
        )


_PAGE_SHAPES: dict[str, Any] = {}
# msgspec decodes JSON into the same dicts as json.loads(parse_float=Decimal) in about 60%
# of the time; a page of 1,000 invoices is ~1.4 MB, and decoding it was a fifth of the
# import's Python time (docs/architecture.md, "The write path").
_DECIMAL_JSON = msgspec.json.Decoder(float_hook=Decimal)


def page_rows(content: bytes, entity: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The objects of a query answer, decoded with every number as a Decimal (money is
    never a float, as python-quickbooks decodes them with ``use_decimal``), and beside
    each one its JSON exactly as QuickBooks sent it (``[]`` if the answer cannot be split).

    The body is split into its objects first and each is decoded on its own. A decode is
    one C call that keeps the GIL: a whole page's (~25 ms) stalled the thread writing the
    previous page at every one of its database round trips, and more than doubled the
    write (docs/architecture.md, "The write path").
    """
    pieces = _page_pieces(content, entity)
    if pieces is not None:
        rows: list[dict[str, Any]] = []
        texts: list[str] = []
        try:
            for piece in pieces:
                row = _DECIMAL_JSON.decode(piece)
                if isinstance(row, dict):
                    rows.append(row)
                    texts.append(bytes(piece).decode())
        except (msgspec.DecodeError, UnicodeDecodeError):
            pass
        else:
            return rows, texts
    # What msgspec refuses and the json module takes (a lone surrogate escape, a UTF-16
    # body) is decoded as before rather than failing the page; so is an answer of another
    # shape, which gives no rows or a clear error.
    try:
        decoded = json.loads(content, parse_float=Decimal)
    except ValueError:
        raise QBOError("QuickBooks sent a query answer that is not JSON") from None
    answer = decoded.get("QueryResponse") if isinstance(decoded, dict) else None
    found = answer.get(entity) if isinstance(answer, dict) else None
    rows = [row for row in found if isinstance(row, dict)] if isinstance(found, list) else []
    texts = as_sent(content, entity)
    return rows, texts if len(texts) == len(rows) else []


def as_sent(content: bytes, entity: str) -> list[str]:
    """Each object of a query answer's ``QueryResponse.<entity>`` list, as the JSON text
    QuickBooks sent: msgspec.Raw keeps slices of the body instead of decoding them."""
    pieces = _page_pieces(content, entity)
    return [] if pieces is None else [bytes(piece).decode() for piece in pieces]


def _page_pieces(content: bytes, entity: str) -> list[msgspec.Raw] | None:
    shape = _PAGE_SHAPES.get(entity)
    if shape is None:
        answer = msgspec.defstruct("Answer", [(entity, list[msgspec.Raw], [])])
        shape = _PAGE_SHAPES[entity] = msgspec.json.Decoder(
            msgspec.defstruct("Page", [("QueryResponse", answer, msgspec.field())])
        )
    try:
        page = shape.decode(content)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    pieces: list[msgspec.Raw] = getattr(page.QueryResponse, entity)
    return pieces


_CDC_SHAPES: dict[tuple[str, ...], Any] = {}


def changes_as_sent(content: bytes, entities: Sequence[str]) -> dict[str, list[str]]:
    """``as_sent`` for a CDC answer: each entity's changes as the JSON texts sent, in the
    order ``cdc`` reads them (empty lists when the answer cannot be split)."""
    names = tuple(entities)
    shape = _CDC_SHAPES.get(names)
    if shape is None:
        answer = msgspec.defstruct("Answer", [(n, list[msgspec.Raw], []) for n in names])
        block = msgspec.defstruct("Block", [("QueryResponse", GenericAlias(list, answer), [])])
        shape = _CDC_SHAPES[names] = msgspec.json.Decoder(
            msgspec.defstruct("CDC", [("CDCResponse", GenericAlias(list, block), [])])
        )
    found: dict[str, list[str]] = {name: [] for name in names}
    try:
        decoded = shape.decode(content)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return found
    for block in decoded.CDCResponse:
        for response in block.QueryResponse:
            for name in names:
                found[name].extend(bytes(raw).decode() for raw in getattr(response, name))
    return found


def report_from_json(name: str, result: Any) -> Report:
    """A report's JSON as a ``Report``: the Header's EndPeriod and Option NoReportData,
    the column titles, every Data row (those nested in Sections too: a customer with
    sub-customers is a Section whose own row, when it has one, is among its rows; a
    Section's Header and Summary are its totals, not a name's own figures) and the
    GrandTotal's cells."""
    if not isinstance(result, dict):
        raise QBOError(f"report {name}: QuickBooks sent something other than a report")
    header = result.get("Header") or {}
    end = header.get("EndPeriod")
    try:
        end_period = date.fromisoformat(str(end)) if end else None
    except ValueError:
        end_period = None
    options = {
        str(o.get("Name")): str(o.get("Value"))
        for o in header.get("Option") or []
        if isinstance(o, dict)
    }
    columns = [
        str(c.get("ColTitle") or "")
        for c in (result.get("Columns") or {}).get("Column") or []
        if isinstance(c, dict)
    ]
    rows: list[ReportRow] = []
    total: list[str] | None = None
    top = (result.get("Rows") or {}).get("Row") or []
    for row in _report_data_rows(top):
        cells = row.get("ColData") or [{}]
        first = cells[0] if isinstance(cells[0], dict) else {}
        rows.append(
            ReportRow(
                id=str(first.get("id") or ""),
                name=str(first.get("value") or ""),
                cells=[str(c.get("value") or "") for c in cells[1:] if isinstance(c, dict)],
            )
        )
    last = top[-1] if top and isinstance(top[-1], dict) else {}
    if last.get("group") == "GrandTotal":
        # Intuit's InventoryValuationSummary example puts the total's ColData on the row
        # itself rather than in a Summary; read either.
        cells = (last.get("Summary") or last).get("ColData") or []
        total = [str(c.get("value") or "") for c in cells[1:] if isinstance(c, dict)]
    return Report(
        name=name,
        end_period=end_period,
        columns=columns,
        rows=rows,
        total=total,
        empty=options.get("NoReportData", "").lower() == "true",
    )


def _report_data_rows(rows: Sequence[Any]) -> Iterator[dict[str, Any]]:
    for row in rows:
        if not isinstance(row, dict) or row.get("group") == "GrandTotal":
            continue
        if row.get("type") == "Section" or "Rows" in row:
            yield from _report_data_rows((row.get("Rows") or {}).get("Row") or [])
        elif row.get("ColData"):
            yield row


class StaticToken:
    """A token source for a token we were just given (the connect flow): no refresh."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        return self._token

    def refresh_after_401(self, *, failed_token: str) -> str:
        raise QBOError("the new access token was refused", status=401)


def fetch_company_name(*, realm_id: str, access_token: str) -> str:
    return QBOClient(realm_id=realm_id, tokens=StaticToken(access_token)).company_name()
