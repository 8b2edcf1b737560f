"""The typed records the package hands out and takes in: never a raw response."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol


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
    # Each row's JSON exactly as QuickBooks sent it, parallel to ``rows`` (empty when the
    # answer could not be split): what the mirror stores as ``raw``.
    texts: list[str] = field(default_factory=list)
    # When QuickBooks' answer arrived (time.monotonic); decoding it is our own time.
    answered_at: float = 0.0

    @property
    def last_id(self) -> str:
        return str(self.rows[-1]["Id"]) if self.rows else self.after_id

    @property
    def is_last(self) -> bool:
        return len(self.rows) < self.page_size


@dataclass(frozen=True)
class CustomerType:
    """One entry of the company's CustomerType list (docs/qbo-api.md §6, "CustomerType"):
    what a customer's ``CustomerTypeRef`` names by id alone."""

    id: str
    name: str
    active: bool


@dataclass(frozen=True)
class ReportRow:
    """One name's own row of a report (a customer's, an item's): the first column's
    ``id`` and text, then the other columns' texts as QuickBooks printed them ("" for a
    blank cell)."""

    id: str
    name: str
    cells: list[str]


@dataclass(frozen=True)
class Report:
    """A report (``GET /reports/<name>``), flattened: every name's own row, sub-names'
    included (QuickBooks nests them in Sections under their parent), without the
    sections' summaries; ``total`` is the GrandTotal's cells after its label."""

    name: str
    # The report date (Header.EndPeriod), None when QuickBooks left it out.
    end_period: date | None
    columns: list[str]
    rows: list[ReportRow]
    total: list[str] | None
    # Header.Option NoReportData: "true" when nothing matched (rows is then empty).
    empty: bool = False


@dataclass(frozen=True)
class CDCBatch:
    """One CDC answer: changed objects (tombstones included) per entity."""

    changed_since: datetime
    changes: dict[str, list[dict[str, Any]]]
    # Entities whose answer hit Intuit's 1000-object cap: more changes may exist.
    capped: frozenset[str]
    server_time: datetime | None
    # Each change's JSON exactly as QuickBooks sent it, parallel to ``changes`` (an entity
    # is missing when its answer could not be split): what the mirror stores as ``raw``.
    texts: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Meter:
    """What a run cost: Accounting API requests sent (retries included), 429s met, and
    how many of the requests were retries (of a 429, a 5xx, a timeout or a dropped
    connection; a 401's immediate resend after a token refresh is not counted)."""

    requests: int = 0
    throttled: int = 0
    retries: int = 0
    last_intuit_tid: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def count_throttled(self) -> None:
        with self._lock:
            self.throttled += 1

    def count_retry(self) -> None:
        with self._lock:
            self.retries += 1


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
