from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import AuthedRequest, role_required
from accounts.roles import ADMINS, EVERYONE

from . import selectors, services
from .forms import PreferencesForm


@role_required(*ADMINS)
@require_GET
def sent(request: AuthedRequest) -> HttpResponse:
    """The last e-mails the app sent, each readable in full: in the local demo (console
    backend) the only place to read an invitation or a notification."""
    return render(
        request,
        "notifications/sent.html",
        {"sent": list(selectors.sent_messages()), "keep": settings.SENT_MESSAGES_KEEP},
    )


@role_required(*EVERYONE)
@require_http_methods(["GET", "POST"])
def preferences(request: AuthedRequest) -> HttpResponse:
    """One's own notification settings; there is no way to name anyone else's."""
    current = selectors.preferences_for(request.user)
    form = PreferencesForm(
        request.POST if request.method == "POST" else None,
        user=request.user,
        initial_choices=current,
    )
    if request.method == "POST" and form.is_valid():
        services.preferences_save(user=request.user, choices=form.choices())
        messages.success(request, "Your notification settings are saved.")
        return redirect("notifications:preferences")
    return render(
        request,
        "notifications/preferences.html",
        {"form": form, "zone": request.user.time_zone},
    )
