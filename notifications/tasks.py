"""Beat's notification tasks (unefemme/settings.py CELERY_BEAT_SCHEDULE): thin and
idempotent, so a doubled or late run sends nothing twice."""

from __future__ import annotations

from celery import shared_task

from . import services


# Under the five-minute schedule; the advisory lock keeps an overrun from interleaving.
@shared_task(soft_time_limit=240, time_limit=280)
def notifications_scan() -> str:
    result = services.notifications_scan()
    return f"opened {result.opened}, cleared {result.cleared}, sent {result.sent}"


@shared_task(soft_time_limit=50 * 60, time_limit=55 * 60)
def digests_send() -> int:
    return services.digests_send()
