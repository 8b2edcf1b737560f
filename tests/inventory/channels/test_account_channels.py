"""inventory.channels.selectors.account_channels: an account's channel is its override,
else the partner's first matching rule, else its customer type's built-in channel, else
other (docs/reports.md, "Channels"); at a constant number of queries; and the name
patterns an admin writes, which no input turns into a crash."""

from __future__ import annotations

import itertools

import pytest
from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import Partner, User
from billing.models import QBOCustomer
from inventory.channels import services as channels
from inventory.channels.matching import NamePattern, PatternError, channel_of_type, fold
from inventory.channels.models import Channel, ChannelRule, QBOCustomerType
from inventory.channels.selectors import Source, account_channel_rows, account_channels
from sync.models import QBOConnection
from tests.billing.factories import ConnectionFactory

_ids = itertools.count(1)
ON, OFF, OTHER = Channel.ON_PREMISE, Channel.OFF_PREMISE, Channel.OTHER


def customer(connection: QBOConnection, name: str, type_id: str | None = None) -> str:
    qbo_id = str(next(_ids))
    raw: dict[str, object] = {"Id": qbo_id, "DisplayName": name}
    if type_id is not None:
        raw["CustomerTypeRef"] = {"value": type_id}
    QBOCustomer.objects.create(connection=connection, qbo_id=qbo_id, display_name=name, raw=raw)
    return qbo_id


def types(connection: QBOConnection, **named: str) -> None:
    for qbo_id, name in named.items():
        QBOCustomerType.objects.create(connection=connection, qbo_id=qbo_id, name=name)


# --- Precedence ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_override_then_first_rule_then_customer_type_then_other(
    partner_a: Partner, partner_b: Partner, ada: User
) -> None:
    books: QBOConnection = ConnectionFactory(partner=partner_a)
    other_books: QBOConnection = ConnectionFactory(partner=partner_b)
    types(books, t1="Restaurant", t2="Wine shop", t3="Distributor", t4="Hotel")
    types(other_books, t1="Wine shop")
    plain_restaurant = customer(books, "Chez Paul", "t1")
    shop_named_bistro = customer(books, "Bistro Supplies", "t2")  # rule 1 beats its type
    cellar_bistro = customer(books, "Cellar Bistro", "t2")  # rule 1 before rule 2
    typed_distributor = customer(books, "Big Wholesale", "t3")  # type names no channel
    untyped = customer(books, "Someone")
    overridden = customer(books, "Hotel Café Bistro", "t4")
    unknown_type = customer(books, "Lost type", "t9")  # a type not read (yet)
    by_type_rule = customer(books, "Plain Name", "t3")
    # The same customer id in partner B's company: B has none of A's rules.
    b_shop = customer(other_books, "Bistro Supplies", "t1")

    channels.channel_rule_create(partner=partner_a, kind="name", value="bistro", channel=ON,
                                 user=ada)  # fmt: skip
    channels.channel_rule_create(partner=partner_a, kind="name", value="cellar", channel=OFF,
                                 user=ada)  # fmt: skip
    channels.channel_rule_create(partner=partner_a, kind="customer_type", value="DISTRIBUTOR",
                                 channel=OFF, user=ada)  # fmt: skip
    channels.channel_override_set(connection_id=books.pk, customer_qbo_id=overridden,
                                  channel=OTHER, user=ada)  # fmt: skip

    found = account_channels(connection_ids=[books.pk, other_books.pk])
    rows = {r.key: r for r in account_channel_rows(connection_ids=[books.pk, other_books.pk])}

    def said(qbo_id: str, conn: QBOConnection = books) -> tuple[Channel, str]:
        row = rows[(conn.pk, qbo_id)]
        assert found[row.key] == row.channel
        return row.channel, row.source

    assert said(plain_restaurant) == (ON, Source.CUSTOMER_TYPE)
    assert said(shop_named_bistro) == (ON, Source.RULE)
    assert said(cellar_bistro) == (ON, Source.RULE)
    assert rows[(books.pk, cellar_bistro)].rule is not None
    assert rows[(books.pk, cellar_bistro)].rule.position == 1  # type: ignore[union-attr]
    assert said(typed_distributor) == (OFF, Source.RULE)  # the type rule, case ignored
    assert said(by_type_rule) == (OFF, Source.RULE)
    assert said(untyped) == (OTHER, Source.NONE)
    assert said(unknown_type) == (OTHER, Source.NONE)
    assert said(overridden) == (OTHER, Source.OVERRIDE)
    assert said(b_shop, other_books) == (OFF, Source.CUSTOMER_TYPE)
    assert len(found) == 9

    # Moving the "cellar" rule first makes it win for the cellar bistro; clearing the
    # override hands the hotel back to the rules ("bistro").
    cellar_rule = ChannelRule.objects.get(partner=partner_a, value="cellar")
    channels.channel_rule_move(rule_id=cellar_rule.pk, up=True, user=ada)
    channels.channel_override_set(connection_id=books.pk, customer_qbo_id=overridden,
                                  channel="", user=ada)  # fmt: skip
    found = account_channels(connection_ids=[books.pk])
    assert found[(books.pk, cellar_bistro)] == OFF
    assert found[(books.pk, overridden)] == ON


