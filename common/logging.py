"""Logging filters the settings install (``LOGGING`` in unefemme/settings.py)."""

from __future__ import annotations

import logging


class OneLineClientErrors(logging.Filter):
    """A 4xx is logged on one line, without the exception's traceback.

    Django logs every refused request (403 PermissionDenied, 404 Http404, 400
    SuspiciousOperation) with ``exc_info``, so each one wrote a whole traceback: a partner
    user following an old link, or a scanner, filled the log with stacks that say nothing
    the one line does not. Server errors (5xx) keep theirs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and status < 500:
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True
