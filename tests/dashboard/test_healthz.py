"""/healthz reports the database, Redis and the Celery workers: 200 when all hold, 503
otherwise. The workers are real processes, stopped for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse


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


@pytest.mark.django_db
def test_healthz_is_503_not_500_when_the_cache_itself_is_unreachable(
    client: Client, settings: Any
) -> None:
    # Redis down for everything, the cache that holds beat's heartbeat included (the test
    # above only points the check elsewhere): what `make run` showed while Redis restarted.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    response = client.get(reverse("healthz"))
    body = json.loads(response.content)
    assert response.status_code == 503
    assert body["redis"] is False and body["beat_last_tick"] is None
    assert body["database"] is True
