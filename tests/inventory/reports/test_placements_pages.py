"""/inventory/accounts/ and its drill-down per partner × SKU: what they show and export,
their filters (bad ones reported, defaults used, never a 5xx), and each partner's accounts
kept to it. The figures themselves are tested in test_placements.py."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from django.urls import reverse

from accounts.models import User
from sync.models import QBOConnection
from tests.conftest import signed_in
from tests.inventory.reports.test_placements import account, mapped_item, sale

URL = reverse("inventory:placements")


def row_url(connection: QBOConnection, sku: str) -> str:
    return reverse("inventory:placements_row", args=[connection.partner_id, sku])


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


@pytest.fixture(autouse=True)
def today() -> Any:
    # Mid-March 2025: this month's sales are the page's default month.
    with time_machine.travel(datetime(2025, 3, 20, 12, tzinfo=UTC), tick=False):
        yield


@pytest.fixture
def books(books_a: QBOConnection, books_b: QBOConnection) -> None:
    """Partner A: two accounts buying UF-CAL this month, one lost; partner B: one buying."""
    cal_a = mapped_item(books_a, "UF-CAL-NV-750")
    sale("invoice", cal_a, account(books_a, "Alpha Bistro"), 6, date(2025, 3, 3))
    sale("invoice", cal_a, account(books_a, "Alpha Wine Shop"), 2, date(2025, 3, 10))
    sale("invoice", cal_a, account(books_a, "Alpha Gone Bar"), 4, date(2024, 12, 10))
    cal_b = mapped_item(books_b, "UF-CAL-NV-750")
    sale("invoice", cal_b, account(books_b, "Beta Tavern"), 9, date(2025, 3, 5))


@pytest.mark.django_db
def test_the_page_lists_each_partners_accounts_per_sku(
    sam: User,
    books: None,
    books_a: QBOConnection,
) -> None:
    page = signed_in(sam).get(URL).content.decode()
    assert "Accounts per partner and SKU" in page
    assert "March 2025</time>, to" in page and "Mar 20</time> so far" in page
    assert row_url(books_a, "UF-CAL-NV-750") in page
    assert "<strong>3</strong> accounts buying" in page
    assert "<strong>3</strong> new placements" in page  # nothing bought before
    assert "<strong>1</strong> lost account" in page


@pytest.mark.django_db
def test_the_export_has_a_row_per_partner_and_sku(
    sam: User,
    books: None,
    books_a: QBOConnection,
    books_b: QBOConnection,
) -> None:
    rows = _csv(signed_in(sam).get(URL, {"format": "csv"}))
    assert sorted(r["Partner"] for r in rows) == sorted(
        [books_a.partner.name, books_b.partner.name]
    )
    a = next(r for r in rows if r["Partner"] == books_a.partner.name)
    assert (a["SKU"], a["Accounts buying"], a["New placements"], a["Lost accounts"]) == (
        "UF-CAL-NV-750", "2", "2", "1",
    )  # fmt: skip
    assert a["Top accounts"] == "Alpha Bistro, Alpha Wine Shop"
    assert a["Net depletion (bottles)"] in ("8", "8.0000", "8.00")


@pytest.mark.django_db
def test_a_partner_user_sees_and_exports_only_its_own_accounts(
    alice: User,
    books: None,
    books_b: QBOConnection,
) -> None:
    client = signed_in(alice)
    page = client.get(URL).content.decode()
    assert "Alpha Bistro" in page and "Beta Tavern" not in page
    # A ?partner= of another partner's is not a field for a partner user: ignored.
    page = client.get(URL, {"partner": str(books_b.partner_id)}).content.decode()
    assert "Alpha Bistro" in page and "Beta Tavern" not in page
    rows = _csv(client.get(URL, {"format": "csv"}))
    assert alice.partner is not None
    assert {r["Partner"] for r in rows} == {alice.partner.name}
    assert all("Beta" not in r["Top accounts"] for r in rows)
    # Another partner's drill-down is not there.
    assert client.get(row_url(books_b, "UF-CAL-NV-750")).status_code == 404
    assert client.get(row_url(books_b, "UF-CAL-NV-750"), {"format": "csv"}).status_code == 404


@pytest.mark.django_db
def test_the_drill_down_lists_every_account_new_and_lost(
    alice: User,
    books: None,
    books_a: QBOConnection,
) -> None:
    client = signed_in(alice)
    url = row_url(books_a, "UF-CAL-NV-750")
    page = client.get(url).content.decode()
    assert "Accounts buying UF-CAL-NV-750 each month" in page
    assert "New placements (2)" in page and "Lost accounts (1)" in page
    assert "Alpha Gone Bar: last bought" in page
    rows = _csv(client.get(url, {"format": "csv"}))
    assert {r["Account"]: r["This month"] for r in rows} == {
        "Alpha Bistro": "New", "Alpha Wine Shop": "New", "Alpha Gone Bar": "Lost",
    }  # fmt: skip
    # A SKU this partner has no item mapped to: a 404, not an empty page.
    assert client.get(row_url(books_a, "UF-NONE-750")).status_code == 404


@pytest.mark.django_db
def test_the_drill_down_keeps_the_month_and_settings_back_to_the_page(
    sam: User,
    books: None,
    books_a: QBOConnection,
) -> None:
    client = signed_in(sam)
    page = client.get(URL, {"month": "2025-02", "lost_days": "60"}).content.decode()
    # February: nothing bought; Alpha Gone Bar (10 Dec + 60 days = 8 Feb) is lost then.
    assert "<strong>0</strong> accounts buying" in page
    assert "<strong>1</strong> lost account" in page
    link = f"{row_url(books_a, 'UF-CAL-NV-750')}?month=2025-02&amp;new_months=6&amp;lost_days=60"
    assert link in page
    back = client.get(row_url(books_a, "UF-CAL-NV-750"), {"month": "2025-02", "lost_days": "60"})
    assert "month=2025-02" in back.content.decode()
    assert f"partner={books_a.partner_id}" in back.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"month": "2025-04"}, "Choose this month or an earlier one."),
        ({"month": "March"}, "Enter a valid date."),
        # A year back from the first month a date holds is no date at all.
        ({"month": "0001-01"}, "Choose a month from January 2000 on."),
        ({"month": "1999-12"}, "Choose a month from January 2000 on."),
        ({"new_months": "0"}, "greater than or equal to 1"),
        ({"lost_days": "9999"}, "less than or equal to 730"),
        ({"sku": "UF-NOPE"}, "Select a valid choice."),
    ],
)
def test_a_bad_filter_is_reported_and_its_default_used(
    sam: User,
    books: None,
    books_a: QBOConnection,
    params: dict[str, str],
    message: str,
) -> None:
    client = signed_in(sam)
    for url in (URL, row_url(books_a, "UF-CAL-NV-750")):
        response = client.get(url, params)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert message in page, url
        assert "Alpha Bistro" in page, url  # the defaults still show this month


@pytest.mark.django_db
def test_an_empty_month_says_what_to_do(sam: User, books_a: QBOConnection) -> None:
    page = signed_in(sam).get(URL).content.decode()
    assert "No account bought an Une Femme wine or was lost in this month." in page


@pytest.mark.django_db
def test_the_htmx_request_gets_the_results_alone(sam: User, books: None) -> None:
    response = signed_in(sam).get(URL, {"sort": "-buying"}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="placements-results"')
    assert "<h1>" not in page


@pytest.mark.django_db
def test_the_month_defaults_to_this_one_and_a_past_one_is_whole(
    sam: User,
    books: None,
) -> None:
    page = signed_in(sam).get(URL, {"month": "2025-01"}).content.decode()
    assert "January 2025" in page and "so far" not in page
    # Sold 10 Dec: neither buying nor lost in January.
    assert "No account bought an Une Femme wine or was lost in this month." in page


@pytest.mark.django_db
def test_the_dashboard_tiles_count_what_the_page_counts(
    sam: User, alice: User, books: None
) -> None:
    def tile(user: User, name: str) -> str:
        html = signed_in(user).get(reverse("dashboard")).content.decode()
        figure = rf'data-tile="{name}">.*?<p class="tile-figure[^"]*">(\d+)</p>'
        match = re.search(figure, html, re.S)
        assert match, name
        return match.group(1)

    # Every partner: three new (two of A's, one of B's), one lost (A's).
    assert (tile(sam, "new-placements"), tile(sam, "lost-accounts")) == ("3", "1")
    assert (tile(alice, "new-placements"), tile(alice, "lost-accounts")) == ("2", "1")
    page = signed_in(alice).get(URL).content.decode()
    assert "<strong>2</strong> new placements" in page and "<strong>1</strong> lost account" in page


@pytest.mark.django_db
def test_the_dashboard_names_the_lost_accounts_for_attention(
    alice: User, bob: User, books: None, books_a: QBOConnection
) -> None:
    html = signed_in(alice).get(reverse("dashboard")).content.decode()
    section = re.search(r'data-attention="lost-accounts-this-month">(.*?)</div>', html, re.S)
    assert section, "no lost-accounts list on the dashboard"
    assert "Alpha Gone Bar" in section.group(1)
    assert "last bought 10 Dec 2024" in section.group(1)
    assert f'href="{row_url(books_a, "UF-CAL-NV-750")}"' in section.group(1)
    # Bob's partner lost no account, and never sees alice's.
    html = signed_in(bob).get(reverse("dashboard")).content.decode()
    assert 'data-attention="lost-accounts-this-month"' not in html
    assert "Alpha Gone Bar" not in html
