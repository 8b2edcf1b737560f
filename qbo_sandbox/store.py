"""SQLite state: companies, entities (live and tombstoned), id sequences, request ids, OAuth.

Threading model: ONE connection guarded by ONE re-entrant lock, and every request runs
inside `Store.transaction()`, which holds the lock from BEGIN to COMMIT. SQLite
serialises writers anyway, so per-thread connections would buy concurrent *reads*
only, at the price of SQLITE_BUSY retries and of `:memory:` databases (which
cannot be shared between connections without shared-cache quirks). The single
lock gives every request a serialisable view, makes batch savepoints trivial, and
the work done under it is short: the slow parts of a request (throttle waits,
injected delays, webhook delivery) all happen outside it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from qbo_sandbox.common import JSON

_SCHEMA = """
CREATE TABLE IF NOT EXISTS company (
    realm_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sequence (
    realm_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (realm_id, name)
);
-- One row per entity, live or deleted. `data` is the JSON QBO returns (for a deleted
-- transaction: the CDC tombstone). The other columns exist for indexes: query paging
-- and filtering by Id, Active, TxnDate and DocNumber, CDC by last update, and the
-- duplicate-name and duplicate-DocNumber checks. `doc_key` and `name_key` are
-- casefolded, because QBO compares names and query.py compares text that way.
CREATE TABLE IF NOT EXISTS entity (
    realm_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    id INTEGER NOT NULL,
    active INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    name_key TEXT,
    doc_key TEXT,
    txn_date TEXT,
    updated_ms INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (realm_id, entity, id)
);
CREATE INDEX IF NOT EXISTS entity_updated ON entity (realm_id, entity, updated_ms, id);
CREATE INDEX IF NOT EXISTS entity_live ON entity (realm_id, entity, deleted, active, id);
CREATE INDEX IF NOT EXISTS entity_txn_date ON entity (realm_id, entity, txn_date, id);
CREATE INDEX IF NOT EXISTS entity_name ON entity (realm_id, name_key) WHERE name_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS entity_doc ON entity (realm_id, entity, doc_key, id);
-- "Invoices of this customer" is the common transaction filter after dates.
CREATE INDEX IF NOT EXISTS entity_customer
    ON entity (realm_id, entity, json_extract(data, '$.CustomerRef.value'), id);
CREATE TABLE IF NOT EXISTS request_log (
    realm_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (realm_id, request_id)
);
-- A grant is one app's connection to one company; every code and token hangs off one,
-- so revoking (or reusing a code) kills everything issued under it at once.
CREATE TABLE IF NOT EXISTS oauth_grant (
    grant_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    realm_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS oauth_code (
    code TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS oauth_token (
    token TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS oauth_token_grant ON oauth_token (grant_id);
"""


@dataclass(frozen=True)
class Event:
    """A committed change, turned into a webhook ChangeEvent after COMMIT."""

    realm_id: str
    entity: str
    entity_id: str
    operation: str
    ms: int


@dataclass
class Row:
    """What a writer stores: the JSON plus the indexed columns derived from it."""

    entity: str
    id: int
    data: JSON
    active: bool = True
    deleted: bool = False
    name_key: str | None = None
    doc_number: str | None = None
    updated_ms: int = 0


@dataclass
class Tx:
    conn: sqlite3.Connection
    events: list[Event] = field(default_factory=list)
    _savepoints: int = 0

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested unit of work: rolled back (with its events) if the block raises."""
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        mark = len(self.events)
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.conn.execute(f"ROLLBACK TO {name}")
            self.conn.execute(f"RELEASE {name}")
            del self.events[mark:]
            raise
        self.conn.execute(f"RELEASE {name}")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    # ------------------------------------------------------------ companies

    def companies(self) -> list[tuple[str, str]]:
        rows = self.conn.execute("SELECT realm_id, name FROM company ORDER BY created_ms, realm_id")
        return [(str(r[0]), str(r[1])) for r in rows]

    def company_exists(self, realm_id: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM company WHERE realm_id = ?", (realm_id,))
        return row.fetchone() is not None

    def add_company(self, realm_id: str, name: str, created_ms: int) -> None:
        self.conn.execute(
            "INSERT INTO company (realm_id, name, created_ms) VALUES (?, ?, ?)",
            (realm_id, name, created_ms),
        )

    def entity_counts(self, realm_id: str) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT entity, COUNT(*) FROM entity WHERE realm_id = ? AND deleted = 0"
            " GROUP BY entity",
            (realm_id,),
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def next_id(self, realm_id: str, sequence: str, count: int = 1) -> int:
        """Reserve `count` ids and return the first."""
        row = self.conn.execute(
            "SELECT value FROM sequence WHERE realm_id = ? AND name = ?", (realm_id, sequence)
        ).fetchone()
        first = (int(row[0]) if row else 0) + 1
        self.conn.execute(
            "INSERT OR REPLACE INTO sequence (realm_id, name, value) VALUES (?, ?, ?)",
            (realm_id, sequence, first + count - 1),
        )
        return first

    # ------------------------------------------------------------ entities

    def get(self, realm_id: str, entity: str, entity_id: int) -> JSON | None:
        """The live object, or None when it never existed or was deleted."""
        row = self.conn.execute(
            "SELECT data FROM entity WHERE realm_id = ? AND entity = ? AND id = ? AND deleted = 0",
            (realm_id, entity, entity_id),
        ).fetchone()
        return None if row is None else _load(row[0])

    def put(self, realm_id: str, row: Row) -> None:
        self.put_many(realm_id, [row])

    def put_many(self, realm_id: str, rows: Iterable[Row]) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO entity (realm_id, entity, id, active, deleted, name_key,"
            " doc_key, txn_date, updated_ms, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    realm_id,
                    r.entity,
                    r.id,
                    int(r.active),
                    int(r.deleted),
                    r.name_key,
                    None if r.doc_number is None else r.doc_number.casefold(),
                    None if r.deleted else r.data.get("TxnDate"),
                    r.updated_ms,
                    _dump(r.data),
                )
                for r in rows
            ),
        )

    def find_name(self, realm_id: str, name_key: str) -> tuple[str, int] | None:
        row = self.conn.execute(
            "SELECT entity, id FROM entity WHERE realm_id = ? AND name_key = ? AND deleted = 0",
            (realm_id, name_key),
        ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def find_doc_number(self, realm_id: str, entity: str, doc_number: str) -> int | None:
        row = self.conn.execute(
            "SELECT id FROM entity WHERE realm_id = ? AND entity = ? AND doc_key = ?"
            " AND deleted = 0",
            (realm_id, entity, doc_number.casefold()),
        ).fetchone()
        return None if row is None else int(row[0])

    def select(
        self,
        realm_id: str,
        entity: str,
        where: Sequence[str] = (),
        params: Sequence[Any] = (),
        *,
        order: str | None = "id",
        limit: int = -1,
        offset: int = 0,
    ) -> list[JSON]:
        """Live objects filtered by extra SQL predicates over the columns.

        `order` is an ORDER BY over the columns, built by the caller from a fixed set
        (never from request text); None leaves the order (and the index) to SQLite.
        """
        clauses = " ".join(f"AND {w}" for w in where)
        ordering = f" ORDER BY {order}" if order else ""
        rows = self.conn.execute(
            f"SELECT data FROM entity WHERE realm_id = ? AND entity = ? AND deleted = 0 {clauses}"
            f"{ordering} LIMIT ? OFFSET ?",
            (realm_id, entity, *params, limit, offset),
        )
        return [_load(r[0]) for r in rows]

    def select_texts(
        self,
        realm_id: str,
        entity: str,
        where: Sequence[str] = (),
        params: Sequence[Any] = (),
        *,
        order: str = "id",
        limit: int = -1,
        offset: int = 0,
    ) -> list[str]:
        """``select``, as the stored JSON texts (what a response body is spliced from)."""
        clauses = " ".join(f"AND {w}" for w in where)
        rows = self.conn.execute(
            f"SELECT data FROM entity WHERE realm_id = ? AND entity = ? AND deleted = 0 {clauses}"
            f" ORDER BY {order} LIMIT ? OFFSET ?",
            (realm_id, entity, *params, limit, offset),
        )
        return [str(r[0]) for r in rows]

    def count(
        self, realm_id: str, entity: str, where: Sequence[str] = (), params: Sequence[Any] = ()
    ) -> int:
        clauses = " ".join(f"AND {w}" for w in where)
        row = self.conn.execute(
            f"SELECT COUNT(*) FROM entity WHERE realm_id = ? AND entity = ? AND deleted = 0"
            f" {clauses}",
            (realm_id, entity, *params),
        ).fetchone()
        return int(row[0])

    def changed_since(
        self, realm_id: str, entity: str, since_ms: int, limit: int, *, newest: bool = False
    ) -> list[JSON]:
        """Live objects and tombstones changed at or after `since_ms`: the `limit` oldest,
        oldest first, or with `newest` the `limit` newest, newest first."""
        order = "updated_ms DESC, id DESC" if newest else "updated_ms, id"
        rows = self.conn.execute(
            "SELECT data FROM entity WHERE realm_id = ? AND entity = ? AND updated_ms >= ?"
            f" ORDER BY {order} LIMIT ?",
            (realm_id, entity, since_ms, limit),
        )
        return [_load(r[0]) for r in rows]

    def changed_since_keys(
        self, realm_id: str, entity: str, since_ms: int
    ) -> list[tuple[int, int]]:
        """(updated_ms, id) of every object and tombstone changed at or after `since_ms`,
        oldest first (read from the index alone)."""
        rows = self.conn.execute(
            "SELECT updated_ms, id FROM entity WHERE realm_id = ? AND entity = ?"
            " AND updated_ms >= ? ORDER BY updated_ms, id",
            (realm_id, entity, since_ms),
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    def rows_by_id(self, realm_id: str, entity: str, ids: Sequence[int]) -> list[JSON]:
        """Live objects and tombstones with these ids, oldest change first."""
        rows = self.conn.execute(
            "SELECT data FROM entity WHERE realm_id = ? AND entity = ?"
            " AND id IN (SELECT value FROM json_each(?)) ORDER BY updated_ms, id",
            (realm_id, entity, json.dumps(list(ids))),
        )
        return [_load(r[0]) for r in rows]

    # ------------------------------------------------------------ request ids

    def logged_response(self, realm_id: str, request_id: str) -> tuple[str, int, str] | None:
        row = self.conn.execute(
            "SELECT fingerprint, status, body FROM request_log"
            " WHERE realm_id = ? AND request_id = ?",
            (realm_id, request_id),
        ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]), str(row[2]))

    def log_response(
        self, realm_id: str, request_id: str, fingerprint: str, status: int, body: str
    ) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO request_log (realm_id, request_id, fingerprint, status, body)"
            " VALUES (?, ?, ?, ?, ?)",
            (realm_id, request_id, fingerprint, status, body),
        )


# One encoder for every row: json.dumps with options builds a new one per call, which
# shows when the bulk seed writes half a million rows. Entity JSON never refers to itself,
# so the encoder skips its cycle check (a seventh of the encoding time).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def _dump(data: JSON) -> str:
    return _ENCODER.encode(data)


def _load(text: str) -> JSON:
    data: JSON = json.loads(text)
    return data


class Store:
    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        if path != ":memory:":
            # WAL keeps the file consistent after a crash; NORMAL sync is durable at
            # checkpoints, which is plenty for a simulator.
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One request's unit of work: committed when the block ends, rolled back if it raises."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            tx = Tx(self._conn)
            try:
                yield tx
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self.path != ":memory:":
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
