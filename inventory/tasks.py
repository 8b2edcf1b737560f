"""Celery tasks of the inventory app: thin, taking ids and calling a service."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from sync import conf

from .channels import services as channels
from .push import services as push
from .push.models import PushJob

# Imported for their figures' registration with refresh, which the task dispatches on.
from .reports import placements, refresh, selectors, sell_through  # noqa: F401


# Limits below CELERY_VISIBILITY_TIMEOUT (3600 s). A job cut short by its limit stops with
# its batches recorded; Retry (or beat's resume sweep) carries on with the same requestids.
@shared_task(bind=True, soft_time_limit=30 * 60, time_limit=35 * 60, ignore_result=True)
def push_job_run(self: Any, job_id: int) -> str | None:
    """Write an approved push job's items into the partner's QuickBooks."""
    try:
        job = push.push_job_run(job_id=job_id)
        locked = (
            job is None and PushJob.objects.filter(pk=job_id, status__in=PushJob.ACTIVE).exists()
        )
    except push.DB_UNAVAILABLE as exc:
        # PostgreSQL restarting or failing over: without this the approved job waited for
        # beat's resume sweep, 15 minutes (the convergence run, bench/convergence.py,
        # crashed PostgreSQL just after an approval and saw it).
        raise self.retry(exc=exc, countdown=5, max_retries=120) from None
    if locked:
        # Locked. When a worker child is killed mid-job, Celery hands the task back at once
        # (task_reject_on_worker_lost) while the dead child's lease still holds: try again
        # once it may have lapsed. A live holder finishes the job; the retry then finds
        # nothing to do.
        raise self.retry(countdown=conf.seconds("PUSH_LOCK_TTL") / 2, max_retries=60)
    return None if job is None else job.status


@shared_task(soft_time_limit=50, time_limit=55, ignore_result=True)
def push_jobs_resume() -> int:
    """Re-enqueue push jobs left queued or running by a broker outage or a dead worker."""
    return len(push.push_jobs_resume())


# One query request (a company keeps a handful of types), which may wait for the realm's
# limiter and retry: well under CELERY_VISIBILITY_TIMEOUT.
@shared_task(soft_time_limit=3 * 60, time_limit=4 * 60, ignore_result=True)
def customer_types_refresh(connection_id: int) -> int | None:
    """Re-read a company's customer type names (docs/reports.md, "Channels")."""
    stored = channels.customer_types_refresh(connection_id=connection_id)
    return None if stored is None else len(stored)


@shared_task(soft_time_limit=50, time_limit=55)
def customer_types_nightly() -> list[int]:
    """Beat's nightly entry: enqueue one refresh per live connection."""
    return channels.customer_types_schedule()


@shared_task(soft_time_limit=60, time_limit=70, ignore_result=True)
def figures_refresh(question_key: str) -> bool:
    """Recompute a report's figure that a reader found stale (inventory.reports.refresh:
    the accounts report, sell-through's and depletion's grouped lines), so the next
    readers find it in the cache."""
    return refresh.run(question_key)
