"""Fault injection, drawn deterministically from a seed (README, "Fault injection").

Every draw comes from a stream of its own, named by its purpose and the realm it concerns,
and seeded from `fault_seed`, the purpose and the realm (a string seed: `random` hashes it
with SHA-512, never with Python's salted `hash()`). Each API request draws exactly once from
every request stream, whatever the probabilities and whatever happens to the request, so:

- the same seed and the same sequence of requests to a realm give the same faults, however
  other realms' requests interleave with them;
- turning one kind of fault on or off never moves another kind's draws, and webhook faults
  never move request faults (nor the reverse).

`reset` (called whenever the config is set) restarts every stream and zeroes the counters.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

# The statuses `fault_5xx` answers, in equal shares.
STATUSES_5XX = (500, 502, 503)

# Counter names, in the order GET /_sandbox/faults lists them.
REQUEST_COUNTERS = ("requests", "429", "drop_before", "slow", "drop_after", "drop_after_batch")
WEBHOOK_COUNTERS = (
    "webhook_deliveries",
    "webhook_duplicated",
    "webhook_delayed",
    "webhook_reordered",
)


class FaultConfig(Protocol):
    """The settings read here (app.Config has them all)."""

    fault_5xx: float
    fault_429: float
    fault_slow: float
    fault_drop: float
    fault_drop_before: float
    fault_drop_batch: float
    webhook_duplicate: float
    webhook_delay: float
    webhook_delay_max_seconds: float
    webhook_reorder: float


@dataclass(frozen=True)
class RequestFaults:
    """What one API request will suffer, in the order the app applies it."""

    throttled: bool  # 429 before any work
    status: int | None  # 500, 502 or 503 before any work
    drop_before: bool  # connection closed before any work
    slow: bool  # answer delayed by slow_seconds
    drop_after: bool  # connection closed after COMMIT (fault_drop)
    drop_after_batch: bool  # the same, POST /batch only (fault_drop_batch)


@dataclass(frozen=True)
class WebhookFaults:
    """What one webhook delivery (one POST body) will suffer."""

    delay: float  # Intuit seconds to wait before sending; 0 for none
    duplicate: bool  # sent a second time once acknowledged
    reorder: bool  # held back and sent after the realm's next delivery


class Faults:
    """The fault streams and the counters of what was injected. Thread-safe."""

    def __init__(self, config: FaultConfig, seed: int) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._seed = seed
        self._streams: dict[tuple[str, str], random.Random] = {}
        self._counts: Counter[str] = Counter()

    @property
    def seed(self) -> int:
        return self._seed

    def reset(self, seed: int) -> None:
        with self._lock:
            self._seed = seed
            self._streams = {}
            self._counts = Counter()

    def _draw(self, purpose: str, realm_id: str) -> float:
        stream = self._streams.get((purpose, realm_id))
        if stream is None:
            stream = random.Random(f"{self._seed}/{purpose}/{realm_id}")
            self._streams[(purpose, realm_id)] = stream
        return stream.random()

    def for_request(self, realm_id: str, *, batch: bool) -> RequestFaults:
        """Draw once from each request stream; the first fault that ends a request wins."""
        c = self.config
        with self._lock:
            self._counts["requests"] += 1
            throttled = self._draw("429", realm_id) < c.fault_429
            failed = self._draw("5xx", realm_id) < c.fault_5xx
            pick = self._draw("5xx_status", realm_id)
            drop_before = self._draw("drop_before", realm_id) < c.fault_drop_before
            slow = self._draw("slow", realm_id) < c.fault_slow
            drop_after = self._draw("drop_after", realm_id) < c.fault_drop
            drop_batch = self._draw("drop_after_batch", realm_id) < c.fault_drop_batch
        status = STATUSES_5XX[int(pick * len(STATUSES_5XX))] if failed else None
        return RequestFaults(
            throttled=throttled,
            status=None if throttled else status,
            drop_before=drop_before and not throttled and status is None,
            slow=slow,
            drop_after=drop_after,
            drop_after_batch=batch and drop_batch and not drop_after,
        )

    def for_webhook(self, realm_id: str) -> WebhookFaults:
        c = self.config
        with self._lock:
            self._counts["webhook_deliveries"] += 1
            delayed = self._draw("webhook_delay", realm_id) < c.webhook_delay
            # Drawn whether or not it is used, like every draw here.
            seconds = self._draw("webhook_delay_seconds", realm_id) * c.webhook_delay_max_seconds
            duplicate = self._draw("webhook_duplicate", realm_id) < c.webhook_duplicate
            reorder = self._draw("webhook_reorder", realm_id) < c.webhook_reorder
        return WebhookFaults(
            delay=seconds if delayed else 0.0, duplicate=duplicate, reorder=reorder
        )

    def count(self, name: str) -> None:
        """Record a fault that was injected (a 5xx as `5xx_<status>`)."""
        with self._lock:
            self._counts[name] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            counts = Counter(self._counts)
            seed = self._seed
        found: dict[str, Any] = {"seed": seed}
        found["5xx"] = {str(status): counts[f"5xx_{status}"] for status in STATUSES_5XX}
        found.update({name: counts[name] for name in REQUEST_COUNTERS})
        found.update({name: counts[name] for name in WEBHOOK_COUNTERS})
        return found
