"""Webhook storm (issue 14): 1,000 signed deliveries over 60 s for three realms, 30 %
duplicates, shuffled, some sent after the state they describe was already polled.

    uv run --frozen python bench/webhook_storm.py [--deliveries 1000] [--seconds 60]
        [--realms 3] [--duplicates 0.3] [--scale 0.2] [--json out.json] [--workdir DIR]

Starts a whole unefemme on servers of its own (bench/_stack.py: PostgreSQL, Redis,
qbo_sandbox, gunicorn, a Celery worker and beat), connects ``--realms`` demo companies and
waits for their imports. Then, over the first three quarters of ``--seconds``, it changes
their books through the sandbox's public API (customers created and edited; invoices
created, edited, paid, voided and deleted) and describes each change in a signed
CloudEvents delivery (its real entity id, operation and time, rendered and signed as
qbo_sandbox and Intuit do), POSTed from a pool of threads to the stack's webhook URL: most
a moment after the change, a quarter several seconds later (by then a poll has read the
change), and ``--duplicates`` of all deliveries are the same bytes again, as Intuit
redelivers, all within ``--seconds``. The random delays shuffle the order of arrival.

It passes when every delivery is answered 200 within Intuit's 3 seconds, each distinct
event is stored exactly once, polls are coalesced (at most one for every ten deliveries),
some deliveries did arrive after their change was polled, no sync run is left running, and
once everything is quiet each realm's mirror equals QuickBooks (tests/sync/books.py).

The sandbox sends webhooks of its own for the same changes, as it is told to (and as
Intuit would); those are stored under their own ids and counted apart.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import math
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (  # noqa: E402
    CLIENT_ID,
    CLIENT_SECRET,
    Result,
    connect_demo_company,
    print_table,
)
from _stack import VERIFIER, WEBHOOK_PATH, Stack  # noqa: E402

from qbo_sandbox.activity import ApiError, Client  # noqa: E402
from qbo_sandbox.webhooks import ChangeEvent, render_cloudevents, sign  # noqa: E402

if TYPE_CHECKING:
    from sync.models import QBOConnection

JSON = dict[str, Any]

ACK_LIMIT = 3.0  # Intuit's: answer within three seconds or the delivery is retried
# Polls are coalesced when each one covers many deliveries: at most one per ten.
DELIVERIES_PER_POLL = 10
# Of the window, the part over which the books change; the rest leaves room for the late
# deliveries and the redeliveries of the last changes to arrive inside the window too.
CHANGE_SPAN = 0.75
LATE_SHARE = 0.25  # of first deliveries, sent after the poll that read their change
LATE_DELAY = (0.1, 0.2)  # x --seconds: 6-12 s of a minute, past the poll that reads it
PROMPT_DELAY = 1.0  # seconds: the others go out within a second of the change
REDELIVERY_SPREAD = 0.3  # x --seconds: how long after the first a redelivery may come
SENDERS = 16  # threads POSTing deliveries
POST_TIMEOUT = 30.0  # seconds: a slow answer is measured, not abandoned at 3 s
IMPORT_TIMEOUT = 300.0
CONVERGE_TIMEOUT = 180.0
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# ---------------------------------------------------------------- the books' changes


@dataclass
class OpenInvoice:
    sync_token: str
    customer_id: str
    balance: float


class Bookkeeper:
    """One company's books changed through the sandbox's public API, with the events Intuit
    would notify for each change: the entity the request changed (and, for a payment, the
    invoice it paid). Side effects the API does not report (an item's stock, a customer's
    balance) reach the mirror through the polls all the same."""

    def __init__(self, client: Client, rng: random.Random) -> None:
        self.client = client
        self.rng = rng
        self.realm_id = client.realm_id
        self.customers: dict[str, str] = {
            str(c["Id"]): str(c["SyncToken"])
            for c in client.rows("SELECT * FROM Customer MAXRESULTS 1000", "Customer")
        }
        self.items = [
            item
            for item in client.rows(
                "SELECT * FROM Item WHERE Type = 'Inventory' MAXRESULTS 1000", "Item"
            )
            if float(item.get("UnitPrice") or 0) > 0
        ]
        # Invoices this run created that are still open: only its own, so their SyncTokens
        # are known without reading them first.
        self.invoices: dict[str, OpenInvoice] = {}
        self.made: Counter[str] = Counter()
        self.serial = 0

    def change(self) -> list[ChangeEvent]:
        """One change to the books; an operation with nothing to act on (no open invoice
        yet) or refused by QuickBooks gives way to an invoice, then a new customer."""
        operations: list[tuple[int, Callable[[], list[ChangeEvent] | None]]] = [
            (30, self.invoice_create),
            (10, self.customer_create),
            (15, self.customer_update),
            (15, self.invoice_update),
            (12, self.invoice_pay),
            (9, self.invoice_void),
            (9, self.invoice_delete),
        ]
        pick = self.rng.uniform(0, sum(weight for weight, _ in operations))
        chosen = operations[-1][1]
        for weight, operation in operations:
            pick -= weight
            if pick <= 0:
                chosen = operation
                break
        self.serial += 1
        for operation in (chosen, self.invoice_create, self.customer_create):
            try:
                events = operation()
            except ApiError:
                events = None
            if events:
                self.made[operation.__name__] += 1
                return events
        raise RuntimeError(f"realm {self.realm_id}: not even a customer could be created")

    def _event(self, entity: str, entity_id: str, operation: str, when: str) -> ChangeEvent:
        return ChangeEvent(
            self.realm_id, entity, entity_id, operation, datetime.fromisoformat(when)
        )

    def customer_create(self) -> list[ChangeEvent]:
        name = f"Storm {self.realm_id[-4:]}-{self.serial}"
        created = self.client.call("POST", "customer", {"DisplayName": name})["Customer"]
        self.customers[str(created["Id"])] = str(created["SyncToken"])
        return [self._customer_event(created, "Create")]

    def _customer_event(self, customer: JSON, operation: str) -> ChangeEvent:
        when = customer["MetaData"]["LastUpdatedTime"]
        return self._event("Customer", str(customer["Id"]), operation, when)

    def customer_update(self) -> list[ChangeEvent]:
        customer_id = self.rng.choice(sorted(self.customers))
        change = {"sparse": True, "Notes": f"Storm note {self.serial}"}
        try:
            updated = self._update("customer", customer_id, self.customers[customer_id], change)
        except ApiError:
            # Invoices and payments move a customer's balance, and with it its SyncToken.
            current = self.client.call("GET", f"customer/{customer_id}")["Customer"]
            updated = self._update("customer", customer_id, str(current["SyncToken"]), change)
        self.customers[customer_id] = str(updated["SyncToken"])
        return [self._customer_event(updated, "Update")]

    def _update(self, entity: str, entity_id: str, sync_token: str, change: JSON) -> JSON:
        body = {"Id": entity_id, "SyncToken": sync_token, **change}
        updated: JSON = self.client.call("POST", entity, body)[entity.capitalize()]
        return updated

    def invoice_create(self) -> list[ChangeEvent]:
        if not self.items or not self.customers:
            return []
        lines = []
        for item in self.rng.sample(self.items, min(len(self.items), self.rng.randint(1, 3))):
            qty = self.rng.choice((1, 2, 3, 6))
            price = float(item["UnitPrice"])
            lines.append(
                {
                    "Amount": round(qty * price, 2),
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": item["Id"]},
                        "Qty": qty,
                        "UnitPrice": price,
                    },
                }
            )
        customer_id = self.rng.choice(sorted(self.customers))
        body = {"CustomerRef": {"value": customer_id}, "Line": lines}
        created = self.client.call("POST", "invoice", body)["Invoice"]
        invoice_id = str(created["Id"])
        self.invoices[invoice_id] = OpenInvoice(
            str(created["SyncToken"]), customer_id, float(created["Balance"])
        )
        return [self._invoice_event(created, "Create")]

    def _invoice_event(self, invoice: JSON, operation: str) -> ChangeEvent:
        when = invoice["MetaData"]["LastUpdatedTime"]
        return self._event("Invoice", str(invoice["Id"]), operation, when)

    def _open_invoice(self) -> tuple[str, OpenInvoice] | None:
        if not self.invoices:
            return None
        invoice_id = self.rng.choice(sorted(self.invoices))
        return invoice_id, self.invoices[invoice_id]

    def invoice_update(self) -> list[ChangeEvent] | None:
        if (found := self._open_invoice()) is None:
            return None
        invoice_id, invoice = found
        change = {"sparse": True, "PrivateNote": f"Storm {self.serial}"}
        updated = self._update("invoice", invoice_id, invoice.sync_token, change)
        invoice.sync_token = str(updated["SyncToken"])
        return [self._invoice_event(updated, "Update")]

    def invoice_pay(self) -> list[ChangeEvent] | None:
        if (found := self._open_invoice()) is None:
            return None
        invoice_id, invoice = found
        body = {
            "CustomerRef": {"value": invoice.customer_id},
            "TotalAmt": invoice.balance,
            "Line": [
                {
                    "Amount": invoice.balance,
                    "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}],
                }
            ],
        }
        payment = self.client.call("POST", "payment", body)["Payment"]
        del self.invoices[invoice_id]  # paid: its balance and SyncToken moved
        when = payment["MetaData"]["LastUpdatedTime"]
        return [
            self._event("Payment", str(payment["Id"]), "Create", when),
            self._event("Invoice", invoice_id, "Update", when),
        ]

    def invoice_void(self) -> list[ChangeEvent] | None:
        if (found := self._open_invoice()) is None:
            return None
        invoice_id, invoice = found
        body = {"Id": invoice_id, "SyncToken": invoice.sync_token}
        voided = self.client.call("POST", "invoice", body, operation="void")["Invoice"]
        del self.invoices[invoice_id]
        return [self._invoice_event(voided, "Void")]

    def invoice_delete(self) -> list[ChangeEvent] | None:
        if (found := self._open_invoice()) is None:
            return None
        invoice_id, invoice = found
        body = {"Id": invoice_id, "SyncToken": invoice.sync_token}
        answer = self.client.call("POST", "invoice", body, operation="delete")
        del self.invoices[invoice_id]
        return [self._event("Invoice", invoice_id, "Delete", str(answer["time"]))]


# ---------------------------------------------------------------- deliveries


@dataclass
class Body:
    """One distinct delivery: the signed bytes describing one change, sent ``copies`` times."""

    index: int
    realm_id: str
    body: bytes
    signature: str
    event_ids: list[str]
    events: list[ChangeEvent]
    changed_at: datetime  # when QuickBooks answered the change (our clock, like the runs')
    copies: int


@dataclass
class Delivery:
    body: Body
    copy: int  # 0: the first delivery; 1 and up: the same bytes again
    late: bool = False  # held back on purpose until a poll had surely read the change
    sent_at: datetime | None = None
    seconds_sent: float = 0.0  # time.monotonic() when it was sent
    seconds: float | None = None
    answered: float | None = None  # time.monotonic() of the answer
    status: int = 0  # the HTTP status; 0 when no answer came
    error: str = ""


@dataclass(frozen=True)
class Config:
    deliveries: int = 1000
    seconds: float = 60.0
    realms: int = 3
    duplicates: float = 0.3
    scale: float = 0.2
    seed: int = 14
    senders: int = SENDERS


@dataclass
class Storm:
    """The window: one thread per realm changing its books on a schedule, a dispatcher
    releasing each delivery at its time, and a pool of senders POSTing them."""

    config: Config
    url: str
    bookkeepers: list[Bookkeeper]
    rng: random.Random
    bodies: list[Body] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    _due: list[tuple[float, int, Delivery]] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _changing: int = 0
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    started_at: datetime | None = None
    last_change_at: datetime | None = None

    def plan(self) -> list[int]:
        """How many times each distinct delivery is sent: once, plus the duplicates drawn
        among them (a delivery may be redelivered more than once, as Intuit's retries)."""
        distinct = self.config.deliveries - round(self.config.deliveries * self.config.duplicates)
        if distinct < 1:
            raise ValueError("--duplicates leaves no distinct delivery")
        copies = [1] * distinct
        for _ in range(self.config.deliveries - distinct):
            copies[self.rng.randrange(distinct)] += 1
        return copies

    def run(self) -> None:
        copies = self.plan()
        realms = len(self.bookkeepers)
        span = self.config.seconds * CHANGE_SPAN
        schedule: list[list[tuple[int, float, int, random.Random]]] = [[] for _ in range(realms)]
        for index, count in enumerate(copies):
            at = index / len(copies) * span
            # Each realm's thread draws from a generator of its own: the same seed gives
            # the same storm whatever the threads' interleaving.
            schedule[index % realms].append((index, at, count, random.Random(self.rng.random())))
        self.started = time.monotonic()
        self.started_at = datetime.now(UTC)
        self._changing = realms
        # Daemons: a run stopped half-way (SIGTERM) must not wait for the schedule's end.
        changers = [
            threading.Thread(
                target=self._change, args=(b, s), name=f"storm-{b.realm_id}", daemon=True
            )
            for b, s in zip(self.bookkeepers, schedule, strict=True)
        ]
        pool = ThreadPoolExecutor(self.config.senders, thread_name_prefix="storm-post")
        try:
            for thread in changers:
                thread.start()
            self._dispatch(pool)
            for thread in changers:
                thread.join()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)

    def _change(
        self, bookkeeper: Bookkeeper, planned: list[tuple[int, float, int, random.Random]]
    ) -> None:
        try:
            for index, at, copies, rng in planned:
                time.sleep(max(0.0, self.started + at - time.monotonic()))
                events = bookkeeper.change()
                changed_at = datetime.now(UTC)
                changed = time.monotonic() - self.started
                body = render_cloudevents(events)  # fresh CloudEvents ids, as Intuit mints
                rendered = Body(
                    index=index,
                    realm_id=bookkeeper.realm_id,
                    body=body,
                    signature=sign(body, VERIFIER),
                    event_ids=[str(event["id"]) for event in json.loads(body)],
                    events=events,
                    changed_at=changed_at,
                    copies=copies,
                )
                self._schedule(rendered, changed, rng)
        except Exception as exc:  # noqa: BLE001 - reported once the window is over
            with self._cond:
                self.errors.append(f"{bookkeeper.realm_id}: {type(exc).__name__}: {exc}")
        finally:
            with self._cond:
                self._changing -= 1
                self.last_change_at = datetime.now(UTC)
                self._cond.notify_all()

    def _schedule(self, body: Body, changed: float, rng: random.Random) -> None:
        window = self.config.seconds
        late = rng.random() < LATE_SHARE
        first = changed + (
            rng.uniform(*LATE_DELAY) * window if late else rng.uniform(0, PROMPT_DELAY)
        )
        times = [first]
        for _ in range(body.copies - 1):
            room = max(0.5, min(REDELIVERY_SPREAD * window, window - first))
            times.append(first + rng.uniform(0.5, room))
        with self._cond:
            self.bodies.append(body)
            for copy, at in enumerate(times):
                delivery = Delivery(body, copy, late=late and copy == 0)
                self.deliveries.append(delivery)
                # A random tie-breaker: deliveries due at the same moment leave in any order.
                heapq.heappush(self._due, (at, rng.getrandbits(32), delivery))
            self._cond.notify_all()

    def _dispatch(self, pool: ThreadPoolExecutor) -> None:
        while True:
            with self._cond:
                while True:
                    now = time.monotonic() - self.started
                    if self._due and self._due[0][0] <= now:
                        _, _, delivery = heapq.heappop(self._due)
                        break
                    if not self._due and self._changing == 0:
                        return
                    self._cond.wait(self._due[0][0] - now if self._due else None)
            pool.submit(self._post, delivery)

    def _post(self, delivery: Delivery) -> None:
        request = urllib.request.Request(
            self.url,
            data=delivery.body.body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "intuit-signature": delivery.body.signature,
            },
        )
        delivery.sent_at = datetime.now(UTC)
        delivery.seconds_sent = time.monotonic()
        started = time.perf_counter()
        try:
            with _OPENER.open(request, timeout=POST_TIMEOUT) as response:
                response.read()
                delivery.status = response.status
        except urllib.error.HTTPError as error:
            delivery.status = error.code
            error.close()
        except OSError as error:
            delivery.error = f"{type(error).__name__}: {error}"
        delivery.seconds = time.perf_counter() - started
        delivery.answered = time.monotonic()


