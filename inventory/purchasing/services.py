"""Which vendor is Une Femme in each partner's QuickBooks: the one whose bills count as
sell-in (what the partner bought from us). Purchases from any other vendor are ignored.

How ``une_femme_vendor_detect`` (run after every successful sync, after the SKU mapping,
and on demand) chooses, per connection, unless an admin has set the vendor:

1. **By name**: active vendors whose display or company name holds one of
   ``settings.UNE_FEMME_VENDOR_NAMES``, or the partner's own hint (its page's "Une Femme
   vendor hint"), as whole words, without case or accents ("Une Femme Wines" and "UNE
   FÉMME" match, "Prune Femmes" does not).
2. **Else by e-mail domain**: active vendors whose e-mail is at one of
   ``settings.UNE_FEMME_EMAIL_DOMAINS``, or at a subdomain of one.
3. **Else by bills**: active vendors with bill lines for items mapped to catalog SKUs.

Only the first rule that finds any vendor counts. When it finds several, the one with the
most bill lines for mapped items wins; still tied, none is chosen and the tie is recorded
as ambiguous, for an admin to settle: guessing would count another supplier's bills as
Une Femme's.

An admin's choice stands until an admin returns the connection to automatic. Every change
of the choice (found, lost, set, returned to automatic) writes one ``UneFemmeVendorChange``
in the same transaction; a detection that finds what is already chosen writes nothing,
so running it after every sync leaves no trail of non-events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from inventory.mapping.matching import normalise
from inventory.mapping.models import SKUMapping
from sync.models import QBOConnection

from .models import QBOBillLine, QBOVendor, UneFemmeVendor, UneFemmeVendorChange

if TYPE_CHECKING:
    from accounts.models import User

Source = UneFemmeVendor.Source


@dataclass(frozen=True)
class Choice:
    """What a detection or an admin decided: a vendor (or none) and how."""

    vendor_qbo_id: str
    vendor_name: str
    source: str
    # The tied vendors' names, for an ambiguous choice.
    candidates: tuple[str, ...] = ()

    def as_audit(self) -> dict[str, Any]:
        return {
            "vendor_qbo_id": self.vendor_qbo_id,
            "vendor_name": self.vendor_name,
            "source": self.source,
        }


# ------------------------------------------------------------------ the rules


def _names() -> list[str]:
    return [n for n in (normalise(name) for name in settings.UNE_FEMME_VENDOR_NAMES) if n]


def _domains() -> list[str]:
    return [
        d
        for d in (
            domain.strip().lstrip("@").rstrip(".").lower()
            for domain in settings.UNE_FEMME_EMAIL_DOMAINS
        )
        if d
    ]


def name_matches(name: str, names: list[str]) -> bool:
    """Whether ``name`` holds one of ``names`` (already normalised) as whole words."""
    # Padded with spaces, a substring test is a word test: normalise() turned every
    # punctuation mark into a space, so "Une-Femme, Inc." reads " une femme inc ".
    padded = f" {normalise(name)} "
    return any(f" {wanted} " in padded for wanted in names)


def email_matches(email: str, domains: list[str]) -> bool:
    _, at, domain = email.strip().rpartition("@")
    domain = domain.rstrip(".").lower()
    return bool(at and domain) and any(domain == d or domain.endswith(f".{d}") for d in domains)


def _mapped_bill_lines(connection: QBOConnection) -> dict[str, int]:
    """Per vendor id, how many of the connection's bill lines buy an item mapped to a
    catalog SKU: how much Une Femme wine each vendor has billed the partner for."""
    mapped = SKUMapping.objects.filter(connection=connection).values("item_qbo_id")
    rows = (
        QBOBillLine.objects.filter(bill__connection=connection, item_qbo_id__in=mapped)
        .values_list("bill__vendor_qbo_id")
        .annotate(lines=Count("pk"))
        .order_by()
    )
    return dict(rows)


def _detect(connection: QBOConnection) -> Choice:
    vendors = list(
        QBOVendor.objects.filter(connection=connection, active=True)
        .only("qbo_id", "display_name", "company_name", "email")
        .order_by("qbo_id")
    )
    lines = _mapped_bill_lines(connection)
    names, domains = _names(), _domains()
    # A distributor that files us under a name of its own ("UF Imports") is told so on its
    # partner page: that name counts as one of ours for this partner's companies only.
    hint = normalise(connection.partner.une_femme_vendor_hint)
    if hint:
        names.append(hint)
    # The rules in order, each as (how it is recorded, which vendors it finds).
    ranks: list[tuple[str, list[QBOVendor]]] = [
        (
            Source.NAME,
            [
                v
                for v in vendors
                if name_matches(v.display_name, names) or name_matches(v.company_name, names)
            ],
        ),
        (Source.EMAIL, [v for v in vendors if email_matches(v.email, domains)]),
        (Source.BILLS, [v for v in vendors if lines.get(v.qbo_id, 0) > 0]),
    ]
    for source, candidates in ranks:
        if not candidates:
            continue
        most = max(lines.get(v.qbo_id, 0) for v in candidates)
        leaders = [v for v in candidates if lines.get(v.qbo_id, 0) == most]
        if len(leaders) == 1:
            return Choice(leaders[0].qbo_id, leaders[0].display_name, source)
        return Choice("", "", Source.AMBIGUOUS, tuple(sorted(v.display_name for v in leaders)))
    return Choice("", "", Source.NOT_FOUND)


# ------------------------------------------------------------------ recording a choice


def _lock_connection(connection_id: int) -> QBOConnection:
    # One decision at a time per connection: a sync's detection and an admin's choice
    # must not both record a change from the same stale "before".
    try:
        connection: QBOConnection = QBOConnection.objects.select_for_update().get(pk=connection_id)
    except QBOConnection.DoesNotExist:
        raise ValidationError("This QuickBooks connection no longer exists.") from None
    return connection


def _current(connection: QBOConnection) -> UneFemmeVendor | None:
    row: UneFemmeVendor | None = UneFemmeVendor.objects.filter(connection=connection).first()
    return row


def _state(row: UneFemmeVendor | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {
        "vendor_qbo_id": row.vendor_qbo_id,
        "vendor_name": row.vendor_name,
        "source": row.source,
    }


def _record(
    connection: QBOConnection,
    current: UneFemmeVendor | None,
    choice: Choice,
    *,
    actor: User | None,
) -> tuple[UneFemmeVendor, bool]:
    """Make ``choice`` the connection's; returns the row and whether the choice changed
    (and was audited)."""
    if current is not None and (current.vendor_qbo_id, current.source) == (
        choice.vendor_qbo_id,
        choice.source,
    ):
        # The same choice. A rename in QuickBooks, or another set of tied vendors, is kept
        # for the page, but is no change of who Une Femme is: no audit row.
        fresh = {"vendor_name": choice.vendor_name, "candidates": list(choice.candidates)}
        stale = [f for f, v in fresh.items() if getattr(current, f) != v]
        if stale:
            for field_name in stale:
                setattr(current, field_name, fresh[field_name])
            current.save(update_fields=stale)
        return current, False

    now = timezone.now()
    before = _state(current)
    values = {
        "vendor_qbo_id": choice.vendor_qbo_id,
        "vendor_name": choice.vendor_name,
        "source": choice.source,
        "candidates": list(choice.candidates),
        "set_by": actor if choice.source == Source.ADMIN else None,
        "decided_at": now,
    }
    row, _ = UneFemmeVendor.objects.update_or_create(connection=connection, defaults=values)
    UneFemmeVendorChange.objects.create(
        connection=connection, actor=actor, before=before, after=choice.as_audit(), created_at=now
    )
    return row, True


# ------------------------------------------------------------------ the services


@transaction.atomic
def une_femme_vendor_detect(*, connection_id: int) -> UneFemmeVendor:
    """Find the connection's Une Femme vendor again, unless an admin has set it."""
    connection = _lock_connection(connection_id)
    current = _current(connection)
    if current is not None and current.is_set_by_admin:
        return current
    row, _ = _record(connection, current, _detect(connection), actor=None)
    return row


@transaction.atomic
def une_femme_vendor_set(
    *, connection_id: int, user: User, vendor_qbo_id: str
) -> tuple[UneFemmeVendor, bool]:
    """An admin says which vendor is Une Femme; syncs keep it until an admin returns the
    connection to automatic. Returns the row and whether anything changed."""
    connection = _lock_connection(connection_id)
    vendor = (
        QBOVendor.objects.filter(connection=connection, qbo_id=vendor_qbo_id)
        .only("qbo_id", "display_name")
        .first()
    )
    if vendor is None:
        raise ValidationError(
            "That vendor is not one of this partner's QuickBooks vendors. Nothing was changed."
        )
    choice = Choice(vendor.qbo_id, vendor.display_name, Source.ADMIN)
    return _record(connection, _current(connection), choice, actor=user)


@transaction.atomic
def une_femme_vendor_reset(*, connection_id: int, user: User) -> tuple[UneFemmeVendor, bool]:
    """An admin hands the choice back to the automatic rules, which run at once. Returns
    the row and whether anything changed."""
    connection = _lock_connection(connection_id)
    return _record(connection, _current(connection), _detect(connection), actor=user)
