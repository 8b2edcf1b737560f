"""QuickBooks Online: the only code in unefemme that talks to Intuit.

It wraps the two clients Intuit documents, python-quickbooks (``QuickBooks``) for the
Accounting API and intuit-oauth (``AuthClient``) for OAuth, and adds what neither does
(qbo-api.md §5, §10; reliability.md): timeouts, retries with backoff, the per-realm rate
limiter, token refresh on 401, ``intuit_tid`` on every fault, and escaped query text.

The seam: both libraries send every request through a ``requests.Session``.
python-quickbooks calls ``self.session.request(...)`` on whatever session its
``QuickBooks`` instance holds, and ``AuthClient`` *is* a ``requests.Session`` and passes
itself to every call it makes (discovery included). So each gets a session subclass whose
``request()`` adds the timeout and, for the Accounting API, takes a rate-limiter slot,
counts the request and keeps the response's status, ``intuit_tid``, ``Retry-After`` and
fault code. Nothing is monkeypatched and no library code is copied; every HTTP call to
Intuit passes through one of these two methods.

Our ``_ApiSession`` is a plain ``requests.Session`` carrying the bearer token in an
``access_token`` attribute, which is all python-quickbooks reads from its session (it sets
the ``Authorization`` header itself). Its own ``OAuth2Session`` would add nothing we use,
and it refuses plain http without ``OAUTHLIB_INSECURE_TRANSPORT``, so this module works
against qbo_sandbox over http with no environment switch.

Faults: both libraries put whole response bodies (books, tokens) into their exception
messages. Those exceptions are caught here and replaced (``from None``, so not even a
traceback chains them) by ``QBOError``, whose text is ours: operation, HTTP status, fault
code and ``intuit_tid``, never a body.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.utils import timezone
from intuitlib.client import AuthClient
from intuitlib.config import DISCOVERY_URL
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException
from urllib3.exceptions import ConnectTimeoutError

from sync import conf
from sync.ratelimit import LimiterTimeout, RealmLimiter

logger = logging.getLogger(__name__)

T = TypeVar("T")

MINOR_VERSION = 75
# Intuit's ceilings: 1000 rows per query page, 1000 objects per entity in a CDC answer,
# 30 items per batch, whose requestid may be at most 36 characters and each bId 10
# (qbo-api.md §4, §6).
PAGE_SIZE = 1000
CDC_LIMIT = 1000
BATCH_LIMIT = 30
BATCH_REQUEST_ID_MAX = 36
BATCH_ID_MAX = 10
ACCOUNTING_SCOPE = Scopes.ACCOUNTING


# ---------------------------------------------------------------- errors


class QBOError(Exception):
    """A failed call to Intuit. ``message`` is ours and safe to log or show to staff."""

    def __init__(
        self,
        message: str,
        *,
        intuit_tid: str | None = None,
        code: str | None = None,
        status: int | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.intuit_tid = intuit_tid
        self.code = code
        self.status = status
        # True when trying again later may well work (throttling, outage, timeout).
        self.transient = transient

    def __str__(self) -> str:
        parts = [f"status={self.status}"] if self.status else []
        if self.code:
            parts.append(f"code={self.code}")
        parts.append(f"intuit_tid={self.intuit_tid or '-'}")
        return f"{self.message} ({', '.join(parts)})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class ReconnectRequired(QBOError):
    """invalid_grant or a revoked connection: only the partner reconnecting fixes it."""


class OAuthCallbackError(QBOError):
    """The authorization code could not be exchanged for tokens."""


class CDCTooOld(QBOError):
    """Intuit refused a CDC ``changedSince`` beyond its 30-day look-back."""


# ---------------------------------------------------------------- typed records


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime

    def __repr__(self) -> str:
        # Never print the tokens themselves (logs, tracebacks, the debug page).
        return (
            f"TokenSet(access_expires_at={self.access_expires_at.isoformat()}, "
            f"refresh_expires_at={self.refresh_expires_at.isoformat()})"
        )


@dataclass(frozen=True)
class QueryPage:
    """One page of ``SELECT * FROM entity WHERE Id > after ORDERBY Id``."""

    entity: str
    rows: list[dict[str, Any]]
    after_id: str
    page_size: int

    @property
    def last_id(self) -> str:
        return str(self.rows[-1]["Id"]) if self.rows else self.after_id

    @property
    def is_last(self) -> bool:
        return len(self.rows) < self.page_size


@dataclass(frozen=True)
class CDCBatch:
    """One CDC answer: changed objects (tombstones included) per entity."""

    changed_since: datetime
    changes: dict[str, list[dict[str, Any]]]
    # Entities whose answer hit Intuit's 1000-object cap: more changes may exist.
    capped: frozenset[str]
    server_time: datetime | None


@dataclass
class Meter:
    """What a run cost: Accounting API requests sent (retries included) and 429s met."""

    requests: int = 0
    throttled: int = 0
    last_intuit_tid: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def count_throttled(self) -> None:
        with self._lock:
            self.throttled += 1


@dataclass(frozen=True)
class BatchOperation:
    """One item of a batch write: ``operation`` (create/update) on one ``entity`` body."""

    bid: str
    entity: str
    body: dict[str, Any]
    operation: str = "create"


@dataclass(frozen=True)
class BatchOutcome:
    """What QuickBooks answered for one batch item: the object written, or its fault."""

    bid: str
    entity: dict[str, Any] | None
    fault_code: str | None = None
    fault_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.entity is not None


class TokenSource(Protocol):
    """Where a client gets its bearer token (sync/tokens.py for a stored connection)."""

    def access_token(self) -> str: ...

    def refresh_after_401(self, *, failed_token: str) -> str: ...


# ---------------------------------------------------------------- query text


_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$")
_OPERATORS = frozenset({"=", "<", ">", "<=", ">=", "IN", "LIKE"})
QueryValue = str | bool | int | Sequence[str | bool | int]


def quote(value: str) -> str:
    """A QBO query string literal: the one way a value gets into query text.

    QBO escapes with a backslash (qbo-api.md §2): ``\\`` for a backslash, ``\\'`` for a
    quote. So ``Château d'Yquem 2015`` becomes ``'Château d\\'Yquem 2015'``; accents and
    colons need nothing, and the statement travels as the UTF-8 body of a POST.
    """
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _literal(value: str | bool | int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # Ids are compared as strings in QBO's own examples; quoting keeps them text.
        return quote(str(value))
    return quote(value)


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a QBO entity or property name: {name!r}")
    return name


def statement(
    entity: str,
    *,
    where: Sequence[tuple[str, str, QueryValue]] = (),
    order_by: str | None = None,
    max_results: int | None = None,
    count: bool = False,
    extra_fields: Sequence[str] = (),
) -> str:
    """Build a query. Names must be plain identifiers; every value goes through ``quote``."""
    fields = "COUNT(*)" if count else ", ".join(["*", *map(_identifier, extra_fields)])
    text = f"SELECT {fields} FROM {_identifier(entity)}"
    clauses = []
    for name, operator, value in where:
        if operator not in _OPERATORS:
            raise ValueError(f"not a QBO query operator: {operator!r}")
        if operator == "IN":
            assert not isinstance(value, str | bool | int), "IN takes a sequence"
            rendered = "(" + ", ".join(_literal(v) for v in value) + ")"
        else:
            assert isinstance(value, str | bool | int), f"{operator} takes one value"
            rendered = _literal(value)
        clauses.append(f"{_identifier(name)} {operator} {rendered}")
    if clauses:
        text += " WHERE " + " AND ".join(clauses)
    if order_by:
        text += f" ORDERBY {_identifier(order_by)}"
    if max_results:
        text += f" MAXRESULTS {int(max_results)}"
    return text


# Name lists hide inactive rows unless asked (qbo-api.md §2); transactions have no Active.
HAS_ACTIVE = frozenset({"Customer", "Item", "Vendor", "Account", "PaymentMethod", "Term"})
# Sku is not part of SELECT * for items (python-quickbooks PR #379); name it.
EXTRA_FIELDS = {"Item": ("Sku",)}


def _scope(entity: str) -> list[tuple[str, str, QueryValue]]:
    return [("Active", "IN", (True, False))] if entity in HAS_ACTIVE else []


# ---------------------------------------------------------------- HTTP seams


def _timeout() -> tuple[float, float]:
    return (conf.seconds("QBO_CONNECT_TIMEOUT"), conf.seconds("QBO_READ_TIMEOUT"))


@dataclass(frozen=True)
class _Answer:
    """What we keep of a response: never its body, except the fault's code."""

    status: int
    intuit_tid: str | None
    retry_after: float | None
    fault_code: str | None
    fault_type: str | None


