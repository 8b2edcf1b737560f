"""The three switches for what Intuit's CDC documentation leaves open (qbo_sandbox/README.md):
`cdc_cap_order` (which 1000 changes CDC keeps), `cdc_spurious_deleted` (live objects reported
Deleted, Intuit's .NET SDK issue #189) and `naive_time_zone` (how a timestamp without an
offset is read).

Most tests call the WSGI application in process, on a store whose change times the test
writes itself; one starts the real server with the new flags.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

# The rule modules register the modelled entities in SPECS when imported (operations.py).
import qbo_sandbox.operations  # noqa: F401
from qbo_sandbox import books, seed
from qbo_sandbox.__main__ import build_parser
from qbo_sandbox.app import Config, SandboxApp
from qbo_sandbox.books import Books
from qbo_sandbox.cdc import CDC_LIMIT
from qbo_sandbox.clock import Clock
from qbo_sandbox.common import (
    COMPANY_TZ,
    naive_time_zone,
    naive_zone,
    now_ms,
    parse_timestamp,
    qbo_time,
)
from qbo_sandbox.oauth import OAuth, OAuthSettings
from qbo_sandbox.query import parse_datetime
from qbo_sandbox.store import Store

CLIENT = ("switch-test-client", "switch-test-secret")
HOUR_MS = 3_600_000
MINUS_12 = "Etc/GMT+12"  # POSIX sign: twelve hours BEHIND UTC
PLUS_14 = "Pacific/Kiritimati"  # fourteen hours ahead of UTC


# --- An in-process sandbox ------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: Any


@dataclass
class Company:
    realm_id: str
    # Payment Id -> the millisecond of its last change, and the Ids deleted for real.
    changed_ms: dict[str, int] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)

    def matches(self, since_ms: int) -> list[tuple[int, int]]:
        """(updated_ms, id) of the payments changed at or after `since_ms`, oldest first."""
        return sorted((ms, int(i)) for i, ms in self.changed_ms.items() if ms >= since_ms)


class Sandbox:
    """SandboxApp over a shared store, called as WSGI: what the server would run."""

    def __init__(self, store: Store, **config: Any) -> None:
        clock = Clock()
        oauth = OAuth(store, clock, OAuthSettings(dict([CLIENT])))
        self.app = SandboxApp(store=store, clock=clock, oauth=oauth, config=Config(**config))
        self._tokens: dict[str, str] = {}

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> Reply:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": urlencode(params or {}),
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/json",
            "wsgi.input": io.BytesIO(body),
        }
        for name, value in (headers or {}).items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        seen: list[str] = []
        chunks = self.app(environ, lambda status, _headers: seen.append(status))
        text = b"".join(chunks).decode()
        return Reply(int(seen[0].split()[0]), json.loads(text) if text else None)

    def control(self, method: str, path: str, body: Any = None) -> Reply:
        data = b"" if body is None else json.dumps(body).encode()
        return self.call(method, f"/_sandbox/{path}", body=data)

    def configure(self, **changes: Any) -> None:
        reply = self.control("POST", "config", changes)
        assert reply.status == 200, reply.body

    def api(
        self, realm_id: str, method: str, path: str, params: dict[str, str], body: Any = None
    ) -> Reply:
        if realm_id not in self._tokens:
            minted = self.app.oauth.mint(realm_id, CLIENT[0])
            assert minted is not None
            self._tokens[realm_id] = minted["access_token"]
        data = b"" if body is None else json.dumps(body).encode()
        return self.call(
            method,
            f"/v3/company/{realm_id}/{path}",
            params={"minorversion": "75", **params},
            body=data,
            headers={"Authorization": f"Bearer {self._tokens[realm_id]}"},
        )

    def cdc(self, realm_id: str, since: str, entities: str = "Payment") -> dict[str, Any]:
        reply = self.api(realm_id, "GET", "cdc", {"entities": entities, "changedSince": since})
        assert reply.status == 200, reply.body
        body: dict[str, Any] = reply.body
        return body

    def cdc_rows(self, realm_id: str, since: str) -> list[dict[str, Any]]:
        return payments(self.cdc(realm_id, since))

    def batch_cdc_rows(self, realm_id: str, since: str) -> list[dict[str, Any]]:
        item = {"bId": "1", "CDCQuery": {"Entities": "Payment", "ChangedSince": since}}
        reply = self.api(realm_id, "POST", "batch", {}, {"BatchItemRequest": [item]})
        assert reply.status == 200, reply.body
        (answer,) = reply.body["BatchItemResponse"]
        return payments(answer)

    def query(self, realm_id: str, statement: str) -> dict[str, Any]:
        reply = self.api(realm_id, "GET", "query", {"query": statement})
        assert reply.status == 200, (statement, reply.body)
        found: dict[str, Any] = reply.body["QueryResponse"]
        return found


def payments(cdc_body: dict[str, Any]) -> list[dict[str, Any]]:
    (response,) = cdc_body["CDCResponse"]
    found: list[dict[str, Any]] = []
    for entry in response["QueryResponse"]:
        found.extend(entry.get("Payment", []))
    return found


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return [int(row["Id"]) for row in rows]


def stamp(ms: int) -> str:
    """A changedSince with an offset (so no switch can change what it means)."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def naive(moment: datetime) -> str:
    """The wall-clock digits of an aware time, without its offset."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def new_company(store: Store) -> tuple[str, str]:
    """An empty company and one customer to take payments from."""
    with store.transaction() as tx:
        realm_id, _ = seed.create_company(tx, "empty", seed_number=42)
        customer = books.create(Books(tx, realm_id), "Customer", {"DisplayName": "Cave à Vins"})
    return realm_id, customer["Id"]


def pay(store: Store, company: Company, customer_id: str, at_ms: int, amount: int) -> str:
    with store.transaction() as tx:
        body = {"CustomerRef": {"value": customer_id}, "TotalAmt": amount}
        created = books.create(Books(tx, company.realm_id, now=at_ms), "Payment", body)
    company.changed_ms[created["Id"]] = at_ms
    return str(created["Id"])


def touch(store: Store, company: Company, payment_id: str, at_ms: int) -> None:
    with store.transaction() as tx:
        bk = Books(tx, company.realm_id, now=at_ms)
        old = bk.require("Payment", payment_id)
        body = {"Id": payment_id, "SyncToken": old["SyncToken"], "sparse": True}
        books.update(bk, "Payment", {**body, "PrivateNote": "looked at again"})
    company.changed_ms[payment_id] = at_ms


def remove(store: Store, company: Company, payment_id: str, at_ms: int) -> None:
    with store.transaction() as tx:
        bk = Books(tx, company.realm_id, now=at_ms)
        old = bk.require("Payment", payment_id)
        books.delete(bk, "Payment", {"Id": payment_id, "SyncToken": old["SyncToken"]})
    company.changed_ms[payment_id] = at_ms
    company.deleted.add(payment_id)


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    shared = Store()
    yield shared
    shared.close()


@pytest.fixture(scope="module")
def crowded(store: Store) -> Company:
    """1,250 payments created a second apart three hours ago; every tenth deleted straight
    away; 40 touched again and 10 deleted after all of them were created. 1,250 changes."""
    realm_id, customer_id = new_company(store)
    company = Company(realm_id)
    base = now_ms() - 3 * HOUR_MS
    for n in range(1250):
        at = base + 1000 * (n + 1)
        payment_id = pay(store, company, customer_id, at, 10 + n)
        if n % 10 == 3:
            remove(store, company, payment_id, at + 500)
    late = base + 1000 * 1300
    for n, payment_id in enumerate(str(i) for i in range(5, 85, 2)):
        if payment_id not in company.deleted:
            touch(store, company, payment_id, late + n)
    for n, payment_id in enumerate(str(i) for i in range(600, 621, 2)):
        if payment_id not in company.deleted:
            remove(store, company, payment_id, late + 100 + n)
    assert len(company.changed_ms) == 1250
    return company


@pytest.fixture(scope="module")
def sparse(store: Store) -> Company:
    """Payments whose last changes lie 1, 8, 15, ... 64 hours back (ten, one every seven
    hours), and one deleted for real: few enough to read one by one."""
    realm_id, customer_id = new_company(store)
    company = Company(realm_id)
    now = now_ms()
    for n in range(10):
        pay(store, company, customer_id, now - (1 + 7 * n) * HOUR_MS, 100 + n)
    remove(store, company, "3", now - 2 * HOUR_MS)
    return company


# --- cdc_cap_order ----------------------------------------------------------------------------


def since_all(company: Company) -> str:
    return stamp(min(company.changed_ms.values()))


def test_by_default_cdc_keeps_the_1000_oldest_changes_oldest_first(
    store: Store, crowded: Company
) -> None:
    rows = Sandbox(store).cdc_rows(crowded.realm_id, since_all(crowded))
    expected = [entity_id for _, entity_id in crowded.matches(0)[:CDC_LIMIT]]
    assert ids(rows) == expected
    assert Sandbox(store, cdc_cap_order="oldest").cdc_rows(crowded.realm_id, since_all(crowded))
    deleted = {row["Id"] for row in rows if row.get("status") == "Deleted"}
    assert deleted == crowded.deleted & {str(i) for i in expected}


def test_newest_keeps_the_1000_newest_changes(store: Store, crowded: Company) -> None:
    sandbox = Sandbox(store)
    sandbox.configure(cdc_cap_order="newest")
    rows = sandbox.cdc_rows(crowded.realm_id, since_all(crowded))

    newest = {entity_id for _, entity_id in crowded.matches(0)[-CDC_LIMIT:]}
    assert len(rows) == CDC_LIMIT
    assert set(ids(rows)) == newest
    # The late changes (touched and deleted after everything was created) are among them.
    touched = {i for i in range(5, 85, 2) if str(i) not in crowded.deleted}
    assert touched <= set(ids(rows))
    late_deleted = {row["Id"] for row in rows if row.get("status") == "Deleted"}
    assert {str(i) for i in range(600, 621, 2)} <= late_deleted
    body = sandbox.cdc(crowded.realm_id, since_all(crowded))
    assert body["CDCResponse"][0]["QueryResponse"][0]["maxResults"] == CDC_LIMIT


def test_arbitrary_keeps_1000_of_the_matches_the_same_ones_every_time(
    store: Store, crowded: Company
) -> None:
    sandbox = Sandbox(store, cdc_cap_order="arbitrary")
    since = since_all(crowded)
    first = sandbox.cdc_rows(crowded.realm_id, since)
    again = sandbox.cdc_rows(crowded.realm_id, since)
    in_batch = sandbox.batch_cdc_rows(crowded.realm_id, since)
    elsewhere = Sandbox(store, cdc_cap_order="arbitrary").cdc_rows(crowded.realm_id, since)

    matched = [entity_id for _, entity_id in crowded.matches(0)]
    chosen = ids(first)
    assert len(chosen) == CDC_LIMIT == len(set(chosen))
    assert set(chosen) <= set(matched)
    assert chosen == ids(again) == ids(in_batch) == ids(elsewhere)
    assert set(chosen) != set(matched[:CDC_LIMIT])
    assert set(chosen) != set(matched[-CDC_LIMIT:])
    # Each row is the object's (or tombstone's) stored latest version.
    by_id = {row["Id"]: row for row in first}
    for entity_id in crowded.deleted & set(by_id):
        assert by_id[entity_id]["status"] == "Deleted"
    for entity_id in set(by_id) - crowded.deleted:
        assert by_id[entity_id]["MetaData"]["LastUpdatedTime"] == qbo_time(
            crowded.changed_ms[entity_id]
        )


def test_arbitrary_depends_on_changed_since(store: Store, crowded: Company) -> None:
    sandbox = Sandbox(store, cdc_cap_order="arbitrary")
    earliest = min(crowded.changed_ms.values())
    first = set(ids(sandbox.cdc_rows(crowded.realm_id, stamp(earliest))))
    # One second earlier: the same matches, and the same question asked another way.
    moved = set(ids(sandbox.cdc_rows(crowded.realm_id, stamp(earliest - 1000))))
    assert len(first) == len(moved) == CDC_LIMIT
    assert first != moved


@pytest.mark.parametrize("order", ["oldest", "newest", "arbitrary"])
def test_1000_matches_or_fewer_come_back_whole_whatever_the_order(
    store: Store, crowded: Company, order: str
) -> None:
    sandbox = Sandbox(store, cdc_cap_order=order)
    # From the 300th newest change on: 300 matches.
    cutoff = crowded.matches(0)[-300][0]
    rows = sandbox.cdc_rows(crowded.realm_id, stamp(cutoff))
    assert sorted(ids(rows)) == sorted(entity_id for _, entity_id in crowded.matches(cutoff))
    assert len(rows) == 300

    # Exactly 1000 matches: still every one of them.
    cutoff = crowded.matches(0)[-CDC_LIMIT][0]
    exactly = crowded.matches(cutoff)
    assert len(exactly) == CDC_LIMIT
    rows = sandbox.cdc_rows(crowded.realm_id, stamp(cutoff))
    assert sorted(ids(rows)) == sorted(entity_id for _, entity_id in exactly)


# --- cdc_spurious_deleted ---------------------------------------------------------------------


def since_sparse(company: Company) -> str:
    return stamp(min(company.changed_ms.values()) - 1000)


def test_no_spurious_deletions_by_default(store: Store, sparse: Company) -> None:
    for sandbox in (Sandbox(store), Sandbox(store, cdc_spurious_deleted=0.0)):
        rows = sandbox.cdc_rows(sparse.realm_id, since_sparse(sparse))
        assert len(rows) == 10
        assert {row["Id"] for row in rows if row.get("status") == "Deleted"} == sparse.deleted


def test_probability_one_reports_every_live_object_as_a_real_deletion_looks(
    store: Store, sparse: Company
) -> None:
    sandbox = Sandbox(store)
    live = {row["Id"]: row for row in sandbox.cdc_rows(sparse.realm_id, since_sparse(sparse))}
    (real_tombstone,) = [live.pop(entity_id) for entity_id in sparse.deleted]

    sandbox.configure(cdc_spurious_deleted=1)
    rows = {row["Id"]: row for row in sandbox.cdc_rows(sparse.realm_id, since_sparse(sparse))}
    assert set(rows) == set(live) | sparse.deleted
    assert rows[real_tombstone["Id"]] == real_tombstone
    for entity_id, original in live.items():
        assert rows[entity_id] == {
            "domain": "QBO",
            "status": "Deleted",
            "Id": entity_id,
            "MetaData": {"LastUpdatedTime": original["MetaData"]["LastUpdatedTime"]},
        }
        assert rows[entity_id].keys() == real_tombstone.keys()
    in_batch = sandbox.batch_cdc_rows(sparse.realm_id, since_sparse(sparse))
    assert {row["Id"]: row for row in in_batch} == rows

    # Only CDC lies: a query, a batch query and a read still find every one of them.
    statement = f"SELECT * FROM Payment WHERE Id IN ({', '.join(repr(i) for i in live)})"
    found = sandbox.query(sparse.realm_id, statement)["Payment"]
    assert {row["Id"] for row in found} == set(live)
    assert all("status" not in row for row in found)
    item = {"bId": "q", "Query": statement}
    batch = sandbox.api(sparse.realm_id, "POST", "batch", {}, {"BatchItemRequest": [item]})
    (answer,) = batch.body["BatchItemResponse"]
    assert {row["Id"] for row in answer["QueryResponse"]["Payment"]} == set(live)
    some_id = next(iter(live))
    read = sandbox.api(sparse.realm_id, "GET", f"payment/{some_id}", {})
    assert read.status == 200 and read.body["Payment"] == live[some_id]


def test_half_the_live_objects_are_reported_deleted_the_same_ones_every_time(
    store: Store, crowded: Company
) -> None:
    sandbox = Sandbox(store, cdc_cap_order="newest", cdc_spurious_deleted=0.5)
    since = since_all(crowded)

    def spurious(rows: list[dict[str, Any]]) -> set[str]:
        return {
            row["Id"]
            for row in rows
            if row.get("status") == "Deleted" and row["Id"] not in crowded.deleted
        }

    rows = sandbox.cdc_rows(crowded.realm_id, since)
    first = spurious(rows)
    assert first == spurious(sandbox.cdc_rows(crowded.realm_id, since))
    assert first == spurious(sandbox.batch_cdc_rows(crowded.realm_id, since))
    another = Sandbox(store, cdc_cap_order="newest", cdc_spurious_deleted=0.5)
    assert first == spurious(another.cdc_rows(crowded.realm_id, since))
    live = [row for row in rows if row["Id"] not in crowded.deleted]
    assert 0.4 * len(live) < len(first) < 0.6 * len(live)

    # A higher probability reports a superset: each version draws its own number once.
    more = Sandbox(store, cdc_cap_order="newest", cdc_spurious_deleted=0.75)
    assert first < spurious(more.cdc_rows(crowded.realm_id, since))

    some = sorted(first, key=int)[:50]
    statement = f"SELECT * FROM Payment WHERE Id IN ({', '.join(repr(i) for i in some)})"
    found = sandbox.query(crowded.realm_id, statement)
    assert sorted((row["Id"] for row in found["Payment"]), key=int) == some


def test_a_new_version_of_an_object_draws_again(store: Store) -> None:
    realm_id, customer_id = new_company(store)
    company = Company(realm_id)
    payment_id = pay(store, company, customer_id, now_ms() - HOUR_MS, 55)
    sandbox = Sandbox(store, cdc_spurious_deleted=0.5)
    since = stamp(now_ms() - 2 * HOUR_MS)
    seen = []
    for n in range(16):
        (row,) = sandbox.cdc_rows(realm_id, since)
        assert row == sandbox.cdc_rows(realm_id, since)[0]
        seen.append(row.get("status") == "Deleted")
        touch(store, company, payment_id, now_ms() - HOUR_MS + n + 1)
    assert any(seen) and not all(seen)


# --- naive_time_zone ----------------------------------------------------------------------------


def test_a_changed_since_without_offset_is_read_in_the_configured_zone(
    store: Store, sparse: Company
) -> None:
    utc_now = naive(datetime.now(UTC))
    sandbox = Sandbox(store)
    # Pacific (the default) is behind UTC: UTC's wall clock read there is hours ahead.
    assert sandbox.cdc_rows(sparse.realm_id, utc_now) == []
    sandbox.configure(naive_time_zone=MINUS_12)
    assert sandbox.cdc_rows(sparse.realm_id, utc_now) == []
    sandbox.configure(naive_time_zone="UTC")
    assert sandbox.cdc_rows(sparse.realm_id, utc_now) == []
    sandbox.configure(naive_time_zone=PLUS_14)
    # Read fourteen hours back: the changes of 1 and 8 hours ago (and the deletion 2 h ago).
    assert sorted(ids(sandbox.cdc_rows(sparse.realm_id, utc_now))) == [1, 2, 3]


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "UTC", MINUS_12, PLUS_14])
def test_a_changed_since_with_an_offset_means_what_it_says(
    store: Store, sparse: Company, zone: str
) -> None:
    sandbox = Sandbox(store, naive_time_zone=zone)
    # The changes of 1, 8 and 22 hours ago, and the deletion of 2 hours ago.
    day_ago = datetime.now(UTC) - timedelta(hours=25)
    for text in (
        day_ago.isoformat(),
        day_ago.strftime("%Y-%m-%dT%H:%M:%SZ"),
        day_ago.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%Y-%m-%dT%H:%M:%S%z"),
    ):
        assert sorted(ids(sandbox.cdc_rows(sparse.realm_id, text))) == [1, 2, 3, 4], text


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "UTC", MINUS_12, PLUS_14])
def test_a_bare_date_is_midnight_in_the_configured_zone(
    store: Store, sparse: Company, zone: str
) -> None:
    day = datetime.now(UTC).date() - timedelta(days=1)
    midnight = datetime.combine(day, datetime.min.time(), ZoneInfo(zone))
    since_ms = int(midnight.timestamp() * 1000)
    expected = sorted(entity_id for _, entity_id in sparse.matches(since_ms))

    rows = Sandbox(store, naive_time_zone=zone).cdc_rows(sparse.realm_id, day.isoformat())
    assert sorted(ids(rows)) == expected


def test_bare_dates_differ_between_far_apart_zones(store: Store, sparse: Company) -> None:
    day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    east = Sandbox(store, naive_time_zone=PLUS_14).cdc_rows(sparse.realm_id, day)
    west = Sandbox(store, naive_time_zone=MINUS_12).cdc_rows(sparse.realm_id, day)
    # Midnight 26 hours apart, with a change every seven hours.
    assert set(ids(west)) < set(ids(east))


def test_a_query_literal_without_offset_follows_the_zone(store: Store, sparse: Company) -> None:
    ten_hours_ago = datetime.now(UTC) - timedelta(hours=10)
    literal = naive(ten_hours_ago)
    counted = f"SELECT COUNT(*) FROM Payment WHERE MetaData.LastUpdatedTime >= '{literal}'"
    # ORDERBY TotalAmt is not done in SQL: the conditions are applied by query.py itself.
    listed = f"SELECT * FROM Payment WHERE MetaData.LastUpdatedTime >= '{literal}' ORDERBY TotalAmt"
    before = f"SELECT COUNT(*) FROM Payment WHERE MetaData.LastUpdatedTime < '{literal}'"
    # Queries see the nine live payments (the one changed 2 hours ago was deleted).
    expected = {
        "UTC": 2,  # ten hours back: the changes of 1 and 8 hours ago
        MINUS_12: 0,  # two hours from now
        PLUS_14: 3,  # 24 hours back: 1, 8 and 22 hours ago
    }
    for zone, count in expected.items():
        sandbox = Sandbox(store, naive_time_zone=zone)
        assert sandbox.query(sparse.realm_id, counted).get("totalCount") == count, zone
        rows = sandbox.query(sparse.realm_id, listed).get("Payment", [])
        assert len(rows) == count, zone
        assert sandbox.query(sparse.realm_id, before)["totalCount"] == 9 - count, zone

    with_offset = (
        "SELECT COUNT(*) FROM Payment"
        f" WHERE MetaData.LastUpdatedTime >= '{ten_hours_ago.isoformat()}'"
    )
    for zone in expected:
        sandbox = Sandbox(store, naive_time_zone=zone)
        assert sandbox.query(sparse.realm_id, with_offset)["totalCount"] == 2, zone


def test_output_timestamps_stay_pacific_whatever_the_zone(store: Store, sparse: Company) -> None:
    sandbox = Sandbox(store, naive_time_zone="UTC")
    body = sandbox.cdc(sparse.realm_id, since_sparse(sparse))
    for row in payments(body):
        assert row["MetaData"]["LastUpdatedTime"].endswith(("-08:00", "-07:00"))
    assert body["time"].endswith(("-08:00", "-07:00"))


def test_the_zone_belongs_to_the_request_and_to_the_thread() -> None:
    assert naive_zone() == COMPANY_TZ
    text = "2026-01-01T00:00:00"
    answers: dict[str, datetime] = {}
    barrier = threading.Barrier(2)

    def read(zone: str) -> None:
        with naive_time_zone(ZoneInfo(zone)):
            barrier.wait(5)  # both zones are set at once
            answers[zone] = parse_timestamp(text)
            assert parse_datetime(text) == answers[zone]

    threads = [threading.Thread(target=read, args=(zone,)) for zone in (MINUS_12, PLUS_14)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert answers[MINUS_12] == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert answers[PLUS_14] == datetime(2025, 12, 31, 10, tzinfo=UTC)
    assert naive_zone() == COMPANY_TZ
    with naive_time_zone(ZoneInfo("UTC")):
        assert parse_timestamp("2026-01-01") == datetime(2026, 1, 1, tzinfo=UTC)
        assert parse_timestamp("2026-01-01T05:00:00-0700") == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert parse_timestamp("2026-01-01") == datetime(2026, 1, 1, 8, tzinfo=UTC)


def test_a_request_leaves_the_zone_as_it_found_it(store: Store, sparse: Company) -> None:
    Sandbox(store, naive_time_zone=PLUS_14).cdc_rows(sparse.realm_id, since_sparse(sparse))
    assert naive_zone() == COMPANY_TZ


# --- the control endpoint and Config ------------------------------------------------------------

DEFAULTS = {
    "cdc_cap_order": "oldest",
    "cdc_spurious_deleted": 0.0,
    "naive_time_zone": "America/Los_Angeles",
}


def test_config_shows_the_switches_and_takes_good_values(store: Store) -> None:
    sandbox = Sandbox(store)
    shown = sandbox.control("GET", "config").body
    assert {key: shown[key] for key in DEFAULTS} == DEFAULTS

    changes = {
        "cdc_cap_order": "arbitrary",
        "cdc_spurious_deleted": 0.25,
        "naive_time_zone": "UTC",
    }
    reply = sandbox.control("POST", "config", changes)
    assert reply.status == 200
    assert {key: reply.body[key] for key in DEFAULTS} == changes
    assert {key: sandbox.control("GET", "config").body[key] for key in DEFAULTS} == changes
    assert (
        sandbox.control("POST", "config", {"cdc_spurious_deleted": 1}).body["cdc_spurious_deleted"]
        == 1.0
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cdc_cap_order": "random"}, "cdc_cap_order must be one of oldest, newest, arbitrary"),
        ({"cdc_cap_order": "Oldest"}, "cdc_cap_order must be one of"),
        ({"cdc_cap_order": 1}, "cdc_cap_order must be one of"),
        ({"cdc_cap_order": None}, "cdc_cap_order must be one of"),
        ({"cdc_cap_order": ["oldest"]}, "cdc_cap_order must be one of"),
        ({"cdc_spurious_deleted": 1.5}, "cdc_spurious_deleted is a probability between 0 and 1"),
        ({"cdc_spurious_deleted": -0.1}, "probability"),
        ({"cdc_spurious_deleted": "0.5"}, "cdc_spurious_deleted must be a number"),
        ({"cdc_spurious_deleted": True}, "must be a number"),
        ({"cdc_spurious_deleted": None}, "must be a number"),
        ({"naive_time_zone": "Mars/Olympus_Mons"}, "no time zone named 'Mars/Olympus_Mons'"),
        ({"naive_time_zone": "utc"}, "no time zone named 'utc'"),
        ({"naive_time_zone": ""}, "no time zone named ''"),
        ({"naive_time_zone": "../../etc/passwd"}, "no time zone named"),
        ({"naive_time_zone": "America"}, "no time zone named"),
        ({"naive_time_zone": -8}, "naive_time_zone must be an IANA time zone name"),
        ({"naive_time_zone": {"zone": "UTC"}}, "IANA"),
        # All or nothing: the good change is not applied either.
        ({"cdc_cap_order": "newest", "naive_time_zone": "Nowhere/Town"}, "no time zone"),
        ({"naive_time_zone": "UTC", "cdc_spurious_deleted": 2}, "probability"),
        ({"cdc_spurious_deleted": 0.5, "cdc_cap_order": "latest"}, "cdc_cap_order"),
        ({"cdc_cap_order": "newest", "rotate_every_refresh": "yes"}, "rotate_every_refresh"),
    ],
    ids=str,
)
def test_config_refuses_bad_values_and_changes_nothing(
    store: Store, changes: dict[str, Any], message: str
) -> None:
    sandbox = Sandbox(store)
    before = sandbox.control("GET", "config").body
    reply = sandbox.control("POST", "config", changes)
    assert reply.status == 400
    assert message in reply.body["error"]
    assert sandbox.control("GET", "config").body == before


def test_a_refused_zone_leaves_requests_reading_the_old_one(store: Store, sparse: Company) -> None:
    sandbox = Sandbox(store, naive_time_zone=PLUS_14)
    utc_now = naive(datetime.now(UTC))
    assert sandbox.control("POST", "config", {"naive_time_zone": "Atlantis"}).status == 400
    assert sorted(ids(sandbox.cdc_rows(sparse.realm_id, utc_now))) == [1, 2, 3]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(min_value=0, max_value=1)
    | st.text()
    | st.sampled_from(
        [
            "oldest",
            "newest",
            "arbitrary",
            "OLDEST",
            "UTC",
            "Etc/GMT+12",
            "Pacific/Kiritimati",
            "America",
            "America/",
            "/etc/passwd",
            "../x",
            ".",
            "zone.tab",
            "posixrules",
            "Etc",
            "Europe/Paris\x00",
            "\ud800",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=5,
)
switch_changes = st.dictionaries(
    st.sampled_from(["cdc_cap_order", "cdc_spurious_deleted", "naive_time_zone"]),
    json_values,
    max_size=3,
)


@given(changes=switch_changes)
def test_config_update_is_all_or_nothing_and_only_raises_value_error(
    changes: dict[str, Any],
) -> None:
    config = Config(fault_429=0.125, limit_concurrent=3, naive_time_zone=PLUS_14)
    before = asdict(config)
    try:
        config.update(changes)
    except ValueError as error:
        assert str(error)
        assert asdict(config) == before
        return
    after = asdict(config)
    for key, value in changes.items():
        if key == "cdc_spurious_deleted":
            assert isinstance(after[key], float) and 0 <= after[key] <= 1
            assert after[key] == value
        else:
            assert after[key] == value and isinstance(after[key], str)
    assert {k: v for k, v in after.items() if k not in changes} == {
        k: v for k, v in before.items() if k not in changes
    }
    ZoneInfo(after["naive_time_zone"])
    assert after["cdc_cap_order"] in ("oldest", "newest", "arbitrary")


# --- the command line ---------------------------------------------------------------------------


def test_the_serve_flags_default_to_todays_behaviour() -> None:
    args = build_parser().parse_args(["serve"])
    assert {key: getattr(args, key) for key in DEFAULTS} == DEFAULTS
    assert {key: getattr(Config(), key) for key in DEFAULTS} == DEFAULTS


def test_the_serve_flags_parse() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "--cdc-cap-order",
            "newest",
            "--cdc-spurious-deleted",
            "0.3",
            "--naive-time-zone",
            "Etc/GMT+12",
        ]
    )
    assert (args.cdc_cap_order, args.cdc_spurious_deleted, args.naive_time_zone) == (
        "newest",
        0.3,
        "Etc/GMT+12",
    )


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--cdc-cap-order", "latest"),
        ("--cdc-spurious-deleted", "1.5"),
        ("--cdc-spurious-deleted", "-1"),
        ("--cdc-spurious-deleted", "nan"),
        ("--cdc-spurious-deleted", "half"),
        ("--naive-time-zone", "Mars/Olympus_Mons"),
        ("--naive-time-zone", ""),
    ],
)
def test_bad_serve_flags_are_argparse_errors(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", flag, value])
    assert exited.value.code == 2
    assert flag in capsys.readouterr().err


def test_the_real_server_takes_the_flags() -> None:
    from qbo_sandbox.testing import start_sandbox

    process = start_sandbox(
        "--seed",
        "empty",
        "--cdc-cap-order",
        "arbitrary",
        "--cdc-spurious-deleted",
        "1",
        "--naive-time-zone",
        PLUS_14,
    )
    try:
        shown = process.control("GET", "/_sandbox/config")
        assert {key: shown[key] for key in DEFAULTS} == {
            "cdc_cap_order": "arbitrary",
            "cdc_spurious_deleted": 1.0,
            "naive_time_zone": PLUS_14,
        }
        # Over HTTP: a customer created now, asked for with UTC's wall clock and no
        # offset, which Kiritimati reads 14 hours back, comes back as a tombstone.
        realm_id = next(iter(process.realms))
        token = process.mint_tokens(realm_id)["access_token"]
        company_url = f"{process.api_url}/company/{realm_id}"
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        created = requests.post(
            f"{company_url}/customer",
            json={"DisplayName": "Bar à Vins Kiritimati"},
            headers=headers,
            timeout=30,
        )
        assert created.status_code == 200, created.text
        customer_id = created.json()["Customer"]["Id"]
        response = requests.get(
            f"{company_url}/cdc",
            params={"entities": "Customer", "changedSince": naive(datetime.now(UTC))},
            headers=headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        (entry,) = response.json()["CDCResponse"][0]["QueryResponse"]
        (row,) = entry["Customer"]
        assert row["Id"] == customer_id and row["status"] == "Deleted"
        assert set(row) == {"domain", "status", "Id", "MetaData"}

        with pytest.raises(RuntimeError, match="400"):
            process.control("POST", "/_sandbox/config", {"naive_time_zone": "Nowhere"})
    finally:
        process.stop()
