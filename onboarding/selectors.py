"""Reads for the invitation pages and the first-run page."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet

from accounts.models import Partner, User
from accounts.roles import Role
from inventory.mapping.models import MappingConflict, SKUMapping
from inventory.warehouse.models import WarehouseSnapshot
from sync.models import QBOConnection

from .models import Invitation


def invitation_list() -> QuerySet[Invitation]:
    """Every invitation, newest first, with what the list shows about each (one query)."""
    return Invitation.objects.select_related("partner", "invited_by", "accepted_user")


def pending_invitations() -> QuerySet[Invitation]:
    return Invitation.objects.pending().select_related("partner", "invited_by")


@dataclass(frozen=True)
class FirstRun:
    """A partner's three first steps, each done or not, from the real data."""

    connected: bool
    mapped: bool
    counted: bool

    @property
    def all_done(self) -> bool:
        return self.connected and self.mapped and self.counted


def first_run(user: User) -> FirstRun | None:
    """The first steps of ``user``'s partner (one query); None for Une Femme's people.

    - connected: the partner has a live QuickBooks connection (connected, or needing a
      reconnect: it was connected, and the connections page says what to do);
    - mapped: a live connection has items mapped to the catalog and no open mapping
      conflict waiting;
    - counted: a warehouse count (snapshot) exists for the partner.
    """
    if user.role != Role.PARTNER or user.partner_id is None:
        return None
    live = QBOConnection.objects.filter(partner=OuterRef("pk")).exclude(
        status=QBOConnection.Status.DISCONNECTED
    )
    mapped = SKUMapping.objects.filter(connection__partner=OuterRef("pk")).exclude(
        connection__status=QBOConnection.Status.DISCONNECTED
    )
    conflicts = MappingConflict.objects.filter(
        connection__partner=OuterRef("pk"), status=MappingConflict.Status.OPEN
    )
    counted = WarehouseSnapshot.objects.filter(partner=OuterRef("pk"))
    row = (
        Partner.objects.filter(pk=user.partner_id)
        .annotate(
            connected=Exists(live),
            mapped=Exists(mapped),
            conflicted=Exists(conflicts),
            counted=Exists(counted),
        )
        .values("connected", "mapped", "conflicted", "counted")
        .get()
    )
    return FirstRun(
        connected=row["connected"],
        mapped=row["mapped"] and not row["conflicted"],
        counted=row["counted"],
    )
