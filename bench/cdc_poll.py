"""Whether a change poll costs what changed rather than what the company holds.

    uv run python bench/cdc_poll.py [--scale 20] [--changes 100]

Starts its own qbo_sandbox, PostgreSQL and Redis (throw-away; nothing under var/ or in
DATABASE_URL is touched), imports a demo company of ``--scale`` and one a hundredth its
size, makes the same number of changes in each through the sandbox's public API (its
activity generator: invoices, payments, stock receipts, renames, voids, deletions), then
times one poll of each with the real sync engine. Target: the big company's poll at most
twice the small one's, and one CDC request each (besides the counted checks of the deletions
among the changes).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Result, print_table, with_sandbox  # noqa: E402

if TYPE_CHECKING:
    from import_demo import ImportRun

    from qbo_sandbox.testing import SandboxProcess
    from sync.models import SyncRun


def make_changes(sandbox: SandboxProcess, realm_id: str, count: int, seed: int = 1) -> int:
    """``count`` changes to the company through the sandbox's public API, as its activity
    generator makes them (an operation with nothing to act on is skipped and not counted).
    Run with the sandbox's throttle off: its client waits a whole minute on a 429."""
    from qbo_sandbox.activity import Activity, ApiError, Client

    client = Client(sandbox.base_url, realm_id, sandbox.client_id, sandbox.client_secret)
    activity = Activity(client, random.Random(seed))
    made = 0
    for _ in range(count * 3):  # a bound: skips never loop forever
        try:
            outcome = activity.step()
        except ApiError:
            continue  # refused by QuickBooks' rules (a payment on a voided invoice...)
        if "skipped" not in outcome and "refused" not in outcome:
            made += 1
            if made == count:
                break
    return made


def poll(run: ImportRun) -> tuple[float, SyncRun]:
    """One poll of the imported company, timed."""
    from sync import services

    started = time.monotonic()
    polled = services.connection_sync(connection_id=run.connection.pk, trigger="bench")
    seconds = time.monotonic() - started
    assert polled is not None and polled.kind == "poll", polled
    assert polled.status == "succeeded", polled.error
    return seconds, polled


def settle(sandbox: SandboxProcess, run: ImportRun) -> None:
    """An untimed poll, as if the previous scheduled one had just run, so the timed poll
    reads only the changes made after it. Without it the first poll's window reaches two
    minutes before the import started (``SYNC_CDC_OVERLAP``), and the seeder stamps a
    company's last day of business within the ten minutes before it was created: the big
    company's first poll would re-read hundreds of seeded documents the small one has not.
    The overlap is set to zero for this poll (a tunable, sync/conf.py) so its watermark is
    the moment it started; one change first makes sure it writes, which is what moves the
    watermark."""
    from datetime import timedelta

    from django.test import override_settings

    make_changes(sandbox, run.connection.realm_id, 1, seed=0)
    with override_settings(SYNC_CDC_OVERLAP=timedelta(0)):
        poll(run)


def measure(
    sandbox: SandboxProcess, big: ImportRun, small: ImportRun, changes: int
) -> list[Result]:
    """Figure 3: the poll of the big company over the poll of the small one."""
    settle(sandbox, big)
    settle(sandbox, small)
    made = {
        run.connection.realm_id: make_changes(sandbox, run.connection.realm_id, changes)
        for run in (big, small)
    }
    (big_seconds, big_poll), (small_seconds, small_poll) = poll(big), poll(small)

    def described(run: ImportRun, seconds: float, polled: SyncRun) -> str:
        seen = sum(sum(applied.values()) for applied in polled.counts.values())
        wait = getattr(polled, "qbo_wait_seconds", 0.0)
        return (
            f"{run.counts.get('Invoice', 0):,} invoices: {seconds * 1000:,.0f} ms "
            f"({wait * 1000:,.0f} ms waiting on QuickBooks), {polled.api_requests} request(s), "
            f"{made[run.connection.realm_id]} changes made, {seen} objects applied"
        )

    return [
        Result.check(
            "CDC poll time, big company ÷ 1% company",
            big_seconds / small_seconds,
            "×",
            at_most=2.0,
            record=f"{described(big, big_seconds, big_poll)}; "
            f"{described(small, small_seconds, small_poll)}",
        ),
        Result.check(
            "CDC poll requests, big company (besides tombstone checks)",
            big_poll.api_requests - extra_requests(big_poll),
            "requests",
            at_most=1,
            record=f"{big_poll.api_requests} in all, {extra_requests(big_poll)} of them "
            "confirming deletions (one Id IN query per entity with any); the 1% company's "
            f"poll: {small_poll.api_requests} ({extra_requests(small_poll)})",
        ),
    ]


def extra_requests(run: SyncRun) -> int:
    """What a poll spent besides its CDC request, as the run counts it: tombstones confirmed
    before a row goes, an entity read whole after a capped answer (docs/qbo-api.md §3,
    "Open questions")."""
    return sum(
        int(counts.get("tombstone_requests", 0)) + int(counts.get("reread_requests", 0))
        for counts in run.counts.values()
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=20.0, help="the big company's scale")
    parser.add_argument("--changes", type=int, default=100, help="changes made in each")
    args = parser.parse_args()
    return with_sandbox(0, lambda sandbox: run(sandbox, args.scale, args.changes))


def run(sandbox: SandboxProcess, scale: float, changes: int) -> int:
    from import_demo import connect_and_import

    big = connect_and_import(sandbox, scale)
    small = connect_and_import(sandbox, scale / 100)
    results = measure(sandbox, big, small, changes)
    print_table(results, title=f"CDC polls at scale {scale:g} and {scale / 100:g}")
    return 0 if all(r.ok is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
