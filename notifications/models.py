"""E-mail notifications: what each person wants, what happened, who was told, and every
message the app sent (docs/reliability.md, "Notifications").

A scan (``services.notifications_scan``, every few minutes) turns the state of the other
apps into ``NotificationEvent`` rows, one per occurrence of a condition: its ``key`` names
the occurrence, and at most one event per key is open (not cleared) at a time, so a
condition that persists notifies once, and one that clears and comes back notifies again.
Each event is handed to its recipients as ``NotificationDelivery`` rows, by their
preference: sent by the same scan, or held for their daily digest.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.roles import ADMINS, EVERYONE, UNE_FEMME, Role


class Kind(models.TextChoices):
    CONNECTION_RECONNECT = "connection_reconnect", "A QuickBooks connection needs reconnecting"
    SYNC_FAILING = "sync_failing", "A sync keeps failing"
    MAPPING_CONFLICT = "mapping_conflict", "New mapping conflicts (at most one e-mail an hour)"
    WAREHOUSE_STALE = "warehouse_stale", "The warehouse feed is out of date"
    # Not a notification of its own: the staff digest lists the discrepancies that went
    # out of tolerance since the last one, and the scan is what notices when they do.
    DISCREPANCY = "discrepancy", "A discrepancy went out of tolerance"


class Delivery(models.TextChoices):
    IMMEDIATELY = "immediately", "Immediately"
    DIGEST = "digest", "In my daily digest"
    OFF = "off", "Off"


# The kinds a person chooses for, who receives each, and what they get until they choose.
# A partner user is told about its own partner's connection and feed; staff about every
# connection and sync; the mapping conflicts queue is the admins'.
PREFERENCE_KINDS: dict[str, tuple[Role, ...]] = {
    Kind.CONNECTION_RECONNECT: EVERYONE,
    Kind.SYNC_FAILING: UNE_FEMME,
    Kind.MAPPING_CONFLICT: ADMINS,
    Kind.WAREHOUSE_STALE: (Role.PARTNER,),
}
DEFAULT_DELIVERY: dict[str, str] = {
    # Nothing syncs until someone reconnects: worth an e-mail at once.
    Kind.CONNECTION_RECONNECT: Delivery.IMMEDIATELY,
    # Already an hour old (NOTIFY_SYNC_FAILING_AFTER) when it is sent.
    Kind.SYNC_FAILING: Delivery.IMMEDIATELY,
    # Batched to one e-mail an hour, so a sync that raises ten sends one.
    Kind.MAPPING_CONFLICT: Delivery.IMMEDIATELY,
    # Days old by nature; a morning e-mail is soon enough, but a partner user has no
    # digest beyond its held notifications, so it comes at once unless they choose.
    Kind.WAREHOUSE_STALE: Delivery.IMMEDIATELY,
}


class NotificationPreference(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    delivery = models.CharField(max_length=16, choices=Delivery.choices)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}: {self.delivery}"


class NotificationEvent(models.Model):
    kind = models.CharField(max_length=32, choices=Kind.choices)
    # Names one occurrence, e.g. "connection_reconnect:12" or "sync_failing:12:run-804".
    key = models.CharField(max_length=200)
    partner = models.ForeignKey(
        "accounts.Partner", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # One line, as the e-mail and the digest list it, and the page that deals with it.
    title = models.CharField(max_length=500)
    path = models.CharField(max_length=500)
    occurred_at = models.DateTimeField(default=timezone.now)
    # When the scan last saw the condition gone; a recurrence is a new event.
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["occurred_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"],
                condition=Q(cleared_at__isnull=True),
                name="notification_event_one_open_per_key",
            )
        ]
        indexes = [models.Index(fields=["kind", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.key} ({self.occurred_at:%Y-%m-%d %H:%M})"


class DigestSent(models.Model):
    """One person's digest for one day of their own calendar. The unique row is what makes
    the hourly beat idempotent: a second run (or a second worker) finds it and sends
    nothing. ``items`` is 0 when there was nothing to say and no e-mail went out."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    local_date = models.DateField()
    sent_at = models.DateTimeField(default=timezone.now)
    items = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "local_date"], name="digest_once_a_day")
        ]

    def __str__(self) -> str:
        return f"digest {self.user_id} {self.local_date}"


class NotificationDelivery(models.Model):
    """An event handed to one person: pending until ``sent_at`` (the e-mail that told them
    of it, or the digest that held it)."""

    event = models.ForeignKey(
        NotificationEvent, on_delete=models.CASCADE, related_name="deliveries"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    delivery = models.CharField(max_length=16, choices=Delivery.choices)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    digest = models.ForeignKey(
        DigestSent, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "user"], name="notification_delivery_once")
        ]
        indexes = [models.Index(fields=["user", "delivery", "sent_at"])]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.user_id} ({self.delivery})"


class SentMessage(models.Model):
    """Every e-mail the app handed to the mail server, as sent (the recording backend,
    notifications/backends.py); the last ``SENT_MESSAGES_KEEP`` are kept."""

    to = models.TextField()
    subject = models.TextField()
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    # The X-Unefemme-Kind header our own messages carry; empty for others (allauth's).
    kind = models.CharField(max_length=40, blank=True)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-sent_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to}"
