"""Settings for the Celery workers the sync tests start.

The test settings, with a short sync lease, so a test that kills a worker mid-import
sees its lock expire in seconds rather than the production two minutes. Everything
else (database, Redis, qbo_sandbox URLs) comes from the environment the fixture passes.
"""

from __future__ import annotations

from unefemme.settings_test import *  # noqa: F403

SYNC_LOCK_TTL = 6.0
# The barrier task of test_tokens.py (tests/sync/worker_tasks.py).
CELERY_IMPORTS = ("tests.sync.worker_tasks",)
PUSH_LOCK_TTL = 6.0
