"""The dashboard's money tiles against the daily history's snapshot of a month ago: the
change and its day, the nearest earlier snapshot within a few days, nothing without one,
each role's own figures, one query more whatever the history holds."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Partner, User
from history.models import PartnerDay
from history.selectors import same_day_last_month
from tests.billing.factories import ConnectionFactory, InvoiceFactory
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db

D = Decimal
TODAY = date(2026, 12, 4)
URL = reverse("dashboard")


@pytest.fixture(autouse=True)
def _today() -> Any:
    noon = datetime.combine(TODAY, time(12), tzinfo=ZoneInfo("America/Los_Angeles"))
    with time_machine.travel(noon, tick=False) as traveller:
        yield traveller


def tile(html: str, name: str) -> str:
    match = re.search(rf'data-tile="{name}">(.*?)</a>', html, re.S)
    assert match, name
    return match.group(1)


def snapshot(day: date, partner: Partner | None, owed: str, overdue: str = "0.00",
             unapplied: str = "0.00") -> None:  # fmt: skip
    PartnerDay.objects.create(
        day=day, partner=partner, owed=D(owed), overdue=D(overdue), unapplied=D(unapplied),
        taken_at=timezone.now(),
    )  # fmt: skip


@pytest.fixture
def books(partner_a: Partner, partner_b: Partner) -> None:
    # Open now: 1,500 for partner A (1,000 of it overdue), 700 for partner B.
    a = ConnectionFactory(partner=partner_a)
    b = ConnectionFactory(partner=partner_b)
    InvoiceFactory(connection=a, txn_date=date(2026, 10, 1), due_date=date(2026, 10, 31),
                   total_amt=D("1000.00"))  # fmt: skip
    InvoiceFactory(connection=a, txn_date=TODAY, due_date=TODAY + timedelta(days=30),
                   total_amt=D("500.00"))  # fmt: skip
    InvoiceFactory(connection=b, txn_date=TODAY, due_date=TODAY + timedelta(days=30),
                   total_amt=D("700.00"))  # fmt: skip


def test_same_day_last_month() -> None:
    assert same_day_last_month(date(2026, 12, 4)) == date(2026, 11, 4)
    assert same_day_last_month(date(2026, 3, 31)) == date(2026, 2, 28)
    assert same_day_last_month(date(2028, 3, 30)) == date(2028, 2, 29)
    assert same_day_last_month(date(2027, 1, 15)) == date(2026, 12, 15)


def test_staff_see_the_totals_change_since_a_month_ago(
    books: None, sam: User, partner_a: Partner
) -> None:
    snapshot(date(2026, 11, 4), None, owed="1000.00", overdue="1200.00", unapplied="5.00")
    snapshot(date(2026, 11, 4), partner_a, owed="9.00")
    html = signed_in(sam).get(URL).content.decode()
    receivables = tile(html, "receivables")
    # 2,200 now against 1,000: up 1,200. Overdue 1,000 against 1,200: down 200.
    assert 'data-change="up"' in receivables
    assert '▲</span><span class="visually-hidden">up</span> $1,200.00 vs' in receivables
    assert '<time datetime="2026-11-04">Nov 4</time>' in receivables
    assert 'Overdue <span aria-hidden="true">▼</span>' in receivables
    assert "$200.00 vs" in receivables
    assert "$5.00 vs" in tile(html, "unapplied")  # 0 now against 5


def test_a_partner_user_compares_with_its_own_partners_snapshot(
    books: None, alice: User, partner_a: Partner
) -> None:
    snapshot(date(2026, 11, 4), None, owed="100000.00")
    snapshot(date(2026, 11, 4), partner_a, owed="1400.00")
    receivables = tile(signed_in(alice).get(URL).content.decode(), "receivables")
    assert "$100.00 vs" in receivables  # 1,500 against its own 1,400, not the total


def test_the_nearest_earlier_snapshot_within_a_few_days_stands_in(books: None, sam: User) -> None:
    snapshot(date(2026, 11, 2), None, owed="2000.00")
    snapshot(date(2026, 11, 5), None, owed="1.00")  # after the day: not a month ago
    receivables = tile(signed_in(sam).get(URL).content.decode(), "receivables")
    assert '<time datetime="2026-11-02">Nov 2</time>' in receivables
    assert "$200.00 vs" in receivables


@pytest.mark.parametrize("day", [None, date(2026, 10, 30), date(2026, 11, 20)])
def test_no_snapshot_a_month_ago_shows_no_change(books: None, sam: User, day: date | None) -> None:
    if day is not None:
        snapshot(day, None, owed="1.00")
    html = signed_in(sam).get(URL).content.decode()
    assert "tile-change" not in html
    assert "$2,200.00" in tile(html, "receivables")


@pytest.mark.parametrize("who", ["alice", "ada"])
def test_the_comparison_costs_one_query_whatever_the_history(
    who: str, cast: dict[str, User], books: None, partner_a: Partner, partner_b: Partner
) -> None:
    client = signed_in(cast[who])
    with CaptureQueriesContext(db_connection) as before:
        client.get(URL, headers={"HX-Request": "true"})
    counts = []
    for days in (30, 300):
        PartnerDay.objects.all().delete()
        PartnerDay.objects.bulk_create(
            PartnerDay(day=TODAY - timedelta(days=n), partner=p, owed=D(n), taken_at=timezone.now())
            for n in range(1, days + 1)
            for p in (partner_a, partner_b, None)
        )
        with CaptureQueriesContext(db_connection) as ctx:
            response = client.get(URL, headers={"HX-Request": "true"})
        assert "tile-change" in response.content.decode()
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
    history_reads = [q for q in ctx.captured_queries if "history_partnerday" in q["sql"]]
    assert len(history_reads) == 1
    # Without history the page runs the same query, which finds nothing.
    assert len(before.captured_queries) == counts[0]
