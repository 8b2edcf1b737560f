"""Rebuild the daily history of past days from the mirror's documents.

    manage.py history_backfill --days 91          # the 91 days ending yesterday
    manage.py history_backfill --from 2026-09-01 --to 2026-11-30

Each day is rebuilt from the documents dated on or before it and written in its own
transaction, replacing what the day had; what the documents cannot tell (deleted
documents, amounts edited since) is in docs/reports.md, "Daily history".
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from history.services import BACKFILL_MAX_DAYS, DayResult, history_backfill, last_finished_day


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date; write it as YYYY-MM-DD.") from None


class Command(BaseCommand):
    help = (
        "Rebuild the daily history (receivables, cash, stock, depletion) of past days from "
        "the mirror's documents: --days N for the N days ending yesterday, or --from/--to."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=str, help="How many days, ending yesterday.")
        parser.add_argument("--from", dest="start", type=str, help="First day, YYYY-MM-DD.")
        parser.add_argument(
            "--to", dest="end", type=str, help="Last day, YYYY-MM-DD (default: yesterday)."
        )

    def _period(self, options: dict[str, Any]) -> tuple[date, date]:
        days, start, end = options.get("days"), options.get("start"), options.get("end")
        if days is not None and (start is not None or end is not None):
            raise CommandError("Give either --days or --from/--to, not both.")
        if days is None and start is None:
            raise CommandError("Say which days: --days N, or --from YYYY-MM-DD [--to YYYY-MM-DD].")
        today = timezone.localdate()
        if days is not None:
            try:
                count = int(days)
            except ValueError:
                raise CommandError(f"--days must be a whole number, not {days!r}.") from None
            if not 1 <= count <= BACKFILL_MAX_DAYS:
                raise CommandError(f"--days must be between 1 and {BACKFILL_MAX_DAYS}.")
            last = last_finished_day()
            return last - timedelta(days=count - 1), last
        assert start is not None  # checked above
        first = _day(start)
        last = _day(end) if end is not None else last_finished_day()
        if first > last:
            raise CommandError(f"--from {first} is after --to {last}.")
        if last > today:
            raise CommandError(f"--to {last} is in the future; today is {today}.")
        if (last - first).days + 1 > BACKFILL_MAX_DAYS:
            raise CommandError(
                f"{(last - first).days + 1} days is more than {BACKFILL_MAX_DAYS} at a time; "
                "run it in parts."
            )
        return first, last

    def handle(self, *args: Any, **options: Any) -> None:
        first, last = self._period(options)
        total = (last - first).days + 1
        self.stdout.write(f"Rebuilding {total} day{'s' if total != 1 else ''}: {first} to {last}.")
        started = time.monotonic()
        done = 0

        def progress(result: DayResult) -> None:
            nonlocal done
            done += 1
            self.stdout.write(
                f"[{done}/{total}] {result.day}: {result.partners} partner"
                f"{'s' if result.partners != 1 else ''}, {result.stock_rows} partner × SKU "
                f"row{'s' if result.stock_rows != 1 else ''}"
            )

        history_backfill(start=first, end=last, progress=progress)
        self.stdout.write(
            self.style.SUCCESS(f"Done: {total} days in {time.monotonic() - started:.1f}s.")
        )
