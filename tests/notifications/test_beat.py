from __future__ import annotations

from typing import Any

import pytest
from celery.schedules import crontab
from django.conf import settings

from accounts.models import User
from notifications import tasks
from sync.models import QBOConnection
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


@pytest.mark.django_db
def test_the_tasks_call_the_services(people: dict[str, User], books_a: QBOConnection) -> None:
    books_a.status = QBOConnection.Status.NEEDS_RECONNECT
    books_a.save(update_fields=["status"])
    assert tasks.notifications_scan() == "opened 1, cleared 0, sent 4"
    assert tasks.notifications_scan() == "opened 0, cleared 0, sent 0"
    assert isinstance(tasks.digests_send(), int)
