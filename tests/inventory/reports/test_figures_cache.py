"""The accounts report's rows and the sell-through and depletion reports' grouped lines
come from the figures cache (common.generations), each a few hundred milliseconds at the
~100,000-invoice scale: kept per reader's scope, recomputed the moment a sync writes a
change of a company in it or anyone changes the mappings, and never handed to a reader of
another scope."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection as db_connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from common import generations
from common.mirror import mirror_apply
from inventory.mapping.models import QBOItem, SKUMapping
from inventory.reports import refresh
from inventory.reports.placements import accounts_buying_by_month, placements
from inventory.reports.selectors import depletion_report
from inventory.reports.sell_through import sell_through_report
from inventory.tasks import figures_refresh
from sync.models import QBOConnection

from .test_placements import MARCH, account, mapped_item, sale


def invoice_json(qbo_id: str, item: QBOItem, customer: str, qty: int, on: date) -> dict[str, Any]:
    """An invoice as QuickBooks sends it, for the sync's write path."""
    return {
        "Id": qbo_id,
        "SyncToken": "0",
        "DocNumber": qbo_id,
        "CustomerRef": {"value": customer},
        "TxnDate": on.isoformat(),
        "TotalAmt": Decimal(qty * 10),
        "Balance": Decimal(0),
        "MetaData": {"LastUpdatedTime": f"{on.isoformat()}T10:00:00-08:00"},
        "Line": [
            {
                "Id": "1",
                "DetailType": "SalesItemLineDetail",
                "Amount": Decimal(qty * 10),
                "SalesItemLineDetail": {"ItemRef": {"value": item.qbo_id}, "Qty": qty},
            }
        ],
    }


def names(user: User) -> dict[str, Decimal]:
    report = placements(user=user, start=MARCH[0], end=MARCH[1])
    return {a.name: a.net for row in report.rows for a in row.accounts}


@pytest.fixture
def cached() -> Any:
    cache.clear()
    with override_settings(FIGURES_CACHE_SECONDS=60):
        yield
    cache.clear()


