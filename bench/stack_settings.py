"""Settings of every process of a ``bench/_stack.py`` stack (web, workers, beat, the run).

The test settings (DEBUG off, test secrets, servers from DATABASE_URL / REDIS_URL), with
time compressed where a stack's run must see it pass: short leases, so a worker killed -9
frees its realm or push job in seconds (production: two minutes), and a beat that ticks
every few seconds (production: every minute), so scheduled polls happen within a run.
"""

from __future__ import annotations

import os

from unefemme.settings_test import *  # noqa: F403

# Production's (the test settings turn both off): a stack's data arrives through the sync's
# write path only.
FIGURES_CACHE_SECONDS = 600
FIGURES_STALE_SECONDS = 30
SYNC_LOCK_TTL = 6.0
PUSH_LOCK_TTL = 6.0
# Production's 15 minutes, compressed like the leases (beat's sweep runs every 10 s here).
PUSH_STALE_AFTER = 20.0

# A run that compresses QuickBooks' time (qbo_sandbox --time-scale) compresses the client's
# with it: STACK_QBO_READ_TIMEOUT=3 keeps a timed-out read under the 6 s lease above, as
# production's 30 s is under its 120 s one (sync/conf.py).
for _name, _cast in (
    ("QBO_READ_TIMEOUT", float),
    ("QBO_BACKOFF_BASE", float),
    ("QBO_BACKOFF_CAP", float),
    ("QBO_MAX_RETRIES", int),
):
    if f"STACK_{_name}" in os.environ:
        globals()[_name] = _cast(os.environ[f"STACK_{_name}"])

# Only what a stack's runs exercise: the nightly jobs would add noise to their figures.
CELERY_BEAT_SCHEDULE = {
    "tick": {
        "task": "sync.tasks.tick",
        "schedule": float(os.environ.get("STACK_TICK_SECONDS", "3")),
    },
    "push-jobs-resume": {"task": "inventory.tasks.push_jobs_resume", "schedule": 10.0},
}
