"""Reads of the notifications app: preferences, the sent-messages log and what a digest
says."""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse

from accounts.models import User
from sync.models import QBOConnection

from .messages import Line, Section, absolute
from .models import (
    DEFAULT_DELIVERY,
    PREFERENCE_KINDS,
    Kind,
    NotificationEvent,
    NotificationPreference,
    SentMessage,
)

SENT_PAGE_SIZE = 100


def preference_kinds_for(user: User) -> list[str]:
    """The kinds ``user``'s role is told of, in the order the page lists them."""
    return [kind for kind, roles in PREFERENCE_KINDS.items() if user.role in roles]


def preferences_for(user: User) -> dict[str, str]:
    """``user``'s choice per kind they receive, their default where they have not chosen."""
    chosen = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "delivery"))
    return {kind: chosen.get(kind, DEFAULT_DELIVERY[kind]) for kind in preference_kinds_for(user)}


def deliveries_for(people: Sequence[User], kind: str) -> dict[int, str]:
    """Each person's choice for ``kind`` (their default where they have not chosen)."""
    chosen = dict(
        NotificationPreference.objects.filter(user__in=people, kind=kind).values_list(
            "user_id", "delivery"
        )
    )
    return {person.pk: chosen.get(person.pk, DEFAULT_DELIVERY[kind]) for person in people}


def sent_messages() -> QuerySet[SentMessage]:
    return SentMessage.objects.order_by("-sent_at", "-pk")[:SENT_PAGE_SIZE]


def zone_of(user: User) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(user.time_zone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _failure(connection: QBOConnection, zone: zoneinfo.ZoneInfo) -> str:
    if connection.status == connection.Status.NEEDS_RECONNECT:
        return "needs reconnecting"
    finished = getattr(connection, "latest_finished_at", None)
    if finished is None:
        return "last sync failed"
    return f"last sync failed at {finished.astimezone(zone):%Y-%m-%d %H:%M}"


def _lost_accounts(user: User, since_day: date, today: date) -> list[Line]:
    """Accounts that turned lost (docs/reports.md, "Accounts and placements") on a day from
    the last digest's to yesterday, as new overdue receivables are counted: each with its
    partner × SKU's accounts page for the month it went."""
    from inventory.reports.placements import placements

    yesterday = today - timedelta(days=1)
    if since_day > yesterday:
        return []
    report = placements(user=user, start=since_day, end=yesterday)
    lines = []
    for row in report.rows:
        for account in row.lost:
            assert account.last_purchase is not None  # lost: it bought once
            went = account.last_purchase + timedelta(days=report.rules.lost_after_days)
            url = reverse("inventory:placements_row", args=[row.partner_id, row.sku])
            lines.append(
                Line(
                    f"{row.partner}: {account.name} has not reordered {row.sku} since "
                    f"{account.last_purchase:%Y-%m-%d} ({report.rules.lost_after_days} days)",
                    absolute(f"{url}?month={went:%Y-%m}"),
                )
            )
    return lines


def digest_sections(*, user: User, since: datetime, now: datetime) -> list[Section]:
    """What a staff or admin digest says about the time since ``since``, each line a link;
    empty sections are left out. Nothing for a partner user: their digest is what they
    chose to hold for it."""
    if not user.sees_all_partners:
        return []
    from billing.selectors import open_items
    from sync.selectors import failing_connections

    zone = zone_of(user)
    today = now.astimezone(zone).date()
    since_day = since.astimezone(zone).date()
    sections: list[Section] = []

    # An invoice becomes overdue the day after it is due: those due from the day of the
    # last digest (which listed the ones due the day before) to yesterday are new.
    overdue = open_items(
        user=user, today=today, kind="invoices", due_from=since_day, due_to=today - timedelta(1)
    ).order_by("partner", "customer_name", "number", "pk")
    sections.append(
        Section(
            "New overdue receivables",
            [
                Line(
                    f"{row.partner}: {row.customer_name}, invoice {row.number or row.qbo_id}, "
                    f"{row.open_balance:,.2f} {row.currency} due {row.due:%Y-%m-%d}",
                    absolute(reverse("billing:invoice", kwargs={"pk": row.pk})),
                )
                for row in overdue
            ],
        )
    )

    def events(kind: str) -> list[Line]:
        rows = NotificationEvent.objects.filter(
            kind=kind, occurred_at__gt=since, occurred_at__lte=now, cleared_at__isnull=True
        )
        return [Line(e.title, absolute(e.path)) for e in rows.order_by("occurred_at", "pk")]

    sections.append(Section("Discrepancies that went out of tolerance", events(Kind.DISCREPANCY)))
    sections.append(Section("Accounts lost", _lost_accounts(user, since_day, today)))
    sections.append(
        Section(
            "Failing syncs",
            [
                Line(
                    f"{c.partner.name}: {c.company_name or c.realm_id} {_failure(c, zone)}",
                    absolute(reverse("sync:connection", kwargs={"pk": c.pk})),
                )
                for c in failing_connections(user=user)
            ],
        )
    )
    # The conflicts queue is the admins' (staff cannot open it).
    if user.is_admin:
        sections.append(Section("New mapping conflicts", events(Kind.MAPPING_CONFLICT)))
    return [s for s in sections if s.lines]
