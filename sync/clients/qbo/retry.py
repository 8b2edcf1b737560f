"""Retries: capped exponential backoff with full jitter, and sleeping with a heartbeat."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from sync import conf

from .errors import QBOError


def backoff(attempt: int) -> float:
    """Capped exponential backoff with full jitter (AWS architecture blog's "Full Jitter")."""
    ceiling = min(conf.seconds("QBO_BACKOFF_CAP"), conf.seconds("QBO_BACKOFF_BASE") * 2**attempt)
    return random.uniform(0, ceiling)


def sleep(seconds: float, heartbeat: Callable[[], None] | None) -> None:
    # Sleep in short slices so a sync's lease is renewed while it waits out a 429.
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if heartbeat is not None:
            heartbeat()
        time.sleep(min(left, 5.0))


@dataclass
class Failure:
    message: str
    status: int | None = None
    intuit_tid: str | None = None
    code: str | None = None
    retry_after: float | None = None

    def error(self, cls: type[QBOError] = QBOError, *, transient: bool) -> QBOError:
        return cls(
            self.message,
            intuit_tid=self.intuit_tid,
            code=self.code,
            status=self.status,
            transient=transient,
        )
