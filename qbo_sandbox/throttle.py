"""Intuit's per-realm request limits (docs/qbo-api.md §5) and the 429 bodies that go with them.

The server wraps each API request in `Throttle.admit(...)`. When a limit is hit,
`Throttled` is raised before the request runs and the server answers HTTP 429 with
`Retry-After: <Throttled.retry_after>` and one of the two bodies below. JSON
(`throttle_fault_json`) is the server's default; the historical XML body
(`throttle_fault_xml`, sent by real QBO even to JSON clients) is a switch, because
whether production still sends XML is [unconfirmed].
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from qbo_sandbox.clock import Clock

_K = TypeVar("_K", bound=Hashable)

# Every limit in §5 is counted over one Intuit minute.
_WINDOW_SECONDS = 60.0
# Intuit's only advice for a 429 is to "wait 60 seconds before retrying", whatever the scope.
_INTUIT_RETRY_WAIT_SECONDS = 60.0

_INTUIT_TZ = ZoneInfo("America/Los_Angeles")
_THROTTLE_MESSAGE = "message=ThrottleExceeded; errorCode=003001; statusCode=429"
_THROTTLE_DETAIL = "The request limit was reached.  Try again later"


class Throttled(Exception):
    """A request refused by one of the limits; it was not counted against any quota."""

    def __init__(self, scope: str, retry_after: int) -> None:
        super().__init__(f"{scope} limit reached; retry after {retry_after} s")
        self.scope = scope
        self.retry_after = retry_after


class Throttle:
    """Counts requests per realm, realm+app and batch, as QBO does.

    The per-minute limits use sliding windows (a deque of admission times per key)
    rather than fixed one-minute buckets. Fixed buckets let a client send twice the
    limit across a bucket boundary (500 at 0:59 and 500 more at 1:00) and then reset
    everything at once, which would hide exactly the bursts the real limit is there
    to catch; a sliding log counts every rolling minute exactly. Its memory is
    bounded by the limit per key, since a key never holds more than `limit` times.
    Whether Intuit counts rolling or clock minutes is [unconfirmed]; the rolling
    minute is the stricter reading, so a client that passes here passes there.

    A limit of zero or less disables that limit (and stores nothing for it).

    The realm+app limit is an in-flight cap ("10 concurrent"). Intuit now words it as
    10 requests per second (sandbox since 2025-09-15); the cap on concurrent requests
    is what this server enforces.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        per_minute: int = 500,
        concurrent: int = 10,
        batch_per_minute_app: int = 40,
        batch_per_minute_realm: int = 120,
    ) -> None:
        self._clock = clock
        self._per_minute = per_minute
        self._concurrent = concurrent
        self._batch_per_minute_app = batch_per_minute_app
        self._batch_per_minute_realm = batch_per_minute_realm
        self._lock = threading.Lock()
        self._realm_requests: dict[str, deque[float]] = {}
        self._app_batches: dict[tuple[str, str], deque[float]] = {}
        self._realm_batches: dict[str, deque[float]] = {}
        self._in_flight: dict[tuple[str, str], int] = {}
        self._next_sweep = clock.monotonic() + clock.scaled(_WINDOW_SECONDS)

    @contextmanager
    def admit(self, realm_id: str, app_id: str, *, batch: bool) -> Iterator[None]:
        """Admit one request or raise `Throttled`; hold an in-flight slot for the with-block."""
        app_key = (realm_id, app_id)
        self._acquire(realm_id, app_key, batch)
        try:
            yield
        finally:
            self._release(app_key)

    def _acquire(self, realm_id: str, app_key: tuple[str, str], batch: bool) -> None:
        now = self._clock.monotonic()
        window = self._clock.scaled(_WINDOW_SECONDS)
        horizon = now - window
        with self._lock:
            self._sweep(now, window)
            # Every check happens before anything is recorded, so a refused request
            # consumes no quota and a client that backs off recovers fully.
            if _full(self._realm_requests, realm_id, self._per_minute, horizon):
                raise self._throttled("realm-minute")
            if 0 < self._concurrent <= self._in_flight.get(app_key, 0):
                raise self._throttled("realm-app-concurrent")
            if batch:
                if _full(self._app_batches, app_key, self._batch_per_minute_app, horizon):
                    raise self._throttled("batch-app-minute")
                if _full(self._realm_batches, realm_id, self._batch_per_minute_realm, horizon):
                    raise self._throttled("batch-realm-minute")
            _record(self._realm_requests, realm_id, self._per_minute, now)
            if batch:
                _record(self._app_batches, app_key, self._batch_per_minute_app, now)
                _record(self._realm_batches, realm_id, self._batch_per_minute_realm, now)
            # In-flight slots are counted even when the cap is disabled; the entry
            # disappears on release, so this costs nothing once requests finish.
            self._in_flight[app_key] = self._in_flight.get(app_key, 0) + 1

    def _release(self, app_key: tuple[str, str]) -> None:
        with self._lock:
            remaining = self._in_flight[app_key] - 1
            if remaining:
                self._in_flight[app_key] = remaining
            else:
                del self._in_flight[app_key]

    def _sweep(self, now: float, window: float) -> None:
        # `_full` only prunes the keys a request touches, so realms and apps that go
        # quiet would keep their deques forever. Once per window, drop every key whose
        # times have all expired. Each key was created by an admitted request, so the
        # sweep's cost is amortised O(1) per request.
        if now < self._next_sweep:
            return
        self._next_sweep = now + window
        horizon = now - window
        for log in (self._realm_requests, self._realm_batches):
            _drop_expired(log, horizon)
        _drop_expired(self._app_batches, horizon)

    def _throttled(self, scope: str) -> Throttled:
        retry_after = max(1, math.ceil(self._clock.scaled(_INTUIT_RETRY_WAIT_SECONDS)))
        return Throttled(scope, retry_after)


