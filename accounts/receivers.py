"""Hooks into allauth. Kept to what allauth offers no setting for."""

from __future__ import annotations

from typing import Any

from allauth.account.internal.flows.login import record_authentication
from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_added
from django.dispatch import receiver
from django.http import HttpRequest


@receiver(authenticator_added)
def _count_enrolment_as_second_factor(
    sender: Any, request: HttpRequest, user: Any, authenticator: Authenticator, **kwargs: Any
) -> None:
    # Activating TOTP means typing a valid code from the new authenticator, which proves the
    # second factor as well as a sign-in would. Recording it lets StaffMFAMiddleware accept
    # this session instead of asking for a second code a few seconds later.
    if authenticator.type == Authenticator.Type.TOTP:
        record_authentication(request, user, "mfa", type="totp", id=authenticator.pk)
