"""The one place where qbo_sandbox turns Intuit's durations into real time.

`--time-scale X` makes every Intuit duration (a throttle minute, a webhook retry
delay) X times shorter, so a demo or a test can live through "six hours" of
retries in seconds.
"""

from __future__ import annotations

import time


class Clock:
    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale!r}")
        self.time_scale = time_scale

    def monotonic(self) -> float:
        """Real monotonic seconds; compare them with durations passed through `scaled`."""
        return time.monotonic()

    def scaled(self, seconds: float) -> float:
        """The real number of seconds that an Intuit duration of `seconds` lasts."""
        return seconds / self.time_scale

    def sleep(self, intuit_seconds: float) -> None:
        time.sleep(self.scaled(intuit_seconds))
