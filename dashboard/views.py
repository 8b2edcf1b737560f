from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import AuthedRequest, role_required
from accounts.roles import EVERYONE
from common.htmx import wants_fragment
from common.tables import Column, Table
from history.selectors import month_ago, month_changes
from onboarding.selectors import first_run
from reconciliation.selectors import failing_detail
from sync.selectors import last_tick as last_tick_at

from . import health
from .attention import attention
from .scorecard import scorecard
from .selectors import dashboard_tiles, placement_counts

logger = logging.getLogger(__name__)


@role_required(*EVERYONE)
@require_GET
def dashboard(request: AuthedRequest) -> HttpResponse:
    # "Today" is the user's (UserTimezoneMiddleware activates their zone), so "overdue"
    # here means what it means on the invoices page.
    today = timezone.localdate()
    tiles = dashboard_tiles(user=request.user, today=today)
    # The money tiles against the daily history's snapshot of a month ago: one query.
    changes = month_changes(
        month_ago(user=request.user, today=today),
        receivables=tiles.receivables.net_amount,
        overdue=tiles.receivables.overdue_amount,
        unapplied=tiles.unapplied.amount,
    )
    context = {"tiles": tiles, "changes": changes, "refreshed_at": timezone.now()}
    template = "dashboard/dashboard.html"
    # The tiles poll themselves; a boosted request still wants the whole page. The
    # attention list is read with the page only: its lists change with a person's work
    # (a payment applied, a sync fixed), not by the minute.
    if wants_fragment(request):
        template += "#dashboard-tiles"
    else:
        # This month's accounts: read with the page too (dashboard.selectors.placement_counts
        # says why), and its lost accounts are the attention list's.
        accounts = placement_counts(user=request.user, today=today)
        context["placements"] = accounts
        context["attention"] = attention(
            user=request.user, today=today, lost=accounts.recently_lost
        )
        # A partner user's first steps (one query; None for Une Femme's people): the page
        # points to the welcome page until all three are done.
        context["first_run"] = first_run(request.user)
    return render(request, template, context)


def _reconciliation_detail(database: bool) -> dict[str, object]:
    if not database:
        return {"ok": None, "error": "database unavailable"}
    try:
        return failing_detail()
    except Exception:  # /healthz must answer; the reason goes to the log
        logger.warning("health: reconciliation detail failed", exc_info=True)
        return {"ok": None, "error": "could not be read"}


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = health.check_all()
    last_tick = last_tick_at()
    body: dict[str, object] = {**checks, "ok": all(checks.values())}
    # Informational: beat's heartbeat. A stale value means schedules are not running.
    body["beat_last_tick"] = last_tick.isoformat() if last_tick else None
    # Informational too: the books disagreeing with QuickBooks' reports is for people to
    # look into, not a reason for the load balancer to take this instance out.
    body["detail"] = {"reconciliation": _reconciliation_detail(checks["database"])}
    return JsonResponse(body, status=200 if body["ok"] else 503)


# ------------------------------------------------------------------------------------------
# The partner scorecard (the Partners page): per partner, its connection, receivables,
# stock and this month's flow, each linking to its page narrowed to the partner. The
# figures are read in ``dashboard.scorecard``; this is the table and the page.

SCORECARD = Table(
    [
        Column("name", "Name", sort=lambda r: r.name.casefold()),
        # Its health, worst first, then the longest since a successful sync; the cell says
        # when that was.
        Column("connection", "QuickBooks", sort=lambda r: r.health_sort, attr="health_label"),
        Column("receivables", "Receivables", sort="receivables", kind="money"),
        Column("overdue", "Overdue", sort="overdue", kind="money"),
        Column("dso", "DSO (days)", sort="dso", kind="number"),
        Column("on_hand", "On hand (bottles)", sort="on_hand", kind="qty"),
        Column("days_on_hand", "Days on hand", sort="days_on_hand", kind="number"),
        Column("sell_in", "Sell-in (bottles)", sort="sell_in", kind="qty"),
        Column("sell_through", "Sell-through (bottles)", sort="sell_through", kind="qty"),
        Column("discrepancies", "Discrepancies", sort="discrepancies", kind="number"),
        Column("conflicts", "Conflicts", sort="conflicts", kind="number"),
        Column("contact", "Contact", sort=lambda r: r.contact_email.casefold(),
               attr="contact_email"),
        Column("people", "People", sort="people", kind="number"),
    ],
    default_sort="name",
)  # fmt: skip


@role_required(*EVERYONE)
@require_GET
def partners(request: AuthedRequest) -> HttpResponse:
    user = request.user
    # The user's today (UserTimezoneMiddleware): "overdue" and "this month" as on the
    # pages each figure links to.
    card = scorecard(user=user, today=timezone.localdate())
    # Only admins decide mapping conflicts, so only they get the column (as on the
    # dashboard's tiles).
    hide = () if card.shows_conflicts else ("conflicts",)
    table = SCORECARD.bind(request, card.rows, hide=hide)
    template = "dashboard/partners.html"
    if wants_fragment(request):
        template += "#partners-table"
    return render(request, template, {"card": card, "table": table})
