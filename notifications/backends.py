"""The e-mail backend every message goes through: it hands each message to the real
backend (``EMAIL_DELIVERY_BACKEND``: SMTP in production, the console in the local demo)
and then records it as a ``SentMessage``, so an admin can read what the app sent on
/notifications/sent/ — in the demo, the only place a newcomer can read an invitation."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger(__name__)


class RecordingEmailBackend(BaseEmailBackend):
    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently)
        self.inner = get_connection(
            settings.EMAIL_DELIVERY_BACKEND, fail_silently=fail_silently, **kwargs
        )

    def open(self) -> bool | None:
        return self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = self.inner.send_messages(email_messages)
        if sent:
            # The real backend only says how many went out, not which; with fail_silently
            # off (ours) a failure raises before this line, so all of them did.
            from .services import sent_messages_record

            try:
                sent_messages_record(messages=list(email_messages))
            except Exception:
                # The mail has gone: failing now would make the caller send it again.
                logger.exception("Could not record %d sent e-mail(s)", len(email_messages))
        return sent