_XML_CODE = re.compile(rb'<Error[^>]*\scode="([^"]+)"')
_FAULT_TYPE = re.compile(rb'<Fault[^>]*\stype="([^"]+)"')


def _answer(response: requests.Response) -> _Answer:
    code = kind = None
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            # Intuit's gateway has sent 429s as XML even to JSON clients.
            content = response.content or b""
            match = _XML_CODE.search(content)
            code = match.group(1).decode("ascii", "replace") if match else None
            match = _FAULT_TYPE.search(content)
            kind = match.group(1).decode("ascii", "replace") if match else None
        else:
            if isinstance(body, dict):
                fault = body.get("Fault") or body.get("fault") or {}
                fault = fault if isinstance(fault, dict) else {}
                errors = fault.get("Error") or fault.get("error") or [{}]
                first = errors[0] if isinstance(errors, list) and errors else {}
                first = first if isinstance(first, dict) else {}
                code = str(first.get("code")) if first.get("code") is not None else None
                kind = fault.get("type")
                if code is None and isinstance(body.get("error"), str):
                    code = body["error"]  # OAuth endpoints: {"error": "invalid_grant"}
    retry_after = None
    raw = response.headers.get("Retry-After")
    if raw:
        try:
            retry_after = max(0.0, float(raw))
        except ValueError:
            retry_after = None  # an HTTP date; Intuit documents seconds
    return _Answer(
        status=response.status_code,
        intuit_tid=response.headers.get("intuit_tid"),
        retry_after=retry_after,
        fault_code=code,
        fault_type=kind,
    )


