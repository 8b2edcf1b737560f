from __future__ import annotations

import json
import re
import threading
import time
import xml.etree.ElementTree as ET
from contextlib import ExitStack

import pytest

from qbo_sandbox.clock import Clock
from qbo_sandbox.throttle import Throttle, Throttled, throttle_fault_json, throttle_fault_xml


class FakeClock(Clock):
    """A clock that only moves when the test says so."""

    def __init__(self, time_scale: float = 1.0) -> None:
        super().__init__(time_scale)
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(clock: Clock, **limits: int) -> Throttle:
    return Throttle(clock=clock, **limits)


def hit(throttle: Throttle, realm: str = "r1", app: str = "a1", *, batch: bool = False) -> None:
    with throttle.admit(realm, app, batch=batch):
        pass


def refused_scope(throttle: Throttle, realm: str = "r1", app: str = "a1", *, batch: bool) -> str:
    with pytest.raises(Throttled) as caught, throttle.admit(realm, app, batch=batch):
        pass
    return caught.value.scope


def test_501st_request_in_a_minute_is_refused_and_the_window_slides() -> None:
    clock = FakeClock()
    throttle = make(clock)
    for _ in range(250):
        hit(throttle)
    clock.advance(30)
    for _ in range(250):
        hit(throttle)
    with pytest.raises(Throttled) as caught, throttle.admit("r1", "a1", batch=False):
        pass
    assert caught.value.scope == "realm-minute"
    assert caught.value.retry_after == 60

    # Still inside the minute that began with the first 250 requests.
    clock.advance(29.9)
    assert refused_scope(throttle, batch=False) == "realm-minute"
    # The first 250 slide out; a fixed bucket would have freed all 500 at once.
    clock.advance(0.1)
    for _ in range(250):
        hit(throttle)
    assert refused_scope(throttle, batch=False) == "realm-minute"


def test_realm_minute_counts_batches_and_is_per_realm() -> None:
    clock = FakeClock()
    throttle = make(clock, per_minute=5)
    for _ in range(3):
        hit(throttle)
    for _ in range(2):
        hit(throttle, app="a2", batch=True)
    assert refused_scope(throttle, app="a3", batch=False) == "realm-minute"
    hit(throttle, realm="r2")


def test_eleventh_concurrent_request_is_refused_until_one_finishes() -> None:
    throttle = make(FakeClock())
    with ExitStack() as stack:
        held = [ExitStack() for _ in range(10)]
        for slot in held:
            stack.enter_context(slot)
            slot.enter_context(throttle.admit("r1", "a1", batch=False))
        assert refused_scope(throttle, batch=False) == "realm-app-concurrent"
        # The cap is per realm+app: another app and another realm are unaffected.
        hit(throttle, app="a2")
        hit(throttle, realm="r2")

        held[0].close()
        with throttle.admit("r1", "a1", batch=False):
            assert refused_scope(throttle, batch=False) == "realm-app-concurrent"


def test_slot_is_released_when_the_request_raises() -> None:
    throttle = make(FakeClock(), concurrent=1)
    with pytest.raises(RuntimeError), throttle.admit("r1", "a1", batch=False):
        raise RuntimeError("handler failed")
    hit(throttle)


