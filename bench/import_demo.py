"""What the initial import of a demo company costs: API requests, 429s, duration, rows/s.

    uv run python bench/import_demo.py [--scale 1] [--limit-per-minute 500]

Starts its own qbo_sandbox, PostgreSQL and Redis (throw-away, like the test suite; nothing
under var/ or in DATABASE_URL is touched), connects a fresh demo company, imports it with
the real sync engine (in this process, as a worker would) and prints the requests used
against the minimum possible: one COUNT per mirrored entity plus ceil(n / 1000) pages.

With the sandbox's throttle on (``--limit-per-minute 500``, Intuit's), the headline is the
import's wall time over the throttle's floor (requests ÷ 500 a minute); with it off
(``--limit-per-minute 0``), rows per second, wall and app-side (the run's duration minus
the time it spent waiting on QuickBooks, which the engine records as
``SyncRun.qbo_wait_seconds``). ``bench/run_all.py`` runs both.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess
    from sync.models import QBOConnection

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (  # noqa: E402
    Result,
    connect_demo_company,
    print_table,
    sandbox_stats,
    with_sandbox,
)

INTUIT_PER_MINUTE = 500
PAGE_SIZE = 1000
# The CustomerType list, read once after an import (a company has far fewer than 1000 types).
CUSTOMER_TYPE_READS = 1
# The performance target's app-side pace. Intuit hands out at most 500 pages of 1000 rows a
# minute per realm (8,333 rows/s); 10,000 leaves the app a fifth of headroom below that.
APP_SIDE_TARGET = 10_000


@dataclass(frozen=True)
class ImportRun:
    """One initial import, as measured: what the sandbox held, what the import cost."""

    connection: QBOConnection
    company: str
    counts: dict[str, int]  # rows per mirrored entity, as the sandbox counts them
    status: str
    requests: int  # the run's own count (SyncRun.api_requests)
    sandbox_requests: int  # what the sandbox answered for the realm meanwhile
    throttled: int  # 429s met
    seconds: float  # wall time of services.connection_sync
    qbo_wait: float | None  # SyncRun.qbo_wait_seconds; None while the engine lacks it
    entity_seconds: dict[str, float]  # wall time per entity (see _entity_seconds)
    seed_seconds: float = 0.0  # how long the sandbox took to create the company

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def minimum(self) -> int:
        # One COUNT and the pages per entity, and the CustomerType list, read once after
        # the import because CDC does not carry it (docs/reports.md, "Channels").
        pages = sum(math.ceil(n / PAGE_SIZE) for n in self.counts.values())
        return len(self.counts) + pages + CUSTOMER_TYPE_READS

    @property
    def app_seconds(self) -> float:
        return self.seconds - (self.qbo_wait or 0.0)

    def rate(self, entity: str) -> float | None:
        seconds = self.entity_seconds.get(entity)
        return self.counts[entity] / seconds if seconds else None


def connect_and_import(sandbox: SandboxProcess, scale: float) -> ImportRun:
    """A new demo company of ``scale`` (its creation timed), connected and imported."""
    started = time.monotonic()
    connection, company = connect_demo_company(sandbox, scale=scale)
    seeded = time.monotonic() - started
    return replace(import_company(sandbox, connection, company), seed_seconds=seeded)


def import_company(
    sandbox: SandboxProcess, connection: QBOConnection, company: dict[str, Any]
) -> ImportRun:
    """Import ``connection``'s company with the real engine, timed."""
    from common import mirror
    from sync import services

    realm = connection.realm_id
    counts = {entity: int(company["counts"].get(entity, 0)) for entity in mirror.entities()}
    sent_before, throttled_before = sandbox_stats(sandbox, realm)
    started = time.monotonic()
    run = services.connection_sync(connection_id=connection.pk, trigger="bench")
    seconds = time.monotonic() - started
    assert run is not None
    sent, throttled = sandbox_stats(sandbox, realm)
    wait = getattr(run, "qbo_wait_seconds", None)
    return ImportRun(
        connection=connection,
        company=str(company["name"]),
        counts=counts,
        status=run.status,
        requests=run.api_requests,
        sandbox_requests=sent - sent_before,
        throttled=throttled - throttled_before,
        seconds=seconds,
        qbo_wait=None if wait is None else float(wait),
        entity_seconds=_entity_seconds(connection, run.started_at),
    )


