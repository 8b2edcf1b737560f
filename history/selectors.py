"""Reads of the daily history: the 13-week trends and the dashboard's month-ago figures.

Everything here reads ``PartnerDay`` through ``visible_to(user)``: a partner user reads
only its own partner's rows, never the total row (partner NULL) nor another partner's;
staff and admins read every row. A few queries whatever the number of days or partners.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import F, Func, IntegerField, Max, Sum, Value
from django.db.models.fields import DateField

from billing.selectors import days_sales_outstanding

from .models import PartnerDay, PartnerDayQuerySet

if TYPE_CHECKING:
    from accounts.models import User

ZERO = Decimal("0.00")
# 13 weeks: a quarter of whole weeks, the span of DSO's window (docs/reports.md).
TREND_WEEKS = 13
# How far before "the same day last month" a snapshot may be and still stand for it (a
# job that missed a night or two).
MONTH_AGO_SLACK_DAYS = 3


@dataclass(frozen=True)
class Week:
    """Seven days ending on ``end``, the day of the week's snapshot."""

    start: date
    end: date

    @property
    def label(self) -> str:
        return f"{self.end:%b} {self.end.day}"


@dataclass
class WeekFigures:
    """One series' figures for one week: the snapshot of its last day (None for each
    figure when that day has no snapshot) and the cash received over its seven days."""

    week: Week
    receivables: Decimal | None = None  # net: owed less credits
    owed: Decimal | None = None
    credits: Decimal | None = None
    overdue: Decimal | None = None
    credit_sales: Decimal | None = None
    cash_received: Decimal = ZERO
    # False for a week with no snapshot on its last day: its figures are unknown, not 0.
    taken: bool = False

    @property
    def dso(self) -> Decimal | None:
        if self.receivables is None or self.credit_sales is None:
            return None
        return days_sales_outstanding(receivables=self.receivables, sales=self.credit_sales)


@dataclass
class Series:
    name: str  # the partner's name, or "All partners"
    partner_id: int | None
    weeks: list[WeekFigures]

    @property
    def latest(self) -> WeekFigures:
        return self.weeks[-1]


@dataclass
class Trends:
    weeks: list[Week]
    # The series charted: the total (staff, unfiltered) or one partner's.
    series: Series | None
    # DSO per week of each partner in scope, by name (staff, unfiltered: every partner;
    # otherwise the one partner).
    by_partner: list[Series] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.series is None


class _DaysSince(Func):
    """``(anchor - day) / 7``: how many whole weeks before ``anchor``'s week a day is (0 for
    the seven days ending on ``anchor``). PostgreSQL's ``date - date`` is an integer."""

    template = "((%(expressions)s) / 7)"
    arg_joiner = " - "
    output_field = IntegerField()


def _weeks_ending(anchor: date) -> list[Week]:
    ends = [anchor - timedelta(days=7 * k) for k in range(TREND_WEEKS - 1, -1, -1)]
    return [Week(start=end - timedelta(days=6), end=end) for end in ends]


def _figures(week: Week, row: PartnerDay | None) -> WeekFigures:
    if row is None:
        return WeekFigures(week=week)
    return WeekFigures(
        week=week, receivables=row.receivables, owed=row.owed, credits=row.credits,
        overdue=row.overdue, credit_sales=row.credit_sales, taken=True,
    )  # fmt: skip


