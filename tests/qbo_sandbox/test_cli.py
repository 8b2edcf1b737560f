"""`python -m qbo_sandbox serve|activity`: options, determinism, signals, the activity generator."""

from __future__ import annotations

import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .support import connect

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVE_OPTIONS = [
    "--host",
    "--port",
    "--state",
    "--seed",
    "--seed-number",
    "--scale",
    "--client-id",
    "--client-secret",
    "--redirect-uri",
    "--webhook-url",
    "--webhook-verifier",
    "--webhook-format",
    "--time-scale",
    "--rotate-every-refresh",
    "--limit-per-minute",
    "--limit-concurrent",
    "--limit-batch-per-minute-app",
    "--limit-batch-per-minute-realm",
    "--fault-5xx",
    "--fault-429",
    "--fault-slow",
    "--fault-drop",
    "--fault-drop-before",
    "--fault-drop-batch",
    "--fault-seed",
    "--slow-seconds",
    "--webhook-duplicate",
    "--webhook-delay",
    "--webhook-delay-max-seconds",
    "--webhook-reorder",
    "--log-level",
]
ACTIVITY_OPTIONS = ["--base-url", "--realm", "--per-minute", "--duration", "--seed"]


def run_module(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qbo_sandbox", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("command", "options"), [("serve", SERVE_OPTIONS), ("activity", ACTIVITY_OPTIONS)]
)
def test_help_lists_every_contract_option(command: str, options: list[str]) -> None:
    result = run_module(command, "--help")
    assert result.returncode == 0, result.stderr
    missing = [option for option in options if option not in result.stdout]
    assert missing == []


def fingerprint(process: SandboxProcess) -> dict[str, Any]:
    """What a seed decides: the companies, and in each its items, customers and invoices."""
    found: dict[str, Any] = {}
    for realm_id, name in sorted(process.realms.items()):
        api = connect(process, realm_id).api
        items = api.rows("SELECT * FROM Item WHERE Active IN (true, false) MAXRESULTS 1000", "Item")
        customers = api.rows("SELECT * FROM Customer MAXRESULTS 1000", "Customer")
        invoices = api.rows("SELECT * FROM Invoice ORDERBY Id MAXRESULTS 1000", "Invoice")
        found[realm_id] = {
            "name": name,
            "items": sorted(item["Name"] for item in items),
            "customers": sorted(customer["DisplayName"] for customer in customers),
            "invoices": [
                (invoice.get("DocNumber"), invoice["TxnDate"], str(invoice["TotalAmt"]))
                for invoice in invoices
            ],
        }
    return found


def test_seed_number_makes_the_demo_deterministic() -> None:
    from qbo_sandbox.testing import start_sandbox

    def start(seed_number: int) -> SandboxProcess:
        return start_sandbox("--seed", "demo", "--seed-number", str(seed_number), "--scale", "0.1")

    with ThreadPoolExecutor(max_workers=3) as pool:
        processes = list(pool.map(start, [7, 7, 8]))
    try:
        first, same, different = (fingerprint(process) for process in processes)
    finally:
        for process in processes:
            process.stop()

    assert len(first) == 3
    assert all(company["items"] and company["invoices"] for company in first.values())
    assert same == first
    assert set(different).isdisjoint(first)
    assert [c["invoices"] for c in different.values()] != [c["invoices"] for c in first.values()]
    assert [process.process.returncode for process in processes] == [0, 0, 0]


def test_serve_stops_promptly_and_cleanly_on_sigint() -> None:
    from qbo_sandbox.testing import start_sandbox

    process = start_sandbox("--seed", "empty")
    try:
        assert process.base_url.startswith("http://127.0.0.1:")
        assert process.api_url == process.base_url + "/v3"
        assert process.discovery_url == process.base_url + "/.well-known/openid_configuration"
        process.process.send_signal(signal.SIGINT)
        assert process.process.wait(timeout=10) == 0
    finally:
        process.stop()


def test_the_activity_generator_makes_invoices_appear(sandbox: SandboxProcess) -> None:
    realm_id = sandbox.new_company(seed="demo", scale=0.1)
    api = connect(sandbox, realm_id).api
    before = api.query("SELECT COUNT(*) FROM Invoice")["totalCount"]

    result = run_module(
        "activity",
        "--base-url",
        sandbox.base_url,
        "--realm",
        realm_id,
        "--per-minute",
        "240",
        "--duration",
        "4",
        "--seed",
        "3",
    )

    assert result.returncode == 0, result.stderr
    assert api.query("SELECT COUNT(*) FROM Invoice")["totalCount"] > before
