"""The accounts pages by channel (docs/reports.md, "Channels"): each account's channel on
its figures, the channel filter, the per-channel counts and the exports' channel, at the
report's one statement plus the channels' constant queries."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import User
from billing.models import QBOCustomer
from inventory.channels import services as channels
from inventory.channels.models import Channel, QBOCustomerType
from inventory.reports.placements import placements
from sync.models import QBOConnection
from tests.conftest import signed_in
from tests.inventory.reports.test_placements import MARCH, mapped_item, sale

pytestmark = pytest.mark.django_db
ON, OFF, OTHER = Channel.ON_PREMISE, Channel.OFF_PREMISE, Channel.OTHER
SKU = "UF-CAL-NV-750"


def csv_text(response: Any) -> str:
    return str(b"".join(response.streaming_content).decode("utf-8-sig"))


def typed(connection: QBOConnection, qbo_id: str, name: str, type_id: str = "") -> str:
    raw = {"CustomerTypeRef": {"value": type_id}} if type_id else {}
    QBOCustomer.objects.create(connection=connection, qbo_id=qbo_id, display_name=name, raw=raw)
    return qbo_id


@pytest.fixture
def history(books_a: QBOConnection, ada: User) -> QBOConnection:
    QBOCustomerType.objects.create(connection=books_a, qbo_id="1", name="Restaurant")
    QBOCustomerType.objects.create(connection=books_a, qbo_id="2", name="Wine shop")
    item = mapped_item(books_a, SKU)
    bistro = typed(books_a, "c1", "Loyal Bistro", "1")
    shop = typed(books_a, "c2", "Corner Wine Shop", "2")
    new_shop = typed(books_a, "c3", "New Bottle Shop", "2")
    gone = typed(books_a, "c4", "Gone Tavern", "1")
    stall = typed(books_a, "c5", "Farmers Stall")  # no type: other
    sale("invoice", item, bistro, 6, date(2025, 1, 10))
    sale("invoice", item, bistro, 3, date(2025, 3, 5))
    sale("invoice", item, shop, 2, date(2025, 2, 1))
    sale("invoice", item, shop, 2, date(2025, 3, 2))
    sale("invoice", item, new_shop, 4, date(2025, 3, 12))
    sale("invoice", item, gone, 5, date(2024, 12, 1))  # lost on 1 March
    sale("invoice", item, stall, 1, date(2025, 3, 20))
    # An admin says the stall is off-premise.
    channels.channel_override_set(connection_id=books_a.pk, customer_qbo_id=stall,
                                  channel=OFF, user=ada)  # fmt: skip
    return books_a


def test_each_account_carries_its_channel_and_the_filter_keeps_one(
    history: QBOConnection, sam: User
) -> None:
    report = placements(user=sam, start=MARCH[0], end=MARCH[1])
    [row] = report.rows
    assert {a.name: a.channel for a in row.accounts} == {
        "Loyal Bistro": ON, "Corner Wine Shop": OFF, "New Bottle Shop": OFF,
        "Gone Tavern": ON, "Farmers Stall": OFF,
    }  # fmt: skip
    assert [(c.channel, c.buying, c.new, c.lost) for c in row.by_channel] == [
        (ON, 1, 0, 1), (OFF, 3, 2, 0), (OTHER, 0, 0, 0),
    ]  # fmt: skip

    off = placements(user=sam, start=MARCH[0], end=MARCH[1], channel=OFF)
    assert [a.name for a in off.rows[0].accounts] == [
        "Corner Wine Shop", "Farmers Stall", "New Bottle Shop",
    ]  # fmt: skip
    # A channel none of the accounts is in leaves the row out.
    assert placements(user=sam, start=MARCH[0], end=MARCH[1], channel=OTHER).rows == []


def test_one_statement_plus_the_channels_queries(history: QBOConnection, sam: User) -> None:
    with CaptureQueriesContext(db_connection) as ctx:
        placements(user=sam, start=MARCH[0], end=MARCH[1])
    # The scope's company ids (the figures cache's key), the statement, the channels'.
    assert len(ctx.captured_queries) == 1 + 1 + 4
    with CaptureQueriesContext(db_connection) as ctx:
        placements(user=sam, start=date(2020, 3, 1), end=date(2020, 3, 31))  # no account
    assert len(ctx.captured_queries) == 1 + 1


def test_the_pages_filter_count_and_export_by_channel(
    history: QBOConnection, sam: User, alice: User, bob: User
) -> None:
    client = signed_in(sam)
    page = client.get(reverse("inventory:placements"), {"month": "2025-03", "channel": ON})
    assert page.status_code == 200
    text = page.content.decode()
    assert "By channel" in text and "(the chosen channel only)" in text
    export = client.get(reverse("inventory:placements"), {"month": "2025-03", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(csv_text(export))))
    assert rows[0]["Accounts buying, on-premise"] == "1"
    assert rows[0]["Accounts buying, off-premise"] == "3"

    url = reverse("inventory:placements_row", args=[history.partner_id, SKU])
    drill = client.get(url, {"month": "2025-03", "channel": OFF})
    assert drill.status_code == 200
    assert "Loyal Bistro" not in drill.content.decode()
    export = client.get(url, {"month": "2025-03", "format": "csv"})
    accounts = list(csv.DictReader(io.StringIO(csv_text(export))))
    assert {a["Account"]: a["Channel"] for a in accounts}["Loyal Bistro"] == "On-premise"
    assert {a["Account"]: a["Channel"] for a in accounts}["Farmers Stall"] == "Off-premise"
    # A partner user sees their own accounts' channels; another partner's drill-down is 404.
    assert signed_in(alice).get(url, {"month": "2025-03"}).status_code == 200
    assert signed_in(bob).get(url, {"month": "2025-03"}).status_code == 404
    # A channel that is none is reported and left out, never a 500.
    bad = client.get(reverse("inventory:placements"), {"month": "2025-03", "channel": "bar"})
    assert bad.status_code == 200
