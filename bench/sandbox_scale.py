"""qbo_sandbox at benchmark scale: seed time and query paging speed.

    uv run python bench/sandbox_scale.py [--scale 265]

Target: 100,000 invoices in one realm generate in under a minute. Prints the seed
time, the invoice count of one realm, and the latency of every 1000-row page of
`SELECT * FROM Invoice ORDERBY Id` over HTTP (median, p95, max).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Result, print_table  # noqa: E402

from qbo_sandbox.testing import start_sandbox  # noqa: E402

# The target above, as a pace any scale can be held to.
TARGET_INVOICES_PER_SECOND = 100_000 / 60


def seed_result(invoices: int, seconds: float) -> Result:
    """The sandbox's seeding pace against its target (bench/run_all.py times the creation
    of its big company with it)."""
    return Result.check(
        "Sandbox seeding, invoices/s",
        invoices / seconds,
        "invoices/s",
        at_least=TARGET_INVOICES_PER_SECOND,
        record=f"{invoices:,} invoices (with their company) in {seconds:.1f} s",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    # 265: the first realm then holds just over 100,000 live invoices (some are deleted).
    parser.add_argument("--scale", type=float, default=265)
    args = parser.parse_args()

    started = time.monotonic()
    sandbox = start_sandbox("--scale", str(args.scale), "--limit-per-minute", "0", timeout=300)
    seeded = time.monotonic() - started
    try:
        realm = next(iter(sandbox.realms))
        token = sandbox.mint_tokens(realm)["access_token"]
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        url = f"{sandbox.api_url}/company/{realm}/query"

        def query(statement: str) -> dict[str, object]:
            response = session.post(
                url, data=statement, headers={"Content-Type": "application/text"}, timeout=60
            )
            response.raise_for_status()
            body: dict[str, object] = response.json()["QueryResponse"]
            return body

        total = int(str(query("SELECT COUNT(*) FROM Invoice")["totalCount"]))
        latencies = []
        for start in range(1, total + 1, 1000):
            t0 = time.monotonic()
            query(f"SELECT * FROM Invoice ORDERBY Id STARTPOSITION {start} MAXRESULTS 1000")
            latencies.append(time.monotonic() - t0)
        latencies.sort()
        print(f"scale {args.scale:g}: startup with seed of {len(sandbox.realms)} companies "
              f"took {seeded:.1f} s (target < 60 s)")  # fmt: skip
        print(f"realm {realm}: {total} invoices, {len(latencies)} pages of 1000")
        print(
            f"page latency over HTTP: median {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {latencies[int(len(latencies) * 0.95) - 1] * 1000:.0f} ms, "
            f"max {latencies[-1] * 1000:.0f} ms"
        )
        status = sandbox.control("GET", "/_sandbox/status")
        invoices = sum(int(c["counts"].get("Invoice", 0)) for c in status["companies"])
        print_table([seed_result(invoices, seeded)])
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
