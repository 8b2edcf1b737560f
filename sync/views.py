"""QuickBooks connections: the page, the connect dance, disconnect, sync now, webhooks.

Who may do what (the Connections page shows only the buttons a person can use, and these
views enforce the same rules):

- partner user: Connect / Reconnect / Disconnect / Sync now, for their own partner only;
- staff: Sync now, on any connection;
- admin: Sync now and Disconnect, on any connection.

Connecting is for partner users only. The consent screen at Intuit is the partner's own
QuickBooks sign-in: only someone who belongs to the partner can grant it, and letting
Une Femme people start the flow "on behalf of" a partner would let them attach any
QuickBooks company to any partner. The partner a realm is attached to always comes from
the signed-in user (through the OAuth state), never from anything in the request.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from accounts.access import AuthedRequest, role_required
from accounts.roles import EVERYONE, Role
from common import mirror
from common.htmx import wants_fragment
from common.sentences import end_sentence

from . import selectors, services
from .models import QBOConnection
from .webhooks import WebhookPayloadError


def get_connection_for_user(
    request: AuthedRequest, pk: int, *, write: bool = False, card: bool = False
) -> QBOConnection:
    """The connection ``pk`` if the user may see it (404 otherwise, so another partner's
    connection is indistinguishable from a missing one); with ``write``, also if the user
    may change it (partner users their own, admins any; staff only read). With ``card``,
    loaded with what its card shows (``selectors.connection_cards``); otherwise just the
    row and its partner, which is all an action needs."""
    user = request.user
    if card:
        rows = selectors.connection_cards(user=user)
    else:
        rows = QBOConnection.objects.visible_to(user).select_related("partner")
    try:
        connection: QBOConnection = rows.get(pk=pk)
    except QBOConnection.DoesNotExist:
        raise Http404("No such connection.") from None
    if write and user.role not in (Role.PARTNER, Role.ADMIN):
        raise PermissionDenied
    return connection


def _card(request: AuthedRequest, connection: Any, *, return_to: str = "") -> dict[str, Any]:
    """What the ``connection`` fragment needs about one connection, for this user; with
    ``return_to``, the page its buttons bring the person back to (the list otherwise)."""
    user = request.user
    own = user.role == Role.PARTNER and connection.partner_id == user.partner_id
    status = connection.status
    live = status != QBOConnection.Status.DISCONNECTED
    connected = status == QBOConnection.Status.CONNECTED
    # Only an unfinished import or a running sync has progress to show.
    busy = connection.sync_running or selectors.entities_imported(connection) < len(
        mirror.entities()
    )
    progress = selectors.card_progress(connection) if connected and busy else {}
    return {
        "connection": connection,
        "progress": progress,
        "polling": bool(progress.get("running")) or _awaiting_requested_sync(request, connection),
        # The "mirrored records" table: one row per mirrored entity, in import order.
        "counts": [(s.label, getattr(connection, s.count_name)) for s in mirror.specs()],
        "runs": connection.recent_runs,
        "interval": _minutes(connection.sync_interval),
        "audience": "partner" if user.role == Role.PARTNER else "staff",
        "can_sync": connected,
        "can_disconnect": live and (own or user.role == Role.ADMIN),
        "can_reconnect": own and status == QBOConnection.Status.NEEDS_RECONNECT,
        "return_to": return_to,
    }


# After "Sync now" the card keeps polling until a run that started after the request has
# finished, so the person who pressed it sees the result without reloading; it gives up
# after this long (a stopped worker must not keep a page polling forever).
SYNC_REQUEST_WATCH = timedelta(minutes=2)
_SYNC_REQUESTS_SESSION_KEY = "sync_requested_at"


def _note_sync_requested(request: AuthedRequest, connection: QBOConnection) -> None:
    requested = request.session.get(_SYNC_REQUESTS_SESSION_KEY, {})
    requested[str(connection.pk)] = timezone.now().isoformat()
    request.session[_SYNC_REQUESTS_SESSION_KEY] = requested


def _awaiting_requested_sync(request: AuthedRequest, connection: Any) -> bool:
    requested = request.session.get(_SYNC_REQUESTS_SESSION_KEY, {})
    raw = requested.get(str(connection.pk))
    if raw is None:
        return False
    asked = datetime.fromisoformat(raw)
    latest = connection.recent_runs[0] if connection.recent_runs else None
    answered = latest is not None and latest.started_at >= asked and latest.finished_at
    if answered or timezone.now() - asked > SYNC_REQUEST_WATCH:
        del requested[str(connection.pk)]
        request.session[_SYNC_REQUESTS_SESSION_KEY] = requested
        return False
    return True


def _minutes(interval: timedelta) -> str:
    minutes = max(1, round(interval.total_seconds() / 60))
    return "minute" if minutes == 1 else f"{minutes} minutes"


@role_required(*EVERYONE)
@require_GET
def connections(request: AuthedRequest) -> HttpResponse:
    user = request.user
    cards = [_card(request, c) for c in selectors.connection_cards(user=user)]
    has_live = any(c["connection"].status != QBOConnection.Status.DISCONNECTED for c in cards)
    return render(
        request,
        "sync/connections.html",
        {
            "cards": cards,
            # A partner with no live connection is offered Connect (the empty state).
            "offer_connect": user.role == Role.PARTNER and not has_live,
        },
    )


@role_required(*EVERYONE)
@require_GET
def connection_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    """One connection; with htmx, just its card (what the page polls during an import).

    Sync now on this page comes back to it. The card is polled from the list too, so a
    polled card keeps the way back only when htmx says it is on this page.
    """
    here = reverse("sync:connection", args=[pk])
    fragment = wants_fragment(request)
    polled_from = request.htmx.current_url_abs_path if fragment else None
    on_its_page = not fragment or urlsplit(polled_from or "").path == here
    card = _card(
        request,
        get_connection_for_user(request, pk, card=True),
        return_to=here if on_its_page else "",
    )
    if fragment:
        response = render(request, "sync/connections.html#connection", {"card": card})
        if not card["polling"]:
            # 286 makes htmx stop polling; the final state is still swapped in.
            return HttpResponseStopPolling(response.content)
        return response
    return render(request, "sync/connection.html", {"card": card})


@role_required(Role.PARTNER)
@require_http_methods(["GET", "POST"])
def connect(request: AuthedRequest) -> HttpResponse:
    """Start Intuit's consent (POST); GET explains what is about to happen.

    Nothing in the POST body is read: the partner is the signed-in user's, bound into
    the state, so tampered ``partner``/``realm_id`` fields change nothing.
    """
    if request.method == "POST":
        try:
            url = services.connection_authorization_start(
                user=request.user, session=request.session
            )
        except services.ConnectRefused as refusal:
            messages.add_message(request, refusal.level, refusal.message)
            return redirect("sync:connections")
        return redirect(url)
    live = selectors.connection_live_for_user(user=request.user)
    return render(request, "sync/connect.html", {"live": live})


@role_required(Role.PARTNER)
@require_GET
def callback(request: AuthedRequest) -> HttpResponse:
    """Intuit sends the browser back here with ``code``, ``state`` and ``realmId``, or
    with ``error=access_denied`` when the person pressed Cancel."""
    try:
        connection = services.connection_connect_from_callback(
            user=request.user, session=request.session, params=request.GET
        )
    except services.ConnectRefused as refusal:
        if refusal.problem is not None:
            return render(
                request, "sync/callback_refused.html", {"problem": refusal.problem}, status=400
            )
        messages.add_message(request, refusal.level, refusal.message)
        return redirect("sync:connections")
    messages.success(
        request,
        f"Connected to {end_sentence(connection.company_name or 'your QuickBooks company')} "
        "The first import has started; its progress shows below.",
    )
    return redirect("sync:connections")


@role_required(Role.PARTNER, Role.ADMIN)
@require_http_methods(["GET", "POST"])
def disconnect(request: AuthedRequest, pk: int) -> HttpResponse:
    connection = get_connection_for_user(request, pk, write=True)
    if request.method == "POST":
        if connection.status == QBOConnection.Status.DISCONNECTED:
            messages.info(request, "That QuickBooks company was already disconnected.")
        else:
            services.connection_disconnect(connection=connection, user=request.user)
            messages.success(
                request,
                f"Disconnected {end_sentence(connection.company_name or connection.realm_id)} "
                "Syncing has stopped; the data already mirrored is kept.",
            )
        return redirect("sync:connections")
    return render(request, "sync/disconnect.html", {"connection": connection})


@role_required(*EVERYONE)
@require_http_methods(["GET", "POST"])
def sync_now(request: AuthedRequest, pk: int) -> HttpResponse:
    connection = get_connection_for_user(request, pk)
    if request.method == "POST":
        try:
            services.connection_sync_request(connection=connection)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            _note_sync_requested(request, connection)
            messages.success(request, "A sync has been queued; it starts within moments.")
        return redirect(_return_to(request, request.POST.get("next")))
    return render(request, "sync/sync_now.html", {"connection": connection})


def _return_to(request: HttpRequest, url: str | None) -> str:
    """``url`` when it is a page of this site (a form's ``next``); the list otherwise, so a
    crafted link can never send anyone elsewhere."""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return reverse("sync:connections")


@role_required(*EVERYONE)
@require_GET
def disconnected(request: AuthedRequest) -> HttpResponse:
    """Where Intuit sends someone who disconnected unefemme from inside QuickBooks.

    It changes nothing: Intuit does not reliably say which company this is about, and a
    GET must be safe. The next API call for that company gets a 401 / invalid_grant,
    which marks the connection needs_reconnect and stops its syncs.
    """
    live = selectors.connection_live_for_user(user=request.user)
    return render(request, "sync/disconnected.html", {"live": live})


@csrf_exempt
@login_not_required
@require_POST
def webhooks(request: HttpRequest) -> HttpResponse:
    """Intuit's change notifications: verify, store, acknowledge; the poll comes after.

    Intuit signs and POSTs with no session or CSRF token, hence the exemptions; the
    signature is the authentication.
    """
    try:
        services.webhook_delivery_receive(
            body=request.body, signature=request.headers.get("intuit-signature")
        )
    except services.WebhookSignatureError:
        return HttpResponse("Bad signature.\n", status=401, content_type="text/plain")
    except WebhookPayloadError:
        return HttpResponse("Unrecognised payload.\n", status=400, content_type="text/plain")
    return HttpResponse("OK\n", content_type="text/plain")
