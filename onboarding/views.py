"""Invitations (admins invite, resend and revoke; staff read the list), the invitee's link,
and the first-run page every role lands on.

The link's page is public (the invitee has no account yet): the token in its URL is the
credential, checked against the invitation row on every request (services.invitation_check).
"""

from __future__ import annotations

from allauth.account.internal.flows.login import record_authentication
from allauth.account.utils import perform_login
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import AuthedRequest, role_required
from accounts.roles import ADMINS, EVERYONE, UNE_FEMME, Role

from . import selectors, services
from .forms import AcceptForm, InviteForm
from .models import Invitation


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


def _form_errors(form: InviteForm, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def invite(request: AuthedRequest) -> HttpResponse:
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            invitation = services.invitation_create(
                email=data["email"],
                role=data["role"],
                partner=data["partner"],
                invited_by=request.user,
                base_url=_base_url(request),
            )
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(
                request, f"Invitation sent to {invitation.email}. It is pending until accepted."
            )
            return redirect("onboarding:invitations")
    return render(request, "onboarding/invite.html", {"form": form})


@role_required(*UNE_FEMME)
@require_http_methods(["GET"])
def invitations(request: AuthedRequest) -> HttpResponse:
    return render(
        request,
        "onboarding/invitations.html",
        {"invitations": selectors.invitation_list(), "can_act": request.user.is_admin},
    )


def _get_invitation(pk: int) -> Invitation:
    # Invitations belong to no partner's data: only admins reach the views that load one.
    try:
        return Invitation.objects.get(pk=pk)
    except Invitation.DoesNotExist:
        raise Http404("No such invitation.") from None


@role_required(*ADMINS)
@require_POST
def resend(request: AuthedRequest, pk: int) -> HttpResponse:
    invitation = _get_invitation(pk)
    try:
        services.invitation_resend(
            invitation=invitation, actor=request.user, base_url=_base_url(request)
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, f"A new link was sent to {invitation.email}; the previous one no longer works."
        )
    return redirect("onboarding:invitations")


@role_required(*ADMINS)
@require_POST
def revoke(request: AuthedRequest, pk: int) -> HttpResponse:
    invitation = _get_invitation(pk)
    try:
        services.invitation_revoke(invitation=invitation, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"The invitation to {invitation.email} was revoked.")
    return redirect("onboarding:invitations")


# --- the invitee ------------------------------------------------------------------------------


def _after_sign_in(user_role: str) -> str:
    welcome = reverse("onboarding:welcome")
    if settings.REQUIRE_STAFF_MFA and user_role in UNE_FEMME:
        # Staff and admins enrol in TOTP before anything else (StaffMFAMiddleware would send
        # them there from the welcome page anyway; going straight there saves a hop).
        return reverse("mfa_activate_totp") + "?" + urlencode({"next": welcome})
    return welcome


@login_not_required
@require_http_methods(["GET", "POST"])
def accept(request: HttpRequest, token: str) -> HttpResponse:
    if request.user.is_authenticated:
        # Someone already signed in (perhaps an admin testing the link): accepting would
        # swap who is signed in, and the page would show an invitation to the wrong person.
        return render(request, "onboarding/accept_signed_in.html")
    if request.method == "POST" and request.POST.get("action") == "renew":
        if services.invitation_check(token).usable:
            return redirect(request.path)  # the link still works: nothing to ask for
        sent = services.invitation_request_renewal(token=token, base_url=_base_url(request))
        check = services.invitation_check(token)
        return render(
            request,
            "onboarding/accept_refused.html",
            {"check": check, "renewal_asked": True, "renewal_sent": sent},
        )
    check = services.invitation_check(token)
    if not check.usable:
        status = 410 if check.invitation else 404  # gone, or never ours
        return render(request, "onboarding/accept_refused.html", {"check": check}, status=status)
    form = AcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(
                token=token,
                password=form.cleaned_data["password1"],
                full_name=form.cleaned_data["full_name"],
            )
        except services.LinkRefused as refused:
            return render(
                request, "onboarding/accept_refused.html", {"check": refused.check}, status=410
            )
        except ValidationError as error:
            form.add_error("password1", error.messages)
        else:
            # The invitee just chose a password: record it as allauth's password sign-in
            # does, so enrolling a first TOTP right after needs no second password entry
            # (accounts.adapters' grace period reads these records). Then allauth's own
            # sign-in: its login stages and signals.
            record_authentication(request, user, method="password", email=user.email)
            response: HttpResponse = perform_login(
                request, user, email=user.email, redirect_url=_after_sign_in(user.role)
            )
            return response
    return render(request, "onboarding/accept.html", {"invitation": check.invitation, "form": form})


# --- first run -------------------------------------------------------------------------------


@role_required(*EVERYONE)
@require_http_methods(["GET"])
def welcome(request: AuthedRequest) -> HttpResponse:
    user = request.user
    return render(
        request,
        "onboarding/welcome.html",
        {
            "steps": selectors.first_run(user),
            "is_partner": user.role == Role.PARTNER,
            "connections_url": reverse("sync:connections"),
        },
    )
