"""Writes of the notifications app: preferences, the sent-messages log, the scan that turns
the other apps' state into notifications and sends them, and the daily digest.

Both beat tasks may run twice at once (a slow run overlapping the next, two beat
processes): the scan serialises on a PostgreSQL advisory lock and every row it writes is
unique on what it stands for; a delivery is marked sent in the transaction that sends it;
a digest's ``DigestSent`` row is inserted before its e-mail is sent, in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role

from . import selectors
from .messages import Line, Section, absolute
from .models import (
    PREFERENCE_KINDS,
    Delivery,
    DigestSent,
    Kind,
    NotificationDelivery,
    NotificationEvent,
    NotificationPreference,
    SentMessage,
)

logger = logging.getLogger(__name__)

# Any fixed number: the scan's PostgreSQL advisory lock, so two scans never interleave.
_SCAN_LOCK = 0x6E6F7469  # "noti"
KIND_HEADER = "X-Unefemme-Kind"


# --- The sent-messages log ------------------------------------------------------------------


def _parts(message: EmailMessage) -> tuple[str, str]:
    """(text, html) of a message, whichever of them it has."""
    body = str(message.body or "")
    if message.content_subtype == "html":
        return "", body
    html = ""
    for alternative in getattr(message, "alternatives", []) or []:
        content, mimetype = alternative[0], alternative[1]
        if mimetype == "text/html":
            html = str(content)
    return body, html


def sent_messages_record(*, messages: list[EmailMessage]) -> None:
    """Record messages the backend has just sent, and keep only the newest
    ``SENT_MESSAGES_KEEP``. In a savepoint: a failure here must not spoil the transaction
    of whatever sent the mail."""
    rows = []
    now = timezone.now()
    for message in messages:
        text, html = _parts(message)
        rows.append(
            SentMessage(
                to=", ".join([*message.to, *message.cc, *message.bcc]),
                subject=str(message.subject),
                body_text=text,
                body_html=html,
                kind=str(message.extra_headers.get(KIND_HEADER, ""))[:40],
                sent_at=now,
            )
        )
    with transaction.atomic():
        SentMessage.objects.bulk_create(rows)
        keep = max(int(settings.SENT_MESSAGES_KEEP), 1)
        # Ids grow with time, so the newest ``keep`` are the highest ids: pruning on every
        # write keeps the table at ``keep`` rows at most.
        oldest_kept = SentMessage.objects.order_by("-pk").values_list("pk", flat=True)[
            keep - 1 : keep
        ]
        cutoff = next(iter(oldest_kept), None)
        if cutoff is not None:
            SentMessage.objects.filter(pk__lt=cutoff).delete()


# --- Preferences ------------------------------------------------------------------------------


@transaction.atomic
def preferences_save(*, user: User, choices: dict[str, str]) -> None:
    """Save ``user``'s choice per kind. Only the kinds their role receives; anything else
    is refused as a programming error (the form offers only those)."""
    allowed = selectors.preference_kinds_for(user)
    for kind, delivery in choices.items():
        if kind not in allowed or delivery not in Delivery.values:
            raise ValueError(f"Not a choice for {user.email}: {kind}={delivery}")
        NotificationPreference.objects.update_or_create(
            user=user, kind=kind, defaults={"delivery": delivery, "updated_at": timezone.now()}
        )


# --- E-mails --------------------------------------------------------------------------------


def _send(*, user: User, kind: str, subject: str, intro: str, sections: list[Section]) -> None:
    context = {
        "user": user,
        "subject": subject,
        "intro": intro,
        "sections": [s for s in sections if s.lines],
        "preferences_url": absolute(reverse("notifications:preferences")),
    }
    text = render_to_string("notifications/email/message.txt", context)
    html = render_to_string("notifications/email/message.html", context)
    message = EmailMultiAlternatives(
        subject=f"[unefemme] {subject}",
        body=text,
        to=[user.email],
        headers={KIND_HEADER: kind},
    )
    message.attach_alternative(html, "text/html")
    message.send()


def _line(event: NotificationEvent) -> Line:
    return Line(event.title, absolute(event.path))


# --- The scan: conditions -------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    kind: str
    key: str
    title: str
    path: str
    partner_id: int | None


def _everyone_viewer() -> User:
    # The scan reads as no one in particular: an unsaved admin sees every partner through
    # the same scoped selectors the pages use, so what it notices is what they show.
    return User(role=Role.ADMIN, is_active=True)


def _reconnect_conditions() -> list[Condition]:
    from sync.models import QBOConnection

    found = []
    rows = QBOConnection.objects.filter(status=QBOConnection.Status.NEEDS_RECONNECT)
    for conn in rows.select_related("partner").order_by("pk"):
        found.append(
            Condition(
                Kind.CONNECTION_RECONNECT,
                f"connection_reconnect:{conn.pk}",
                f"{conn.partner.name}: QuickBooks company "
                f"{conn.company_name or conn.realm_id} needs reconnecting; "
                "nothing syncs until someone at the partner connects it again",
                reverse("sync:connection", kwargs={"pk": conn.pk}),
                conn.partner_id,
            )
        )
    return found


def _sync_failing_conditions(now: datetime) -> list[Condition]:
    from sync.models import SyncRun
    from sync.selectors import failing_connections

    found = []
    after = settings.NOTIFY_SYNC_FAILING_AFTER
    for conn in failing_connections(user=_everyone_viewer()):
        runs = SyncRun.objects.filter(connection=conn, finished_at__isnull=False)
        last_success = runs.filter(status=SyncRun.Status.SUCCEEDED).aggregate(
            at=Max("finished_at")
        )["at"]
        failures = runs.filter(status=SyncRun.Status.FAILED)
        if last_success is not None:
            failures = failures.filter(finished_at__gt=last_success)
        first = failures.order_by("finished_at", "pk").first()
        # A connection that needs reconnecting without a failed run is the reconnect
        # notification's; one failing for less than the setting may yet recover.
        if first is None or first.finished_at is None or now - first.finished_at < after:
            continue
        since = timezone.localtime(first.finished_at)
        error = (getattr(conn, "latest_error", "") or "").strip().splitlines()
        found.append(
            Condition(
                Kind.SYNC_FAILING,
                # The first failure names the episode: after a success, failing again is
                # a new one.
                f"sync_failing:{conn.pk}:{first.pk}",
                f"{conn.partner.name}: syncs of {conn.company_name or conn.realm_id} have "
                f"failed since {since:%Y-%m-%d %H:%M %Z}"
                + (f" ({error[0][:200]})" if error else ""),
                reverse("sync:connection", kwargs={"pk": conn.pk}),
                conn.partner_id,
            )
        )
    return found


def _conflict_conditions() -> list[Condition]:
    from inventory.mapping.models import MappingConflict

    found = []
    conflicts = MappingConflict.objects.open().select_related("connection__partner")
    for conflict in conflicts.order_by("pk"):
        item = f"item {conflict.item_qbo_id}" if conflict.item_qbo_id else ""
        about = conflict.sku_code or item
        found.append(
            Condition(
                Kind.MAPPING_CONFLICT,
                f"mapping_conflict:{conflict.pk}",
                f"{conflict.connection.partner.name}: {conflict.get_kind_display()}"
                + (f" ({about})" if about else ""),
                reverse("inventory:conflicts") + f"#conflict-{conflict.pk}",
                conflict.connection.partner_id,
            )
        )
    return found


def _warehouse_stale_conditions(today: date) -> list[Condition]:
    from accounts.models import Partner
    from inventory.warehouse.models import WarehouseSnapshot

    days = settings.NOTIFY_WAREHOUSE_STALE_DAYS
    latest = (
        WarehouseSnapshot.objects.values("partner_id")
        .annotate(latest=Max("as_of"))
        .filter(latest__lt=today - timedelta(days=days))
    )
    names = dict(Partner.objects.values_list("pk", "name"))
    found = []
    for row in latest.order_by("partner_id"):
        age = (today - row["latest"]).days
        found.append(
            Condition(
                Kind.WAREHOUSE_STALE,
                f"warehouse_stale:{row['partner_id']}",
                f"{names.get(row['partner_id'], 'A partner')}: Une Femme's warehouse feed was "
                f"last updated for {row['latest']:%Y-%m-%d}, {age} days ago, so the "
                "discrepancies compare QuickBooks with an old count",
                reverse("inventory:discrepancies") + f"?partner={row['partner_id']}",
                row["partner_id"],
            )
        )
    return found


def _discrepancy_conditions() -> list[Condition]:
    from inventory.reports.selectors import discrepancy_rows

    page = reverse("inventory:discrepancies")
    found = []
    for row in discrepancy_rows(user=_everyone_viewer()):
        if not row.out_of_tolerance:
            continue
        found.append(
            Condition(
                Kind.DISCREPANCY,
                f"discrepancy:{row.partner_id}:{row.sku_id}",
                f"{row.partner_name}: {row.sku_code} {row.wine} is {row.status_label.lower()} "
                f"by {abs(row.difference or 0):f} bottles (QuickBooks {row.qbo_bottles:f}, "
                f"warehouse {row.warehouse_bottles:f} on {row.warehouse_as_of:%Y-%m-%d})",
                f"{page}?partner={row.partner_id}&sku={row.sku_code}",
                row.partner_id,
            )
        )
    return found


# --- The scan: events and their recipients -----------------------------------------------


def recipients_for(event: NotificationEvent) -> Iterable[User]:
    """Who is told of ``event``: active people whose role receives its kind, partner users
    only for their own partner."""
    roles = PREFERENCE_KINDS.get(event.kind, ())
    if not roles:
        return []
    people = User.objects.filter(is_active=True, role__in=[r.value for r in roles])
    if Role.PARTNER in roles:
        # Partner users hear only of their own partner; Une Femme's people of every one.
        people = people.filter(~Q(role=Role.PARTNER) | Q(partner_id=event.partner_id))
    return people.order_by("pk")


def _fan_out(event: NotificationEvent, now: datetime) -> None:
    people = list(recipients_for(event))
    choices = selectors.deliveries_for(people, event.kind)
    NotificationDelivery.objects.bulk_create(
        [
            NotificationDelivery(
                event=event, user=person, delivery=choices[person.pk], created_at=now
            )
            for person in people
            if choices[person.pk] != Delivery.OFF
        ],
        ignore_conflicts=True,
    )


@dataclass
class ScanResult:
    opened: int = 0
    cleared: int = 0
    sent: int = 0


def _record(kinds_and_conditions: dict[str, list[Condition]], now: datetime) -> ScanResult:
    result = ScanResult()
    for kind, conditions in kinds_and_conditions.items():
        current = {c.key: c for c in conditions}
        open_events = NotificationEvent.objects.filter(kind=kind, cleared_at__isnull=True)
        open_keys = set(open_events.values_list("key", flat=True))
        result.cleared += open_events.exclude(key__in=current).update(cleared_at=now)
        for key, condition in current.items():
            if key in open_keys:
                continue
            event = NotificationEvent.objects.create(
                kind=kind,
                key=key,
                partner_id=condition.partner_id,
                title=condition.title[:500],
                path=condition.path[:500],
                occurred_at=now,
            )
            _fan_out(event, now)
            result.opened += 1
    return result


def notifications_scan(*, now: datetime | None = None) -> ScanResult:
    """Notice what needs telling and tell those who want it now. Idempotent: an occurrence
    already recorded is not recorded again, a delivery already sent is not sent again."""
    now = now or timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SCAN_LOCK])
        result = _record(
            {
                Kind.CONNECTION_RECONNECT: _reconnect_conditions(),
                Kind.SYNC_FAILING: _sync_failing_conditions(now),
                Kind.MAPPING_CONFLICT: _conflict_conditions(),
                Kind.WAREHOUSE_STALE: _warehouse_stale_conditions(timezone.localdate(now)),
                Kind.DISCREPANCY: _discrepancy_conditions(),
            },
            now,
        )
    result.sent = immediate_notifications_send(now=now)
    return result


# --- Sending what is due now --------------------------------------------------------------

# What the person can do about it, above the line that says what happened.
_INTROS: dict[str, str] = {
    Kind.CONNECTION_RECONNECT: "QuickBooks no longer accepts unefemme's sign-in for this "
    "company. One of the partner's people reconnects it from its connection page.",
    Kind.SYNC_FAILING: "The connection page lists each run and its error.",
    Kind.WAREHOUSE_STALE: "The discrepancies compare QuickBooks with this count until a "
    "newer one arrives.",
}
_SUBJECTS: dict[str, str] = {
    Kind.CONNECTION_RECONNECT: "A QuickBooks connection needs reconnecting",
    Kind.SYNC_FAILING: "A sync keeps failing",
    Kind.WAREHOUSE_STALE: "The warehouse feed is out of date",
}


def immediate_notifications_send(*, now: datetime | None = None) -> int:
    """Send every pending "immediately" delivery: one e-mail per event, except mapping
    conflicts, which go in one e-mail per admin per ``NOTIFY_CONFLICT_BATCH`` listing every
    conflict not yet sent to them. Returns the number of e-mails sent."""
    now = now or timezone.now()
    pending = NotificationDelivery.objects.filter(
        delivery=Delivery.IMMEDIATELY, sent_at__isnull=True
    )
    # Someone deactivated since the event will not be told of it.
    pending.filter(user__is_active=False).delete()
    sent = 0
    for user_id, kind in sorted(set(pending.values_list("user_id", "event__kind"))):
        try:
            sent += _send_pending(user_id=user_id, kind=kind, now=now)
        except Exception:
            # One unreachable mailbox must not hold up everyone else's; it is retried on
            # the next scan, its deliveries still pending.
            logger.exception("Could not send %s notifications to user %s", kind, user_id)
    return sent


@transaction.atomic
def _send_pending(*, user_id: int, kind: str, now: datetime) -> int:
    user = User.objects.get(pk=user_id)
    rows = list(
        # Only the deliveries are locked: the event's partner is an outer join.
        NotificationDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(user_id=user_id, event__kind=kind, delivery=Delivery.IMMEDIATELY)
        .filter(sent_at__isnull=True)
        .select_related("event__partner")
        .order_by("event__occurred_at", "event__pk")
    )
    if not rows:
        return 0
    if kind == Kind.MAPPING_CONFLICT:
        last = (
            NotificationDelivery.objects.filter(
                user_id=user_id, event__kind=kind, delivery=Delivery.IMMEDIATELY
            )
            .exclude(sent_at__isnull=True)
            .aggregate(at=Max("sent_at"))["at"]
        )
        if last is not None and now - last < settings.NOTIFY_CONFLICT_BATCH:
            return 0  # held for the next batch
        count = len(rows)
        _send(
            user=user,
            kind=kind,
            subject=f"{count} new mapping conflict{'s' if count != 1 else ''}",
            intro="New conflicts in the item mapping need an admin's decision:",
            sections=[Section("Mapping conflicts", [_line(r.event) for r in rows])],
        )
        sent = 1
    else:
        for row in rows:
            partner = row.event.partner
            subject = _SUBJECTS.get(kind, "Notification")
            _send(
                user=user,
                kind=kind,
                subject=f"{subject}: {partner.name}" if partner else subject,
                intro=_INTROS.get(kind, ""),
                sections=[Section("", [_line(row.event)])],
            )
        sent = len(rows)
    NotificationDelivery.objects.filter(pk__in=[r.pk for r in rows]).update(sent_at=now)
    return sent


# --- The daily digest ----------------------------------------------------------------------


def digests_send(*, now: datetime | None = None) -> int:
    """Send each person's digest once their own clock has passed ``DIGEST_LOCAL_HOUR``,
    once per day of their calendar. Staff and admins get the day's summary; anyone with
    notifications held for the digest gets those. Returns the number of e-mails sent."""
    now = now or timezone.now()
    sent = 0
    held = set(
        NotificationDelivery.objects.filter(delivery=Delivery.DIGEST, sent_at__isnull=True)
        .values_list("user_id", flat=True)
        .distinct()
    )
    people = User.objects.filter(is_active=True).filter(
        Q(role__in=[Role.STAFF, Role.ADMIN]) | Q(pk__in=held)
    )
    for user in people.order_by("pk"):
        local = now.astimezone(selectors.zone_of(user))
        if local.time() < time(settings.DIGEST_LOCAL_HOUR):
            continue
        if DigestSent.objects.filter(user=user, local_date=local.date()).exists():
            continue
        try:
            sent += digest_send(user=user, now=now)
        except Exception:
            logger.exception("Could not send the digest of user %s", user.pk)
    return sent


def digest_send(*, user: User, now: datetime) -> int:
    """One person's digest for the day ``now`` falls on in their zone; 1 if an e-mail went
    out, 0 if it was already sent today or there was nothing to say."""
    local_date = now.astimezone(selectors.zone_of(user)).date()
    previous = (
        DigestSent.objects.filter(user=user, local_date__lt=local_date)
        .order_by("-local_date")
        .first()
    )
    since = previous.sent_at if previous else now - timedelta(days=1)
    try:
        with transaction.atomic():
            # First, so a second run blocks here on the unique index and then gives up.
            digest = DigestSent.objects.create(user=user, local_date=local_date, sent_at=now)
            held = list(
                NotificationDelivery.objects.select_for_update()
                .filter(user=user, delivery=Delivery.DIGEST, sent_at__isnull=True)
                .select_related("event")
                .order_by("event__occurred_at", "event__pk")
            )
            sections = selectors.digest_sections(user=user, since=since, now=now)
            if held:
                sections.append(Section("Held for your digest", [_line(row.event) for row in held]))
            items = sum(len(s.lines) for s in sections)
            digest.items = items
            digest.save(update_fields=["items"])
            if not items:
                return 0
            _send(
                user=user,
                kind="digest",
                subject=f"Your daily digest for {local_date:%A %-d %B}",
                intro="What changed since your last digest:",
                sections=sections,
            )
            NotificationDelivery.objects.filter(pk__in=[r.pk for r in held]).update(
                sent_at=now, digest=digest
            )
    except IntegrityError:
        return 0  # another run sent today's
    return 1
