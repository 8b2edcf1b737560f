"""An invitation to join unefemme: who, with which role and partner, and what became of it.

The link an invitee receives carries a signed token naming the row and its ``key``
(onboarding/tokens.py). The row is what makes the link single-use and revocable: a link
is honoured only while its invitation is pending (neither accepted, revoked nor expired)
and its key is the current one, so resending (a new key) kills the old link.
"""

from __future__ import annotations

import secrets
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Partner
from accounts.roles import Role


def new_key() -> str:
    return secrets.token_urlsafe(24)


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def pending(self) -> InvitationQuerySet:
        return self.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )


class Invitation(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="invitations"
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The secret half of the link: replaced on resend, so an older link no longer matches.
    key = models.CharField(max_length=64, default=new_key)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    revoked_at = models.DateTimeField(null=True, blank=True)
    # When the invitee last asked for a new link from a dead one: the admins are told once
    # a day at most, however often the button is pressed.
    renewal_requested_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[InvitationQuerySet] = InvitationQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["-created_at", "-pk"]
        # At most one pending invitation per address is the service's rule, not a
        # constraint: "pending" depends on the clock (an expired one is history).
        indexes = [models.Index(fields=["email"])]
        constraints = [
            # The same rule as a user's: a partner user's invitation names its partner,
            # Une Femme people's none.
            models.CheckConstraint(
                condition=(Q(role=Role.PARTNER) & Q(partner__isnull=False))
                | (~Q(role=Role.PARTNER) & Q(partner__isnull=True)),
                name="invitation_partner_matches_role",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.get_role_display()})"

    @property
    def state(self) -> Invitation.State:
        if self.accepted_at is not None:
            return self.State.ACCEPTED
        if self.revoked_at is not None:
            return self.State.REVOKED
        if self.expires_at <= timezone.now():
            return self.State.EXPIRED
        return self.State.PENDING

    @property
    def is_pending(self) -> bool:
        return self.state == self.State.PENDING