class _ApiSession(requests.Session):
    """The session python-quickbooks sends every Accounting API request through."""

    def __init__(
        self,
        *,
        realm_id: str,
        meter: Meter,
        heartbeat: Callable[[], None] | None,
    ) -> None:
        super().__init__()
        self.realm_id = realm_id
        self.meter = meter
        self.heartbeat = heartbeat
        self.limiter = RealmLimiter(realm_id)
        self.access_token = ""  # read by python-quickbooks for its Authorization header
        self.last: _Answer | None = None

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", _timeout())
        self.last = None
        batch = str(url).split("?", 1)[0].endswith("/batch")
        with self.limiter.slot(batch=batch, heartbeat=self.heartbeat):
            self.meter.count_request()
            response = super().request(method, url, *args, **kwargs)
        self.last = _answer(response)
        if self.last.intuit_tid:
            self.meter.last_intuit_tid = self.last.intuit_tid
        return response


_REQUIRED_DISCOVERY_KEYS = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "revocation_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
)
_discovery_lock = threading.Lock()
_discovery_responses: dict[str, requests.Response] = {}


def discovery_url() -> str:
    # intuit-oauth's own reading of ``environment``: a name, or else the document's URL.
    environment = settings.QBO_ENVIRONMENT
    named = {"production": "production", "prod": "production", "sandbox": "sandbox"}
    key = named.get(environment.lower()) or ("sandbox" if environment.lower() == "sand" else "")
    return str(DISCOVERY_URL[key]) if key else environment


class _AuthClient(AuthClient):  # type: ignore[misc]
    """intuit-oauth's client with timeouts and a discovery document fetched once.

    ``AuthClient.__init__`` downloads the discovery document on every construction, through
    ``self.get``; the first answer per URL is kept for the life of the process and handed
    back to later constructions, so only one process-wide fetch ever happens.
    """

    def __init__(self) -> None:
        self.last: _Answer | None = None
        super().__init__(
            client_id=settings.QBO_CLIENT_ID,
            client_secret=settings.QBO_CLIENT_SECRET,
            redirect_uri=settings.QBO_REDIRECT_URI,
            environment=settings.QBO_ENVIRONMENT,
        )

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", _timeout())
        if method.upper() == "GET" and url == discovery_url():
            with _discovery_lock:
                cached = _discovery_responses.get(url)
                if cached is None:
                    cached = super().request(method, url, *args, **kwargs)
                    if cached.status_code == 200:
                        document = cached.json()
                        missing = [k for k in _REQUIRED_DISCOVERY_KEYS if k not in document]
                        if missing:
                            raise QBOError(
                                f"the OpenID discovery document lacks {', '.join(missing)}",
                                intuit_tid=cached.headers.get("intuit_tid"),
                            )
                        _discovery_responses[url] = cached
                return cached
        response: requests.Response = super().request(method, url, *args, **kwargs)
        self.last = _answer(response)
        return response


