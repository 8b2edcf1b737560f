"""Hooks into allauth. Kept to what allauth offers no setting for."""

from __future__ import annotations

from typing import Any

from allauth.account.internal.flows.login import record_authentication
from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_added
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from .clientip import client_ip


@receiver(authenticator_added)
def _count_enrolment_as_second_factor(
    sender: Any, request: HttpRequest, user: Any, authenticator: Authenticator, **kwargs: Any
) -> None:
    # Activating TOTP means typing a valid code from the new authenticator, which proves the
    # second factor as well as a sign-in would. Recording it lets StaffMFAMiddleware accept
    # this session instead of asking for a second code a few seconds later.
    if authenticator.type == Authenticator.Type.TOTP:
        record_authentication(request, user, "mfa", type="totp", id=authenticator.pk)


@receiver(user_logged_in)
def _record_sign_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    # Django's signal, sent by every sign-in (allauth's form, its two-factor step, the
    # admin through allauth). login() without a request (none of ours) has nothing to log.
    if request is None:
        return
    from .services import sign_in_record

    sign_in_record(
        user=user,
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        session_key=request.session.session_key or "",
    )
