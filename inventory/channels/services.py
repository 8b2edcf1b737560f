"""Writes of accounts' channels (docs/reports.md, "Channels"): the customer type names read
from QuickBooks, the partners' rules and the per-account overrides. Every change an admin
makes writes an audit row in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.services import audit_record
from billing.models import QBOCustomer
from sync.clients import qbo
from sync.models import QBOConnection
from sync.tokens import ConnectionTokens

from .matching import NamePattern, PatternError, fold
from .models import Channel, ChannelOverride, ChannelRule, QBOCustomerType

if TYPE_CHECKING:
    from accounts.models import Partner, User

logger = logging.getLogger(__name__)

MAX_RULES = 100
MAX_TYPE_NAME = 200


# ---------------------------------------------------------------- customer type names


def customer_types_refresh(
    *, connection_id: int, user: User | None = None, client: qbo.QBOClient | None = None
) -> list[QBOCustomerType] | None:
    """Read the company's CustomerType list from QuickBooks and replace the names stored
    for it. None, and nothing read, for a disconnected company (it has no tokens). A
    QuickBooks fault is raised as ``qbo.QBOError`` with the names kept as they were."""
    connection = QBOConnection.objects.get(pk=connection_id)
    if connection.status == QBOConnection.Status.DISCONNECTED:
        return None
    # Outside the transaction: a request to QuickBooks may wait for the realm's limiter
    # and retry, and must not hold a database transaction open meanwhile.
    # An import passes its own client (metered: its run counts the request).
    client = client or qbo.QBOClient(
        realm_id=connection.realm_id, tokens=ConnectionTokens(connection.pk)
    )
    read = client.customer_types()
    now = timezone.now()
    with transaction.atomic():
        # Locks the connection's row: two refreshes of one company (the nightly job and an
        # admin's press) replace the list one after the other, never interleaved.
        QBOConnection.objects.select_for_update().filter(pk=connection.pk).first()
        before = dict(
            QBOCustomerType.objects.filter(connection=connection).values_list("qbo_id", "name")
        )
        QBOCustomerType.objects.filter(connection=connection).delete()
        stored = QBOCustomerType.objects.bulk_create(
            QBOCustomerType(
                connection=connection, qbo_id=t.id, name=t.name[:255], active=t.active, read_at=now
            )
            for t in read
        )
        after = {t.qbo_id: t.name for t in stored}
        if user is not None and before != after:
            audit_record(
                actor=user, action="channel.customer_types_refresh", target=connection,
                changes={"customer_types": (sorted(before.values()), sorted(after.values()))},
            )  # fmt: skip
    return stored


@dataclass(frozen=True)
class TypesRead:
    """What one company's refresh came to, for the admin who pressed the button."""

    company: str
    count: int | None  # types read; None when QuickBooks did not answer
    error: str = ""


def customer_types_refresh_for_partner(*, partner: Partner, user: User) -> list[TypesRead]:
    """Re-read the type names of each of the partner's live companies now (the rules
    page's button). A QuickBooks fault is reported per company, with the ``intuit_tid``
    Intuit's support asks for, and leaves that company's names as they were."""
    outcomes = []
    for connection in partner.connections.live().order_by("pk"):
        company = connection.company_name or connection.realm_id
        try:
            stored = customer_types_refresh(connection_id=connection.pk, user=user)
        except qbo.QBOError as exc:
            tid = f" (intuit_tid {exc.intuit_tid})" if exc.intuit_tid else ""
            outcomes.append(TypesRead(company, None, f"{exc}{tid}"))
        else:
            outcomes.append(TypesRead(company, len(stored or [])))
    return outcomes


def customer_types_schedule() -> list[int]:
    """Beat's nightly run: one refresh per live connection, enqueued on commit."""
    from inventory import tasks  # tasks import this module

    ids = list(QBOConnection.objects.live().order_by("pk").values_list("pk", flat=True))
    for connection_id in ids:
        transaction.on_commit(partial(tasks.customer_types_refresh.delay, connection_id))
    return ids


# ---------------------------------------------------------------- rules


def _clean_rule(
    *, partner: Partner, kind: str, value: str, channel: str, exclude_pk: int | None = None
) -> str:
    """The value to store, or ``ValidationError`` naming the field at fault."""
    if kind not in ChannelRule.Kind.values:
        raise ValidationError({"kind": "Choose what the rule looks at."})
    if channel not in Channel.values:
        raise ValidationError({"channel": "Choose a channel."})
    if kind == ChannelRule.Kind.NAME:
        try:
            value = NamePattern.parse(value).text
        except PatternError as exc:
            raise ValidationError({"value": str(exc)}) from None
    else:
        value = " ".join(value.split())
        if not value:
            raise ValidationError({"value": "Enter the name of a customer type."})
        if len(value) > MAX_TYPE_NAME:
            raise ValidationError(
                {"value": f"Keep the type name to {MAX_TYPE_NAME} characters or fewer."}
            )
    others = ChannelRule.objects.filter(partner=partner, kind=kind).exclude(pk=exclude_pk)
    for other in others:
        # The same words are the same rule, whatever the case or accents: the later one
        # could never match anything the earlier had not.
        if fold(other.value) == fold(value):
            raise ValidationError(
                {"value": f"Rule {other.position} already says this ({other}). Edit that one."}
            )
    return value


def _lock_rules(partner: Partner) -> None:
    # Serialises every change to one partner's list (positions are renumbered by them).
    type(partner).objects.select_for_update().filter(pk=partner.pk).first()


