"""The per-realm limiter in Redis, alone and in front of a throttling qbo_sandbox."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from accounts.models import Partner
from sync import services
from sync.models import SyncRun
from sync.ratelimit import LimiterTimeout, Limits, RealmLimiter
from tests.sync.books import Books, connection_for, mirrored, stats, upstream

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess


def limits(**changes: int) -> Limits:
    values = {
        "window_ms": 1000,
        "per_window": 1000,
        "per_second": 1000,
        "max_in_flight": 1000,
        "batch_app": 1000,
        "batch_realm": 1000,
        "lease_ms": 5000,
    }
    values.update(changes)
    return Limits(**values)


def hammer(threads: int, work: Any) -> None:
    start = threading.Barrier(threads)

    def run() -> None:
        start.wait()
        work()

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)


def test_no_window_ever_holds_more_than_its_limit() -> None:
    limiter = RealmLimiter("realm-window", limits=limits(window_ms=1000, per_window=5))
    granted: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(3):
            limiter.release(limiter.acquire(timeout=10))
            with lock:
                granted.append(time.monotonic())

    hammer(4, work)  # 12 requests, 5 a second

    granted.sort()
    assert len(granted) == 12
    for index, moment in enumerate(granted):
        within = [t for t in granted[index:] if t < moment + 0.8]
        assert len(within) <= 5
    assert granted[-1] - granted[0] >= 2.0  # 12 at 5 a second needs two full waits


def test_no_more_than_the_cap_are_ever_in_flight() -> None:
    limiter = RealmLimiter("realm-flight", limits=limits(max_in_flight=3))
    active = 0
    peak = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal active, peak
        for _ in range(3):
            with limiter.slot(timeout=10):
                with lock:
                    active += 1
                    peak = max(peak, active)
                time.sleep(0.02)
                with lock:
                    active -= 1

    hammer(20, work)

    assert peak == 3
    assert limiter.in_flight() == 0


def test_a_slot_leaked_by_a_killed_worker_expires_with_its_lease() -> None:
    limiter = RealmLimiter("realm-leak", limits=limits(max_in_flight=1, lease_ms=300))
    limiter.acquire()  # never released: the worker died mid-request

    started = time.monotonic()
    limiter.release(limiter.acquire(timeout=5))

    assert 0.25 <= time.monotonic() - started < 2


def test_batch_windows_count_only_batches() -> None:
    limiter = RealmLimiter("realm-batch", limits=limits(batch_app=2, batch_realm=3))
    for _ in range(2):
        limiter.release(limiter.acquire(batch=True))
    for _ in range(20):
        limiter.release(limiter.acquire(timeout=0.5))  # plain requests are not held back

    with pytest.raises(LimiterTimeout):
        limiter.acquire(batch=True, timeout=0.3)
    started = time.monotonic()
    limiter.release(limiter.acquire(batch=True, timeout=5))
    assert time.monotonic() - started >= 0.4


def test_the_production_ceilings_sit_under_intuits() -> None:
    production = Limits.from_settings()
    assert production.window_ms == 60_000
    assert production.per_window == 480 < 500
    assert production.max_in_flight == 10
    assert production.per_second <= 10
    assert production.batch_app < 40 and production.batch_realm < 120


# ---------------------------------------------------------------- against qbo_sandbox


@pytest.mark.django_db(transaction=True)
def test_twenty_workers_on_one_realm_never_trip_the_concurrency_limit(
    on_fast_sandbox: SandboxProcess, settings: Any
) -> None:
    sandbox = on_fast_sandbox
    realm = sandbox.new_company(seed="empty")
    sandbox.control("POST", "/_sandbox/config", {"limit_concurrent": 4, "fault_slow": 1.0})
    settings.QBO_MAX_IN_FLIGHT = 4
    settings.QBO_RATE_PER_SECOND = 1000  # only the in-flight cap is under test here
    from sync.clients.qbo import QBOClient, StaticToken

    token = sandbox.mint_tokens(realm)["access_token"]
    results: list[int] = []
    lock = threading.Lock()

    # Every request is slowed (fault_slow: 5 Intuit seconds, 83 ms here), so without the
    # limiter twenty threads would be well over 4 at once.
    def work() -> None:
        client = QBOClient(realm_id=realm, tokens=StaticToken(token))
        for _ in range(3):
            value = client.count("Customer")
            with lock:
                results.append(value)

    hammer(20, work)

    assert len(results) == 60
    assert stats(sandbox)["throttled"].get(realm, 0) == 0


@pytest.mark.django_db(transaction=True)
def test_an_import_under_low_throttles_succeeds_and_counts_its_429s(
    on_fast_sandbox: SandboxProcess, partner_a: Partner, settings: Any
) -> None:
    sandbox = on_fast_sandbox
    # At --time-scale 60 the sandbox's minute is one second: 10 requests a second, 2 at a
    # time, and on top of that a 429 for no reason at all on 30 % of requests
    # (Retry-After: 1), so that there are 429s to count (P(none in ~20) < 0.1 %).
    sandbox.control(
        "POST",
        "/_sandbox/config",
        {"limit_per_minute": 10, "limit_concurrent": 2, "fault_429": 0.3},
    )
    settings.QBO_RATE_WINDOW = 1.0
    settings.QBO_RATE_PER_WINDOW = 9
    settings.QBO_RATE_PER_SECOND = 9
    settings.QBO_MAX_IN_FLIGHT = 2
    settings.QBO_BACKOFF_BASE = 0.05
    settings.QBO_MAX_RETRIES = 10
    realm = sandbox.new_company(seed="demo", scale=12)
    connection = connection_for(sandbox, partner_a, realm, company_name="Throttled")

    run = services.connection_sync(connection_id=connection.pk, trigger="test")

    assert run is not None and run.status == SyncRun.Status.SUCCEEDED, run and run.error
    seen = stats(sandbox)
    # Every request sent and every 429 met is in the run log; no run failed.
    assert run.api_requests == seen["requests"][realm]
    assert run.throttled == seen["throttled"].get(realm, 0) > 0
    # Each 429 was waited out and sent again: the run log counts those retries too.
    assert run.retries >= run.throttled
    assert not SyncRun.objects.filter(connection=connection).exclude(status="succeeded")
    sandbox.control("POST", "/_sandbox/config", {"fault_429": 0.0, "limit_per_minute": 1000})
    assert mirrored(connection) == upstream(Books(sandbox, realm))


@pytest.mark.django_db(transaction=True)
def test_the_limiter_alone_keeps_an_import_clear_of_429s(
    on_fast_sandbox: SandboxProcess, partner_a: Partner, settings: Any
) -> None:
    sandbox = on_fast_sandbox
    sandbox.control("POST", "/_sandbox/config", {"limit_per_minute": 6, "limit_concurrent": 1})
    settings.QBO_RATE_WINDOW = 1.0
    settings.QBO_RATE_PER_WINDOW = 5
    settings.QBO_RATE_PER_SECOND = 5
    settings.QBO_MAX_IN_FLIGHT = 1
    realm = sandbox.new_company(seed="demo", scale=12)
    connection = connection_for(sandbox, partner_a, realm, company_name="Paced")

    started = time.monotonic()
    run = services.connection_sync(connection_id=connection.pk, trigger="test")
    elapsed = time.monotonic() - started

    assert run is not None and run.status == SyncRun.Status.SUCCEEDED
    assert run.throttled == 0 and stats(sandbox)["throttled"].get(realm, 0) == 0
    # More requests than one window allows: the limiter really held some back.
    assert run.api_requests > 6
    assert elapsed >= (run.api_requests // 5) - 1
