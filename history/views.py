"""The trends page: 13 weeks of receivables, overdue, cash received and DSO, read from the
daily history (history.selectors); every role, each seeing what its scope allows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import AuthedRequest, role_required
from accounts.roles import EVERYONE
from billing.selectors import DSO_DAYS
from common.charts import bar_chart
from common.htmx import wants_fragment
from common.templatetags.ui import format_money, format_qty

from . import selectors
from .forms import TrendsFilterForm

PAGE = "history/trends.html"


def _chart(
    points: list[tuple[str, Decimal | None]], *, title: str, value_format: Callable[[Any], str]
) -> Any:
    # A week without a snapshot is left out of the picture (the table under it says so)
    # rather than drawn as a zero.
    return bar_chart(
        [(label, value) for label, value in points if value is not None],
        title=title,
        value_format=value_format,
    )


def _long(day: date) -> str:
    return f"{day:%b} {day.day}, {day.year}"


def _days(value: Any) -> str:
    return f"{format_qty(value)} days"


@role_required(*EVERYONE)
@require_GET
def trends(request: AuthedRequest) -> HttpResponse:
    user = request.user
    form = TrendsFilterForm(request.GET, user=user)
    form.is_valid()  # a partner that does not parse is reported and left out
    filters = form.filters()
    # "Today" is the user's (UserTimezoneMiddleware); the latest snapshot on or before it
    # ends the last week.
    found = selectors.trends(user=user, today=timezone.localdate(), **filters)
    charts: dict[str, Any] = {}
    if found.series is not None:
        name = found.series.name
        weeks = found.series.weeks
        charts = {
            "receivables": _chart(
                [(w.week.label, w.receivables) for w in weeks],
                title=f"Open receivables (net of credits) at each week's end: {name}",
                value_format=format_money,
            ),
            "overdue": _chart(
                [(w.week.label, w.overdue) for w in weeks],
                title=f"Overdue invoices at each week's end: {name}",
                value_format=format_money,
            ),
            "cash": _chart(
                [(w.week.label, w.cash_received) for w in weeks],
                title=f"Cash received per week: {name}",
                value_format=format_money,
            ),
        }
        if found.by_partner and filters["partner_id"] is None and user.sees_all_partners:
            charts["dso"] = _chart(
                [(s.name, s.latest.dso) for s in found.by_partner],
                title=f"Days sales outstanding per partner on {_long(found.weeks[-1].end)}",
                value_format=_days,
            )
        else:
            charts["dso"] = _chart(
                [(w.week.label, w.dso) for w in weeks],
                title=f"Days sales outstanding at each week's end: {name}",
                value_format=_days,
            )
    template = PAGE
    if wants_fragment(request):
        template += "#trends-results"
    context = {
        "form": form,
        "trends": found,
        "charts": charts,
        "per_partner": bool(
            user.sees_all_partners and filters["partner_id"] is None and found.by_partner
        ),
        "filtered": filters["partner_id"] is not None,
        "dso_days": DSO_DAYS,
    }
    return render(request, template, context)
