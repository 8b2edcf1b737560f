"""A real worker process runs our tasks; beat's schedule, every task's time limits and the
broker's Redis settings are what the workers rely on.

/healthz, which pings these workers, is tested with the dashboard app (tests/dashboard/).
"""

from __future__ import annotations

import subprocess
from datetime import datetime

import pytest
import redis
from django.conf import settings
from django.core.cache import cache

from sync.services import LAST_TICK_KEY
from sync.tasks import tick
from unefemme.celery import app

OWN_TASK_PREFIXES = (
    "accounts.", "sync.", "inventory.", "billing.", "reconciliation.", "dashboard.",
)  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_tick_runs_in_a_real_worker(celery_worker_process: subprocess.Popen[bytes]) -> None:
    result = tick.delay().get(timeout=30)
    assert datetime.fromisoformat(result).tzinfo is not None
    # The worker wrote it to the shared Redis, where this process reads it back.
    assert cache.get(LAST_TICK_KEY) == result


def test_beat_schedules_tick_every_minute() -> None:
    entry = app.conf.beat_schedule["tick"]
    assert entry["task"] == "sync.tasks.tick"
    assert entry["schedule"] == 60.0


def test_every_task_has_soft_and_hard_time_limits() -> None:
    app.loader.import_default_modules()
    own = {name: task for name, task in app.tasks.items() if name.startswith(OWN_TASK_PREFIXES)}
    assert "sync.tasks.tick" in own
    for name, task in own.items():
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        hard = task.time_limit or app.conf.task_time_limit
        assert soft and hard and soft < hard <= settings.CELERY_VISIBILITY_TIMEOUT, name


def test_the_broker_redis_never_evicts_and_keeps_an_append_only_file() -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    assert client.config_get("appendonly")["appendonly"] == "yes"
