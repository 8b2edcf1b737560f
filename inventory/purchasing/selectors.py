"""Reads of purchasing: which vendor is Une Femme per connection, for the suppliers page
and for sell-in."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db.models import Count, IntegerField, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from sync.models import QBOConnection

from .models import QBOBill, QBOVendor, UneFemmeVendor, UneFemmeVendorChange

if TYPE_CHECKING:
    from accounts.access import AuthedRequest
    from accounts.models import User

# How many changes the page lists under each connection.
RECENT_CHANGES = 5


def une_femme_vendor_ids(connection_ids: Iterable[int]) -> dict[int, str]:
    """The QuickBooks id of Une Femme's vendor, per connection that has one: the vendor
    whose bills are sell-in. A connection with no vendor found (or a tie) is left out, so
    sell-in counts nothing for it rather than another supplier's bills."""
    rows = (
        UneFemmeVendor.objects.filter(connection_id__in=list(connection_ids))
        .exclude(vendor_qbo_id="")
        .values_list("connection_id", "vendor_qbo_id")
    )
    return dict(rows)


def get_connection_for_user(request: AuthedRequest, pk: int) -> QBOConnection:
    """A live connection ``request.user`` may see, or 404 (another partner's, a
    disconnected or a missing one alike). Live only, as the page lists and as every
    report counts: a disconnected company's books are no longer followed."""
    try:
        connection: QBOConnection = (
            QBOConnection.objects.live()
            .visible_to(request.user)
            .select_related("partner")
            .get(pk=pk)
        )
    except QBOConnection.DoesNotExist:
        raise Http404("No such QuickBooks connection.") from None
    return connection


def supplier_rows(*, user: User, with_vendors: bool = False) -> list[QBOConnection]:
    """The suppliers page's rows: each live connection ``user`` may see, by partner, with
    ``partner`` and ``choice`` (its ``UneFemmeVendor`` with ``set_by``, or None before
    the first detection), and annotated

    - ``vendor_display``/``vendor_active``: the chosen vendor as the mirror has it now
      (None when the mirror no longer has it);
    - ``vendor_bills``: how many of the connection's bills are from it;
    - ``recent_changes``: its last ``RECENT_CHANGES`` changes, newest first;
    - with ``with_vendors`` (an admin's form), ``vendor_choices``: every vendor of the
      connection, active first.

    A fixed number of queries whatever the number of connections, vendors or changes.
    """
    chosen = OuterRef("une_femme_vendor__vendor_qbo_id")
    vendor = QBOVendor.objects.filter(connection=OuterRef("pk"), qbo_id=chosen)
    bills = (
        QBOBill.objects.filter(connection=OuterRef("pk"), vendor_qbo_id=chosen)
        .order_by()
        .values("connection")
        .annotate(n=Count("pk"))
        .values("n")
    )
    prefetches: list[Any] = [
        # A sliced Prefetch is one query with a window function, for all rows.
        Prefetch(
            "une_femme_vendor_changes",
            queryset=UneFemmeVendorChange.objects.select_related("actor").order_by(
                "-created_at", "-pk"
            )[:RECENT_CHANGES],
            to_attr="recent_changes",
        )
    ]
    if with_vendors:
        prefetches.append(
            Prefetch(
                "vendors",
                queryset=QBOVendor.objects.only(
                    "connection_id", "qbo_id", "display_name", "active"
                ).order_by("-active", "display_name", "qbo_id"),
                to_attr="vendor_choices",
            )
        )
    rows = (
        QBOConnection.objects.live()
        .visible_to(user)
        .select_related("partner", "une_femme_vendor__set_by")
        .annotate(
            vendor_display=Subquery(vendor.values("display_name")[:1]),
            vendor_active=Subquery(vendor.values("active")[:1]),
            vendor_bills=Coalesce(Subquery(bills, output_field=IntegerField()), 0),
        )
        .prefetch_related(*prefetches)
        .order_by("partner__name", "pk")
    )
    result = list(rows)
    for row in result:
        # The reverse one-to-one raises when there is no row; the template wants None.
        row.choice = getattr(row, "une_femme_vendor", None)
    return result
