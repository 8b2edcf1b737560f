"""The Celery app: Redis broker and result backend, JSON only, settings under CELERY_*."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from celery import Celery
from celery.contrib.django.task import DjangoTask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "unefemme.settings")

logger = logging.getLogger("unefemme.tasks")


class BaseTask(DjangoTask[Any, Any]):
    """Every task's base: one place for logging and timing; ``delay_on_commit`` from
    Celery's DjangoTask.

    Tasks stay thin (take ids, call a service); this class logs how each run ended and how
    long it took, so a failing job is visible without reading its code.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return super().__call__(*args, **kwargs)
        finally:
            logger.info(
                "task %s[%s] finished in %.2fs",
                self.name,
                getattr(self.request, "id", None),
                time.monotonic() - started,
            )

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        # The exception's class and the task id only: messages from the QuickBooks clients
        # may embed tokens or books, which must not reach a log.
        logger.error("task %s[%s] failed: %s", self.name, task_id, type(exc).__name__)


app = Celery("unefemme", task_cls=BaseTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
