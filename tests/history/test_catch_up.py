"""The history's catch-up (history.services.history_catch_up): the recent weeks are
rebuilt when a day is missing or a company's import finished after they were taken, and
nothing is done otherwise; its beat entry and task."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Partner
from history import services, tasks
from history.models import PartnerDay
from sync.models import SyncRun
from tests.history.books import Books
from tests.history.test_snapshots import START, ZONE

pytestmark = pytest.mark.django_db

TODAY = START + timedelta(days=100)
WINDOW = services.CATCH_UP_DAYS


def _imported(books: Books, at: datetime) -> None:
    SyncRun.objects.create(
        connection=books.connection, kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.SUCCEEDED,
        started_at=at, finished_at=at,
    )  # fmt: skip


def _at(day_offset: int, hour: int = 12) -> datetime:
    return datetime.combine(TODAY + timedelta(days=day_offset), time(hour), tzinfo=ZONE)


def test_an_empty_history_is_rebuilt_and_a_complete_one_left_alone(partner_a: Partner) -> None:
    books = Books(partner_a)
    books.invoice(TODAY - timedelta(days=30), "300.00", due=TODAY - timedelta(days=20))
    with time_machine.travel(_at(0), tick=False):
        written = services.history_catch_up(today=TODAY)
    # Every day of the window, and today.
    assert len(written) == WINDOW + 1
    assert PartnerDay.objects.filter(partner__isnull=True).count() == WINDOW + 1
    # The day the invoice was dated holds it; the day before does not.
    total = PartnerDay.objects.filter(partner=partner_a)
    assert total.get(day=TODAY - timedelta(days=30)).owed == Decimal("300.00")
    assert total.get(day=TODAY - timedelta(days=31)).owed == 0
    with time_machine.travel(_at(0, 13), tick=False):
        assert services.history_catch_up(today=TODAY) == []


def test_an_import_after_the_history_was_taken_rebuilds_it(partner_a: Partner) -> None:
    with time_machine.travel(_at(0), tick=False):
        services.history_catch_up(today=TODAY)
    assert PartnerDay.objects.get(partner=partner_a, day=TODAY - timedelta(days=10)).owed == 0
    # The partner connects an hour later: its first import brings a month-old invoice.
    books = Books(partner_a)
    books.invoice(TODAY - timedelta(days=30), "300.00", due=TODAY - timedelta(days=20))
    _imported(books, _at(0, 13))
    with time_machine.travel(_at(0, 14), tick=False):
        assert len(services.history_catch_up(today=TODAY)) == WINDOW + 1
    assert PartnerDay.objects.get(partner=partner_a, day=TODAY - timedelta(days=10)).owed == (
        Decimal("300.00")
    )
    # Rebuilt after that import: nothing more to do.
    with time_machine.travel(_at(0, 15), tick=False):
        assert services.history_catch_up(today=TODAY) == []


def test_a_missed_night_is_filled_in(partner_a: Partner) -> None:
    with time_machine.travel(_at(0), tick=False):
        services.history_catch_up(today=TODAY)
    PartnerDay.objects.filter(day=TODAY - timedelta(days=5)).delete()
    with time_machine.travel(_at(0, 13), tick=False):
        assert services.history_catch_up(today=TODAY) != []
    assert PartnerDay.objects.filter(day=TODAY - timedelta(days=5), partner__isnull=True).exists()


def test_beat_runs_the_catch_up_every_few_minutes() -> None:
    from unefemme.celery import app

    entry = app.conf.beat_schedule["history-catch-up"]
    assert entry["task"] == "history.tasks.history_catch_up" and entry["task"] in app.tasks
    assert entry["schedule"] <= 10 * 60


def test_the_task_uses_the_local_today(partner_a: Partner) -> None:
    with time_machine.travel(_at(0), tick=False):
        assert tasks.history_catch_up() == WINDOW + 1
        assert PartnerDay.objects.filter(day=timezone.localdate()).exists()
