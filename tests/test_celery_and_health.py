"""A real worker process runs our tasks; /healthz reports database, Redis and workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import datetime

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from sync.services import LAST_TICK_KEY
from sync.tasks import tick
from unefemme.celery import app

OWN_TASK_PREFIXES = ("accounts.", "sync.", "inventory.", "billing.")


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


@pytest.mark.django_db(transaction=True)
def test_healthz_is_200_with_every_check_true_while_a_worker_runs(
    client: Client, celery_worker_process: subprocess.Popen[bytes]
) -> None:
    response = client.get(reverse("healthz"))
    body = json.loads(response.content)
    assert response.status_code == 200, body
    assert body["database"] is True and body["redis"] is True and body["celery"] is True
    assert body["ok"] is True


@pytest.mark.django_db(transaction=True)
def test_healthz_is_503_when_the_worker_is_stopped(
    client: Client, celery_worker_process: subprocess.Popen[bytes]
) -> None:
    # Freeze the whole worker (parent and pool): it can no longer answer a ping.
    os.killpg(celery_worker_process.pid, signal.SIGSTOP)
    try:
        response = client.get(reverse("healthz"))
    finally:
        os.killpg(celery_worker_process.pid, signal.SIGCONT)
    body = json.loads(response.content)
    assert response.status_code == 503
    assert body["celery"] is False and body["database"] is True and body["ok"] is False


@pytest.mark.django_db
def test_healthz_is_503_when_redis_is_unreachable(client: Client, settings: object) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # type: ignore[attr-defined]
    response = client.get(reverse("healthz"))
    body = json.loads(response.content)
    assert response.status_code == 503
    assert body["redis"] is False and body["celery"] is False and body["database"] is True
