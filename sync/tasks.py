from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(soft_time_limit=50, time_limit=55)
def tick() -> str:
    # Limits stay under the one-minute schedule so two ticks never overlap.
    return services.tick_run().isoformat()
