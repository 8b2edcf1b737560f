from __future__ import annotations

from typing import Any

from celery.schedules import crontab
from django.conf import settings

from unefemme.celery import app


def test_beat_runs_the_scan_every_few_minutes_and_the_digest_hourly() -> None:
    schedule: dict[str, Any] = settings.CELERY_BEAT_SCHEDULE
    scan = schedule["notifications-scan"]
    assert scan["task"] == "notifications.tasks.notifications_scan"
    assert scan["schedule"] <= 5 * 60
    digest = schedule["notifications-digest"]
    assert digest["task"] == "notifications.tasks.digests_send"
    assert digest["schedule"] == crontab(minute=5)  # every hour
    app.loader.import_default_modules()
    assert {scan["task"], digest["task"]} <= set(app.tasks)
