"""What pushing into QuickBooks costs: N catalog items created, then N quantities set.

    uv run python bench/push_demo.py [--items 300] [--limit-per-minute 500]

Starts its own qbo_sandbox, PostgreSQL and Redis (throw-away; nothing under var/ or in
DATABASE_URL is touched), imports a fresh demo company, then runs two push jobs with the
real service (in this process, as a worker would): N new catalog SKUs created as items,
and, after a sync has mapped them, a warehouse count written for each as an
InventoryAdjustment. Prints requests used against the minimum: per batch of 30, one query
re-reading QuickBooks and the batch itself (plus one chart-of-accounts query per stock job).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (  # noqa: E402
    Result,
    connect_demo_company,
    new_catalog_skus,
    print_table,
    sandbox_stats,
    with_sandbox,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=300, help="catalog SKUs to push")
    parser.add_argument(
        "--limit-per-minute", type=int, default=500, help="the sandbox's per-realm limit"
    )
    args = parser.parse_args()
    return with_sandbox(args.limit_per_minute, lambda sandbox: run(sandbox, args.items))


@dataclass(frozen=True)
class PushRun:
    """One push job, as measured."""

    label: str
    status: str
    seconds: float
    batches: int
    largest: int
    requests: int
    minimum: int
    outcomes: dict[str, int]


@dataclass(frozen=True)
class PushDemo:
    count: int
    jobs: list[PushRun]
    mapped: int  # of the created items, how many the next poll mapped to their SKU
    poll_requests: int
    throttled: int  # 429s the sandbox answered for the realm meanwhile

    @property
    def ok(self) -> bool:
        written = {"written": self.count}
        return self.mapped == self.count and all(
            job.status == "done" and job.outcomes == written for job in self.jobs
        )


def measure(sandbox: SandboxProcess, count: int) -> PushDemo:
    """Import a demo company, then push ``count`` new items and ``count`` quantities."""
    from django.db.models import Count
    from django.utils import timezone

    from accounts.models import User
    from accounts.roles import Role
    from inventory.mapping.models import SKUMapping
    from inventory.push import services as push
    from inventory.push.models import PushJob
    from inventory.warehouse.models import WarehouseSnapshot, WarehouseSource
    from sync import services

    connection, _ = connect_demo_company(sandbox)
    partner = connection.partner
    admin = User.objects.create_user(email="bench-push-admin@example.com", role=Role.ADMIN)
    imported = services.connection_sync(connection_id=connection.pk, trigger="bench")
    assert imported is not None and imported.status == "succeeded"
    _, throttled_before = sandbox_stats(sandbox, connection.realm_id)
    skus = new_catalog_skus("B", "Bench Cuvée", count)
    batches = -(-count // 30)

    def execute(job: PushJob, label: str, minimum: int) -> PushRun:
        PushJob.objects.filter(pk=job.pk).update(
            status=PushJob.Status.QUEUED, approved_by=admin, approved_at=timezone.now()
        )
        started = time.monotonic()
        push.push_job_run(job_id=job.pk)
        duration = time.monotonic() - started
        job.refresh_from_db()
        outcomes = dict(job.items.values_list("status").annotate(n=Count("pk")))
        sizes = [b.items.count() for b in job.batches.order_by("pk")]
        return PushRun(
            label=label,
            status=job.status,
            seconds=duration,
            batches=len(sizes),
            largest=max(sizes, default=0),
            requests=job.api_requests,
            minimum=minimum,
            outcomes={str(status): n for status, n in outcomes.items()},
        )

    items_job = push.push_items_draft(
        user=admin, partner_id=partner.pk, sku_ids=[s.pk for s in skus]
    )
    created = execute(items_job, f"create {count} items", 2 * batches)

    polled = services.connection_sync(connection_id=connection.pk, trigger="bench")
    assert polled is not None and polled.status == "succeeded"
    mapped = SKUMapping.objects.filter(connection=connection, catalog_sku__in=skus).count()

    WarehouseSnapshot.objects.bulk_create(
        WarehouseSnapshot(
            partner=partner,
            sku=sku,
            as_of=timezone.localdate(),
            bottles=12 * (n % 7 + 1),
            source=WarehouseSource.CSV,
        )  # fmt: skip
        for n, sku in enumerate(skus)
    )
    stock_job = push.push_stock_draft(
        user=admin, partner_id=partner.pk, sku_ids=[s.pk for s in skus]
    )
    stocked = execute(stock_job, f"set {count} quantities", 2 * batches + 1)
    _, throttled = sandbox_stats(sandbox, connection.realm_id)
    return PushDemo(
        count, [created, stocked], mapped, polled.api_requests, throttled - throttled_before
    )


def results(demo: PushDemo) -> list[Result]:
    """Figure 6: the pushes' batches per minute over Intuit's 40 batch requests a minute
    per realm and app. Fewer than 38 batches (the app's own limit, sync/conf.py) fit in
    one minute's window, so a small push shows the app's own pace: at or above 1× says
    the push, not the app, would be held by Intuit's limit."""
    batches = sum(job.batches for job in demo.jobs)
    seconds = sum(job.seconds for job in demo.jobs)
    requests = sum(job.requests for job in demo.jobs)
    minimum = sum(job.minimum for job in demo.jobs)
    per_job = "; ".join(
        f"{job.label}: {job.batches} batches in {job.seconds:.2f} s, {job.status}"
        for job in demo.jobs
    )
    return [
        Result.check(
            "Push batches/min ÷ 40",
            batches / seconds * 60 / 40,
            "×",
            at_least=0.9,
            record=f"{per_job}; 429s {demo.throttled}",
        ),
        Result.check(
            "Push requests ÷ minimum",
            requests / minimum,
            "×",
            at_most=1.0,
            record=f"{requests} requests, minimum {minimum} (a re-read and the batch per "
            f"batch, one account query per stock job); {demo.mapped} of {demo.count} "
            "created items mapped by the next poll",
        ),
    ]


def run(sandbox: SandboxProcess, count: int) -> int:
    demo = measure(sandbox, count)
    for job in demo.jobs:
        print(
            f"{job.label}: {job.status} in {job.seconds:.2f} s "
            f"({demo.count / job.seconds:,.0f} items/s); outcomes {job.outcomes}"
        )
        print(f"  batches: {job.batches} (largest {job.largest} items); "
              f"{job.requests} API requests, minimum {job.minimum}")  # fmt: skip
    print(
        f"  next poll after creating: {demo.poll_requests} request(s); "
        f"{demo.mapped} of {demo.count} items mapped by Sku"
    )
    print_table(results(demo))
    return 0 if demo.ok else 1


if __name__ == "__main__":
    sys.exit(main())
