"""Intuit's per-realm limits, enforced before a request leaves, for every worker at once.

Intuit counts per realm (docs/qbo-api.md §5): 500 requests a minute, 10 at a time (now worded
"10 a second") per realm and app, 40 batch requests a minute per realm and app and 120 per
realm. Workers on any number of machines sync the same realms, so the counts live in Redis
and one Lua script checks and records all of them atomically.

Why under the published numbers (480 a minute, 38 and 115 batches): our sliding window is
timed by Redis when a slot is granted, Intuit's by its gateway when the request arrives,
and the two clocks and the network between them disagree by a little; the realm limit is
also shared with every *other* app the company has connected, which we cannot see. Four
per cent of headroom turns an edge-of-window collision into a wait here instead of a 429
there. In-flight requests keep Intuit's 10: a slot is only held while a request is on the
wire, so the gateway can never see more than we hold.

In-flight slots are leases with an expiry (a sorted set scored by expiry time), so a
worker killed mid-request loses its slot after ``lease`` seconds instead of leaking it
forever.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings

from . import conf
from .locks import KEY_PREFIX, redis_client

# KEYS: 1 realm window, 2 realm second, 3 in-flight, 4 batch realm+app, 5 batch realm.
# ARGV: window_ms, per_window, per_second, max_in_flight, lease_ms, member, is_batch,
#       batch_app_limit, batch_realm_limit, retry_ms (when in-flight is full).
# Returns 0 when a slot was granted (and recorded in every key), else the milliseconds
# to wait before the earliest moment one could be.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - window)
local function wait_for(key, limit, span)
  if limit <= 0 or redis.call('ZCARD', key) < limit then return 0 end
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + span - now)
end
local wait = math.max(wait_for(KEYS[1], tonumber(ARGV[2]), window),
                      wait_for(KEYS[2], tonumber(ARGV[3]), 1000))
if tonumber(ARGV[4]) > 0 and redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then
  wait = math.max(wait, tonumber(ARGV[10]))
end
if ARGV[7] == '1' then
  wait = math.max(wait, wait_for(KEYS[4], tonumber(ARGV[8]), window),
                  wait_for(KEYS[5], tonumber(ARGV[9]), window))
end
if wait > 0 then return wait end
local member = ARGV[6]
redis.call('ZADD', KEYS[1], now, member)
redis.call('ZADD', KEYS[2], now, member)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), member)
redis.call('PEXPIRE', KEYS[1], window + 1000)
redis.call('PEXPIRE', KEYS[2], 2000)
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[5]) + 1000)
if ARGV[7] == '1' then
  redis.call('ZADD', KEYS[4], now, member)
  redis.call('ZADD', KEYS[5], now, member)
  redis.call('PEXPIRE', KEYS[4], window + 1000)
  redis.call('PEXPIRE', KEYS[5], window + 1000)
end
return 0
"""

# While every in-flight slot is taken there is no finishing time to compute (a request
# ends when it ends), so waiters look again this often.
_IN_FLIGHT_RETRY_MS = 25


class LimiterTimeout(Exception):
    """No slot became free before the deadline."""


@dataclass(frozen=True)
class Limits:
    window_ms: int
    per_window: int
    per_second: int
    max_in_flight: int
    batch_app: int
    batch_realm: int
    lease_ms: int

    @classmethod
    def from_settings(cls) -> Limits:
        # A slot outlives its request by at most the request's own timeouts, plus margin.
        lease = conf.seconds("QBO_CONNECT_TIMEOUT") + conf.seconds("QBO_READ_TIMEOUT") + 10
        return cls(
            window_ms=int(conf.seconds("QBO_RATE_WINDOW") * 1000),
            per_window=conf.integer("QBO_RATE_PER_WINDOW"),
            per_second=conf.integer("QBO_RATE_PER_SECOND"),
            max_in_flight=conf.integer("QBO_MAX_IN_FLIGHT"),
            batch_app=conf.integer("QBO_BATCH_PER_WINDOW_APP"),
            batch_realm=conf.integer("QBO_BATCH_PER_WINDOW_REALM"),
            lease_ms=int(lease * 1000),
        )


class RealmLimiter:
    """The shared limiter for one realm (and this app, for the per-app limits)."""

    def __init__(self, realm_id: str, *, limits: Limits | None = None) -> None:
        self.realm_id = realm_id
        self.limits = limits or Limits.from_settings()
        base = f"{KEY_PREFIX}:rl:{realm_id}"
        self._keys = [
            f"{base}:window",
            f"{base}:second",
            f"{base}:in-flight",
            f"{base}:batch:{settings.QBO_CLIENT_ID}",
            f"{base}:batch",
        ]

    @contextmanager
    def slot(
        self,
        *,
        batch: bool = False,
        timeout: float | None = None,
        heartbeat: Callable[[], None] | None = None,
    ) -> Iterator[None]:
        """Wait for a slot (at most ``timeout`` seconds), hold it for the with-block."""
        member = self.acquire(batch=batch, timeout=timeout, heartbeat=heartbeat)
        try:
            yield
        finally:
            self.release(member)

    def acquire(
        self,
        *,
        batch: bool = False,
        timeout: float | None = None,
        heartbeat: Callable[[], None] | None = None,
    ) -> str:
        limits = self.limits
        deadline = time.monotonic() + (
            conf.seconds("QBO_LIMITER_WAIT") if timeout is None else timeout
        )
        member = secrets.token_hex(8)
        while True:
            wait_ms = int(
                redis_client().eval(
                    _ACQUIRE,
                    len(self._keys),
                    *self._keys,
                    limits.window_ms,
                    limits.per_window,
                    limits.per_second,
                    limits.max_in_flight,
                    limits.lease_ms,
                    member,
                    "1" if batch else "0",
                    limits.batch_app,
                    limits.batch_realm,
                    _IN_FLIGHT_RETRY_MS,
                )
            )
            if wait_ms <= 0:
                return member
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LimiterTimeout(
                    f"no request slot for realm {self.realm_id} within the limiter's wait"
                )
            if heartbeat is not None:
                heartbeat()
            # A little jitter keeps waiters that woke together from retrying in lockstep.
            time.sleep(min(remaining, wait_ms / 1000 * random.uniform(1.0, 1.2)))

    def release(self, member: str) -> None:
        redis_client().zrem(self._keys[2], member)

    def in_flight(self) -> int:
        return int(redis_client().zcard(self._keys[2]))
