"""Reads of accounts' channels (docs/reports.md, "Channels").

``account_channels`` is what other code calls (the accounts pages, allowance programs):
every customer of the given companies → its channel. ``account_channel_rows`` is the same
resolution with what decided it, for the channels page. Either costs four queries
(customers, type names, rules, overrides) whatever the number of customers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import Count, QuerySet, Subquery
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.shortcuts import get_object_or_404

from accounts.models import Partner
from billing.models import QBOCustomer
from sync.models import QBOConnection

from .matching import NamePattern, PatternError, channel_of_type, fold
from .models import Channel, ChannelOverride, ChannelRule, QBOCustomerType

if TYPE_CHECKING:
    from accounts.access import AuthedRequest
    from accounts.models import User

__all__ = [
    "AccountChannel",
    "Source",
    "account_channel_rows",
    "account_channels",
    "get_partner_for_user",
    "get_rule_for_user",
    "partner_rules",
]


class Source:
    """What decided an account's channel, in the order they are tried."""

    OVERRIDE = "override"
    RULE = "rule"
    CUSTOMER_TYPE = "customer_type"
    NONE = "none"

    CHOICES = (
        (OVERRIDE, "Set for the account"),
        (RULE, "Partner's rule"),
        (CUSTOMER_TYPE, "Customer type"),
        (NONE, "Nothing (other)"),
    )
    LABELS = dict(CHOICES)


@dataclass(frozen=True)
class AccountChannel:
    """One account's channel and what decided it."""

    connection_id: int
    partner_id: int
    customer_qbo_id: str
    name: str
    active: bool
    type_name: str  # "" when the customer has no type, or its name is not read yet
    channel: Channel
    source: str  # a Source value
    rule: ChannelRule | None = None  # the rule that matched (source RULE)
    override_by: str = ""  # who set the override (source OVERRIDE)
    override_at: datetime | None = None

    @property
    def key(self) -> tuple[int, str]:
        return (self.connection_id, self.customer_qbo_id)

    @property
    def channel_label(self) -> str:
        return Channel(self.channel).label

    @property
    def source_label(self) -> str:
        return Source.LABELS[self.source]

    @property
    def decided_by(self) -> str:
        """The source in words, for the page and the export."""
        if self.rule is not None:
            return f"Rule {self.rule.position}: {self.rule}"
        if self.source == Source.CUSTOMER_TYPE:
            return f"Customer type “{self.type_name}”"
        if self.source == Source.OVERRIDE:
            return f"Set by {self.override_by or 'an admin'}"
        return "Nothing: no rule matched and the customer type names no channel"


@dataclass(frozen=True)
class _Rule:
    rule: ChannelRule
    type_name: str  # folded, for CUSTOMER_TYPE rules
    pattern: NamePattern | None  # for NAME rules

    def matches(self, folded_name: str, folded_type: str) -> bool:
        if self.pattern is not None:
            return self.pattern.matches(folded_name)
        return bool(folded_type) and folded_type == self.type_name


def _compiled(rule: ChannelRule) -> _Rule | None:
    if rule.kind == ChannelRule.Kind.NAME:
        try:
            return _Rule(rule, "", NamePattern.parse(rule.value))
        except PatternError:
            # The services refuse such a pattern; a row written some other way (the Django
            # admin, a restored backup) decides nothing rather than failing every page.
            return None
    return _Rule(rule, fold(rule.value), None)


