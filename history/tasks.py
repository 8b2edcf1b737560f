"""Celery tasks of the daily history: thin, taking a date and calling a service."""

from __future__ import annotations

from datetime import date

from celery import shared_task
from django.utils import timezone

from . import services


# A day is a few aggregate queries over the books (seconds); the limits only stop a
# runaway, well under CELERY_VISIBILITY_TIMEOUT.
@shared_task(soft_time_limit=10 * 60, time_limit=11 * 60, ignore_result=True)
def history_snapshot(day: str | None = None) -> str:
    """Beat's nightly entry: the snapshot of ``day`` (ISO date), by default the day that
    has just ended. Safe to run again: the day's rows are replaced."""
    target = date.fromisoformat(day) if day else services.last_finished_day()
    services.snapshot_day(target)
    return target.isoformat()


@shared_task(soft_time_limit=10 * 60, time_limit=11 * 60, ignore_result=True)
def history_catch_up() -> int:
    """Beat's frequent entry: rebuild the recent history when it is missing days or is
    older than a company's latest import (``services.history_catch_up``); usually two
    queries and nothing to do. Returns the days written."""
    return len(services.history_catch_up(today=timezone.localdate()))
