"""Intuit's throttles and injected faults, observed over HTTP on dedicated servers.

Limits and fault settings are server-wide, so these tests never use the session sandbox.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest
import requests
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.company_info import CompanyInfo

from .support import (
    HTTP_TIMEOUT,
    RealmApi,
    connect,
    ensure_accounts,
    fault_codes,
    non_inventory_item_body,
)

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

APPS = [f"throttle-app-{number}" for number in range(1, 5)]
# An Intuit minute lasts 60 / 20 = 3 real seconds on the scaled server.
TIME_SCALE = 20
SCALED_WINDOW = 60 / TIME_SCALE


def app_args() -> list[str]:
    args: list[str] = []
    for app in APPS:
        args += ["--client-id", app, "--client-secret", f"{app}-secret"]
    return args


@pytest.fixture(scope="module")
def default_limits() -> Iterator[SandboxProcess]:
    """Intuit's default limits, with four apps to tell the per-app batch limit from the realm's."""
    from qbo_sandbox.testing import start_sandbox

    process = start_sandbox("--seed", "empty", *app_args())
    yield process
    process.stop()


@pytest.fixture(scope="module")
def scaled() -> Iterator[SandboxProcess]:
    from qbo_sandbox.testing import start_sandbox

    process = start_sandbox(
        "--seed", "empty", "--limit-per-minute", "50", "--time-scale", str(TIME_SCALE)
    )
    yield process
    process.stop()


def company_info(api: RealmApi) -> requests.Response:
    return api.request("GET", f"companyinfo/{api.realm_id}")


def assert_throttled(response: requests.Response) -> None:
    assert response.status_code == 429, response.text
    assert fault_codes(response) == ["3001"]
    assert response.headers.get("intuit_tid")


def query_batch(api: RealmApi) -> requests.Response:
    return api.batch([{"bId": "1", "Query": "SELECT * FROM Item MAXRESULTS 1"}])


def test_the_501st_request_in_a_minute_is_429_code_3001(default_limits: SandboxProcess) -> None:
    realm_id = default_limits.new_company(seed="empty")
    conn = connect(default_limits, realm_id, APPS[0])

    statuses = [company_info(conn.api).status_code for _ in range(500)]
    assert statuses == [200] * 500

    assert_throttled(company_info(conn.api))
    with pytest.raises(QuickbooksException):
        CompanyInfo.get(realm_id, qb=conn.qb)
    stats = default_limits.control("GET", "/_sandbox/status")["stats"]
    assert stats["throttled"][realm_id] >= 2
    # Another company has its own allowance.
    other = connect(default_limits, default_limits.new_company(seed="empty"), APPS[0])
    assert company_info(other.api).status_code == 200


def test_the_11th_concurrent_request_is_429(default_limits: SandboxProcess) -> None:
    realm_id = default_limits.new_company(seed="empty")
    api = connect(default_limits, realm_id, APPS[0]).api
    slow_seconds = 3.0

    def call() -> tuple[requests.Response, float]:
        # requests.Session is not thread-safe, so every thread makes its own request.
        started = time.monotonic()
        response = requests.get(
            api.url(f"companyinfo/{realm_id}"),
            headers={"Authorization": f"Bearer {api.access_token}", "Accept": "application/json"},
            timeout=HTTP_TIMEOUT,
        )
        return response, time.monotonic() - started

    default_limits.control(
        "POST", "/_sandbox/config", {"fault_slow": 1.0, "slow_seconds": slow_seconds}
    )
    try:
        # All eleven at once: whichever arrives last finds ten slow requests in flight.
        with ThreadPoolExecutor(max_workers=11) as pool:
            results = list(pool.map(lambda _: call(), range(11)))
    finally:
        default_limits.control("POST", "/_sandbox/config", {"fault_slow": 0.0})

    refused = [(response, took) for response, took in results if response.status_code != 200]
    assert len(refused) == 1, [response.status_code for response, _ in results]
    response, took = refused[0]
    assert_throttled(response)
    # Refused on arrival, not after waiting behind the slow ones.
    assert took < slow_seconds - 1.0
    assert call()[0].status_code == 200


def test_batch_is_limited_to_40_per_app_and_120_per_realm(default_limits: SandboxProcess) -> None:
    realm_id = default_limits.new_company(seed="empty")
    first, second, third, fourth = (connect(default_limits, realm_id, app).api for app in APPS)

    assert [query_batch(first).status_code for _ in range(40)] == [200] * 40
    assert_throttled(query_batch(first))
    # The per-app limit leaves other apps alone...
    assert [query_batch(second).status_code for _ in range(40)] == [200] * 40
    assert [query_batch(third).status_code for _ in range(40)] == [200] * 40
    # ...until the realm has had 120 batches in the minute, whichever apps sent them.
    assert_throttled(query_batch(fourth))
    # Ordinary calls and other companies are not affected by the batch limits.
    assert company_info(fourth).status_code == 200
    elsewhere = connect(default_limits, default_limits.new_company(seed="empty"), APPS[0]).api
    assert query_batch(elsewhere).status_code == 200


def test_requests_succeed_again_once_the_window_has_passed(scaled: SandboxProcess) -> None:
    api = connect(scaled, scaled.new_company(seed="empty")).api
    started = time.monotonic()

    assert [company_info(api).status_code for _ in range(50)] == [200] * 50
    refused = company_info(api)
    assert time.monotonic() - started < SCALED_WINDOW, "the test machine is too slow for this"
    assert_throttled(refused)

    time.sleep(max(0.0, started + SCALED_WINDOW + 0.5 - time.monotonic()))
    assert company_info(api).status_code == 200


@pytest.mark.parametrize(
    ("setting", "codes"),
    # A 500 is the API's SystemFault; 502 and 503 are the edge's HTML pages, with no code
    # (test_fault_injection.py checks each shape).
    [("fault_429", {429: ["3001"]}), ("fault_5xx", {500: ["10000"], 502: [], 503: []})],
)
def test_injected_faults_answer_before_any_work_is_done(
    default_limits: SandboxProcess, setting: str, codes: dict[int, list[str]]
) -> None:
    api = connect(default_limits, default_limits.new_company(seed="empty"), APPS[0]).api
    body = non_inventory_item_body("Never Written", ensure_accounts(api))

    default_limits.control("POST", "/_sandbox/config", {setting: 1.0})
    try:
        response = api.request("POST", "item", json_body=body)
    finally:
        default_limits.control("POST", "/_sandbox/config", {setting: 0.0})

    assert response.status_code in codes, response.text
    assert fault_codes(response) == codes[response.status_code]
    assert response.headers.get("intuit_tid")
    assert api.query("SELECT COUNT(*) FROM Item WHERE Name = 'Never Written'")["totalCount"] == 0
