"""The channels pages: every account with its channel and what decided it, each partner's
rules, and the admins' changes (rules, overrides), each audited. Staff read and get 403 on
every write; a partner user reads their own partner's and gets 404 for another's."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.urls import reverse

from accounts.models import AuditEvent, Partner, User
from billing.models import QBOCustomer
from inventory.channels import services as channels
from inventory.channels.models import Channel, ChannelOverride, ChannelRule, QBOCustomerType
from sync.models import QBOConnection
from tests.billing.factories import ConnectionFactory
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db
ON, OFF = Channel.ON_PREMISE, Channel.OFF_PREMISE


@pytest.fixture
def books_a(partner_a: Partner) -> QBOConnection:
    books: QBOConnection = ConnectionFactory(partner=partner_a)
    QBOCustomerType.objects.create(connection=books, qbo_id="1", name="Restaurant")
    QBOCustomer.objects.create(
        connection=books, qbo_id="10", display_name="Chez Alice",
        raw={"CustomerTypeRef": {"value": "1"}},
    )  # fmt: skip
    QBOCustomer.objects.create(connection=books, qbo_id="11", display_name="Alice's Cellar")
    return books


@pytest.fixture
def books_b(partner_b: Partner) -> QBOConnection:
    books: QBOConnection = ConnectionFactory(partner=partner_b)
    QBOCustomer.objects.create(connection=books, qbo_id="10", display_name="Bob's Bottle Shop")
    return books


def body(response: Any) -> str:
    return str(response.content.decode())


def csv_text(response: Any) -> str:
    return str(b"".join(response.streaming_content).decode("utf-8-sig"))


def test_the_accounts_page_shows_each_accounts_channel_and_source(
    books_a: QBOConnection, books_b: QBOConnection, sam: User
) -> None:
    page = signed_in(sam).get(reverse("inventory:channels"))
    assert page.status_code == 200
    text = body(page)
    assert "Chez Alice" in text and "Bob&#x27;s Bottle Shop" in text
    assert "Customer type “Restaurant”" in text
    assert "no rule matched" in text
    assert 'name="channel"' not in text.split("Accounts and their channels")[1]  # staff: no form


def test_filters_and_fragment_and_csv(
    books_a: QBOConnection, books_b: QBOConnection, ada: User
) -> None:
    client = signed_in(ada)
    url = reverse("inventory:channels")
    on = client.get(url, {"channel": ON})
    assert "Chez Alice" in body(on) and "Alice&#x27;s Cellar" not in body(on)
    fragment = client.get(url, {"source": "none"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<h1>" not in body(fragment) and "Alice&#x27;s Cellar" in body(fragment)
    assert "Chez Alice" not in body(fragment)
    assert "Alice&#x27;s Cellar" in body(client.get(url, {"q": "CELLAR"}))
    export = client.get(url, {"format": "csv", "partner": str(books_a.partner_id)})
    rows = list(csv.reader(io.StringIO(csv_text(export))))
    assert rows[0][:6] == ["Partner", "Account", "QuickBooks id", "Customer type", "Channel",
                           "Decided by"]  # fmt: skip
    assert sorted(r[1] for r in rows[1:]) == ["Alice's Cellar", "Chez Alice"]
    assert {r[1]: r[4] for r in rows[1:]}["Chez Alice"] == "On-premise"


def test_an_admin_adds_edits_moves_and_deletes_rules_each_audited(
    books_a: QBOConnection, ada: User
) -> None:
    client = signed_in(ada)
    partner_id = books_a.partner_id
    create = reverse("inventory:channel_rule_create", args=[partner_id])
    added = client.post(create, {"kind": "name", "value": "cellar", "channel": OFF})
    assert added.status_code == 302
    client.post(create, {"kind": "customer_type", "value": "Restaurant", "channel": OFF})
    first, second = ChannelRule.objects.order_by("position")
    assert (first.value, first.position, second.position) == ("cellar", 1, 2)

    # A bad pattern is shown next to the field, with a 200, and nothing is stored.
    bad = client.post(create, {"kind": "name", "value": "bar||pub", "channel": ON})
    assert bad.status_code == 200
    assert "Alternative 2 of the pattern is empty" in body(bad)
    duplicate = client.post(create, {"kind": "name", "value": "CELLAR", "channel": ON})
    assert "Rule 1 already says this" in body(duplicate)
    assert ChannelRule.objects.count() == 2

    edit = reverse("inventory:channel_rule_edit", args=[first.pk])
    assert client.get(edit).status_code == 200
    assert (
        client.post(edit, {"kind": "name", "value": "cellar|cave", "channel": OFF}).status_code
        == 302
    )
    client.post(reverse("inventory:channel_rule_move", args=[second.pk]), {"direction": "up"})
    first.refresh_from_db()
    assert (first.value, first.position) == ("cellar|cave", 2)

    page = body(client.get(reverse("inventory:channel_rules", args=[partner_id])))
    assert "cellar|cave" in page and "Refresh customer types" in page

    client.post(reverse("inventory:channel_rule_delete", args=[first.pk]))
    assert list(ChannelRule.objects.values_list("value", "position")) == [("Restaurant", 1)]
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", "actor"))
    assert actions == [
        ("channel_rule.create", ada.pk),
        ("channel_rule.create", ada.pk),
        ("channel_rule.update", ada.pk),
        ("channel_rule.move", ada.pk),
        ("channel_rule.delete", ada.pk),
    ]
    update = AuditEvent.objects.get(action="channel_rule.update")
    assert update.changes == {"value": ["cellar", "cellar|cave"]}


def test_an_admin_sets_and_clears_an_override_audited(books_a: QBOConnection, ada: User) -> None:
    client = signed_in(ada)
    url = reverse("inventory:channel_override", args=[books_a.pk, "10"])
    back = f"{reverse('inventory:channels')}?channel=off_premise"
    response = client.post(url, {"channel": OFF, "next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert ChannelOverride.objects.get().set_by == ada
    row = body(client.get(reverse("inventory:channels"), {"source": "override"}))
    assert "Chez Alice" in row and "Set by ada@unefemme.test" in row

    # Elsewhere is not followed.
    away = client.post(url, {"channel": "", "next": "https://evil.example/"})
    assert away["Location"].startswith(reverse("inventory:channels"))
    assert not ChannelOverride.objects.exists()
    assert list(AuditEvent.objects.order_by("pk").values_list("action", "changes")) == [
        ("channel_override.set", {"channel": [None, OFF]}),
        ("channel_override.clear", {"channel": [OFF, None]}),
    ]
    # An account the company does not have, or a channel that is none: nothing changes.
    client.post(reverse("inventory:channel_override", args=[books_a.pk, "999"]), {"channel": ON})
    client.post(url, {"channel": "nowhere"})
    assert not ChannelOverride.objects.exists()


def test_staff_read_and_get_403_on_every_write(books_a: QBOConnection, sam: User) -> None:
    client = signed_in(sam)
    rule = channels.channel_rule_create(
        partner=books_a.partner, kind="name", value="cellar", channel=OFF,
        user=User.objects.create(email="admin2@unefemme.test", role="admin"),
    )  # fmt: skip
    assert (
        client.get(reverse("inventory:channel_rules", args=[books_a.partner_id])).status_code == 200
    )
    writes = [
        reverse("inventory:channel_rule_create", args=[books_a.partner_id]),
        reverse("inventory:channel_rule_edit", args=[rule.pk]),
        reverse("inventory:channel_rule_delete", args=[rule.pk]),
        reverse("inventory:channel_rule_move", args=[rule.pk]),
        reverse("inventory:channel_types_refresh", args=[books_a.partner_id]),
        reverse("inventory:channel_override", args=[books_a.pk, "10"]),
    ]
    for url in writes:
        assert client.post(url, {"kind": "name", "value": "x", "channel": ON}).status_code == 403
    assert ChannelRule.objects.get().value == "cellar"
    assert not ChannelOverride.objects.exists()


def test_a_partner_user_sees_only_their_own_partner(
    books_a: QBOConnection, books_b: QBOConnection, alice: User
) -> None:
    client = signed_in(alice)
    page = body(client.get(reverse("inventory:channels")))
    assert "Chez Alice" in page and "Bob" not in page
    # The partner filter cannot widen the scope.
    widened = body(client.get(reverse("inventory:channels"), {"partner": books_b.partner_id}))
    assert "Bob" not in widened
    assert (
        client.get(reverse("inventory:channel_rules", args=[books_a.partner_id])).status_code == 200
    )
    assert (
        client.get(reverse("inventory:channel_rules", args=[books_b.partner_id])).status_code == 404
    )
    own = client.post(reverse("inventory:channel_rule_create", args=[books_a.partner_id]),
                      {"kind": "name", "value": "x", "channel": ON})  # fmt: skip
    assert own.status_code == 403  # reading is not changing


def test_the_refresh_button_with_no_company_says_so(partner_a: Partner, ada: User) -> None:
    response = signed_in(ada).post(
        reverse("inventory:channel_types_refresh", args=[partner_a.pk]), follow=True
    )
    assert "no connected QuickBooks company" in body(response)
