"""Celery tasks of reconciliation: thin, taking ids and calling a service."""

from __future__ import annotations

from celery import shared_task

from . import services


# Two report requests, each of which may wait for the realm's limiter and retry; the
# limits stay under CELERY_VISIBILITY_TIMEOUT so Redis never redelivers a running task.
@shared_task(soft_time_limit=15 * 60, time_limit=16 * 60, ignore_result=True)
def reconciliation_run(
    connection_id: int, run_id: int | None = None, trigger: str = "schedule"
) -> str | None:
    run = services.reconciliation_run(connection_id=connection_id, run_id=run_id, trigger=trigger)
    return None if run is None else run.status


@shared_task(soft_time_limit=50, time_limit=55)
def reconciliation_nightly() -> list[int]:
    """Beat's nightly entry: enqueue one run per live connection."""
    return services.reconciliation_schedule()