def trends(*, user: User, today: date, partner_id: int | None = None) -> Trends:
    """The last ``TREND_WEEKS`` weeks of the history ``user`` may see, ending on the
    latest snapshot on or before ``today``: one point per week (the snapshot of its last
    day), cash received summed over each week's days. A partner user gets its partner's
    series; staff get the total, or ``partner_id``'s series when given (narrowing, never
    widening). Three queries whatever the number of days or partners."""
    rows: PartnerDayQuerySet = PartnerDay.objects.visible_to(user)  # type: ignore[assignment]
    charted_key: int | None
    if user.sees_all_partners and partner_id is None:
        # Everything: the total charted, each partner's DSO beside it.
        charted, wanted, charted_key = rows.totals(), rows, None
    else:
        # One partner. For a partner user ``visible_to`` has already kept only its own
        # partner's rows (never the total); a ``partner_id`` can only narrow that.
        charted_key = partner_id if partner_id is not None else user.partner_id
        charted = rows.filter(partner_id=partner_id) if partner_id is not None else rows
        wanted = charted
    anchor = charted.filter(day__lte=today).aggregate(latest=Max("day"))["latest"]
    if anchor is None:
        return Trends(weeks=[], series=None)
    weeks = _weeks_ending(anchor)
    week_ends = [week.end for week in weeks]

    # The week-end snapshots of the charted series and of each partner: one query.
    snapshots = (
        wanted.filter(day__in=week_ends)
        .select_related("partner")
        .only(
            "day",
            "partner__name",
            "owed",
            "credits",
            "overdue",
            "credit_sales",
        )  # fmt: skip
        .order_by("day")
    )
    by_series: dict[int | None, dict[date, PartnerDay]] = {}
    names: dict[int | None, str] = {}
    for snapshot in snapshots:
        by_series.setdefault(snapshot.partner_id, {})[snapshot.day] = snapshot
        if snapshot.partner_id is not None and snapshot.partner is not None:
            names[snapshot.partner_id] = snapshot.partner.name

    # Cash received per week: the daily figures summed in SQL, per week.
    first = weeks[0].start
    cash = (
        charted.filter(day__gte=first, day__lte=anchor)
        .order_by()
        .annotate(weeks_back=_DaysSince(Value(anchor, output_field=DateField()), F("day")))
        .values("weeks_back")
        .annotate(received=Sum("cash_received"))
        .values_list("weeks_back", "received")
    )
    received = dict(cash)

    charted_days = by_series.get(charted_key, {})
    series = Series(
        name="All partners" if charted_key is None else names.get(charted_key, ""),
        partner_id=charted_key,
        weeks=[_figures(week, charted_days.get(week.end)) for week in weeks],
    )
    for index, figures in enumerate(series.weeks):
        figures.cash_received = received.get(TREND_WEEKS - 1 - index, ZERO) or ZERO
    by_partner = [
        Series(
            name=names[key],
            partner_id=key,
            weeks=[_figures(week, days.get(week.end)) for week in weeks],
        )
        for key, days in by_series.items()
        if key is not None
    ]
    by_partner.sort(key=lambda s: s.name.casefold())
    return Trends(weeks=weeks, series=series, by_partner=by_partner)


# --- The dashboard's comparison with a month ago ------------------------------------------


def same_day_last_month(today: date) -> date:
    """The same day of the month before; the month's last day when it has no such day
    (31 March → 28 or 29 February)."""
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return date(year, month, min(today.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class MonthAgo:
    """The snapshot the dashboard's tiles compare with: ``day`` and its figures."""

    day: date
    receivables: Decimal  # net, the receivables tile's figure
    overdue: Decimal
    unapplied: Decimal


def month_ago(*, user: User, today: date) -> MonthAgo | None:
    """The snapshot of the same day last month (or the nearest before it, up to
    ``MONTH_AGO_SLACK_DAYS`` earlier) of what ``user``'s dashboard shows: the total for
    staff, their partner's row for a partner user. None when there is none. One query."""
    target = same_day_last_month(today)
    rows: PartnerDayQuerySet = PartnerDay.objects.visible_to(user)  # type: ignore[assignment]
    rows = rows.totals() if user.sees_all_partners else rows
    found = (
        rows.filter(day__gte=target - timedelta(days=MONTH_AGO_SLACK_DAYS), day__lte=target)
        .order_by("-day")
        .only("day", "owed", "credits", "overdue", "unapplied")
        .first()
    )
    if found is None:
        return None
    return MonthAgo(
        day=found.day,
        receivables=found.receivables,
        overdue=found.overdue,
        unapplied=found.unapplied,
    )


@dataclass(frozen=True)
class Change:
    """A tile's figure now against the month-ago snapshot: "▲ $1,200.00 vs Nov 4"."""

    amount: Decimal  # now − then
    since: date

    @property
    def direction(self) -> str:
        return "up" if self.amount > 0 else "down" if self.amount < 0 else "flat"

    @property
    def arrow(self) -> str:
        return {"up": "▲", "down": "▼", "flat": "="}[self.direction]

    @property
    def size(self) -> Decimal:
        return abs(self.amount)


def month_changes(then: MonthAgo | None, **now: Decimal) -> dict[str, Change]:
    """Each figure of ``now`` (keyed as ``MonthAgo``'s: receivables, overdue, unapplied)
    against ``then``; empty when there is no month-ago snapshot."""
    if then is None:
        return {}
    return {
        name: Change(amount=value - getattr(then, name), since=then.day)
        for name, value in now.items()
    }