def account_channel_rows(*, connection_ids: Iterable[int]) -> list[AccountChannel]:
    """Every mirrored customer of ``connection_ids`` with its channel and its source, in
    the order of the mirror (callers sort). The caller has scoped the ids to the user."""
    ids = sorted(set(connection_ids))
    if not ids:
        return []
    type_ref = KeyTextTransform("value", KeyTransform("CustomerTypeRef", "raw"))
    customers = (
        QBOCustomer.objects.filter(connection_id__in=ids)
        .annotate(type_id=type_ref)
        .values_list(
            "connection_id",
            "connection__partner_id",
            "qbo_id",
            "display_name",
            "active",
            "type_id",
        )  # fmt: skip
    )
    type_names = {
        (conn, qbo_id): name
        for conn, qbo_id, name in QBOCustomerType.objects.filter(connection_id__in=ids)
        .values_list("connection_id", "qbo_id", "name")
    }  # fmt: skip
    partners = QBOConnection.objects.filter(pk__in=ids).values("partner_id")
    rules: dict[int, list[_Rule]] = defaultdict(list)
    for rule in ChannelRule.objects.filter(partner_id__in=Subquery(partners)).order_by(
        "partner_id", "position", "pk"
    ):
        if (compiled := _compiled(rule)) is not None:
            rules[rule.partner_id].append(compiled)
    overrides = {
        (conn, qbo_id): (channel, by or "", at)
        for conn, qbo_id, channel, by, at in ChannelOverride.objects.filter(
            connection_id__in=ids
        ).values_list("connection_id", "customer_qbo_id", "channel", "set_by__email", "set_at")
    }
    found: list[AccountChannel] = []
    for conn, partner_id, qbo_id, name, active, type_id in customers:
        type_name = type_names.get((conn, type_id), "") if type_id else ""
        account = {
            "connection_id": conn, "partner_id": partner_id, "customer_qbo_id": qbo_id,
            "name": name, "active": active, "type_name": type_name,
        }  # fmt: skip
        override = overrides.get((conn, qbo_id))
        if override is not None:
            channel, by, at = override
            found.append(
                AccountChannel(
                    **account,
                    channel=Channel(channel),
                    source=Source.OVERRIDE,
                    override_by=by,
                    override_at=at,
                )  # fmt: skip
            )
            continue
        folded_name, folded_type = fold(name), fold(type_name)
        matched = next((r for r in rules[partner_id] if r.matches(folded_name, folded_type)), None)
        if matched is not None:
            found.append(
                AccountChannel(
                    **account,
                    channel=Channel(matched.rule.channel),
                    source=Source.RULE,
                    rule=matched.rule,
                )  # fmt: skip
            )
            continue
        by_type = channel_of_type(type_name) if type_name else None
        if by_type is not None:
            found.append(AccountChannel(**account, channel=by_type, source=Source.CUSTOMER_TYPE))
        else:
            found.append(AccountChannel(**account, channel=Channel.OTHER, source=Source.NONE))
    return found


def account_channels(*, connection_ids: Iterable[int]) -> dict[tuple[int, str], Channel]:
    """(connection id, customer QBO id) → channel for every mirrored customer of
    ``connection_ids``. Precedence (docs/reports.md, "Channels"): the account's override,
    then the partner's rules in order (first match wins), then the built-in channel of its
    customer type's name, then OTHER. Four queries whatever the number of customers, none
    for no ids. A customer a document names but the mirror does not have is missing: read
    it as ``.get(key, Channel.OTHER)``. Scope is the caller's: pass only ids the user may
    see (``QBOConnection.objects.visible_to(user)``)."""
    return {row.key: row.channel for row in account_channel_rows(connection_ids=connection_ids)}


# ---------------------------------------------------------------- loaders and lists


def get_partner_for_user(request: AuthedRequest, partner_id: int) -> Partner:
    """The partner whose channels ``request.user`` may see; 404 for another partner's."""
    partner: Partner = get_object_or_404(Partner.objects.visible_to(request.user), pk=partner_id)
    return partner


def get_rule_for_user(request: AuthedRequest, pk: int) -> ChannelRule:
    """A rule of a partner ``request.user`` may see (the views say who may change it)."""
    rules = ChannelRule.objects.visible_to(request.user).select_related("partner")
    rule: ChannelRule = get_object_or_404(rules, pk=pk)
    return rule


def partner_rules(*, partner: Partner) -> QuerySet[ChannelRule]:
    return partner.channel_rules.select_related("created_by").order_by("position", "pk")


def partner_customer_types(*, partner: Partner) -> list[QBOCustomerType]:
    """The customer types of the partner's companies, each with its built-in channel."""
    types = list(
        QBOCustomerType.objects.filter(connection__partner=partner)
        .select_related("connection")
        .order_by("name", "connection_id", "qbo_id")
    )
    for row in types:
        row.default_channel = channel_of_type(row.name)
    return types


def visible_connection_ids(*, user: User, partner_id: int | None = None) -> list[int]:
    connections = QBOConnection.objects.visible_to(user)
    if partner_id is not None:
        connections = connections.filter(partner_id=partner_id)
    return list(connections.values_list("pk", flat=True))


def partners_with_counts(*, user: User) -> QuerySet[Partner]:
    """The partners ``user`` sees, each with its number of rules and of overrides."""
    partners: QuerySet[Partner] = (
        Partner.objects.visible_to(user)
        .annotate(
            rule_count=Count("channel_rules", distinct=True),
            override_count=Count("connections__channel_overrides", distinct=True),
        )
        .order_by("name")
    )
    return partners
