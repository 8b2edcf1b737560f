"""The push tests that run jobs against QuickBooks stand on the sync tests' real servers:
qbo_sandbox over HTTP, with the app pointed at it, and a real Celery worker."""

from __future__ import annotations

from tests.sync.conftest import (  # noqa: F401 (fixtures, found by pytest by name)
    _sync_points_at_the_sandbox,
    celery_worker_process,
    fast_sandbox,
    on_fast_sandbox,
    sandbox_server,
    silent_server,
)
