"""/trends/: 13 weeks of receivables, overdue, cash received and DSO from the daily history,
per role (a partner user sees its own partner only, never the total), the DSO history
against an independent computation, the empty state, bad filters, and query counts."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from accounts.models import Partner, User
from history.models import PartnerDay
from history.selectors import TREND_WEEKS, trends
from tests.conftest import signed_in
from tests.factories import PartnerFactory

pytestmark = pytest.mark.django_db

URL = reverse("history:trends")
D = Decimal
TODAY = date(2026, 12, 3)


def snapshot(day: date, partner: Partner | None, **figures: Any) -> PartnerDay:
    defaults = {"owed": D("0.00"), "credits": D("0.00"), "overdue": D("0.00")}
    row: PartnerDay = PartnerDay.objects.create(
        day=day, partner=partner, taken_at=timezone.now(), **{**defaults, **figures}
    )
    return row


def history(partners: list[Partner], days: int, *, end: date = TODAY) -> None:
    """``days`` days of snapshots ending ``end`` for each partner and the total, with
    figures that differ by partner and day."""
    rows = []
    for n in range(days):
        day = end - timedelta(days=n)
        total = {"owed": D(0), "credits": D(0), "overdue": D(0), "cash_received": D(0),
                 "credit_sales": D(0)}  # fmt: skip
        for index, partner in enumerate(partners):
            figures = {
                "owed": D(1000 + 10 * index + n), "credits": D(-5 * index),
                "overdue": D(100 + index), "cash_received": D(7 + index),
                "credit_sales": D(3000 + 100 * index),
            }  # fmt: skip
            rows.append(PartnerDay(day=day, partner=partner, taken_at=timezone.now(), **figures))
            for name, value in figures.items():
                total[name] += value
        rows.append(PartnerDay(day=day, partner=None, taken_at=timezone.now(), **total))
    PartnerDay.objects.bulk_create(rows)


@pytest.fixture(autouse=True)
def _today(settings: Any) -> Any:
    import time_machine

    with time_machine.travel(date(2026, 12, 4), tick=False) as traveller:
        yield traveller


def test_a_partner_user_sees_only_its_partner_never_the_total(
    alice: User, partner_a: Partner, partner_b: Partner
) -> None:
    history([partner_a, partner_b], 91)
    page = signed_in(alice).get(URL).content.decode()
    assert escape(partner_a.name) in page
    assert partner_b.name not in page
    assert "All partners" not in page
    # Partner A's own figure (1,000 on the last day), not the total's (2,010).
    assert "$1,000.00" in page
    assert "$2,010.00" not in page
    # Asking for another partner changes nothing: the field is not theirs.
    other = signed_in(alice).get(URL, {"partner": partner_b.pk}).content.decode()
    assert partner_b.name not in other
    assert "$1,000.00" in other


def test_a_partner_user_can_never_read_the_total_row(alice: User, partner_a: Partner,
                                                     partner_b: Partner) -> None:  # fmt: skip
    history([partner_a, partner_b], 2)
    visible = PartnerDay.objects.visible_to(alice)
    assert set(visible.values_list("partner_id", flat=True)) == {partner_a.pk}
    assert not visible.filter(partner__isnull=True).exists()


@pytest.mark.parametrize("who", ["sam", "ada"])
def test_staff_see_the_total_and_each_partner_and_can_filter(
    who: str, cast: dict[str, User], partner_a: Partner, partner_b: Partner
) -> None:
    history([partner_a, partner_b], 91)
    client = signed_in(cast[who])
    page = client.get(URL).content.decode()
    assert "All partners" in page
    assert escape(partner_a.name) in page and escape(partner_b.name) in page
    assert "$2,010.00" in page  # the total's net receivables on the last day
    narrowed = client.get(URL, {"partner": partner_b.pk}).content.decode()
    assert "Showing <strong>" + escape(partner_b.name) in narrowed
    assert "$1,005.00" in narrowed  # 1,010 owed less 5 of credits


def test_thirteen_weekly_points_ending_on_the_latest_snapshot(
    ada: User, partner_a: Partner
) -> None:
    history([partner_a], 100, end=TODAY - timedelta(days=1))
    found = trends(user=ada, today=TODAY)
    assert found.series is not None
    assert len(found.weeks) == TREND_WEEKS
    assert found.weeks[-1].end == TODAY - timedelta(days=1)
    assert [w.end for w in found.weeks] == [
        TODAY - timedelta(days=1 + 7 * k) for k in range(TREND_WEEKS - 1, -1, -1)
    ]
    # Cash received per week: seven days of the total's daily 7.
    assert all(w.cash_received == D(49) for w in found.series.weeks)


def test_dso_history_equals_an_independent_computation(
    ada: User, partner_a: Partner, partner_b: Partner
) -> None:
    history([partner_a, partner_b], 91)
    found = trends(user=ada, today=TODAY)
    by_name = {s.name: s for s in found.by_partner}
    for index, partner in enumerate([partner_a, partner_b]):
        for figures in by_name[partner.name].weeks:
            n = (TODAY - figures.week.end).days
            net = D(1000 + 10 * index + n) - D(5 * index)
            sales = D(3000 + 100 * index)
            expected = (net * 91 / sales).quantize(D("0.1"), rounding=ROUND_HALF_UP)
            assert figures.dso == expected
    # The total's DSO is its own ratio, not an average of the partners'.
    last = found.series.weeks[-1] if found.series else None
    assert last is not None
    assert last.dso == (D(2005) * 91 / D(6100)).quantize(D("0.1"), rounding=ROUND_HALF_UP)


def test_no_credit_sales_shows_no_dso(ada: User, partner_a: Partner) -> None:
    snapshot(TODAY, partner_a, owed=D(50))
    snapshot(TODAY, None, owed=D(50))
    found = trends(user=ada, today=TODAY)
    assert found.series is not None and found.series.weeks[-1].dso is None


def test_weeks_without_a_snapshot_say_so(ada: User, partner_a: Partner) -> None:
    snapshot(TODAY, None, owed=D(50))
    page = signed_in(ada).get(URL).content.decode()
    assert "No snapshot that day" in page


def test_the_empty_state_says_what_to_do(ada: User, alice: User) -> None:
    page = signed_in(ada).get(URL).content.decode()
    assert "No daily history yet" in page
    assert "manage.py history_backfill --days 91" in page
    page = signed_in(alice).get(URL).content.decode()
    assert "No daily history yet" in page
    assert "An admin can rebuild" in page


@pytest.mark.parametrize("query", [{"partner": "abc"}, {"partner": "99999"}, {"partner": "-1"}])
def test_a_bad_filter_is_reported_not_a_5xx(
    ada: User, partner_a: Partner, query: dict[str, str]
) -> None:
    history([partner_a], 14)
    response = signed_in(ada).get(URL, query)
    assert response.status_code == 200
    assert "Some filters could not be read" in response.content.decode()
    assert "All partners" in response.content.decode()


def test_the_fragment_for_htmx(ada: User, partner_a: Partner) -> None:
    history([partner_a], 14)
    response = signed_in(ada).get(URL, {"partner": partner_a.pk}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="trends-results"')
    assert "<html" not in body


@pytest.mark.parametrize("who", ["alice", "ada"])
def test_the_page_costs_the_same_queries_at_n_and_10n(
    who: str, cast: dict[str, User], partner_a: Partner, django_assert_max_num_queries: Any
) -> None:
    client = signed_in(cast[who])
    counts = []
    for partners, days in ((2, 30), (20, 300)):
        PartnerDay.objects.all().delete()
        others = [PartnerFactory() for _ in range(partners - 1)]
        history([partner_a, *others], days)
        with CaptureQueriesContext(db_connection) as ctx:
            response = client.get(URL)
        assert response.status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
    assert counts[0] <= 8
    # The last page shows every partner's DSO row (staff) and charts.
    body = response.content.decode()
    assert body.count('role="img"') >= 4
    if who == "ada":
        assert len(re.findall(r'<tr><th scope="row">', body)) >= 20