@pytest.mark.django_db
def test_no_ids_no_queries() -> None:
    with CaptureQueriesContext(db_connection) as ctx:
        assert account_channels(connection_ids=[]) == {}
        assert account_channels(connection_ids=iter(())) == {}
    assert len(ctx.captured_queries) == 0


@pytest.mark.django_db
def test_queries_are_constant_at_n_and_10n_customers(partner_a: Partner, ada: User) -> None:
    books: QBOConnection = ConnectionFactory(partner=partner_a)
    types(books, t1="Bar", t2="Grocery")
    channels.channel_rule_create(partner=partner_a, kind="name", value="tap*room", channel=ON,
                                 user=ada)  # fmt: skip

    def grow(count: int) -> None:
        for n in range(count):
            qbo_id = customer(books, f"Account {n}", "t1" if n % 2 else "t2")
            if n % 3 == 0:
                channels.channel_override_set(connection_id=books.pk, customer_qbo_id=qbo_id,
                                              channel=OTHER, user=ada)  # fmt: skip

    def cost() -> int:
        with CaptureQueriesContext(db_connection) as ctx:
            account_channels(connection_ids=[books.pk])
        return len(ctx.captured_queries)

    grow(5)
    small = cost()
    grow(45)
    assert cost() == small == 4
    assert len(account_channels(connection_ids=[books.pk])) == 50


# --- The built-in channels of type names -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "channel"),
    [
        ("Restaurant", ON), ("Bar", ON), ("Wine bar", ON), ("Hotel", ON), ("Pub", ON),
        ("Club", ON), ("Café", ON), ("CAFE", ON), ("Bistro", ON),
        ("Wine shop", OFF), ("Liquor store", OFF), ("Grocery", OFF), ("Market", OFF),
        ("Supermarket", OFF), ("Store", OFF), ("Retail", OFF),
        ("Distributor", None), ("Barn", None), ("", None),
    ],
)  # fmt: skip
def test_type_names_say_their_channel(name: str, channel: Channel | None) -> None:
    assert channel_of_type(name) == channel


# --- Name patterns -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("bistro", "Cellar Bistro", True),
        ("BISTRO", "cellar bistro", True),
        ("cafe", "Café Lulu", True),
        ("café", "CAFE LULU", True),
        ("wine*bar", "Wine & Oyster Bar", True),
        ("wine*bar", "Bar du Vin", False),
        ("trattoria|brasserie", "Brasserie Lipp", True),
        ("Château d'Yquem", "Le Château d'Yquem Cellar", True),
        ("Crémant: Brut", "crémant: brut club", True),
        ("a*b*c", "cab", False),
    ],
)
def test_name_patterns(pattern: str, name: str, matches: bool) -> None:
    assert NamePattern.parse(pattern).matches(fold(name)) is matches


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "Enter some words"),
        ("   ", "Enter some words"),
        ("bistro||bar", "Alternative 2 of the pattern is empty"),
        ("|bar", "Alternative 1 of the pattern is empty"),
        ("*", "would match every account"),
        ("bar|**", "Alternative 2"),
        ("x" * 201, "200 characters"),
        ("bar\x00", "NUL"),
    ],
)
def test_bad_patterns_say_why(pattern: str, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        NamePattern.parse(pattern)


@settings(max_examples=300, deadline=None)
@given(pattern=st.text(max_size=250), name=st.text(max_size=300))
def test_any_pattern_parses_or_says_why_and_matching_never_fails(pattern: str, name: str) -> None:
    try:
        parsed = NamePattern.parse(pattern)
    except PatternError as exc:
        assert str(exc)
        return
    assert isinstance(parsed.matches(fold(name)), bool)
    # Every word of the pattern, as written, is found in a name made of it.
    assert parsed.matches(fold(parsed.text.split("|")[0].replace("*", " ")))


@pytest.mark.django_db
def test_the_services_refuse_bad_and_duplicate_rules(partner_a: Partner, ada: User) -> None:
    with pytest.raises(ValidationError) as bad:
        channels.channel_rule_create(partner=partner_a, kind="name", value="bar||pub",
                                     channel=ON, user=ada)  # fmt: skip
    assert "Alternative 2" in bad.value.message_dict["value"][0]
    channels.channel_rule_create(partner=partner_a, kind="name", value="Café", channel=ON,
                                 user=ada)  # fmt: skip
    with pytest.raises(ValidationError) as duplicate:
        channels.channel_rule_create(partner=partner_a, kind="name", value=" CAFE ",
                                     channel=OFF, user=ada)  # fmt: skip
    assert "Rule 1 already says this" in duplicate.value.message_dict["value"][0]
    with pytest.raises(ValidationError):
        channels.channel_rule_create(partner=partner_a, kind="name", value="pub",
                                     channel="nowhere", user=ada)  # fmt: skip
    with pytest.raises(ValidationError):
        channels.channel_rule_create(partner=partner_a, kind="customer_type", value="  ",
                                     channel=ON, user=ada)  # fmt: skip
    assert ChannelRule.objects.count() == 1
