"""/healthz: is the database, Redis and at least one Celery worker alive?

Each check has a short timeout so a dead dependency makes the endpoint answer 503
quickly instead of hanging the load balancer's probe.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.db import connection

from unefemme.celery import app as celery_app

logger = logging.getLogger(__name__)


def database_alive() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return bool(cursor.fetchone() == (1,))
    except Exception:  # any failure means "not alive"; the reason goes to the log
        logger.warning("health: database check failed", exc_info=True)
        return False


def redis_alive() -> bool:
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1
        )
        return bool(client.ping())
    except redis.RedisError:
        logger.warning("health: redis check failed", exc_info=True)
        return False


def celery_worker_alive(timeout: float = 1.0) -> bool:
    try:
        return bool(celery_app.control.ping(timeout=timeout))
    except Exception:
        logger.warning("health: celery ping failed", exc_info=True)
        return False


def check_all() -> dict[str, bool]:
    checks = {"database": database_alive(), "redis": redis_alive()}
    # Pinging workers goes through the broker; without Redis it can only hang.
    checks["celery"] = checks["redis"] and celery_worker_alive()
    return checks