# ---------------------------------------------------------------- the run


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (p99 of 1,000 values is the 990th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def imports_done(connections: list[QBOConnection], timeout: float) -> float:
    """Wait for every connection's import to finish; the seconds it took."""
    from common import mirror
    from sync.models import SyncCursor, SyncRun

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        done = SyncCursor.objects.filter(connection__in=connections, import_done=True).count()
        running = SyncRun.objects.filter(
            connection__in=connections, status=SyncRun.Status.RUNNING
        ).exists()
        if done == len(connections) * len(mirror.entities()) and not running:
            return time.monotonic() - started
        failed = SyncRun.objects.filter(
            connection__in=connections, kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.FAILED
        ).first()
        if failed is not None:
            raise RuntimeError(f"an import failed: {failed.error}")
        time.sleep(1)
    raise RuntimeError(f"the imports did not finish in {timeout:.0f} s")


def quiet(stack: Stack, realms: list[str]) -> bool:
    """Nothing queued, running or about to run: no sync task in the queue or unacknowledged,
    no realm lease or rerun request, no run marked running, no sandbox webhook pending."""
    from django.utils import timezone

    from sync import locks, services
    from sync.models import QBOConnection, SyncRun

    redis = locks.redis_client()
    if redis.llen("celery") or redis.hlen("unacked"):
        return False
    for realm_id in realms:
        if locks.realm_lock_held(realm_id=realm_id):
            return False
        if redis.exists(f"{locks.KEY_PREFIX}:sync-rerun:{realm_id}"):
            return False
    if SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists():
        return False
    # Notifications inside a realm's coalescing window made it due at the window's end
    # (sync.services.webhook_events_received): that poll is still to come.
    soon = timezone.now() + timedelta(seconds=services.webhook_poll_spacing())
    if QBOConnection.objects.filter(
        realm_id__in=realms, status=QBOConnection.Status.CONNECTED, next_sync_at__lte=soon
    ).exists():
        return False
    assert stack.sandbox is not None
    webhooks = stack.sandbox.control("GET", "/_sandbox/status")["stats"]["webhooks"]
    return not webhooks.get("pending")


def mirror_differences(upstream: Any, mirrored: Any) -> dict[str, str]:
    """What differs between two ``Figures``, per entity, in a few words."""
    found: dict[str, str] = {}
    for entity, rows in upstream.versions.items():
        mine = mirrored.versions.get(entity, {})
        missing = len(set(rows) - set(mine))
        extra = len(set(mine) - set(rows))
        stale = sum(1 for key in set(rows) & set(mine) if rows[key] != mine[key])
        if missing or extra or stale:
            found[entity] = f"{missing} missing, {extra} extra, {stale} stale"
    for name in ("invoice_total", "invoice_balance", "payment_total", "payment_unapplied"):
        if getattr(upstream, name) != getattr(mirrored, name):
            found[name] = f"{getattr(mirrored, name)} instead of {getattr(upstream, name)}"
    return found


def converge(
    stack: Stack, connections: list[QBOConnection], timeout: float
) -> tuple[float | None, dict[str, dict[str, str]]]:
    """Wait for quiet, then compare each realm's mirror with QuickBooks, until they are
    equal or ``timeout`` passes. Returns when (monotonic) the comparison that found them
    equal began, or None, and the last differences per realm."""
    from tests.sync.books import Books, mirrored, upstream

    assert stack.sandbox is not None
    books = {c.realm_id: Books(stack.sandbox, c.realm_id) for c in connections}
    realms = [c.realm_id for c in connections]
    differences: dict[str, dict[str, str]] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not quiet(stack, realms):
            time.sleep(0.5)
            continue
        began = time.monotonic()
        differences = {}
        for connection in connections:
            theirs, ours = upstream(books[connection.realm_id]), mirrored(connection)
            if theirs != ours:
                differences[connection.realm_id] = mirror_differences(theirs, ours)
        if not differences:
            return began, {}
        time.sleep(1)
    if not differences:
        differences = {"every realm": {"quiet": f"never, in {timeout:.0f} s"}}
    return None, differences


def worker_log_counts(stack: Stack) -> dict[str, int]:
    """From the workers' logs: sync tasks received, and those that found their realm busy
    and left a rerun request to the poll holding it (the coalescing itself)."""
    received = busy = 0
    for program in stack.workers:
        try:
            text = program.log_path.read_text(errors="replace")
        except FileNotFoundError:
            continue
        for line in text.splitlines():
            if "sync.tasks.connection_sync[" in line and " received" in line:
                received += 1
            elif "skipped: another sync holds it" in line:
                busy += 1
    return {"sync_tasks_received": received, "sync_tasks_realm_busy": busy}


def storm_run(config: Config, workdir: Path) -> JSON:
    """The whole run; returns the report (``report["passed"]`` says whether it passed)."""
    with Stack(workdir) as stack:
        assert stack.sandbox is not None
        from sync import services
        from sync.models import SyncRun, WebhookEvent

        setup_started = time.monotonic()
        connections = []
        for _ in range(config.realms):
            connection, _company = connect_demo_company(stack.sandbox, scale=config.scale)
            services.connection_sync_now(connection=connection, trigger="connect")
            connections.append(connection)
        import_seconds = imports_done(connections, IMPORT_TIMEOUT)
        realms = [c.realm_id for c in connections]
        rng = random.Random(config.seed)
        bookkeepers = [
            Bookkeeper(
                Client(stack.sandbox.base_url, realm, CLIENT_ID, CLIENT_SECRET),
                random.Random(rng.random()),
            )
            for realm in realms
        ]
        setup_seconds = time.monotonic() - setup_started

        logged_before = worker_log_counts(stack)
        storm = Storm(config, stack.base_url + WEBHOOK_PATH, bookkeepers, rng)
        storm.run()
        storm_seconds = time.monotonic() - storm.started
        answered = max((d.answered or 0.0 for d in storm.deliveries), default=time.monotonic())
        converged_at, differences = converge(stack, connections, CONVERGE_TIMEOUT)
        # From the last delivery's answer to the comparison that found every mirror equal.
        settled_seconds = None if converged_at is None else max(0.0, converged_at - answered)

        assert storm.started_at is not None
        events_sent = {eid: b for b in storm.bodies for eid in b.event_ids}
        rows = list(
            WebhookEvent.objects.filter(event_id__in=list(events_sent)).values_list(
                "event_id", "realm_id", "entity", "entity_id", "operation", "status"
            )
        )
        stored = Counter(row[0] for row in rows)
        wrong = 0
        for event_id, realm_id, entity, entity_id, operation, _status in rows:
            body = events_sent[event_id]
            event = body.events[body.event_ids.index(event_id)]
            wrong += (realm_id, entity, entity_id, operation) != (
                event.realm_id,
                event.entity,
                event.entity_id,
                event.operation,
            )
        others = WebhookEvent.objects.exclude(event_id__in=list(events_sent)).count()
        runs = list(
            SyncRun.objects.filter(
                connection__in=connections, started_at__gte=storm.started_at
            ).select_related("connection")
        )
        polls = [r for r in runs if r.kind == SyncRun.Kind.POLL]
        read = {
            realm: [
                (r.started_at, r.finished_at)
                for r in polls
                if r.connection.realm_id == realm
                and r.status == SyncRun.Status.SUCCEEDED
                and r.finished_at
            ]
            for realm in realms
        }

        # Each realm's last change reached the mirror by the end of the first poll that
        # started after it (an upper bound: an earlier poll may already have read it).
        caught_up: dict[str, float | None] = {}
        for realm in realms:
            last = max((b.changed_at for b in storm.bodies if b.realm_id == realm), default=None)
            after = [done for started, done in read[realm] if last and started > last]
            caught_up[realm] = (min(after) - last).total_seconds() if last and after else None

        def polled_before(delivery: Delivery) -> bool:
            body, sent = delivery.body, delivery.sent_at
            return sent is not None and any(
                started > body.changed_at and finished < sent
                for started, finished in read[body.realm_id]
            )

        stuck = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).count()
        sandbox_webhooks = stack.sandbox.control("GET", "/_sandbox/status")["stats"]["webhooks"]
        log_counts = {
            name: count - logged_before[name] for name, count in worker_log_counts(stack).items()
        }
        spacing = services.webhook_poll_spacing()

    seconds = [d.seconds for d in storm.deliveries if d.seconds is not None]
    made: Counter[str] = Counter()
    for bookkeeper in bookkeepers:
        made.update(bookkeeper.made)
    statuses = Counter(str(d.status or d.error or "none") for d in storm.deliveries)
    # Shuffled: deliveries that arrived after one describing a later change.
    out_of_order, latest = 0, -1
    for delivery in sorted(
        (d for d in storm.deliveries if d.sent_at is not None), key=lambda d: d.seconds_sent
    ):
        out_of_order += delivery.body.index < latest
        latest = max(latest, delivery.body.index)
    converge_seconds = (
        max(v for v in caught_up.values() if v is not None)
        if caught_up and all(v is not None for v in caught_up.values())
        else None
    )
    distinct_events = len(events_sent)
    report: JSON = {
        "config": {
            "deliveries": config.deliveries,
            "seconds": config.seconds,
            "realms": config.realms,
            "duplicates": config.duplicates,
            "scale": config.scale,
            "seed": config.seed,
            "senders": config.senders,
        },
        "setup_seconds": round(setup_seconds, 1),
        "import_seconds": round(import_seconds, 1),
        "storm_seconds": round(storm_seconds, 1),
        "changes": len(storm.bodies),
        "changes_by_kind": dict(made),
        "change_errors": storm.errors,
        "deliveries": len(storm.deliveries),
        "distinct_deliveries": len(storm.bodies),
        "duplicate_deliveries": sum(1 for d in storm.deliveries if d.copy > 0),
        "late_deliveries_planned": sum(1 for d in storm.deliveries if d.late),
        "deliveries_out_of_order": out_of_order,
        "deliveries_after_poll": sum(1 for d in storm.deliveries if polled_before(d)),
        "statuses": dict(statuses),
        "acknowledged": statuses.get("200", 0),
        "ack_seconds": {
            "p50": round(statistics.median(seconds), 4) if seconds else None,
            "p99": round(percentile(seconds, 0.99), 4) if seconds else None,
            "max": round(max(seconds), 4) if seconds else None,
            "over_limit": sum(1 for s in seconds if s >= ACK_LIMIT),
        },
        "distinct_events": distinct_events,
        "events_stored": len(stored),
        "events_stored_twice": sum(1 for count in stored.values() if count > 1),
        "events_stored_wrong": wrong,
        "event_statuses": dict(Counter(row[5] for row in rows)),
        "sandbox_events_stored": others,
        "sandbox_webhooks": sandbox_webhooks,
        "webhook_poll_spacing": spacing,
        "polls": len(polls),
        "polls_by_realm": {
            realm: sum(r.connection.realm_id == realm for r in polls) for realm in realms
        },
        "polls_by_trigger": dict(Counter(r.trigger for r in polls)),
        "polls_by_status": dict(Counter(r.status for r in polls)),
        "poll_errors": sorted({r.error for r in polls if r.error})[:5],
        "other_runs": dict(Counter(f"{r.kind}:{r.status}" for r in runs if r.kind != "poll")),
        **log_counts,
        "runs_stuck": stuck,
        "converged": converged_at is not None,
        "converge_seconds": None if converge_seconds is None else round(converge_seconds, 1),
        "last_change_polled_seconds": {
            realm: None if v is None else round(v, 1) for realm, v in caught_up.items()
        },
        "settled_seconds": None if settled_seconds is None else round(settled_seconds, 1),
        "mirror_differences": differences,
        "realms_equal": sum(realm not in differences for realm in realms)
        if "every realm" not in differences
        else 0,
    }
    report["checks"] = checks(report)
    report["passed"] = all(check["ok"] for check in report["checks"])
    return report


