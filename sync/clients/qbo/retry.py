"""The retry loop: every call to Intuit, Accounting API and OAuth alike, goes through ``call``.

An attempt either returns or raises ``Failure``: what Intuit answered (status, fault code,
``intuit_tid``, ``Retry-After``; never a body) and a ``Verdict`` on it. The loop does the
rest the same way for both APIs (docs/reliability.md 8, 24), logging ``intuit_tid`` each
time:

- a permanent failure is raised at once, with ``transient=False``;
- a transient one is tried again after capped exponential backoff with full jitter, and at
  least ``Retry-After``, up to ``QBO_MAX_RETRIES`` retries and the call's deadline, if it
  has one; then it is raised with ``transient=True``;
- a 401 is answered, when the call can, by one token refresh and one more try at once.

What differs between the two APIs is a parameter of ``call`` (deadline, heartbeat, token
refresh, the error class) or is decided where the attempt classifies its failure, with
``by_status`` for a fault and ``no_answer`` for a request that got no answer at all.
"""

from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

import requests
from urllib3.exceptions import ConnectTimeoutError

from sync import conf

from .errors import QBOError

# The package's one logger, under the name it has always had.
logger = logging.getLogger("sync.clients.qbo")

T = TypeVar("T")


class Verdict(enum.Enum):
    PERMANENT = "permanent"  # do not send it again
    TRANSIENT = "transient"  # send it again after a backoff


class Failure(Exception):
    """One failed attempt, as the loop sees it. Never leaves the loop."""

    def __init__(
        self,
        message: str,
        verdict: Verdict,
        *,
        status: int | None = None,
        intuit_tid: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        error: type[QBOError] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.verdict = verdict
        self.status = status
        self.intuit_tid = intuit_tid
        self.code = code
        self.retry_after = retry_after
        # The QBOError subclass this failure is raised as, when not the call's own.
        self.error = error

    def raised_as(self, error: type[QBOError], *, transient: bool) -> QBOError:
        return (self.error or error)(
            self.message,
            intuit_tid=self.intuit_tid,
            code=self.code,
            status=self.status,
            transient=transient,
        )


def by_status(status: int) -> Verdict:
    """A fault's verdict: 429 (throttled) and 5xx may pass on a later try, others will not."""
    return Verdict.TRANSIENT if status == 429 or status >= 500 else Verdict.PERMANENT


def no_answer(
    operation: str, exc: requests.RequestException, *, peer: str, resend: bool
) -> Failure:
    """A request that got no answer: refused, timed out, or cut off mid-answer.

    ``resend`` says whether the request may safely reach ``peer`` twice. If it may, any of
    these is transient. If it may not, only a connection that never reached ``peer`` is:
    after a read timeout or a connection dropped mid-answer the request may have been
    processed.
    """
    name = type(exc).__name__
    if resend:
        return Failure(f"{operation}: {peer} unreachable ({name})", Verdict.TRANSIENT)
    if isinstance(exc, requests.ConnectionError):
        verdict = Verdict.PERMANENT if _maybe_delivered(exc) else Verdict.TRANSIENT
        return Failure(f"{operation}: {peer} unreachable ({name})", verdict)
    return Failure(f"{operation}: {peer} did not answer ({name})", Verdict.PERMANENT)


def _maybe_delivered(exc: requests.ConnectionError) -> bool:
    # A connection that was refused or never opened (urllib3's NewConnectionError is a
    # ConnectTimeoutError) never reached the server; anything else ("connection
    # aborted", a reset mid-answer) may have been processed.
    if isinstance(exc, requests.ConnectTimeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return not isinstance(reason, ConnectTimeoutError)


def call(
    subject: str,
    attempt: Callable[[], T],
    *,
    error: type[QBOError] = QBOError,
    deadline: float | None = None,
    heartbeat: Callable[[], None] | None = None,
    refresh: Callable[[], None] | None = None,
    on_retry: Callable[[], None] | None = None,
) -> T:
    """``attempt()`` until it returns, fails permanently, or runs out of retries.

    ``subject`` names the call in log lines (with its realm, if it has one). ``error`` is
    the class a failure is raised as, unless the failure names its own. ``deadline`` bounds
    the whole call in seconds, waits included; ``heartbeat`` is called while waiting.
    ``refresh``, if given, is called on the first 401, when a token died early (revoked, or
    expired at Intuit before our clock said so), and the attempt is made again at once,
    outside the count of retries. ``on_retry`` is called before each counted retry (the
    run log's retry figure).
    """
    ends = None if deadline is None else time.monotonic() + deadline
    max_retries = conf.integer("QBO_MAX_RETRIES")
    retries = 0
    while True:
        try:
            return attempt()
        except Failure as caught:
            failure = caught
        # Raised outside the ``except`` block: a library's exception (which may quote a
        # body) is not even the context of the QBOError.
        if failure.status == 401 and refresh is not None:
            logger.warning(
                "QBO %s: 401, refreshing the token (intuit_tid=%s)", subject, failure.intuit_tid
            )
            refresh()
            refresh = None  # once per call
            continue
        if failure.verdict is Verdict.PERMANENT:
            logger.warning(
                "QBO %s failed: status=%s code=%s intuit_tid=%s",
                subject,
                failure.status,
                failure.code,
                failure.intuit_tid,
            )
            raise failure.raised_as(error, transient=False) from None
        delay = max(backoff(retries), failure.retry_after or 0.0)
        retries += 1
        if retries > max_retries or (ends is not None and time.monotonic() + delay > ends):
            logger.warning(
                "QBO %s gave up after %d attempts: status=%s code=%s intuit_tid=%s",
                subject,
                retries,
                failure.status,
                failure.code,
                failure.intuit_tid,
            )
            raise failure.raised_as(error, transient=True) from None
        logger.warning(
            "QBO %s failed (%s): status=%s code=%s intuit_tid=%s; retry %d in %.1fs",
            subject,
            failure.message,
            failure.status,
            failure.code,
            failure.intuit_tid,
            retries,
            delay,
        )
        sleep(delay, heartbeat)
        if on_retry is not None:
            on_retry()


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
