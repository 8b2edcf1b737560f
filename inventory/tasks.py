"""Celery tasks of the inventory app: thin, taking ids and calling a service."""

from __future__ import annotations

from celery import shared_task

from . import push


# Limits below CELERY_VISIBILITY_TIMEOUT (3600 s). A job cut short by its limit stops with
# its batches recorded; Retry (or beat's resume sweep) carries on with the same requestids.
@shared_task(soft_time_limit=30 * 60, time_limit=35 * 60, ignore_result=True)
def push_job_run(job_id: int) -> str | None:
    """Write an approved push job's items into the partner's QuickBooks."""
    job = push.push_job_run(job_id=job_id)
    return None if job is None else job.status


@shared_task(soft_time_limit=50, time_limit=55, ignore_result=True)
def push_jobs_resume() -> int:
    """Re-enqueue push jobs left queued or running by a broker outage or a dead worker."""
    return len(push.push_jobs_resume())
