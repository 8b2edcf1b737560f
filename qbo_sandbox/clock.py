"""The one place where qbo_sandbox turns Intuit's durations into real time.

`--time-scale X` makes every Intuit duration (a throttle minute, a webhook retry
delay) X times shorter, so a demo or a test can live through "six hours" of
retries in seconds.

`advance_wall_time` moves the clock's wall time forward without waiting, so a test
can live through a day of a token's life (docs/qbo-api.md §10: the same refresh token
comes back for about 24 hours). Only what `now_ms` dates follows it: OAuth codes and
tokens (oauth.py). Entity timestamps, the CDC look-back and the throttle windows keep
real time, so moving the clock never ages a company's books. The offset lives in
memory only; a restarted server starts again from real time.
"""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale!r}")
        self.time_scale = time_scale
        self._offset_ms = 0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        """Real monotonic seconds; compare them with durations passed through `scaled`."""
        return time.monotonic()

    def scaled(self, seconds: float) -> float:
        """The real number of seconds that an Intuit duration of `seconds` lasts."""
        return seconds / self.time_scale

    def sleep(self, intuit_seconds: float) -> None:
        time.sleep(self.scaled(intuit_seconds))

    def now_ms(self) -> int:
        """Wall time in epoch milliseconds, plus however far `advance_wall_time` has moved it."""
        return time.time_ns() // 1_000_000 + self._offset_ms

    def advance_wall_time(self, intuit_seconds: float) -> int:
        """Move wall time forward by an Intuit duration; returns the new offset in ms."""
        if intuit_seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset_ms += int(self.scaled(intuit_seconds) * 1000)
            return self._offset_ms