def _auth_client() -> _AuthClient:
    try:
        return _AuthClient()
    except requests.RequestException as exc:
        raise QBOError(
            f"could not load Intuit's OpenID discovery document ({type(exc).__name__})",
            transient=True,
        ) from None
    except AuthClientError as exc:
        raise QBOError(
            "Intuit's OpenID discovery document could not be fetched",
            intuit_tid=exc.intuit_tid,
            status=exc.status_code,
            transient=exc.status_code >= 500,
        ) from None


# ---------------------------------------------------------------- retries


def _backoff(attempt: int) -> float:
    """Capped exponential backoff with full jitter (AWS architecture blog's "Full Jitter")."""
    ceiling = min(conf.seconds("QBO_BACKOFF_CAP"), conf.seconds("QBO_BACKOFF_BASE") * 2**attempt)
    return random.uniform(0, ceiling)


def _sleep(seconds: float, heartbeat: Callable[[], None] | None) -> None:
    # Sleep in short slices so a sync's lease is renewed while it waits out a 429.
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if heartbeat is not None:
            heartbeat()
        time.sleep(min(left, 5.0))


@dataclass
class _Failure:
    message: str
    status: int | None = None
    intuit_tid: str | None = None
    code: str | None = None
    retry_after: float | None = None

    def error(self, cls: type[QBOError] = QBOError, *, transient: bool) -> QBOError:
        return cls(
            self.message,
            intuit_tid=self.intuit_tid,
            code=self.code,
            status=self.status,
            transient=transient,
        )


