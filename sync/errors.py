"""What a failed sync says, and to whom.

``QBOConnection.last_error`` and ``SyncRun.error`` are read on the Connections page by the
partner (who can reconnect) and by Une Femme staff (who can retry or call Intuit with the
``intuit_tid``). They are written here, in words those people can act on, never as a raw
fault: Intuit's messages can carry books data, and nobody can act on a stack trace.
"""

from __future__ import annotations

from .clients.qbo import QBOError, ReconnectRequired

RECONNECT_MESSAGE = (
    "Your QuickBooks connection has expired or was disconnected. Press Reconnect to QuickBooks."
)
THROTTLED_MESSAGE = (
    "QuickBooks asked us to slow down, so this sync stopped early. It resumes on its own "
    "at the next scheduled sync; nothing needs doing."
)
UNAVAILABLE_MESSAGE = (
    "QuickBooks could not be reached or did not answer in time. The sync retries on its "
    "own at the next scheduled sync; if this persists for hours, tell Une Femme."
)
INTERRUPTED_MESSAGE = (
    "This sync was interrupted (the worker stopped or another sync took over). The next "
    "sync resumes where it left off."
)
REFUSED_MESSAGE = (
    "QuickBooks refused a request from unefemme. Une Femme has been told; quote the "
    "reference below if you contact them."
)


def describe(exc: BaseException) -> str:
    """A sentence for the Connections page about why a sync stopped."""
    if isinstance(exc, ReconnectRequired):
        return RECONNECT_MESSAGE
    if isinstance(exc, QBOError):
        if exc.status == 429:
            return THROTTLED_MESSAGE
        if exc.transient:
            return UNAVAILABLE_MESSAGE
        return REFUSED_MESSAGE
    return INTERRUPTED_MESSAGE
