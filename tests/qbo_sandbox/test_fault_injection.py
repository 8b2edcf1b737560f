"""Fault injection as a client sees it (README, "Fault injection"): each kind at about its
share and never when off, drops before and after the commit, the same seed giving the same
faults, webhook deliveries duplicated, delayed and reordered, and counters that match.

Fault settings are server-wide, so this module has its own server (never the session's).
"""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests

from .support import (
    MINOR_VERSION,
    VERIFIER_TOKEN,
    Delivery,
    RealmApi,
    WebhookReceiver,
    cloud_events,
    connect,
    fault_codes,
    signature,
)

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

TIME_SCALE = 10  # webhook batch window 0.1 s, Retry-After 6 s, slow_seconds 10 → 1 s
SEED = 20260412
FAULTS_OFF = {
    "fault_5xx": 0.0,
    "fault_429": 0.0,
    "fault_slow": 0.0,
    "fault_drop": 0.0,
    "fault_drop_before": 0.0,
    "fault_drop_batch": 0.0,
    "webhook_duplicate": 0.0,
    "webhook_delay": 0.0,
    "webhook_reorder": 0.0,
}


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    webhooks = WebhookReceiver()
    yield webhooks
    webhooks.close()


@pytest.fixture(scope="module")
def faulty(receiver: WebhookReceiver) -> Iterator[SandboxProcess]:
    from qbo_sandbox.testing import start_sandbox

    process = start_sandbox(
        "--seed",
        "empty",
        "--time-scale",
        str(TIME_SCALE),
        "--limit-per-minute",
        "0",
        "--limit-concurrent",
        "0",
        "--webhook-url",
        receiver.url,
        "--webhook-verifier",
        VERIFIER_TOKEN,
        "--fault-seed",
        str(SEED),
        "--webhook-delay-max-seconds",
        "20",
    )
    yield process
    process.stop()


@pytest.fixture
def off(faulty: SandboxProcess) -> Iterator[SandboxProcess]:
    """The server with every fault off before and after the test."""
    faulty.control("POST", "/_sandbox/config", {**FAULTS_OFF, "fault_seed": SEED})
    yield faulty
    faulty.control("POST", "/_sandbox/config", FAULTS_OFF)


def outcome(api: RealmApi, *, timeout: float = 10.0) -> str:
    """What one read of CompanyInfo looked like from the client: a status, "dropped"
    (connection closed without an answer) or "timeout"."""
    try:
        response = api.session.get(
            api.url(f"companyinfo/{api.realm_id}"),
            params={"minorversion": str(MINOR_VERSION)},
            headers={"Authorization": f"Bearer {api.access_token}", "Accept": "application/json"},
            timeout=timeout,
        )
    except requests.exceptions.ReadTimeout:
        return "timeout"
    except requests.exceptions.ConnectionError:
        return "dropped"
    check_shape(response)
    return str(response.status_code)


def check_shape(response: requests.Response) -> None:
    """Each injected answer is shaped as Intuit's (docs/qbo-api.md §5, §7)."""
    status = response.status_code
    assert response.headers.get("intuit_tid")
    if status == 429:
        assert fault_codes(response) == ["3001"]
        assert response.headers["Retry-After"] == str(math.ceil(60 / TIME_SCALE))
    elif status == 500:
        assert fault_codes(response) == ["10000"]
        assert response.json()["Fault"]["type"] == "SystemFault"
    elif status in (502, 503):
        assert response.headers["Content-Type"].startswith("text/html")
        assert f"<h1>{status} " in response.text
        assert "Retry-After" not in response.headers
    else:
        assert status == 200, response.text


def within(count: int, trials: int, share: float) -> bool:
    """Whether `count` successes in `trials` is a plausible draw at `share` (±4.5 σ)."""
    spread = 4.5 * math.sqrt(trials * share * (1 - share))
    return abs(count - trials * share) <= spread


def test_with_every_fault_off_nothing_is_injected(off: SandboxProcess) -> None:
    api = connect(off, off.new_company(seed="empty")).api
    seen = Counter(outcome(api) for _ in range(200))
    assert seen == {"200": 200}
    counters = off.control("GET", "/_sandbox/faults")
    assert counters["requests"] == 200 and counters["seed"] == SEED
    assert counters["5xx"] == {"500": 0, "502": 0, "503": 0}
    assert all(
        value == 0 for key, value in counters.items() if key not in ("requests", "seed", "5xx")
    )


