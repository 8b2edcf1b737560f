"""The errors this package raises.

Both libraries put whole response bodies (books, tokens) into their exception messages.
The package catches those exceptions and replaces them (``from None``, so not even a
traceback chains them) by ``QBOError``, whose text is ours: operation, HTTP status, fault
code and ``intuit_tid``, never a body.
"""

from __future__ import annotations


class QBOError(Exception):
    """A failed call to Intuit. ``message`` is ours and safe to log or show to staff."""

    def __init__(
        self,
        message: str,
        *,
        intuit_tid: str | None = None,
        code: str | None = None,
        status: int | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.intuit_tid = intuit_tid
        self.code = code
        self.status = status
        # True when trying again later may well work (throttling, outage, timeout).
        self.transient = transient

    def __str__(self) -> str:
        parts = [f"status={self.status}"] if self.status else []
        if self.code:
            parts.append(f"code={self.code}")
        parts.append(f"intuit_tid={self.intuit_tid or '-'}")
        return f"{self.message} ({', '.join(parts)})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class ReconnectRequired(QBOError):
    """invalid_grant or a revoked connection: only the partner reconnecting fixes it."""


class OAuthCallbackError(QBOError):
    """The authorization code could not be exchanged for tokens."""


class CDCTooOld(QBOError):
    """Intuit refused a CDC ``changedSince`` beyond its 30-day look-back."""
