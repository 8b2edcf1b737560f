from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from typing import Any

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django_htmx.http import HttpResponseClientRedirect

from .roles import UNE_FEMME

Handler = Callable[[HttpRequest], HttpResponseBase]

# Modules whose views must declare their roles. Third-party views (allauth, the Django
# admin) carry their own checks.
OWN_VIEW_MODULES = (
    "accounts.", "sync.", "inventory.", "billing.", "reconciliation.", "history.", "dashboard.",
    "notifications.",
    "onboarding.",
    "allowances.",
    "unefemme.",
)  # fmt: skip


class NoTraceMiddleware:
    """TRACE (and its old alias TRACK) is refused with 405 on every URL, before anything
    else runs: Intuit's security requirements ask for it to be disabled, and a function
    view without ``@require_http_methods`` would otherwise answer it like a GET."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.method in ("TRACE", "TRACK"):
            return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
        return self.get_response(request)


class RoleRequiredMiddleware:
    """Deny by default: a view of ours without @role_required (or @login_not_required)
    answers 403, so forgetting the decorator fails closed."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], args: Any, kwargs: Any
    ) -> None:
        if not view_func.__module__.startswith(OWN_VIEW_MODULES):
            return None
        if getattr(view_func, "login_required", True) is False:
            return None  # a deliberately public view (/healthz, webhooks)
        if getattr(view_func, "allowed_roles", None) is None:
            raise PermissionDenied("This view does not declare who may use it.")
        return None


# Pages a staff member without a finished second factor may still reach: enrolling,
# proving the second factor, and leaving.
_MFA_ALLOWED_URL_NAMES = {
    "mfa_activate_totp",
    "mfa_reauthenticate",
    "mfa_authenticate",
    "mfa_index",
    "mfa_view_recovery_codes",
    "account_logout",
    "account_reauthenticate",
}


class StaffMFAMiddleware:
    """With REQUIRE_STAFF_MFA on, staff and admins must enrol in TOTP and pass it in this
    session before any page (the Django admin included) is served.

    allauth asks for the TOTP code at sign-in once a user has enrolled; this closes the two
    gaps it leaves: a staff member who never enrolled, and a session that authenticated
    before enrolment. Both are sent to the page that finishes the job.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        redirect = self._redirect_for(request)
        if redirect is not None:
            return redirect
        return self.get_response(request)

    def _redirect_for(self, request: HttpRequest) -> HttpResponseBase | None:
        if not settings.REQUIRE_STAFF_MFA:
            return None
        user: Any = request.user
        if not user.is_authenticated or user.role not in UNE_FEMME:
            return None
        try:
            url_name = resolve(request.path_info).url_name
        except Resolver404:
            return None  # a 404 reveals nothing
        if url_name in _MFA_ALLOWED_URL_NAMES:
            return None
        enrolled = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
        if enrolled and any(
            r.get("method") == "mfa" for r in get_authentication_records(request, user)
        ):
            return None
        target = "mfa_reauthenticate" if enrolled else "mfa_activate_totp"
        url = reverse(target) + "?" + urlencode({"next": request.get_full_path()})
        if getattr(request, "htmx", False):
            # htmx would swap the page into a fragment; make the browser navigate instead.
            return HttpResponseClientRedirect(url)
        return HttpResponseRedirect(url)


class UserTimezoneMiddleware:
    """Render dates in the user's own zone (User.time_zone), else the site default."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        tzname = getattr(request.user, "time_zone", "") if request.user.is_authenticated else ""
        if tzname:
            try:
                timezone.activate(zoneinfo.ZoneInfo(tzname))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)


class NoStoreMiddleware:
    """Pages behind sign-in hold partners' books: never let a browser or proxy cache them
    (Intuit's security requirements ask for no-store on sensitive pages)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if request.user.is_authenticated and "Cache-Control" not in response:
            response["Cache-Control"] = "no-store"
        return response
