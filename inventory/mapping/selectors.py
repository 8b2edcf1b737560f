"""Reads of SKU mapping: the conflicts queue and what other pages count of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.http import Http404

from accounts.access import AuthedRequest
from accounts.models import Partner
from inventory.catalog.models import CatalogSKU

from .models import MappingConflict, MappingDecision

if TYPE_CHECKING:
    from accounts.models import User


def open_conflict_count(*, user: User) -> int:
    count: int = MappingConflict.objects.open().visible_to(user).count()
    return count


QUEUE_LIMIT = 50


RECENT_DECISIONS = 20


def get_conflict_for_user(request: AuthedRequest, pk: int) -> MappingConflict:
    try:
        conflict: MappingConflict = MappingConflict.objects.visible_to(request.user).get(pk=pk)
    except MappingConflict.DoesNotExist:
        raise Http404("No such conflict.") from None
    return conflict


def conflict_queue(
    *, user: User, partner: Partner | None = None, kind: str = ""
) -> QuerySet[MappingConflict]:
    """The open conflicts ``user`` may decide, by partner and oldest first."""
    queue = (
        MappingConflict.objects.open()
        .visible_to(user)
        .select_related("connection__partner")
        .order_by("connection__partner__name", "detected_at", "pk")
    )
    if partner is not None:
        queue = queue.filter(connection__partner=partner)
    if kind:
        queue = queue.filter(kind=kind)
    return queue


def active_skus() -> list[CatalogSKU]:
    """What an admin may choose from on a conflict."""
    return list(CatalogSKU.objects.filter(active=True).order_by("code"))


def recent_decisions(*, user: User) -> list[MappingDecision]:
    return list(
        MappingDecision.objects.visible_to(user)
        .select_related("actor", "connection__partner", "conflict")
        .order_by("-created_at", "-pk")[:RECENT_DECISIONS]
    )
