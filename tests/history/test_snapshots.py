"""The daily snapshot (history.services.snapshot_day): equal to the live figures of its day,
idempotent, every partner and the total; the backfill reproducing a seeded history
from the documents alone; the nightly beat entry and its task; the backfill command."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command

from accounts.models import Partner, User
from billing.selectors import aging_totals, credit_sales_by_partner_all
from dashboard.selectors import receivables as receivables_tile
from dashboard.selectors import unapplied_cash
from history import services, tasks
from history.models import BUCKET_FIELDS, PartnerDay, StockDay
from inventory.reports.selectors import depletion_report
from inventory.reports.stock_ledger import stock_ledger
from tests.history.books import Books

pytestmark = pytest.mark.django_db

D = Decimal
ZONE = ZoneInfo("America/Los_Angeles")
START = date(2026, 9, 1)
FIGURES = (*BUCKET_FIELDS.values(), "owed", "overdue", "credits", "unapplied", "cash_received",
           "credit_sales")  # fmt: skip


def evening(day: date) -> datetime:
    return datetime.combine(day, time(21, 0), tzinfo=ZONE)


def seed_day(books: dict[str, Books], day: date, n: int) -> None:
    """One day of business for each partner: sales on credit, a cash sale, a return now and
    then, payments (some partial, one using a credit, one unapplied, one voided), stock in."""
    for index, (code, b) in enumerate(sorted(books.items())):
        sku = f"UF-{code}"
        amount = f"{100 + 10 * n + index}.00"
        invoice = b.invoice(day, amount, due=day + timedelta(days=3 + n % 5), sku=sku, qty=6)
        if n % 2 == 0:
            b.cash_sale(day, "45.00", sku=sku, qty=2)
        if n % 3 == 1:
            b.credit_memo(day, "20.00", sku=sku, qty=1)
        if n % 4 == 3:
            b.bill(day, sku=sku, qty=24)
        # Pay an older invoice in part, and another in full with a credit memo's help.
        older = list(b.connection.invoices.filter(balance__gt=0, txn_date__lt=day).order_by("pk"))
        if older and n % 2 == 1:
            b.payment(day, pays=[(older[0], "30.00")])
        memos = list(b.connection.credit_memos.filter(balance__gt=0).order_by("pk"))
        if len(older) > 1 and memos and n % 3 == 2:
            b.payment(day, pays=[(older[1], "15.00")], uses=[(memos[0], "15.00")])
        if n % 5 == 4:
            b.payment(day, unapplied="12.50")
        if n == 6:
            b.payment(day, pays=[(invoice, "50.00")], voided=True)


@pytest.fixture
def books(partner_a: Partner, partner_b: Partner) -> dict[str, Books]:
    found = {"A": Books(partner_a), "B": Books(partner_b)}
    for code, b in found.items():
        b.item(f"UF-{code}", on_hand=200)
    return found


def rows_of(day: date) -> tuple[dict[Any, dict[str, Decimal]], dict[Any, tuple[Decimal, Decimal]]]:
    partners = {
        row.partner_id: {name: getattr(row, name) for name in FIGURES}
        for row in PartnerDay.objects.filter(day=day)
    }
    stock = {
        (row.partner_id, row.sku_id): (row.on_hand, row.depletion)
        for row in StockDay.objects.filter(day=day)
    }
    return partners, stock


def test_the_snapshot_equals_the_live_figures_of_its_day(
    books: dict[str, Books], ada: User, alice: User, partner_a: Partner
) -> None:
    for n in range(8):
        seed_day(books, START + timedelta(days=n), n)
    day = START + timedelta(days=7)
    with time_machine.travel(evening(day), tick=False):
        services.snapshot_day(day)

        total = PartnerDay.objects.get(day=day, partner=None)
        aging = aging_totals(user=ada, today=day)
        assert total.receivables == aging["total"]
        assert total.owed == aging["owed"]
        assert total.credits == aging["credits"]
        for bucket in aging["buckets"]:
            assert getattr(total, BUCKET_FIELDS[bucket["key"]]) == bucket["amount"]
        tile = receivables_tile(user=ada, today=day)
        assert total.overdue == tile.overdue_amount
        assert total.unapplied == unapplied_cash(user=ada).amount
        assert total.unapplied > 0

        mine = PartnerDay.objects.get(day=day, partner=partner_a)
        assert mine.receivables == aging_totals(user=alice, today=day)["total"]
        assert mine.overdue == receivables_tile(user=alice, today=day).overdue_amount
        assert mine.unapplied == unapplied_cash(user=alice).amount
        sales = credit_sales_by_partner_all(start=day - timedelta(days=90), end=day)
        assert mine.credit_sales == sales[partner_a.pk] > 0
        # Cash received that day: the payments dated that day, the voided one left out.
        payments = books["A"].connection.payments.filter(txn_date=day, voided=False)
        received = sum((p.total_amt for p in payments), D("0.00"))
        assert mine.cash_received == received
        # The total is the partners' sum, figure by figure.
        parts = PartnerDay.objects.filter(day=day, partner__isnull=False)
        for name in FIGURES:
            assert getattr(total, name) == sum((getattr(p, name) for p in parts), D("0.00"))

        ledger_rows = stock_ledger(user=ada, start=day, end=day).rows
        ledger = {(r.partner_id, r.sku): r.closing for r in ledger_rows}
        depletion = {
            (r.partner_id, r.sku): r.net_depletion
            for r in depletion_report(user=ada, today=day, window_days=28).rows
        }
        stock = {
            (s.partner_id, s.sku.code): (s.on_hand, s.depletion)
            for s in StockDay.objects.filter(day=day).select_related("sku")
        }
        assert stock == {key: (ledger[key], depletion[key]) for key in ledger}
        # QtyOnHand now, as nothing is dated after the day.
        assert stock[(partner_a.pk, "UF-A")][0] == books["A"].items["UF-A"].qty_on_hand


def test_running_a_day_twice_leaves_the_same_rows(books: dict[str, Books]) -> None:
    for n in range(3):
        seed_day(books, START + timedelta(days=n), n)
    day = START + timedelta(days=2)
    with time_machine.travel(evening(day), tick=False):
        first = services.snapshot_day(day)
        before = rows_of(day)
        again = services.snapshot_day(day)
    assert rows_of(day) == before
    assert first == again
    assert PartnerDay.objects.filter(day=day).count() == 3  # two partners and the total
    assert PartnerDay.objects.filter(day=day, partner=None).count() == 1


def test_every_partner_has_a_row_even_without_books(books: dict[str, Books]) -> None:
    idle = Partner.objects.create(name="Idle Imports", slug="idle")
    services.snapshot_day(START)
    row = PartnerDay.objects.get(day=START, partner=idle)
    assert all(getattr(row, name) == 0 for name in FIGURES)


def test_the_total_row_is_unique_per_day() -> None:
    from django.db import IntegrityError, transaction
    from django.utils import timezone

    PartnerDay.objects.create(day=START, partner=None, taken_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        PartnerDay.objects.create(day=START, partner=None, taken_at=timezone.now())


def test_the_backfill_reproduces_the_snapshots_of_a_seeded_history(
    books: dict[str, Books],
) -> None:
    days = [START + timedelta(days=n) for n in range(12)]
    taken: dict[date, Any] = {}
    for n, day in enumerate(days):
        with time_machine.travel(evening(day), tick=False):
            seed_day(books, day, n)
            services.snapshot_day(day)
            taken[day] = rows_of(day)
    assert any(partners[None]["credits"] for partners, _ in taken.values())
    assert any(partners[None]["overdue"] for partners, _ in taken.values())
    PartnerDay.objects.all().delete()
    StockDay.objects.all().delete()

    with time_machine.travel(evening(days[-1] + timedelta(days=1)), tick=False):
        seen: list[services.DayResult] = []
        services.history_backfill(start=days[0], end=days[-1], progress=seen.append)
    assert [result.day for result in seen] == days
    for day in days:
        assert rows_of(day) == taken[day], day


def test_the_beat_schedule_runs_the_task_nightly() -> None:
    from celery.schedules import crontab

    from unefemme.celery import app

    entry = app.conf.beat_schedule["history-snapshot"]
    assert entry["task"] == "history.tasks.history_snapshot"
    assert isinstance(entry["schedule"], crontab)
    assert entry["task"] in app.tasks


def test_the_task_snapshots_the_day_that_has_ended(books: dict[str, Books]) -> None:
    seed_day(books, START, 0)
    with time_machine.travel(datetime.combine(START + timedelta(days=1), time(0, 25), tzinfo=ZONE)):
        assert tasks.history_snapshot() == START.isoformat()
    assert PartnerDay.objects.filter(day=START).count() == 3
    # And any day given, again and again.
    assert tasks.history_snapshot("2026-09-01") == "2026-09-01"
    assert PartnerDay.objects.filter(day=START).count() == 3


def test_the_backfill_command_prints_its_progress(books: dict[str, Books]) -> None:
    for n in range(3):
        seed_day(books, START + timedelta(days=n), n)
    out = StringIO()
    with time_machine.travel(evening(START + timedelta(days=3)), tick=False):
        call_command("history_backfill", "--days", "3", stdout=out)
    text = out.getvalue()
    assert "Rebuilding 3 days: 2026-09-01 to 2026-09-03." in text
    assert "[3/3] 2026-09-03: 2 partners, 2 partner × SKU rows" in text
    assert PartnerDay.objects.count() == 9
    out = StringIO()
    call_command("history_backfill", "--from", "2026-09-01", "--to", "2026-09-02", stdout=out)
    assert "[2/2] 2026-09-02" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Say which days"),
        (["--days", "x"], "--days must be a whole number"),
        (["--days", "0"], "--days must be between 1 and 366"),
        (["--days", "3", "--from", "2026-01-01"], "either --days or --from/--to"),
        (["--from", "2026-13-01"], "is not a date; write it as YYYY-MM-DD"),
        (["--from", "2026-09-05", "--to", "2026-09-01"], "is after --to"),
        (["--from", "2020-01-01", "--to", "2026-01-01"], "run it in parts"),
        (["--from", "2026-09-01", "--to", "2099-01-01"], "is in the future"),
    ],
)
def test_the_backfill_command_refuses_bad_arguments(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("history_backfill", *args)