def test_concurrent_cap_holds_across_threads() -> None:
    throttle = make(FakeClock())
    release = threading.Event()
    start = threading.Barrier(30)
    admitted: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()

    def request() -> None:
        start.wait()
        try:
            with throttle.admit("r1", "a1", batch=False):
                with lock:
                    admitted.append(threading.current_thread().name)
                release.wait(5)
        except Throttled as exc:
            with lock:
                refused.append(exc.scope)

    threads = [threading.Thread(target=request) for _ in range(30)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while len(admitted) + len(refused) < 30 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(5)
    assert len(admitted) == 10
    assert refused == ["realm-app-concurrent"] * 20
    hit(throttle)


def test_batch_limits_per_realm_app_and_per_realm() -> None:
    clock = FakeClock()
    throttle = make(clock)
    for app in ("a1", "a2", "a3"):
        for _ in range(40):
            hit(throttle, app=app, batch=True)
        assert refused_scope(throttle, app=app, batch=True) == "batch-app-minute"
    # A fourth app still has its own 40, but the realm has used its 120.
    assert refused_scope(throttle, app="a4", batch=True) == "batch-realm-minute"
    # Ordinary requests are only bound by the 500 per realm, and other realms are untouched.
    hit(throttle, app="a4")
    hit(throttle, realm="r2", app="a1", batch=True)

    clock.advance(60)
    hit(throttle, app="a4", batch=True)


def test_throttled_attempts_do_not_consume_quota() -> None:
    clock = FakeClock()
    throttle = make(clock, per_minute=5, batch_per_minute_app=2, batch_per_minute_realm=3)
    for _ in range(5):
        hit(throttle)
    for _ in range(100):
        refused_scope(throttle, batch=False)
    clock.advance(60)
    for _ in range(5):
        hit(throttle)
    assert refused_scope(throttle, batch=False) == "realm-minute"

    # A batch refused by the realm's batch limit leaves the app's batch quota alone.
    clock.advance(60)
    hit(throttle, app="a1", batch=True)
    hit(throttle, app="a2", batch=True)
    hit(throttle, app="a2", batch=True)
    for _ in range(10):
        assert refused_scope(throttle, app="a1", batch=True) == "batch-realm-minute"
    clock.advance(60)
    hit(throttle, app="a1", batch=True)
    hit(throttle, app="a1", batch=True)
    assert refused_scope(throttle, app="a1", batch=True) == "batch-app-minute"


def test_refused_by_concurrency_does_not_count_towards_the_minute() -> None:
    throttle = make(FakeClock(), per_minute=3, concurrent=1)
    with throttle.admit("r1", "a1", batch=False):
        for _ in range(10):
            assert refused_scope(throttle, batch=False) == "realm-app-concurrent"
    hit(throttle)
    hit(throttle)
    assert refused_scope(throttle, batch=False) == "realm-minute"


def test_zero_or_negative_limits_are_disabled() -> None:
    throttle = make(
        FakeClock(), per_minute=0, concurrent=0, batch_per_minute_app=-1, batch_per_minute_realm=0
    )
    with ExitStack() as stack:
        for _ in range(1000):
            stack.enter_context(throttle.admit("r1", "a1", batch=True))


def test_retry_after_is_scaled_with_a_minimum_of_one() -> None:
    for scale, expected in ((1.0, 60), (2.0, 30), (60.0, 1), (10_000.0, 1)):
        throttle = make(FakeClock(scale), per_minute=1)
        hit(throttle)
        with pytest.raises(Throttled) as caught, throttle.admit("r1", "a1", batch=False):
            pass
        assert caught.value.retry_after == expected


def test_window_is_scaled() -> None:
    clock = FakeClock(time_scale=60)
    throttle = make(clock, per_minute=1)
    hit(throttle)
    clock.advance(0.99)
    assert refused_scope(throttle, batch=False) == "realm-minute"
    clock.advance(0.01)
    hit(throttle)


def test_idle_realms_are_forgotten() -> None:
    # Reads private state: the point is that memory stays bounded as realms come and go.
    clock = FakeClock()
    throttle = make(clock)
    for n in range(50):
        hit(throttle, realm=f"r{n}", app=f"a{n}", batch=True)
    clock.advance(61)
    hit(throttle, realm="fresh")
    assert list(throttle._realm_requests) == ["fresh"]
    assert not throttle._app_batches
    assert not throttle._realm_batches
    assert not throttle._in_flight


def test_xml_fault_body() -> None:
    body = throttle_fault_xml()
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>')
    ns = {"i": "http://schema.intuit.com/finance/v3"}
    root = ET.fromstring(body)
    assert root.tag == "{http://schema.intuit.com/finance/v3}IntuitResponse"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}-0[78]:00", root.get("time", ""))
    fault = root.find("i:Fault", ns)
    assert fault is not None and fault.get("type") == "SERVICE"
    error = fault.find("i:Error", ns)
    assert error is not None and error.get("code") == "3001"
    assert error.findtext("i:Message", namespaces=ns) == (
        "message=ThrottleExceeded; errorCode=003001; statusCode=429"
    )
    assert error.findtext("i:Detail", namespaces=ns) == (
        "The request limit was reached.  Try again later"
    )


def test_json_fault_body() -> None:
    before = int(time.time() * 1000)
    body = throttle_fault_json()
    assert isinstance(body["time"], int)
    assert before - 1 <= body["time"] <= int(time.time() * 1000) + 1
    body["time"] = 0
    assert json.loads(json.dumps(body)) == {
        "fault": {
            "error": [
                {
                    "message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                    "detail": "The request limit was reached.  Try again later",
                    "code": "3001",
                    "element": None,
                }
            ],
            "type": "SERVICE",
        },
        "time": 0,
    }
