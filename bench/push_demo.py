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
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import connect_demo_company, with_sandbox  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=300, help="catalog SKUs to push")
    parser.add_argument(
        "--limit-per-minute", type=int, default=500, help="the sandbox's per-realm limit"
    )
    args = parser.parse_args()
    return with_sandbox(args.limit_per_minute, lambda sandbox: run(sandbox, args.items))


def run(sandbox: SandboxProcess, count: int) -> int:
    from django.db.models import Count
    from django.utils import timezone

    from accounts.models import User
    from accounts.roles import Role
    from inventory.catalog.models import CatalogSKU
    from inventory.mapping.models import SKUMapping
    from inventory.push import services as push
    from inventory.push.models import PushItem, PushJob
    from inventory.warehouse.models import WarehouseSnapshot, WarehouseSource
    from sync import services

    connection, _ = connect_demo_company(sandbox)
    partner = connection.partner
    admin = User.objects.create_user(email="bench-admin@example.com", role=Role.ADMIN)
    imported = services.connection_sync(connection_id=connection.pk, trigger="bench")
    assert imported is not None and imported.status == "succeeded"
    skus = [
        CatalogSKU.objects.create(
            code=f"UF-B{n:04d}-NV-750",
            wine=f"Bench Cuvée {n:04d}",
            format_ml=750,
            bottles_per_case=12,
        )  # fmt: skip
        for n in range(count)
    ]
    batches = -(-count // 30)
    ok = True

    def execute(job: PushJob, label: str, minimum: int) -> None:
        nonlocal ok
        PushJob.objects.filter(pk=job.pk).update(
            status=PushJob.Status.QUEUED, approved_by=admin, approved_at=timezone.now()
        )
        started = time.monotonic()
        push.push_job_run(job_id=job.pk)
        duration = time.monotonic() - started
        job.refresh_from_db()
        outcomes = dict(job.items.values_list("status").annotate(n=Count("pk")))
        sizes = [b.items.count() for b in job.batches.order_by("pk")]
        print(
            f"{label}: {job.get_status_display()} in {duration:.2f} s "
            f"({count / duration:,.0f} items/s); outcomes {outcomes}"
        )
        print(f"  batches: {len(sizes)} (largest {max(sizes, default=0)} items); "
              f"{job.api_requests} API requests, minimum {minimum}")  # fmt: skip
        ok = (
            ok
            and job.status == PushJob.Status.DONE
            and outcomes == {PushItem.Status.WRITTEN: count}
        )

    items_job = push.push_items_draft(
        user=admin, partner_id=partner.pk, sku_ids=[s.pk for s in skus]
    )
    execute(items_job, f"create {count} items", 2 * batches)

    polled = services.connection_sync(connection_id=connection.pk, trigger="bench")
    assert polled is not None and polled.status == "succeeded"
    mapped = SKUMapping.objects.filter(connection=connection, catalog_sku__in=skus).count()
    print(f"  next poll: {polled.api_requests} request(s); {mapped} of {count} items mapped by Sku")

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
    execute(stock_job, f"set {count} quantities", 2 * batches + 1)
    return 0 if ok and mapped == count else 1


if __name__ == "__main__":
    sys.exit(main())