# ---------------------------------------------------------------- the Accounting API


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
        self._session = _ApiSession(realm_id=realm_id, meter=self.meter, heartbeat=heartbeat)
        qb = QuickBooks(company_id=realm_id, minorversion=MINOR_VERSION, use_decimal=True)
        # Set on the instance: it is what python-quickbooks uses outside its own
        # "sandbox" mode, for Intuit's hosts and qbo_sandbox's alike.
        qb.api_url_v3 = settings.QBO_API_URL
        qb.session = self._session
        self._qb = qb

    # ------------------------------------------------------------ operations

    def count(self, entity: str) -> int:
        """How many ``entity`` rows the realm has (inactive ones included)."""
        text = statement(entity, where=_scope(entity), count=True)
        result = self._call(f"count {entity}", lambda: self._qb.query(text))
        return int((result.get("QueryResponse") or {}).get("totalCount", 0))

    def query_page(self, entity: str, *, after_id: str, page_size: int = PAGE_SIZE) -> QueryPage:
        """The next ``page_size`` rows by Id after ``after_id`` (inactive ones included).

        Keyset paging (``Id > last``) rather than STARTPOSITION: a row deleted or added
        while an import pages cannot shift later rows into or out of a page, and a
        resumed import starts exactly after the last row it stored.
        """
        where = _scope(entity)
        if after_id:
            where.append(("Id", ">", after_id))
        rows = self.find(entity, where=where, max_results=page_size)
        return QueryPage(entity=entity, rows=rows, after_id=after_id, page_size=page_size)

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
        """One CDC request for all ``entities`` changed at or after ``changed_since``."""
        since = changed_since.astimezone(UTC).replace(microsecond=0)
        names = ",".join(_identifier(e) for e in entities)
        try:
            result = self._call(
                "cdc", lambda: self._qb.change_data_capture(names, since.isoformat())
            )
        except QBOError as exc:
            if exc.status == 400 and exc.code in ("6000", "2010"):
                # The look-back fault (qbo-api.md §3); our own 30-day guard normally
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
        return CDCBatch(
            changed_since=since,
            changes=changes,
            capped=capped,
            server_time=parse_time(result.get("time")),
        )

    def batch(
        self, operations: Sequence[BatchOperation], *, request_id: str
    ) -> dict[str, BatchOutcome]:
        """Write up to 30 objects in one ``POST /batch?requestid=…``; outcomes by bId.

        python-quickbooks' own ``batch_operation`` cannot carry a ``requestid``, so the body
        is built here and sent through its ``make_request`` (same session, same seam).
        The ``requestid`` is what makes a retry safe: QuickBooks answers a repeated id with
        the stored answer of the first request instead of writing again (qbo-api.md §6).
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
                {"bId": op.bid, "operation": op.operation, _identifier(op.entity): op.body}
                for op in operations
            ]
        }
        url = f"{self._qb.api_url}/company/{self.realm_id}/batch"
        text = json.dumps(body, default=_json_number)
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

    def company_name(self) -> str:
        result = self._call(
            "read CompanyInfo", lambda: self._qb.get_single_object("CompanyInfo", self.realm_id)
        )
        return str((result.get("CompanyInfo") or {}).get("CompanyName") or "")

    # ------------------------------------------------------------ the loop

    def _call(self, operation: str, send: Callable[[], T]) -> T:
        started = time.monotonic()
        deadline = started + conf.seconds("QBO_CALL_DEADLINE")
        max_retries = conf.integer("QBO_MAX_RETRIES")
        retries = 0
        refreshed = False
        while True:
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
                failure = _Failure(f"{operation}: QuickBooks unreachable ({type(exc).__name__})")
                retryable = True
            except QuickbooksException:
                answer = self._session.last
                if answer is None:  # pragma: no cover - the library raised before sending
                    raise QBOError(f"{operation}: python-quickbooks refused the call") from None
                failure = _Failure(
                    f"{operation}: QuickBooks answered {answer.status}",
                    status=answer.status,
                    intuit_tid=answer.intuit_tid,
                    code=answer.fault_code,
                    retry_after=answer.retry_after,
                )
                if answer.status == 401 and not refreshed:
                    # The token died early (revoked, or expired at Intuit before our clock
                    # said so): refresh once, under the connection's lock, and try again.
                    logger.warning(
                        "QBO %s on realm %s: 401, refreshing the token (intuit_tid=%s)",
                        operation,
                        self.realm_id,
                        answer.intuit_tid,
                    )
                    refreshed = True
                    self.tokens.refresh_after_401(failed_token=token)
                    continue
                if answer.status == 429:
                    self.meter.count_throttled()
                retryable = answer.status == 429 or answer.status >= 500
            if not retryable:
                logger.warning(
                    "QBO %s on realm %s failed: status=%s code=%s intuit_tid=%s",
                    operation,
                    self.realm_id,
                    failure.status,
                    failure.code,
                    failure.intuit_tid,
                )
                raise failure.error(transient=False) from None
            delay = _backoff(retries)
            if failure.retry_after is not None:
                delay = max(delay, failure.retry_after)
            retries += 1
            if retries > max_retries or time.monotonic() + delay > deadline:
                logger.warning(
                    "QBO %s on realm %s gave up after %d attempts: status=%s code=%s intuit_tid=%s",
                    operation,
                    self.realm_id,
                    retries,
                    failure.status,
                    failure.code,
                    failure.intuit_tid,
                )
                raise failure.error(transient=True) from None
            logger.warning(
                "QBO %s on realm %s failed (%s): status=%s code=%s intuit_tid=%s; "
                "retry %d in %.1fs",
                operation,
                self.realm_id,
                failure.message,
                failure.status,
                failure.code,
                failure.intuit_tid,
                retries,
                delay,
            )
            _sleep(delay, self.heartbeat)


class StaticToken:
    """A token source for a token we were just given (the connect flow): no refresh."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        return self._token

    def refresh_after_401(self, *, failed_token: str) -> str:
        raise QBOError("the new access token was refused", status=401)


def json_number(value: Decimal) -> int | float:
    """A Decimal as a JSON number, for request bodies and the mirror's ``raw`` column.

    python-quickbooks hands numbers back as Decimal (use_decimal=True) and we keep
    quantities as Decimal; JSON has one number type. A float's repr gives back the same
    decimal digits for anything with up to 15 significant digits, far beyond a quantity.
    """
    return int(value) if value == value.to_integral_value() else float(value)