def _full(log: dict[_K, deque[float]], key: _K, limit: int, horizon: float) -> bool:
    """Prune `key`'s times at or before `horizon`; True when `limit` remain."""
    if limit <= 0:
        return False
    times = log.get(key)
    if times is None:
        return False
    while times and times[0] <= horizon:
        times.popleft()
    return len(times) >= limit


def _record(log: dict[_K, deque[float]], key: _K, limit: int, now: float) -> None:
    if limit > 0:
        log.setdefault(key, deque()).append(now)


def _drop_expired(log: dict[_K, deque[float]], horizon: float) -> None:
    # Times are appended in order, so the newest one decides whether a key is stale.
    for key in [key for key, times in log.items() if not times or times[-1] <= horizon]:
        del log[key]


def throttle_fault_xml() -> bytes:
    """The 429 body real QBO has sent, as XML even when JSON was requested (docs/qbo-api.md §5)."""
    # Intuit stamps <IntuitResponse> with Pacific time and its offset, as in every
    # captured copy of this body (e.g. 2017-07-30T22:45:22.933-07:00).
    stamp = datetime.now(_INTUIT_TZ).isoformat(timespec="milliseconds")
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<IntuitResponse time="{stamp}" xmlns="http://schema.intuit.com/finance/v3">\n'
        '    <Fault type="SERVICE">\n'
        '        <Error code="3001">\n'
        f"            <Message>{_THROTTLE_MESSAGE}</Message>\n"
        f"            <Detail>{_THROTTLE_DETAIL}</Detail>\n"
        "        </Error>\n"
        "    </Fault>\n"
        "</IntuitResponse>\n"
    ).encode()


def throttle_fault_json() -> dict[str, Any]:
    """The gateway's lower-case JSON fault with `time` in epoch milliseconds
    (docs/qbo-api.md §7)."""
    return {
        "fault": {
            "error": [
                {
                    "message": _THROTTLE_MESSAGE,
                    "detail": _THROTTLE_DETAIL,
                    "code": "3001",
                    "element": None,
                }
            ],
            "type": "SERVICE",
        },
        "time": time.time_ns() // 1_000_000,
    }