def checks(report: JSON) -> list[JSON]:
    """The pass conditions, each with what was measured."""
    config, ack = report["config"], report["ack_seconds"]
    most_polls = report["deliveries"] // DELIVERIES_PER_POLL
    conditions = [
        ("the books changed as planned", not report["change_errors"]),
        ("deliveries sent", report["deliveries"] == config["deliveries"]),
        ("every delivery answered 200", report["acknowledged"] == config["deliveries"]),
        (
            f"every delivery answered in < {ACK_LIMIT:g} s",
            ack["max"] is not None and ack["max"] < ACK_LIMIT,
        ),
        ("some events sent", report["distinct_events"] > 0),
        ("each distinct event stored once", report["events_stored"] == report["distinct_events"]),
        ("no event stored wrong", report["events_stored_wrong"] == 0),
        (
            f"polls coalesced (at most {most_polls})",
            0 < report["polls"] <= most_polls,
        ),
        ("some deliveries after their change was polled", report["deliveries_after_poll"] > 0),
        ("no run left running", report["runs_stuck"] == 0),
        ("every mirror equals QuickBooks", report["realms_equal"] == config["realms"]),
    ]
    return [{"check": name, "ok": bool(ok)} for name, ok in conditions]


def table(report: JSON) -> list[Result]:
    ack, config = report["ack_seconds"], report["config"]
    limit = f"< {ACK_LIMIT:g} s"
    stored_once = report["events_stored"] == report["distinct_events"]
    stored_once &= not report["events_stored_wrong"]

    def in_time(seconds: float | None) -> bool:
        return seconds is not None and seconds < ACK_LIMIT

    return [
        Result.check(
            "deliveries answered 200", report["acknowledged"], "deliveries",
            at_least=config["deliveries"],
            record=f"{report['distinct_deliveries']} distinct + "
            f"{report['duplicate_deliveries']} duplicates; statuses {report['statuses']}",
        ),
        Result("ack p50", ack["p50"], "s", record="HTTP 200 latency, connect to last byte"),
        Result("ack p99", ack["p99"], "s", limit, in_time(ack["p99"])),
        Result("ack max", ack["max"], "s", limit, in_time(ack["max"])),
        Result(
            "events stored", report["events_stored"], "events",
            f"= {report['distinct_events']}",
            stored_once,
            record=f"of {report['distinct_events']} distinct events sent; "
            f"{report['sandbox_events_stored']} more from the sandbox's own webhooks",
        ),
        Result.check(
            "polls run", report["polls"], "polls",
            at_most=report["deliveries"] // DELIVERIES_PER_POLL,
            record=f"by trigger {report['polls_by_trigger']}; "
            f"{report['sync_tasks_received']} sync tasks received, "
            f"{report['sync_tasks_realm_busy']} found the realm busy",
        ),
        Result.check(
            "deliveries after their change was polled", report["deliveries_after_poll"],
            "deliveries", at_least=1,
            record=f"{report['late_deliveries_planned']} first deliveries held back on purpose",
        ),
        Result.check("runs left running", report["runs_stuck"], "runs", at_most=0),
        Result.check(
            "mirrors equal to QuickBooks", report["realms_equal"], "realms",
            at_least=config["realms"],
            record=json.dumps(report["mirror_differences"]) if report["mirror_differences"] else "",
        ),
        Result(
            "time to converge", report["converge_seconds"], "s",
            record="from each realm's last change to the end of the first poll started after "
            f"it; all quiet and equal {report['settled_seconds']} s after the last delivery",
        ),
    ]  # fmt: skip


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through ``with Stack``, which stops every server it started.
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _workdir(path: str | None) -> Iterator[Path]:
    if path:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="webhook-storm-") as temporary:
        yield Path(temporary)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--realms", type=int, default=3)
    parser.add_argument("--duplicates", type=float, default=0.3, help="share of deliveries")
    parser.add_argument("--scale", type=float, default=0.2, help="size of each demo company")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--senders", type=int, default=SENDERS, help="threads POSTing")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--workdir", help="keep the stack's data and logs here")
    args = parser.parse_args()
    config = Config(
        deliveries=args.deliveries,
        seconds=args.seconds,
        realms=args.realms,
        duplicates=args.duplicates,
        scale=args.scale,
        seed=args.seed,
        senders=args.senders,
    )
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    with _workdir(args.workdir) as workdir:
        report = storm_run(config, workdir)
    print_table(
        table(report),
        title=f"Webhook storm: {config.deliveries} deliveries over {config.seconds:g} s, "
        f"{config.realms} realms, {config.duplicates:.0%} duplicates",
    )
    failed = [check["check"] for check in report["checks"] if not check["ok"]]
    print("\nPASSED" if not failed else "\nFAILED: " + "; ".join(failed))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
