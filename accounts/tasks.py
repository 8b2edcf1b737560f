from __future__ import annotations

from celery import shared_task
from django.core.management import call_command


@shared_task(soft_time_limit=240, time_limit=300)
def clear_expired_sessions() -> None:
    call_command("clearsessions")