@pytest.mark.django_db
@pytest.mark.usefixtures("cached")
@pytest.mark.parametrize("stale_seconds", [0, 30])
def test_a_kept_report_is_read_without_its_statement_and_each_scope_has_its_own(
    sam: User,
    alice: User,
    bob: User,
    books_a: QBOConnection,
    books_b: QBOConnection,
    stale_seconds: int,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With a stale window too: the last rows a reader may be handed are its own question's.
    settings.FIGURES_STALE_SECONDS = stale_seconds
    published: list[str] = []
    monkeypatch.setattr(refresh, "later", published.append)  # the publish seam
    sale("invoice", mapped_item(books_a, "UF-CAL-NV-750"), account(books_a, "Bistro A"), 3,
         date(2025, 3, 10))  # fmt: skip
    sale("invoice", mapped_item(books_b, "UF-CAL-NV-750"), account(books_b, "Bistro B"), 4,
         date(2025, 3, 11))  # fmt: skip
    assert names(sam) == {"Bistro A": 3, "Bistro B": 4}
    with CaptureQueriesContext(db_connection) as second:
        assert names(sam) == {"Bistro A": 3, "Bistro B": 4}
    assert not any("UNION ALL" in q["sql"] for q in second.captured_queries)
    # Both companies' counters move (a sync each): staff's kept rows are now stale.
    generations.bump(generations.mirror(books_a.pk), generations.mirror(books_b.pk))
    # Each partner's people: their own accounts only, whatever staff's answer kept.
    assert names(alice) == {"Bistro A": 3}
    assert names(bob) == {"Bistro B": 4}
    assert names(alice) == {"Bistro A": 3}


@pytest.mark.django_db
@pytest.mark.usefixtures("cached")
def test_a_change_the_sync_writes_shows_at_once(
    sam: User, alice: User, books_a: QBOConnection
) -> None:
    item = mapped_item(books_a, "UF-CAL-NV-750")
    bistro, shop = account(books_a, "Bistro A"), account(books_a, "Shop A")
    sale("invoice", item, bistro, 3, date(2025, 3, 10))
    assert names(sam) == names(alice) == {"Bistro A": 3}
    monthly = accounts_buying_by_month(
        user=sam, partner_id=books_a.partner_id, sku="UF-CAL-NV-750", start=MARCH[0],
        end=MARCH[1],
    )  # fmt: skip
    assert monthly == [(date(2025, 3, 1), 1)]
    mirror_apply(
        connection_id=books_a.pk,
        entity="Invoice",
        objects=[invoice_json("9001", item, shop, 5, date(2025, 3, 12))],
    )
    assert names(sam) == names(alice) == {"Bistro A": 3, "Shop A": 5}
    monthly = accounts_buying_by_month(
        user=sam, partner_id=books_a.partner_id, sku="UF-CAL-NV-750", start=MARCH[0],
        end=MARCH[1],
    )  # fmt: skip
    assert monthly == [(date(2025, 3, 1), 2)]


@pytest.mark.django_db
@pytest.mark.usefixtures("cached")
def test_a_mapping_change_shows_at_once(sam: User, books_a: QBOConnection) -> None:
    item = mapped_item(books_a, "UF-CAL-NV-750")
    sale("invoice", item, account(books_a, "Bistro A"), 3, date(2025, 3, 10))
    assert names(sam) == {"Bistro A": 3}
    # Cases of 12, not bottles: a bulk update, which sends no signal.
    SKUMapping.objects.filter(item_qbo_id=item.qbo_id).update(
        unit=SKUMapping.Unit.CASE, bottles_per_unit=12
    )
    assert names(sam) == {"Bistro A": 36}
    SKUMapping.objects.filter(item_qbo_id=item.qbo_id).delete()
    assert names(sam) == {}


def sold(user: User) -> dict[str, Decimal]:
    report = sell_through_report(user=user, start=MARCH[0], end=MARCH[1])
    return {f"{row.partner} {row.sku}": row.sold for row in report.rows}


def depleted(user: User) -> dict[str, Decimal]:
    report = depletion_report(user=user, today=MARCH[1])
    return {f"{row.partner} {row.sku}": row.sold for row in report.rows if row.sold}


# The two reports whose grouped sales lines are kept: bottles sold per partner and SKU.
BOTTLE_READERS = [pytest.param(sold, id="sell-through"), pytest.param(depleted, id="depletion")]


@pytest.mark.django_db
@pytest.mark.usefixtures("cached")
@pytest.mark.parametrize("read", BOTTLE_READERS)
def test_grouped_lines_are_kept_per_scope_and_follow_the_sync_and_the_mappings(
    read: Callable[[User], dict[str, Decimal]],
    sam: User,
    alice: User,
    bob: User,
    books_a: QBOConnection,
    books_b: QBOConnection,
) -> None:
    item_a = mapped_item(books_a, "UF-CAL-NV-750")
    sale("invoice", item_a, account(books_a, "Bistro A"), 3, date(2025, 3, 10))
    sale("invoice", mapped_item(books_b, "UF-CAL-NV-750"), account(books_b, "Bistro B"), 4,
         date(2025, 3, 11))  # fmt: skip
    a, b = books_a.partner.name, books_b.partner.name
    assert read(sam) == {f"{a} UF-CAL-NV-750": 3, f"{b} UF-CAL-NV-750": 4}
    with CaptureQueriesContext(db_connection) as second:
        assert read(sam) == {f"{a} UF-CAL-NV-750": 3, f"{b} UF-CAL-NV-750": 4}
    assert not any("UNION" in q["sql"] for q in second.captured_queries)
    assert read(alice) == {f"{a} UF-CAL-NV-750": 3}
    assert read(bob) == {f"{b} UF-CAL-NV-750": 4}
    mirror_apply(
        connection_id=books_a.pk,
        entity="Invoice",
        objects=[invoice_json("9002", item_a, account(books_a, "Shop A"), 5, date(2025, 3, 12))],
    )
    assert read(sam) == {f"{a} UF-CAL-NV-750": 8, f"{b} UF-CAL-NV-750": 4}
    assert read(alice) == {f"{a} UF-CAL-NV-750": 8}
    # The mappings are read fresh, not kept with the lines.
    SKUMapping.objects.filter(item_qbo_id=item_a.qbo_id).update(
        unit=SKUMapping.Unit.CASE, bottles_per_unit=12
    )
    assert read(alice) == {f"{a} UF-CAL-NV-750": 96}


@pytest.mark.django_db
@pytest.mark.usefixtures("cached")
@pytest.mark.parametrize(
    ("read", "before", "after"),
    [
        pytest.param(names, {"Bistro A": 3}, {"Bistro A": 3, "Shop A": 5}, id="accounts"),
        pytest.param(sold, {"UF-CAL-NV-750": 3}, {"UF-CAL-NV-750": 8}, id="sell-through"),
        pytest.param(depleted, {"UF-CAL-NV-750": 3}, {"UF-CAL-NV-750": 8}, id="depletion"),
    ],
)
def test_with_a_stale_window_readers_get_the_last_figure_until_the_worker_recomputed_it(
    read: Callable[[User], dict[str, Decimal]],
    before: dict[str, int],
    after: dict[str, int],
    sam: User,
    books_a: QBOConnection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The one seam: publishing the task. Its body runs here, as the worker would run it.
    published: list[str] = []
    monkeypatch.setattr(refresh, "later", published.append)
    item = mapped_item(books_a, "UF-CAL-NV-750")
    sale("invoice", item, account(books_a, "Bistro A"), 3, date(2025, 3, 10))
    partner = books_a.partner.name

    def figure() -> dict[str, Decimal]:
        # The bottle reports name the partner with the SKU; there is one partner here.
        return {key.removeprefix(f"{partner} "): value for key, value in read(sam).items()}

    with override_settings(FIGURES_STALE_SECONDS=30):
        assert figure() == before
        mirror_apply(
            connection_id=books_a.pk,
            entity="Invoice",
            objects=[invoice_json("9003", item, account(books_a, "Shop A"), 5, date(2025, 3, 12))],
        )
        assert figure() == before  # the last figure, while the worker is asked
        assert len(published) == 1
        assert figures_refresh(published[0]) is True
        with CaptureQueriesContext(db_connection) as reread:
            assert figure() == after
        assert not any("UNION" in q["sql"] for q in reread.captured_queries)
        assert len(published) == 1


def test_the_worker_that_runs_figures_refresh_can_recompute_every_report() -> None:
    """The task finds a figure's computation by its namespace, registered when the report's
    module is imported: a worker importing the task's own module (and nothing else, in a
    fresh process) must know all of them, or a stale figure's refresh fails there."""
    code = (
        "import django; django.setup(); import inventory.tasks; "
        "from inventory.reports import refresh; print(*sorted(refresh._COMPUTE))"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "unefemme.settings_test"}
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=environment,
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert found.stdout.split() == [
        "depletion.lines",
        "placements.accounts",
        "placements.buying_by_month",
        "sell_through.lines",
    ]
