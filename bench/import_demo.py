"""What the initial import of a demo company costs: API requests, 429s, duration.

    uv run python bench/import_demo.py [--scale 1] [--limit-per-minute 500]

Starts its own qbo_sandbox, PostgreSQL and Redis (throw-away, like the test suite; nothing
under var/ or in DATABASE_URL is touched), connects a fresh demo company, imports it with
the real sync engine (in this process, as a worker would) and prints the requests used
against the minimum possible: one COUNT per mirrored entity plus ceil(n / 1000) pages.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import connect_demo_company, with_sandbox  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="demo volume multiplier")
    parser.add_argument(
        "--limit-per-minute", type=int, default=500, help="the sandbox's per-realm limit"
    )
    args = parser.parse_args()
    return with_sandbox(args.limit_per_minute, lambda sandbox: run(sandbox, args.scale))


def run(sandbox: SandboxProcess, scale: float) -> int:
    from common import mirror
    from sync import services

    connection, company = connect_demo_company(sandbox, scale=scale)
    realm = connection.realm_id
    counts = {entity: int(company["counts"].get(entity, 0)) for entity in mirror.entities()}

    started = time.monotonic()
    run = services.connection_sync(connection_id=connection.pk, trigger="bench")
    duration = time.monotonic() - started
    assert run is not None
    sent = sandbox.control("GET", "/_sandbox/status")["stats"]["requests"].get(realm, 0)

    pages = {entity: math.ceil(n / 1000) for entity, n in counts.items()}
    minimum = len(counts) + sum(pages.values())
    rows = sum(counts.values())
    print(f"demo company {company['name']} (realm {realm}, scale {scale:g})")
    for entity in mirror.entities():
        print(f"  {entity:<9} {counts[entity]:>7} rows  {pages[entity]:>3} page(s)")
    print(f"import {run.status}: {run.api_requests} API requests "
          f"(sandbox counted {sent}); minimum possible {minimum} "
          f"= {len(counts)} COUNTs + {sum(pages.values())} pages")  # fmt: skip
    print(f"429s met: {run.throttled}")
    print(f"duration: {duration:.2f} s ({rows / duration:,.0f} rows/s)")

    started = time.monotonic()
    poll = services.connection_sync(connection_id=connection.pk, trigger="bench")
    assert poll is not None
    print(
        f"first poll after it: {poll.api_requests} API request(s), "
        f"{time.monotonic() - started:.2f} s, {poll.status}"
    )
    return 0 if run.status == "succeeded" and poll.status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
