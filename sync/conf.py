"""The sync engine's tunables, each read from Django settings with a documented default.

They are read on every use (not at import), so a test can change one with pytest-django's
``settings`` fixture, and an operator can set the env-driven value in settings.py without
touching this module. The defaults are what production should run with.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # --- HTTP to Intuit. Neither python-quickbooks nor intuit-oauth sets a timeout, so a
    # silent peer would hold a worker forever. Intuit itself gives up on a request after
    # 120 s; a healthy page of 1000 rows answers in a few seconds.
    "QBO_CONNECT_TIMEOUT": 5.0,
    "QBO_READ_TIMEOUT": 30.0,
    # Retries of one call (429, 5xx, connection errors), and the wall-clock budget for the
    # call with all its retries and waits; past it the call fails rather than sleeping on.
    "QBO_MAX_RETRIES": 5,
    "QBO_BACKOFF_BASE": 1.0,
    "QBO_BACKOFF_CAP": 60.0,
    "QBO_CALL_DEADLINE": 300.0,
    # --- Intuit's per-realm limits (docs/qbo-api.md §5), configured a little under the
    # published ceilings; see sync/ratelimit.py for why.
    "QBO_RATE_WINDOW": 60.0,  # seconds; a test may shrink it with qbo_sandbox --time-scale
    "QBO_RATE_PER_WINDOW": 480,  # Intuit: 500 requests/min per realm
    "QBO_RATE_PER_SECOND": 10,  # Intuit: 10 requests/s per realm+app
    "QBO_MAX_IN_FLIGHT": 10,  # Intuit: 10 concurrent per realm+app
    "QBO_BATCH_PER_WINDOW_APP": 38,  # Intuit: 40 batch requests/min per realm+app
    "QBO_BATCH_PER_WINDOW_REALM": 115,  # Intuit: 120 batch requests/min per realm
    # How long a limiter waits for a slot before giving up on the call.
    "QBO_LIMITER_WAIT": 120.0,
    # --- Tokens: refresh this long before the access token's stated expiry.
    "QBO_TOKEN_REFRESH_MARGIN": timedelta(minutes=5),
    # --- Retention (retention_prune): what unefemme.settings sets from the environment.
    "MIRROR_VERSION_RETENTION_DAYS": 400,
    "SYNC_RUN_RETENTION_DAYS": 30,
    # Rows deleted per statement, each in its own transaction: no long lock, no huge WAL.
    "RETENTION_BATCH": 5000,
    # --- Sync runs.
    # Lease of the per-realm sync lock; the holder renews it before every request.
    "SYNC_LOCK_TTL": 120.0,
    # A push job's lease (inventory/push/services.py): renewed before every batch and while waiting
    # out throttles, so it lapses this long after its worker died.
    "PUSH_LOCK_TTL": 120.0,
    # Beat's resume sweep (push_jobs_resume) re-enqueues a queued or running push job
    # untouched for this long (a running job touches it after every batch): a broker down
    # at approval, or a worker killed while the task waited out a retry's countdown (Redis
    # hands such a task back only after CELERY_VISIBILITY_TIMEOUT, an hour).
    "PUSH_STALE_AFTER": timedelta(minutes=15),
    # CDC windows start this far before the previous poll began: clock skew and changes
    # committed while a poll was reading are re-read (upserts are idempotent).
    "SYNC_CDC_OVERLAP": timedelta(minutes=2),
    # A quiet realm's cursor is still moved forward this often, so the re-read window
    # stays short and never reaches Intuit's 30-day CDC look-back.
    "SYNC_CURSOR_REFRESH": timedelta(hours=1),
    # Intuit refuses CDC further back than 30 days; past this a full re-import runs.
    "SYNC_CDC_MAX_AGE": timedelta(days=29, hours=12),
    # Scheduling jitter, as a fraction of each connection's interval.
    "SYNC_JITTER": 0.1,
    # At most one webhook poll per realm is enqueued at once in this many seconds; the
    # window's other notifications make the connection due at its end, for beat's next
    # tick. A storm would otherwise cost a poll each: a poll takes a fraction of a second,
    # so the realm's lease is free again before the next notification and the rerun flag
    # never merges them (bench/webhook_storm.py measured 167 polls for 200 deliveries),
    # spending Intuit's 500 requests a minute on CDC requests that each read one change.
    # Intuit gathers a realm's events over 1 to 5 minutes, so a realm notified more often
    # than this is a burst or a retry.
    "SYNC_WEBHOOK_POLL_SPACING": 10.0,
    # How long a webhook's enqueue may wait for the broker (Intuit wants its 200 in 3 s).
    "SYNC_ENQUEUE_TIMEOUT": 1.0,
}


def get(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])


def seconds(name: str) -> float:
    return float(get(name))


def integer(name: str) -> int:
    return int(get(name))


def duration(name: str) -> timedelta:
    value = get(name)
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))
