"""Celery tasks of the sync app: thin, idempotent, taking ids and calling a service.

Every limit is below CELERY_VISIBILITY_TIMEOUT (3600 s), so Redis never redelivers a
task that is still running. A sync cut short by its limit (or by a killed worker) loses
at most the page it was on: the cursor moves in the same transaction as the rows, and the
next sync resumes from it.
"""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(soft_time_limit=50, time_limit=55)
def tick() -> str:
    # Limits stay under the one-minute schedule so two ticks never overlap.
    return services.tick_run().isoformat()


# ignore_result: nothing reads a sync's return value (the SyncRun row is the record), and
# without it every enqueue also talks to the result backend, which retries for 20 s when
# Redis is down; a webhook must be answered in 3.
@shared_task(soft_time_limit=45 * 60, time_limit=50 * 60, ignore_result=True)
def connection_sync(connection_id: int, trigger: str = "schedule") -> str | None:
    """Import (or resume importing) a connection's company, or poll it for changes."""
    run = services.connection_sync(connection_id=connection_id, trigger=trigger)
    return None if run is None else f"{run.kind}:{run.status}"


@shared_task(soft_time_limit=120, time_limit=150)
def connection_refresh_info(connection_id: int) -> str:
    """Re-read the company's name from QuickBooks."""
    return services.connection_refresh_info(connection_id=connection_id)


@shared_task(soft_time_limit=50 * 60, time_limit=55 * 60)
def retention_prune() -> dict[str, int]:
    """Delete mirror versions and sync runs past their retention (nightly)."""
    return services.retention_prune()
