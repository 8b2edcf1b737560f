"""Where an account pours or shelves the wine: the channel figures and programs split by.

An account (a partner's QuickBooks customer) gets its channel from, in this order
(docs/reports.md, "Channels"): an admin's ``ChannelOverride`` for that account; the
partner's ``ChannelRule`` list, first match wins; the built-in channel of its QuickBooks
customer type's name (``inventory.channels.matching.TYPE_WORDS``), read from the
``QBOCustomerType`` names stored per company; otherwise "other".
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.access import ConnectionScopedQuerySet, PartnerScopedQuerySet


class Channel(models.TextChoices):
    """An account's channel. On-premise venues (restaurants, bars, hotels) pour the wine;
    off-premise ones (wine shops, grocers) sell the bottle; anything else is "other"."""

    ON_PREMISE = "on_premise", "On-premise"
    OFF_PREMISE = "off_premise", "Off-premise"
    OTHER = "other", "Other"


class QBOCustomerType(models.Model):
    """One entry of a company's CustomerType list: a customer's ``CustomerTypeRef`` names
    its type by id alone, so the names are read (by query; CDC does not carry them) and
    kept here, replaced whole at each read (``customer_types_refresh``)."""

    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="customer_types",
        db_index=False,  # the unique constraint's index starts with it
    )  # fmt: skip
    qbo_id = models.CharField(max_length=32)
    name = models.CharField(max_length=255)
    active = models.BooleanField(default=True)
    read_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[ConnectionScopedQuerySet] = ConnectionScopedQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "qbo_id"], name="customer_type_unique_per_realm"
            )
        ]

    def __str__(self) -> str:
        return self.name


class ChannelRule(models.Model):
    """One of a partner's rules, tried in ``position`` order: the first that matches an
    account gives its channel (unless the account has an override)."""

    class Kind(models.TextChoices):
        CUSTOMER_TYPE = "customer_type", "Customer type is"
        NAME = "name", "Name matches"

    partner = models.ForeignKey(
        "accounts.Partner", on_delete=models.CASCADE, related_name="channel_rules",
        db_index=False,  # the position index starts with it
    )  # fmt: skip
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # A customer type's name (compared ignoring case and accents) or a name pattern
    # (inventory.channels.matching.NamePattern).
    value = models.CharField(max_length=200)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[PartnerScopedQuerySet] = PartnerScopedQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints = [
            # The services refuse a duplicate with a message first; this is the backstop
            # against two admins adding the same rule at once.
            models.UniqueConstraint(
                F("partner"), F("kind"), Lower("value"), name="channel_rule_unique_per_partner"
            )
        ]
        indexes = [models.Index(fields=["partner", "position"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} “{self.value}” → {self.get_channel_display()}"


class ChannelOverride(models.Model):
    """An admin's channel for one account, above every rule. Keyed like the mirror, by
    (company, customer id): ids collide across companies."""

    connection = models.ForeignKey(
        "sync.QBOConnection", on_delete=models.CASCADE, related_name="channel_overrides",
        db_index=False,  # the unique constraint's index starts with it
    )  # fmt: skip
    customer_qbo_id = models.CharField(max_length=32)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )  # fmt: skip
    set_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[ConnectionScopedQuerySet] = ConnectionScopedQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "customer_qbo_id"], name="channel_override_unique"
            )
        ]

    def __str__(self) -> str:
        return f"Account {self.customer_qbo_id}: {self.get_channel_display()}"