@transaction.atomic
def channel_rule_create(
    *, partner: Partner, kind: str, value: str, channel: str, user: User
) -> ChannelRule:
    """Add a rule at the end of the partner's list."""
    _lock_rules(partner)
    value = _clean_rule(partner=partner, kind=kind, value=value, channel=channel)
    rules = ChannelRule.objects.filter(partner=partner)
    if rules.count() >= MAX_RULES:
        raise ValidationError(f"A partner can have at most {MAX_RULES} rules.")
    last = rules.aggregate(last=Max("position"))["last"] or 0
    rule: ChannelRule = ChannelRule.objects.create(
        partner=partner, position=last + 1, kind=kind, value=value, channel=channel,
        created_by=user,
    )  # fmt: skip
    audit_record(
        actor=user, action="channel_rule.create", target=rule,
        changes={"kind": (None, kind), "value": (None, value), "channel": (None, channel),
                 "position": (None, rule.position)},
    )  # fmt: skip
    return rule


@transaction.atomic
def channel_rule_update(
    *, rule_id: int, kind: str, value: str, channel: str, user: User
) -> ChannelRule:
    rule: ChannelRule = ChannelRule.objects.select_related("partner").get(pk=rule_id)
    _lock_rules(rule.partner)
    value = _clean_rule(
        partner=rule.partner, kind=kind, value=value, channel=channel, exclude_pk=rule.pk
    )
    changes = {
        name: (getattr(rule, name), new)
        for name, new in (("kind", kind), ("value", value), ("channel", channel))
        if getattr(rule, name) != new
    }
    if changes:
        rule.kind, rule.value, rule.channel = kind, value, channel
        rule.updated_at = timezone.now()
        rule.save(update_fields=["kind", "value", "channel", "updated_at"])
        audit_record(actor=user, action="channel_rule.update", target=rule, changes=changes)
    return rule


@transaction.atomic
def channel_rule_delete(*, rule_id: int, user: User) -> None:
    rule = ChannelRule.objects.select_related("partner").get(pk=rule_id)
    _lock_rules(rule.partner)
    audit_record(
        actor=user, action="channel_rule.delete", target=rule,
        changes={"kind": (rule.kind, None), "value": (rule.value, None),
                 "channel": (rule.channel, None), "position": (rule.position, None)},
    )  # fmt: skip
    partner = rule.partner
    rule.delete()
    _renumber(partner)


@transaction.atomic
def channel_rule_move(*, rule_id: int, up: bool, user: User) -> ChannelRule:
    """Swap the rule with the one before it (``up``) or after it. At either end, nothing."""
    rule: ChannelRule = ChannelRule.objects.select_related("partner").get(pk=rule_id)
    _lock_rules(rule.partner)
    ordered = list(ChannelRule.objects.filter(partner=rule.partner).order_by("position", "pk"))
    index = next(i for i, r in enumerate(ordered) if r.pk == rule.pk)
    other = index - 1 if up else index + 1
    if not 0 <= other < len(ordered):
        return rule
    ordered[index], ordered[other] = ordered[other], ordered[index]
    before = rule.position
    _renumber(rule.partner, ordered)
    rule.refresh_from_db()
    audit_record(
        actor=user, action="channel_rule.move", target=rule,
        changes={"position": (before, rule.position)},
    )  # fmt: skip
    return rule


def _renumber(partner: Partner, ordered: list[ChannelRule] | None = None) -> None:
    # Positions stay 1..n, as the page numbers them and the audit rows name them.
    if ordered is None:
        ordered = list(ChannelRule.objects.filter(partner=partner).order_by("position", "pk"))
    changed = []
    for position, rule in enumerate(ordered, start=1):
        if rule.position != position:
            rule.position = position
            changed.append(rule)
    ChannelRule.objects.bulk_update(changed, ["position"])


# ---------------------------------------------------------------- overrides


@transaction.atomic
def channel_override_set(
    *, connection_id: int, customer_qbo_id: str, channel: str, user: User
) -> ChannelOverride | None:
    """Give the account ``channel`` whatever the rules say; ``""`` clears the override, so
    the rules and the customer type decide again. Returns the override, None once cleared."""
    if channel and channel not in Channel.values:
        raise ValidationError({"channel": "Choose a channel, or none to let the rules decide."})
    if not QBOCustomer.objects.filter(connection_id=connection_id, qbo_id=customer_qbo_id).exists():
        raise ValidationError("This account is not among the company's QuickBooks customers.")
    current: ChannelOverride | None = (
        ChannelOverride.objects.select_for_update()
        .filter(connection_id=connection_id, customer_qbo_id=customer_qbo_id)
        .first()
    )
    if not channel:
        if current is not None:
            audit_record(
                actor=user, action="channel_override.clear", target=current,
                changes={"channel": (current.channel, None)},
            )  # fmt: skip
            current.delete()
        return None
    if current is not None and current.channel == channel:
        return current
    before = current.channel if current is not None else None
    override: ChannelOverride
    override, _ = ChannelOverride.objects.update_or_create(
        connection_id=connection_id, customer_qbo_id=customer_qbo_id,
        defaults={"channel": channel, "set_by": user, "set_at": timezone.now()},
    )  # fmt: skip
    audit_record(
        actor=user, action="channel_override.set", target=override,
        changes={"channel": (before, channel)},
    )  # fmt: skip
    return override
