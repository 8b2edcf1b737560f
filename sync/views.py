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

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from accounts.access import AuthedRequest, role_required
from accounts.models import Partner
from accounts.roles import EVERYONE, Role
from common.htmx import wants_fragment

from . import selectors, services
from .clients import qbo
from .models import MIRRORED_ENTITIES, QBOConnection
from .oauth import StateError, state_consume, state_issue
from .webhooks import WebhookPayloadError, parse, signature_valid, webhook_events_store

logger = logging.getLogger(__name__)

# A QuickBooks realm id is ASCII digits, stored in a column of 32. Not str.isdigit(): it
# also accepts superscripts ("²") and other scripts' digits ("١٢٣"), which are no realm, and
# a connection stored under one would never sync.
_REALM_ID = re.compile(r"[0-9]{1,32}")


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


# Rows of the "mirrored records" table: label, connection_list annotation.
MIRROR_COUNTS = (
    ("Customers", "customer_count"),
    ("Items", "item_count"),
    ("Invoices", "invoice_count"),
    ("Payments", "payment_count"),
)


def _card(request: AuthedRequest, connection: Any) -> dict[str, Any]:
    """What the ``connection`` fragment needs about one connection, for this user."""
    user = request.user
    own = user.role == Role.PARTNER and connection.partner_id == user.partner_id
    status = connection.status
    live = status != QBOConnection.Status.DISCONNECTED
    connected = status == QBOConnection.Status.CONNECTED
    # Only an unfinished import or a running sync has progress to show.
    busy = connection.sync_running or selectors.entities_imported(connection) < len(
        MIRRORED_ENTITIES
    )
    progress = selectors.card_progress(connection) if connected and busy else {}
    return {
        "connection": connection,
        "progress": progress,
        "polling": bool(progress.get("running")) or _awaiting_requested_sync(request, connection),
        "counts": [(label, getattr(connection, name)) for label, name in MIRROR_COUNTS],
        "runs": connection.recent_runs,
        "interval": _minutes(connection.sync_interval),
        "audience": "partner" if user.role == Role.PARTNER else "staff",
        "can_sync": connected,
        "can_disconnect": live and (own or user.role == Role.ADMIN),
        "can_reconnect": own and status == QBOConnection.Status.NEEDS_RECONNECT,
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
    """One connection; with htmx, just its card (what the page polls during an import)."""
    card = _card(request, get_connection_for_user(request, pk, card=True))
    if wants_fragment(request):
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
    user = request.user
    if request.method == "POST":
        # Also allowed while the connection still looks healthy: someone who has just
        # disconnected unefemme inside QuickBooks must be able to reconnect at once.
        state = state_issue(session=request.session, user=user)
        try:
            # Reads Intuit's discovery document (once per process), so it can fail.
            return redirect(qbo.authorization_url(state=state))
        except qbo.QBOError as exc:
            logger.warning("QuickBooks authorize URL unavailable: intuit_tid=%s", exc.intuit_tid)
            messages.error(
                request,
                "QuickBooks cannot be reached right now, so the connection could not start. "
                "Please try again in a few minutes.",
            )
            return redirect("sync:connections")
    live = QBOConnection.objects.live().filter(partner_id=user.partner_id).first()
    return render(request, "sync/connect.html", {"live": live})


@role_required(Role.PARTNER)
@require_GET
@sensitive_variables("code", "tokens")
def callback(request: AuthedRequest) -> HttpResponse:
    """Intuit sends the browser back here with ``code``, ``state`` and ``realmId``, or
    with ``error=access_denied`` when the person pressed Cancel."""
    user = request.user
    try:
        issued = state_consume(session=request.session, state=request.GET.get("state"), user=user)
    except StateError as exc:
        logger.warning("QuickBooks callback refused for user %s: %s", user.pk, exc.reason)
        return render(request, "sync/callback_refused.html", status=400)

    error = request.GET.get("error")
    if error:
        if error == "access_denied":
            messages.info(
                request,
                "You cancelled at QuickBooks, so nothing was connected. Press Connect to "
                "QuickBooks when you are ready.",
            )
        else:
            logger.warning("QuickBooks callback for user %s returned error %.40r", user.pk, error)
            messages.error(
                request,
                "QuickBooks did not complete the connection. Please try again; if it keeps "
                "failing, tell Une Femme.",
            )
        return redirect("sync:connections")

    code = request.GET.get("code", "")
    realm_id = request.GET.get("realmId", "")
    if not code or not _REALM_ID.fullmatch(realm_id):
        logger.warning("QuickBooks callback for user %s lacks a code or realm id", user.pk)
        return render(request, "sync/callback_refused.html", status=400)

    partner = Partner.objects.get(pk=issued.partner_id)
    # Refused before the code is exchanged: a company that is another partner's stays
    # theirs, and no tokens for it ever reach this database.
    if QBOConnection.objects.live().filter(realm_id=realm_id).exclude(partner=partner).exists():
        logger.warning(
            "QuickBooks realm %s refused for partner %s: live for another partner",
            realm_id,
            partner.pk,
        )
        messages.error(request, services.REALM_TAKEN)
        return redirect("sync:connections")

    try:
        tokens = qbo.exchange_code(code=code, realm_id=realm_id)
        connection = services.connection_connect(
            partner=partner, realm_id=realm_id, tokens=tokens, user=user
        )
    except qbo.QBOError as exc:
        logger.warning(
            "QuickBooks connect failed for partner %s realm %s: code=%s status=%s intuit_tid=%s",
            partner.pk,
            realm_id,
            exc.code,
            exc.status,
            exc.intuit_tid,
        )
        messages.error(
            request,
            "QuickBooks did not accept the connection, so nothing was connected. Please "
            "press Connect to QuickBooks again"
            + (f" (reference for Une Femme: {exc.intuit_tid})." if exc.intuit_tid else "."),
        )
        return redirect("sync:connections")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("sync:connections")

    messages.success(
        request,
        f"Connected to {connection.company_name or 'your QuickBooks company'}. The first "
        "import has started; its progress shows below.",
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
                f"Disconnected {connection.company_name or connection.realm_id}. Syncing has "
                "stopped; the data already mirrored is kept.",
            )
        return redirect("sync:connections")
    return render(request, "sync/disconnect.html", {"connection": connection})


@role_required(*EVERYONE)
@require_http_methods(["GET", "POST"])
def sync_now(request: AuthedRequest, pk: int) -> HttpResponse:
    connection = get_connection_for_user(request, pk)
    if request.method == "POST":
        if connection.status != QBOConnection.Status.CONNECTED:
            messages.error(
                request,
                "Only a connected QuickBooks company can be synced."
                + (
                    " It needs to be reconnected first."
                    if connection.status == QBOConnection.Status.NEEDS_RECONNECT
                    else ""
                ),
            )
        else:
            services.connection_sync_now(connection=connection, trigger="manual")
            _note_sync_requested(request, connection)
            messages.success(request, "A sync has been queued; it starts within moments.")
        return redirect("sync:connections")
    return render(request, "sync/sync_now.html", {"connection": connection})


@role_required(*EVERYONE)
@require_GET
def disconnected(request: AuthedRequest) -> HttpResponse:
    """Where Intuit sends someone who disconnected unefemme from inside QuickBooks.

    It changes nothing: Intuit does not reliably say which company this is about, and a
    GET must be safe. The next API call for that company gets a 401 / invalid_grant,
    which marks the connection needs_reconnect and stops its syncs.
    """
    user = request.user
    live = None
    if user.role == Role.PARTNER:
        live = QBOConnection.objects.live().filter(partner_id=user.partner_id).first()
    return render(request, "sync/disconnected.html", {"live": live})


@csrf_exempt
@login_not_required
@require_POST
def webhooks(request: HttpRequest) -> HttpResponse:
    """Intuit's change notifications: verify, store, acknowledge; the poll comes after.

    Intuit signs and POSTs with no session or CSRF token, hence the exemptions; the
    signature is the authentication.
    """
    body = request.body
    if not signature_valid(
        body=body,
        signature=request.headers.get("intuit-signature"),
        verifier_token=settings.QBO_WEBHOOK_VERIFIER_TOKEN,
    ):
        logger.warning("webhook refused: missing or wrong intuit-signature")
        return HttpResponse("Bad signature.\n", status=401, content_type="text/plain")
    try:
        events = parse(body)
    except WebhookPayloadError as exc:
        logger.warning("webhook refused: %s", exc)
        return HttpResponse("Unrecognised payload.\n", status=400, content_type="text/plain")

    # Committed before anything is enqueued: the rows are what survives a dead broker.
    stored = webhook_events_store(events=events)
    realm_ids = {event.realm_id for event in stored if not event.problem}
    if realm_ids:
        try:
            services.webhook_events_received(realm_ids=realm_ids)
        except Exception as exc:
            # Intuit must still get its 200: the events are stored, and the scheduled
            # poll covers their realms if the immediate one cannot be enqueued.
            logger.warning(
                "webhook events stored but the immediate poll was not enqueued (%s)",
                type(exc).__name__,
            )
    return HttpResponse("OK\n", content_type="text/plain")