def _entity_seconds(connection: QBOConnection, started_at: Any) -> dict[str, float]:
    """Each entity's share of the import's wall time, read from its cursor: the import
    takes the entities one after another and saves each one's cursor with every page, so
    an entity took from the previous one's last save to its own (the first, from the
    run's start). Cheap, and close enough to say which entity is slow."""
    from common import mirror
    from sync.models import SyncCursor

    saved = dict(
        SyncCursor.objects.filter(connection=connection).values_list("entity", "updated_at")
    )
    seconds: dict[str, float] = {}
    previous = started_at
    for entity in mirror.entities():
        finished = saved.get(entity)
        if finished is None or finished < previous:
            return {}  # the engine no longer saves cursors this way: leave it out
        seconds[entity] = (finished - previous).total_seconds()
        previous = finished
    return seconds


def floor_results(run: ImportRun, per_minute: int = INTUIT_PER_MINUTE) -> list[Result]:
    """Figure 1: the import with Intuit's throttle on, against the floor it sets."""
    floor = run.requests / per_minute * 60
    return [
        Result.check(
            "Import wall time ÷ throttle floor (throttle on)",
            run.seconds / floor if floor else 0.0,
            "×",
            at_most=1.2,
            record=f"{run.seconds:.1f} s; floor {run.requests} requests ÷ {per_minute}/min "
            f"= {floor:.1f} s; {run.rows:,} rows; 429s {run.throttled}; {run.status}",
        ),
        Result.check(
            "Import requests ÷ minimum",
            run.requests / run.minimum,
            "×",
            at_most=1.0,
            record=f"{run.requests} requests (sandbox counted {run.sandbox_requests}); "
            f"minimum {run.minimum} = {len(run.counts)} COUNTs + "
            f"{run.minimum - len(run.counts) - CUSTOMER_TYPE_READS} pages + "
            f"{CUSTOMER_TYPE_READS} CustomerType list",
        ),
    ]


def speed_results(run: ImportRun, throttle: str = "off") -> list[Result]:
    """Figure 2: the import with the throttle off, rows per second wall and app-side."""
    if run.qbo_wait is None:
        wait_note = "SyncRun.qbo_wait_seconds not recorded yet: app-side = wall"
    else:
        wait_note = f"waited on QuickBooks {run.qbo_wait:.1f} s"
    per_entity = ", ".join(
        f"{entity} {rate:,.0f}/s" for entity in run.counts if (rate := run.rate(entity)) is not None
    )
    return [
        Result.check(
            f"Import rows/s, app-side (throttle {throttle})",
            run.rows / run.app_seconds,
            "rows/s",
            at_least=APP_SIDE_TARGET,
            record=f"{run.rows:,} rows in {run.app_seconds:.1f} s app-side; {wait_note}",
        ),
        Result.check(
            f"Import rows/s, wall (throttle {throttle})",
            run.rows / run.seconds,
            "rows/s",
            record=f"{run.seconds:.1f} s; wall per entity: {per_entity or 'n/a'}",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="demo volume multiplier")
    parser.add_argument(
        "--limit-per-minute", type=int, default=500, help="the sandbox's per-realm limit"
    )
    args = parser.parse_args()
    return with_sandbox(
        args.limit_per_minute, lambda sandbox: run(sandbox, args.scale, args.limit_per_minute)
    )


def run(sandbox: SandboxProcess, scale: float, per_minute: int) -> int:
    from sync import services

    imported = connect_and_import(sandbox, scale)
    connection = imported.connection
    print(f"demo company {imported.company} (realm {connection.realm_id}, scale {scale:g})")
    for entity, n in imported.counts.items():
        print(f"  {entity:<9} {n:>7} rows  {math.ceil(n / PAGE_SIZE):>3} page(s)")
    results = floor_results(imported, per_minute) if per_minute else []
    print_table(results + speed_results(imported, "on" if per_minute else "off"))

    started = time.monotonic()
    poll = services.connection_sync(connection_id=connection.pk, trigger="bench")
    assert poll is not None
    print(
        f"\nfirst poll after it: {poll.api_requests} API request(s), "
        f"{time.monotonic() - started:.2f} s, {poll.status}"
    )
    return 0 if imported.status == "succeeded" and poll.status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