def test_each_request_fault_happens_at_about_its_share_and_the_counters_match(
    off: SandboxProcess,
) -> None:
    api = connect(off, off.new_company(seed="empty")).api
    shares = {"fault_429": 0.1, "fault_5xx": 0.15, "fault_drop_before": 0.1, "fault_drop": 0.1}
    off.control("POST", "/_sandbox/config", shares)
    seen = Counter(outcome(api) for _ in range(400))
    counters = off.control("GET", "/_sandbox/faults")

    # What the client saw is what the server says it injected.
    assert counters["requests"] == 400
    assert seen["429"] == counters["429"]
    assert {status: seen[status] for status in ("500", "502", "503")} == counters["5xx"]
    assert seen["dropped"] == counters["drop_before"] + counters["drop_after"]
    assert seen["200"] == 400 - sum(v for k, v in seen.items() if k != "200")
    assert counters["slow"] == counters["drop_after_batch"] == 0

    # Each at about its share of the requests that reached it (a 429 ends a request
    # before its 5xx draw counts, a 5xx before its drop-before).
    assert within(seen["429"], 400, 0.1), seen
    after_429 = 400 - seen["429"]
    failed = sum(counters["5xx"].values())
    assert within(failed, after_429, 0.15), seen
    assert all(within(n, failed, 1 / 3) and n > 0 for n in counters["5xx"].values()), counters
    assert within(counters["drop_before"], after_429 - failed, 0.1), counters
    assert within(counters["drop_after"], after_429 - failed - counters["drop_before"], 0.1)


def test_the_same_seed_gives_the_same_faults_and_other_realms_do_not_move_them(
    off: SandboxProcess,
) -> None:
    api = connect(off, off.new_company(seed="empty")).api
    other = connect(off, off.new_company(seed="empty")).api
    shares = {"fault_429": 0.1, "fault_5xx": 0.2, "fault_drop_before": 0.1, "fault_drop": 0.1}

    off.control("POST", "/_sandbox/config", {**shares, "fault_seed": 7})
    first = [outcome(api) for _ in range(120)]
    # Setting the config restarts the streams; the other realm's requests, interleaved, and
    # webhook faults turned on do not move this realm's draws.
    off.control("POST", "/_sandbox/config", {**shares, "fault_seed": 7, "webhook_delay": 1.0})
    second = []
    for _ in range(120):
        outcome(other)
        second.append(outcome(api))
    off.control("POST", "/_sandbox/config", {**shares, "fault_seed": 8})
    third = [outcome(api) for _ in range(120)]

    assert len(set(first)) >= 4, Counter(first)
    assert second == first
    assert third != first


def test_turning_one_fault_on_does_not_move_another_kinds_draws(off: SandboxProcess) -> None:
    api = connect(off, off.new_company(seed="empty")).api
    off.control("POST", "/_sandbox/config", {"fault_drop_before": 0.2})
    alone = [outcome(api) == "dropped" for _ in range(100)]
    off.control("POST", "/_sandbox/config", {"fault_drop_before": 0.2, "fault_drop": 0.0})
    assert [outcome(api) == "dropped" for _ in range(100)] == alone
    assert off.control("GET", "/_sandbox/faults")["drop_before"] == sum(alone)


def create_customer(api: RealmApi, name: str, request_id: str) -> requests.Response:
    return api.request(
        "POST",
        "customer",
        params={"requestid": request_id},
        json_body={"DisplayName": name},
    )


def customers_named(api: RealmApi, name: str) -> int:
    count: int = api.query(f"SELECT COUNT(*) FROM Customer WHERE DisplayName = '{name}'")[
        "totalCount"
    ]
    return count


def test_a_drop_before_commits_nothing_and_a_drop_after_commits(off: SandboxProcess) -> None:
    api = connect(off, off.new_company(seed="empty")).api
    before_id, after_id = str(uuid.uuid4()), str(uuid.uuid4())

    off.control("POST", "/_sandbox/config", {"fault_drop_before": 1.0})
    with pytest.raises(requests.exceptions.ConnectionError) as before:
        create_customer(api, "Dropped Before", before_id)
    off.control("POST", "/_sandbox/config", {"fault_drop_before": 0.0, "fault_drop": 1.0})
    with pytest.raises(requests.exceptions.ConnectionError) as after:
        create_customer(api, "Dropped After", after_id)
    off.control("POST", "/_sandbox/config", FAULTS_OFF)

    # The client sees the same thing either way: the connection closed, no answer.
    assert type(before.value) is type(after.value)
    assert customers_named(api, "Dropped Before") == 0
    assert customers_named(api, "Dropped After") == 1
    # Retried with the same requestid, each is written exactly once.
    for name, request_id in (("Dropped Before", before_id), ("Dropped After", after_id)):
        retried = create_customer(api, name, request_id)
        assert retried.status_code == 200, retried.text
        assert customers_named(api, name) == 1


def test_a_slow_answer_outlasts_the_clients_timeout_at_about_its_share(
    off: SandboxProcess,
) -> None:
    api = connect(off, off.new_company(seed="empty")).api
    # 10 Intuit seconds at --time-scale 10: one real second against a 0.3 s timeout.
    off.control("POST", "/_sandbox/config", {"fault_slow": 0.1, "slow_seconds": 10})
    try:
        seen = Counter(outcome(api, timeout=0.3) for _ in range(100))
        slowed = off.control("GET", "/_sandbox/faults")["slow"]
    finally:
        off.control("POST", "/_sandbox/config", {"slow_seconds": 5})  # resets the counters
    assert set(seen) <= {"200", "timeout"}
    assert seen["timeout"] == slowed > 0
    assert within(seen["timeout"], 100, 0.1), seen


# --- webhooks ------------------------------------------------------------------------------------


