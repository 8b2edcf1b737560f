from __future__ import annotations

import time
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.authentication import get_authentication_records
from allauth.core import context
from allauth.mfa.models import Authenticator
from django.http import HttpRequest

from .clientip import client_ip

# How recent a sign-in must be to enrol a first authenticator without typing the password
# again.
FIRST_ENROLMENT_GRACE_SECONDS = 300


# allauth ships no type information, hence the ignore.
class AccountAdapter(DefaultAccountAdapter):  # type: ignore[misc]
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # People are invited by an admin (Django admin or `demo_setup`); nobody signs
        # themselves up to see partners' books.
        return False

    def get_client_ip(self, request: HttpRequest) -> str:
        # allauth's own reading raises ImproperlyConfigured (a 500) when X-Forwarded-For is
        # shorter than the proxy count, which any client can arrange; ours never fails.
        return client_ip(request) or "0.0.0.0"

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        # Staff are sent to enrol in TOTP right after signing in (StaffMFAMiddleware).
        # allauth would first ask for the password they typed seconds ago; skip that for a
        # first authenticator only. Changing or removing one still needs reauthentication.
        # allauth builds this adapter without the request here; its context has it.
        request = self.request or context.request
        if app == "allauth.mfa" and request is not None and request.user.is_authenticated:
            has_authenticator = Authenticator.objects.filter(user=request.user).exists()
            records = get_authentication_records(request, request.user)
            recent = bool(records) and (
                time.time() - records[-1]["at"] < FIRST_ENROLMENT_GRACE_SECONDS
            )
            if not has_authenticator and recent:
                return False
        return bool(super().is_reauthentication_required(app=app, **kwargs))