def _json_number(value: Any) -> Any:
    # ``json.dumps``' ``default`` hook.
    if isinstance(value, Decimal):
        return json_number(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def parse_time(value: Any) -> datetime | None:
    """A QBO timestamp (``2025-01-01T10:00:00-08:00``, also ``-0800``) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    # A zone-less stamp is Intuit's Pacific time (qbo-api.md §3); UTC would be off by hours.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_PACIFIC)


_PACIFIC = ZoneInfo("America/Los_Angeles")


# ---------------------------------------------------------------- OAuth


def authorization_url(*, state: str) -> str:
    """Where to send the partner for Intuit's consent (accounting scope only)."""
    url: str = _auth_client().get_authorization_url([ACCOUNTING_SCOPE], state_token=state)
    return url


def _token_set(client: _AuthClient) -> TokenSet:
    now = timezone.now()
    return TokenSet(
        access_token=str(client.access_token),
        refresh_token=str(client.refresh_token),
        access_expires_at=now + timedelta(seconds=int(client.expires_in or 3600)),
        refresh_expires_at=now
        + timedelta(seconds=int(client.x_refresh_token_expires_in or 8_640_000)),
    )


def _oauth_call(
    operation: str,
    send: Callable[[_AuthClient], Any],
    *,
    error: type[QBOError] = QBOError,
    invalid_grant: type[QBOError] = ReconnectRequired,
) -> _AuthClient:
    """One call to Intuit's OAuth endpoints, retried on 429/5xx and failed connections.

    Not retried: a read timeout or a connection dropped mid-answer, because the token
    endpoint may already have rotated the refresh token, and a second try with the old
    one would be answered invalid_grant and cost the partner a reconnect.
    """
    max_retries = conf.integer("QBO_MAX_RETRIES")
    retries = 0
    while True:
        client = _auth_client()
        try:
            send(client)
            return client
        except AuthClientError as exc:
            answer = client.last
            code = answer.fault_code if answer else None
            failure = _Failure(
                f"{operation}: Intuit answered {exc.status_code}",
                status=exc.status_code,
                intuit_tid=exc.intuit_tid,
                code=code,
                retry_after=answer.retry_after if answer else None,
            )
            if exc.status_code == 400 and code == "invalid_grant":
                logger.warning(
                    "QBO %s: invalid_grant (intuit_tid=%s)", operation, failure.intuit_tid
                )
                raise failure.error(invalid_grant, transient=False) from None
            retryable = exc.status_code == 429 or exc.status_code >= 500
        except requests.ConnectionError as exc:
            failure = _Failure(f"{operation}: Intuit unreachable ({type(exc).__name__})")
            retryable = not _maybe_delivered(exc)
        except requests.RequestException as exc:
            failure = _Failure(f"{operation}: Intuit did not answer ({type(exc).__name__})")
            retryable = False
        retries += 1
        if not retryable or retries > max_retries:
            logger.warning(
                "QBO %s failed: status=%s code=%s intuit_tid=%s",
                operation,
                failure.status,
                failure.code,
                failure.intuit_tid,
            )
            raise failure.error(error, transient=retryable) from None
        delay = max(_backoff(retries - 1), failure.retry_after or 0.0)
        logger.warning(
            "QBO %s failed: status=%s intuit_tid=%s; retry %d in %.1fs",
            operation,
            failure.status,
            failure.intuit_tid,
            retries,
            delay,
        )
        time.sleep(delay)


def _maybe_delivered(exc: requests.ConnectionError) -> bool:
    # A connection that was refused or never opened (urllib3's NewConnectionError is a
    # ConnectTimeoutError) never reached the server; anything else ("connection
    # aborted", a reset mid-answer) may have been processed.
    if isinstance(exc, requests.ConnectTimeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return not isinstance(reason, ConnectTimeoutError)


def exchange_code(*, code: str, realm_id: str) -> TokenSet:
    """Trade the callback's authorization code for tokens (a code works once)."""

    def send(client: _AuthClient) -> None:
        client.get_bearer_token(code, realm_id=realm_id)

    # An unknown, expired or reused code is invalid_grant too; there it means "start the
    # consent again", not "reconnect".
    client = _oauth_call(
        "exchange code", send, error=OAuthCallbackError, invalid_grant=OAuthCallbackError
    )
    return _token_set(client)


def refresh_tokens(*, refresh_token: str) -> TokenSet:
    """A new access token, and the refresh token to use from now on (it may rotate)."""

    def send(client: _AuthClient) -> None:
        client.refresh(refresh_token=refresh_token)

    return _token_set(_oauth_call("refresh token", send))


def revoke(*, token: str) -> None:
    """Revoke a token at Intuit (either one revokes the whole connection)."""

    def send(client: _AuthClient) -> None:
        client.revoke(token=token)

    _oauth_call("revoke", send)


def fetch_company_name(*, realm_id: str, access_token: str) -> str:
    return QBOClient(realm_id=realm_id, tokens=StaticToken(access_token)).company_name()


def forget_discovery() -> None:
    """Drop the cached discovery documents (for tests that switch environments)."""
    with _discovery_lock:
        _discovery_responses.clear()
