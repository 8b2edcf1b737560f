"""Webhook notifications for committed changes, in Intuit's two formats (docs/qbo-api.md §12).

The server calls `WebhookDispatcher.publish` after each commit. Delivery runs on
background threads: events are gathered for a short window, rendered, signed with
`intuit-signature` and POSTed; a failed POST is retried on Intuit's schedule with
the same body (hence the same CloudEvents ids) until the receiver answers 2xx.

Injected faults (faults.py, off by default): a delivery may be delayed, sent twice (the
same bytes, so the same CloudEvents ids), or held back and sent after the realm's next one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qbo_sandbox.clock import Clock
from qbo_sandbox.faults import Faults

logger = logging.getLogger("qbo_sandbox.webhooks")

# Operation -> the verb in a CloudEvents type. Only `.created.v1` is confirmed by
# Intuit; the other verbs follow the same pattern, which is our best guess [unconfirmed].
_CLOUDEVENTS_VERBS = {
    "Create": "created",
    "Update": "updated",
    "Delete": "deleted",
    "Void": "voided",
    "Merge": "merged",
    "Emailed": "emailed",
}
_CLOUDEVENTS_SOURCE = "intuit.qbo_sandbox"
_CLOUDEVENTS_MAX_EVENTS = 100
FORMATS = ("cloudevents", "legacy")

# Intuit's retry delays in Intuit seconds: 10 s, 20 s, 30 s, 5 min, 20 min, 2 h, 4 h,
# 6 h, then every 6 h (the last entry repeats forever).
RETRY_SCHEDULE: tuple[float, ...] = (10, 20, 30, 300, 1200, 7200, 14400, 21600)


@dataclass(frozen=True)
class ChangeEvent:
    realm_id: str
    entity: str
    entity_id: str
    operation: str
    occurred_at: datetime

    def __post_init__(self) -> None:
        # Reject bad events here, in the committing request, rather than in a
        # delivery thread where the error would only reach the log.
        if self.operation not in _CLOUDEVENTS_VERBS:
            raise ValueError(f"unknown webhook operation {self.operation!r}")
        if self.occurred_at.utcoffset() is None:
            raise ValueError("occurred_at must be timezone-aware")


@dataclass(frozen=True)
class _Held:
    """A delivery held back by `webhook_reorder`, to go out after the realm's next one."""

    body: bytes
    count: int
    until: float  # clock.monotonic() after which it goes out alone


@dataclass(frozen=True)
class DeliveryStats:
    attempts: int  # POSTs sent, retries included
    failures: int  # POSTs answered non-2xx, refused or timed out
    delivered: int  # events acknowledged by the receiver
    dropped: int  # events discarded undelivered at stop()
    pending: int  # events queued or being delivered


def sign(body: bytes, verifier_token: str) -> str:
    digest = hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(body: bytes, signature: str, verifier_token: str) -> bool:
    # Encoding both sides lets compare_digest accept any header text; it raises on
    # non-ASCII str arguments.
    return hmac.compare_digest(sign(body, verifier_token).encode(), signature.encode())


def render_cloudevents(events: Sequence[ChangeEvent]) -> bytes:
    """A CloudEvents array; each call mints new ids, so render once and resend the bytes."""
    if len(events) > _CLOUDEVENTS_MAX_EVENTS:
        raise ValueError(f"a CloudEvents body holds at most {_CLOUDEVENTS_MAX_EVENTS} events")
    return _to_json(
        [
            {
                "specversion": "1.0",
                "id": str(uuid.uuid4()),
                "source": _CLOUDEVENTS_SOURCE,
                "type": f"qbo.{event.entity.lower()}.{_CLOUDEVENTS_VERBS[event.operation]}.v1",
                "datacontenttype": "application/json",
                "time": event.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "intuitentityid": event.entity_id,
                # The realm, as far as anyone outside Intuit can tell [unconfirmed].
                "intuitaccountid": event.realm_id,
                "data": {},
            }
            for event in events
        ]
    )


def render_legacy(events: Sequence[ChangeEvent]) -> bytes:
    """The pre-CloudEvents body: one notification per realm, in first-seen order."""
    by_realm: dict[str, list[dict[str, str]]] = {}
    for event in events:
        by_realm.setdefault(event.realm_id, []).append(
            {
                "name": event.entity,
                "id": event.entity_id,
                "operation": event.operation,
                "lastUpdated": _utc_millis(event.occurred_at),
            }
        )
    return _to_json(
        {
            "eventNotifications": [
                {"realmId": realm_id, "dataChangeEvent": {"entities": entities}}
                for realm_id, entities in by_realm.items()
            ]
        }
    )


