from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import AuthedRequest, role_required
from accounts.roles import EVERYONE
from common.htmx import wants_fragment
from sync.selectors import last_tick as last_tick_at

from . import health
from .selectors import dashboard_tiles


@role_required(*EVERYONE)
@require_GET
def dashboard(request: AuthedRequest) -> HttpResponse:
    # "Today" is the user's (UserTimezoneMiddleware activates their zone), so "overdue"
    # here means what it means on the invoices page.
    tiles = dashboard_tiles(user=request.user, today=timezone.localdate())
    template = "dashboard/dashboard.html"
    # The tiles poll themselves; a boosted request still wants the whole page.
    if wants_fragment(request):
        template += "#dashboard-tiles"
    return render(request, template, {"tiles": tiles, "refreshed_at": timezone.now()})


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = health.check_all()
    last_tick = last_tick_at()
    body: dict[str, object] = {**checks, "ok": all(checks.values())}
    # Informational: beat's heartbeat. A stale value means schedules are not running.
    body["beat_last_tick"] = last_tick.isoformat() if last_tick else None
    return JsonResponse(body, status=200 if body["ok"] else 503)