def deliveries_of(receiver: WebhookReceiver, realm_id: str) -> list[Delivery]:
    return [
        delivery
        for delivery in receiver.snapshot()
        if any(True for _ in cloud_events([delivery], realm_id))
    ]


def entity_ids(delivery: Delivery) -> list[str]:
    return [event["intuitentityid"] for event in delivery.json()]


def wait_for_deliveries(receiver: WebhookReceiver, realm_id: str, count: int) -> list[Delivery]:
    receiver.wait_for(lambda _: len(deliveries_of(receiver, realm_id)) >= count)
    return deliveries_of(receiver, realm_id)


def test_a_duplicated_webhook_delivery_arrives_twice_with_the_same_bytes(
    off: SandboxProcess, receiver: WebhookReceiver
) -> None:
    realm_id = off.new_company(seed="empty")
    api = connect(off, realm_id).api
    off.control("POST", "/_sandbox/config", {"webhook_duplicate": 1.0})
    customer = api.create("Customer", {"DisplayName": "Twice Told"})

    first, second = wait_for_deliveries(receiver, realm_id, 2)
    assert first.body == second.body and entity_ids(first) == [customer["Id"]]
    assert first.headers["intuit-signature"] == signature(first.body, VERIFIER_TOKEN)
    assert second.headers["intuit-signature"] == first.headers["intuit-signature"]
    counters = off.control("GET", "/_sandbox/faults")
    assert counters["webhook_duplicated"] == counters["webhook_deliveries"] == 1


def test_a_reordered_webhook_delivery_arrives_after_the_next_one(
    off: SandboxProcess, receiver: WebhookReceiver
) -> None:
    realm_id = off.new_company(seed="empty")
    api = connect(off, realm_id).api
    off.control("POST", "/_sandbox/config", {"webhook_reorder": 1.0})
    earlier = api.create("Customer", {"DisplayName": "Written First"})
    time.sleep(0.5)  # past the batch window (0.1 s here): a delivery of its own
    later = api.create("Customer", {"DisplayName": "Written Second"})

    arrived = wait_for_deliveries(receiver, realm_id, 2)
    assert [entity_ids(delivery) for delivery in arrived] == [[later["Id"]], [earlier["Id"]]]
    counters = off.control("GET", "/_sandbox/faults")
    # The second was drawn for reordering too, but one is held at a time.
    assert (counters["webhook_reordered"], counters["webhook_deliveries"]) == (1, 2)


def test_a_held_delivery_goes_out_alone_when_nothing_follows(
    off: SandboxProcess, receiver: WebhookReceiver
) -> None:
    realm_id = off.new_company(seed="empty")
    api = connect(off, realm_id).api
    # Held at most 5 Intuit seconds: half a real second.
    off.control(
        "POST", "/_sandbox/config", {"webhook_reorder": 1.0, "webhook_delay_max_seconds": 5}
    )
    try:
        started = time.monotonic()
        customer = api.create("Customer", {"DisplayName": "Nobody Followed"})
        (delivery,) = wait_for_deliveries(receiver, realm_id, 1)
        waited = time.monotonic() - started
    finally:
        off.control("POST", "/_sandbox/config", {"webhook_delay_max_seconds": 20})
    assert entity_ids(delivery) == [customer["Id"]]
    assert 0.5 <= waited < 5


def test_delayed_webhook_deliveries_arrive_late_and_are_counted(
    off: SandboxProcess, receiver: WebhookReceiver
) -> None:
    realm_id = off.new_company(seed="empty")
    api = connect(off, realm_id).api
    # Up to 20 Intuit seconds (two real ones) each.
    off.control("POST", "/_sandbox/config", {"webhook_delay": 1.0})
    lags: list[float] = []
    for number in range(3):
        before = len(deliveries_of(receiver, realm_id))
        started = time.monotonic()
        customer = api.create("Customer", {"DisplayName": f"Late Arrival {number}"})
        (delivery,) = wait_for_deliveries(receiver, realm_id, before + 1)[before:]
        lags.append(time.monotonic() - started)
        assert entity_ids(delivery) == [customer["Id"]]
    counters = off.control("GET", "/_sandbox/faults")
    assert counters["webhook_delayed"] == counters["webhook_deliveries"] == 3
    # Undelayed, a delivery leaves after the 0.1 s batch window; delays are drawn from
    # 0..2 s (for this seed they add up to well over a second).
    assert sum(lags) > 1.0, lags


def test_fault_settings_are_checked_and_shown(off: SandboxProcess) -> None:
    config: dict[str, Any] = off.control("GET", "/_sandbox/config")
    assert config["fault_seed"] == SEED and config["webhook_delay_max_seconds"] == 20
    for bad in (
        {"fault_seed": "7"},
        {"fault_seed": True},
        {"fault_seed": 1.5},
        {"fault_drop_before": 1.5},
        {"webhook_reorder": -0.1},
        {"webhook_delay_max_seconds": -1},
    ):
        with pytest.raises(RuntimeError, match="400"):
            off.control("POST", "/_sandbox/config", bad)
    assert off.control("GET", "/_sandbox/config") == config