def _utc_millis(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _to_json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would follow a 301/302 by re-sending the POST as a bodiless GET. Intuit
    # only counts a 2xx as acknowledged, so a redirect must surface as a failure.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookDispatcher:
    """Delivers change events to one webhook URL, as Intuit does.

    Each realm has its own queue and, while it has work, its own worker thread. A
    worker sends one POST at a time and retries it until it is acknowledged, so a
    realm's events arrive strictly in order and later ones wait behind a failing
    delivery (Intuit holds later events until the first is acknowledged), while
    other realms keep flowing. A POST carries one realm only: CloudEvents may mix
    realms in one array, but single-realm bodies are still valid, match the legacy
    format's one realm per notification, and keep each realm's retries independent.

    `batch_window` is in Intuit seconds (scaled by the clock); `timeout` is the real
    number of seconds to wait for the receiver, because scaling it would give a
    compressed demo a timeout of milliseconds.
    """

    def __init__(
        self,
        *,
        url: str,
        verifier_token: str,
        fmt: str = "cloudevents",
        clock: Clock,
        batch_window: float = 1.0,
        timeout: float = 5.0,
        max_events: int = 100,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # Reading the port raises ValueError when it is malformed.
        # http.client refuses spaces and control characters only when sending, which
        # would fail every delivery; refuse them here instead.
        unsendable = any(ord(char) <= 0x20 or char == "\x7f" for char in url)
        if parts.scheme not in ("http", "https") or not parts.hostname or unsendable:
            raise ValueError(f"webhook url must be an http(s) URL, got {url!r}")
        if fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1, got {max_events}")
        # Intuit sets no size limit on legacy bodies, only on CloudEvents arrays.
        if fmt == "cloudevents" and max_events > _CLOUDEVENTS_MAX_EVENTS:
            raise ValueError(f"a CloudEvents body holds at most {_CLOUDEVENTS_MAX_EVENTS} events")
        self._url = url
        self._verifier_token = verifier_token
        self._render = render_cloudevents if fmt == "cloudevents" else render_legacy
        self._clock = clock
        self._batch_window = batch_window
        self._timeout = timeout
        self._max_events = max_events
        # Receivers are local or test endpoints, so proxy settings from the
        # environment would only misroute them.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects)

        # One condition guards all of the state below; it is notified whenever
        # events arrive, a batch finishes, or the dispatcher stops.
        self._cond = threading.Condition()
        self._queues: dict[str, deque[tuple[float, ChangeEvent]]] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._running = False
        # Set by stop(); backoff sleeps wait on it so that stop() interrupts them.
        self._stopping = threading.Event()
        self._attempts = 0
        self._failures = 0
        self._delivered = 0
        self._dropped = 0
        self._pending = 0
        # Fault injection, set by SandboxApp; None delivers faithfully.
        self.faults: Faults | None = None

    @property
    def stats(self) -> DeliveryStats:
        with self._cond:
            return DeliveryStats(
                attempts=self._attempts,
                failures=self._failures,
                delivered=self._delivered,
                dropped=self._dropped,
                pending=self._pending,
            )

    def publish(self, events: Sequence[ChangeEvent]) -> None:
        """Queue events for delivery; never blocks on the network.

        Events published before start() (or after stop()) wait for the next start().
        """
        if not events:
            return
        now = self._clock.monotonic()
        with self._cond:
            for event in events:
                self._queues.setdefault(event.realm_id, deque()).append((now, event))
            self._pending += len(events)
            if self._running:
                for realm_id in dict.fromkeys(event.realm_id for event in events):
                    self._ensure_worker(realm_id)
            self._cond.notify_all()

    def start(self) -> None:
        with self._cond:
            if self._running:
                return
            self._running = True
            self._stopping.clear()
            for realm_id, queue in self._queues.items():
                if queue:
                    self._ensure_worker(realm_id)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop delivering and drop whatever is undelivered.

        Returns once the workers have exited or `timeout` real seconds have passed; a
        worker can only be late if it is inside a POST, which `self._timeout` bounds.
        """
        with self._cond:
            self._running = False
            self._stopping.set()
            self._cond.notify_all()
            workers = list(self._workers.values())
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            # Realms whose worker already exited (or never started) drop their events
            # here; a worker still finishing a POST drops its own on the way out.
            for realm_id in [r for r in self._queues if r not in self._workers]:
                self._drop_queue(realm_id)

    def wait_idle(self, timeout: float) -> bool:
        """True once every published event was delivered or dropped (for tests)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def _ensure_worker(self, realm_id: str) -> None:
        if realm_id in self._workers:
            return
        worker = threading.Thread(
            target=self._work, args=(realm_id,), name=f"webhooks-{realm_id}", daemon=True
        )
        self._workers[realm_id] = worker
        worker.start()

    def _work(self, realm_id: str) -> None:
        with self._cond:
            queue = self._queues[realm_id]
        held: _Held | None = None
        while True:
            alone: _Held | None = None
            with self._cond:
                if held is not None and not queue and not self._stopping.is_set():
                    # A held delivery waits for the realm's next one, within its limit.
                    self._cond.wait_for(
                        lambda: self._stopping.is_set() or bool(queue),
                        max(0.0, held.until - self._clock.monotonic()),
                    )
                    if not queue and not self._stopping.is_set():
                        alone, held = held, None
                if alone is None and (self._stopping.is_set() or not queue):
                    # Retiring under the lock means publish() either saw this worker
                    # and its events are handled here, or starts a fresh worker.
                    del self._workers[realm_id]
                    if held is not None:
                        self._account(held.count, delivered=False)
                    if self._stopping.is_set():
                        self._drop_queue(realm_id)
                    else:
                        del self._queues[realm_id]
                    return
                if alone is None:
                    # Gather what arrives within the window after the oldest waiting
                    # event, as Intuit batches notifications; events that already waited
                    # behind a retried POST go out at once.
                    deadline = queue[0][0] + self._clock.scaled(self._batch_window)
                    self._cond.wait_for(
                        lambda: self._stopping.is_set() or len(queue) >= self._max_events,
                        max(0.0, deadline - self._clock.monotonic()),
                    )
                    if self._stopping.is_set():
                        continue
                    count = min(len(queue), self._max_events)
                    batch = [queue.popleft()[1] for _ in range(count)]
            if alone is not None:
                self._send(realm_id, alone.body, alone.count)
                continue
            body = self._render(batch)
            if self.faults is None:
                self._send(realm_id, body, count)
                continue
            planned = self.faults.for_webhook(realm_id)
            if planned.delay > 0:
                self.faults.count("webhook_delayed")
                if self._stopping.wait(self._clock.scaled(planned.delay)):
                    with self._cond:
                        self._account(count, delivered=False)
                    continue
            if planned.reorder and held is None:
                self.faults.count("webhook_reordered")
                limit = self._clock.scaled(self.faults.config.webhook_delay_max_seconds)
                held = _Held(body, count, self._clock.monotonic() + limit)
                continue
            self._send(realm_id, body, count, duplicate=planned.duplicate)
            if held is not None:
                self._send(realm_id, held.body, held.count)
                held = None

    def _send(self, realm_id: str, body: bytes, count: int, *, duplicate: bool = False) -> None:
        """Deliver one body (twice when `duplicate`) and account for its events."""
        delivered = self._deliver(realm_id, body, count)
        if delivered and duplicate and self.faults is not None:
            self.faults.count("webhook_duplicated")
            self._deliver(realm_id, body, count)
        with self._cond:
            self._account(count, delivered=delivered)

    def _account(self, count: int, *, delivered: bool) -> None:
        """Called under the lock once a batch's events are delivered or given up."""
        self._pending -= count
        if delivered:
            self._delivered += count
        else:
            self._dropped += count
        self._cond.notify_all()

    def _deliver(self, realm_id: str, body: bytes, count: int) -> bool:
        """POST `body` until a 2xx arrives (True) or the dispatcher stops (False)."""
        signature = sign(body, self._verifier_token)
        for attempt in itertools.count(1):
            ok, outcome = self._post(body, signature)
            with self._cond:
                self._attempts += 1
                if not ok:
                    self._failures += 1
            if ok:
                logger.info(
                    "webhook delivered: realm=%s events=%d attempt=%d %s",
                    realm_id,
                    count,
                    attempt,
                    outcome,
                )
                return True
            delay = RETRY_SCHEDULE[min(attempt, len(RETRY_SCHEDULE)) - 1]
            logger.warning(
                "webhook delivery failed: realm=%s events=%d attempt=%d %s; "
                "retrying in %g s (%.3g s real)",
                realm_id,
                count,
                attempt,
                outcome,
                delay,
                self._clock.scaled(delay),
            )
            if self._stopping.wait(self._clock.scaled(delay)):
                break
        logger.warning("webhook delivery abandoned at stop: realm=%s events=%d", realm_id, count)
        return False

    def _post(self, body: bytes, signature: str) -> tuple[bool, str]:
        request = urllib.request.Request(
            self._url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "intuit-signature": signature},
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                status: int = response.status
        except urllib.error.HTTPError as error:
            error.close()
            return False, f"status={error.code}"
        except (OSError, http.client.HTTPException) as error:
            # Connection refused, timeouts (TimeoutError is an OSError) and
            # malformed responses all count as failed deliveries.
            return False, f"error={error!r}"
        return 200 <= status < 300, f"status={status}"

    def _drop_queue(self, realm_id: str) -> None:
        queue = self._queues.pop(realm_id)
        if queue:
            logger.warning(
                "dropping %d undelivered webhook events at stop: realm=%s", len(queue), realm_id
            )
            self._pending -= len(queue)
            self._dropped += len(queue)
            self._cond.notify_all()
