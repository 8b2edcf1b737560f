"""inventory.reports.placements: accounts buying, new placements, lost accounts, reorder
intervals and top accounts per partner × SKU (docs/reports.md, "Accounts and placements"):
each rule on a hand-made history, scoping, a constant query count, and a seeded qbo_sandbox
company whose figures equal those computed here from its documents read over HTTP."""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Partner, User
from billing.models import (
    QBOCreditMemo,
    QBOCreditMemoLine,
    QBOInvoice,
    QBOInvoiceLine,
    QBORefundReceipt,
    QBORefundReceiptLine,
    QBOSalesReceipt,
    QBOSalesReceiptLine,
)
from inventory.catalog.models import CatalogSKU
from inventory.catalog.services import catalog_demo_load
from inventory.mapping.models import QBOItem, SKUMapping
from inventory.reports.placements import (
    AccountFigures,
    PlacementRules,
    accounts_buying_by_month,
    months_before,
    placements,
)
from sync import services as sync
from sync.models import QBOConnection, SyncRun
from tests.billing.factories import CustomerFactory, ItemFactory
from tests.sync.books import Books, connection_for
from tests.sync.conftest import (  # noqa: F401 (fixtures, found by pytest by name)
    pointed_at,
    sandbox_server,
)

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

D = Decimal
_ids = itertools.count(1)
MARCH = (date(2025, 3, 1), date(2025, 3, 31))
# The seeded company's size: enough invoices that accounts buy a SKU again.
SCALE = 1.0

KINDS: dict[str, tuple[Any, Any]] = {
    "invoice": (QBOInvoice, QBOInvoiceLine),
    "sales_receipt": (QBOSalesReceipt, QBOSalesReceiptLine),
    "credit_memo": (QBOCreditMemo, QBOCreditMemoLine),
    "refund_receipt": (QBORefundReceipt, QBORefundReceiptLine),
}


def mapped_item(connection: QBOConnection, code: str, *, per_unit: int = 1) -> QBOItem:
    sku, _ = CatalogSKU.objects.get_or_create(
        code=code, defaults={"wine": f"Wine {code}", "format_ml": 750, "bottles_per_case": 12}
    )
    item: QBOItem = ItemFactory(connection=connection, sku=f"{code}-{per_unit}")
    SKUMapping.objects.create(
        connection=connection, catalog_sku=sku, item_qbo_id=item.qbo_id,
        unit=SKUMapping.Unit.BOTTLE if per_unit == 1 else SKUMapping.Unit.CASE,
        bottles_per_unit=per_unit, method=SKUMapping.Method.SKU, item_name=item.name,
        item_sku=code,
    )  # fmt: skip
    return item


def account(connection: QBOConnection, name: str) -> str:
    customer = CustomerFactory(connection=connection, display_name=name)
    return str(customer.qbo_id)


def sale(
    kind: str, item: QBOItem, customer: str, qty: int, on: date, *, voided: bool = False
) -> None:
    """One document of ``kind`` for ``customer`` with one line of ``qty`` of ``item``, and
    a subtotal line, which must count nothing."""
    model, line_model = KINDS[kind]
    made = model.objects.create(
        connection=item.connection, qbo_id=f"{kind}-{next(_ids)}", txn_date=on,
        customer_qbo_id=customer, voided=voided,
    )  # fmt: skip
    line_model.objects.create(
        **{kind: made}, position=0, detail_type="SalesItemLineDetail",
        item_qbo_id=item.qbo_id, qty=qty,
    )  # fmt: skip
    line_model.objects.create(
        **{kind: made}, position=1, detail_type="SubTotalLineDetail",
        item_qbo_id=item.qbo_id, qty=1000,
    )  # fmt: skip


def by_name(accounts: list[AccountFigures]) -> dict[str, AccountFigures]:
    return {a.name: a for a in accounts}


# --- The rules, one by one --------------------------------------------------------------


@pytest.mark.django_db
def test_each_rule_on_a_hand_made_history(sam: User, books_a: QBOConnection) -> None:
    bottle = mapped_item(books_a, "UF-CAL-NV-750")
    case = mapped_item(books_a, "UF-CAL-NV-750", per_unit=12)
    loyal, first, gone, long_gone, returner, cash = (
        account(books_a, name)
        for name in ("Loyal Bistro", "First Wine Shop", "Gone Tavern", "Long Gone Bar",
                     "Returner Market", "Cash Cellar")
    )  # fmt: skip
    # Loyal: bought in January and twice in March, a case in one of them.
    sale("invoice", bottle, loyal, 6, date(2025, 1, 10))
    sale("invoice", case, loyal, 1, date(2025, 3, 5))
    sale("invoice", bottle, loyal, 3, date(2025, 3, 20))
    # First: never before March.
    sale("invoice", bottle, first, 4, date(2025, 3, 12))
    # Gone: last bought on 1 December; 90 days later is 1 March.
    sale("invoice", bottle, gone, 5, date(2024, 12, 1))
    # Long gone: last bought in October, lost in January, not again in March.
    sale("invoice", bottle, long_gone, 5, date(2024, 10, 1))
    # Returner: bought in February, returned more than it bought in March.
    sale("invoice", bottle, returner, 2, date(2025, 2, 10))
    sale("invoice", bottle, returner, 1, date(2025, 3, 3))
    sale("credit_memo", bottle, returner, 4, date(2025, 3, 3))
    # Cash: a sales receipt, part refunded, and a voided invoice that counts nothing.
    sale("sales_receipt", bottle, cash, 10, date(2025, 3, 8))
    sale("refund_receipt", bottle, cash, 3, date(2025, 3, 9))
    sale("invoice", bottle, cash, 50, date(2025, 3, 10), voided=True)

    report = placements(user=sam, start=MARCH[0], end=MARCH[1])
    [row] = report.rows
    accounts = by_name(row.accounts)
    assert set(accounts) == {
        "Loyal Bistro", "First Wine Shop", "Gone Tavern", "Returner Market", "Cash Cellar",
    }  # fmt: skip
    assert {a.name for a in row.buying} == {"Loyal Bistro", "First Wine Shop", "Cash Cellar"}
    assert (accounts["Loyal Bistro"].net, accounts["Cash Cellar"].net) == (D(15), D(7))
    assert accounts["Returner Market"].net == D(-3)
    assert {a.name for a in row.new} == {"First Wine Shop", "Cash Cellar"}
    assert {a.name for a in row.lost} == {"Gone Tavern"}
    # Loyal's purchases: 10 Jan, 5 Mar, 20 Mar: 69 days over two intervals.
    assert accounts["Loyal Bistro"].reorder_days == D("34.5")
    # Returner's: 10 Feb only (3 March sold 1 and took back 4: not a purchase).
    assert accounts["Returner Market"].reorder_days is None
    assert accounts["Returner Market"].last_purchase == date(2025, 2, 10)
    assert row.reorder_days == D("34.5")
    assert [(a.name, a.net) for a in row.top] == [
        ("Loyal Bistro", D(15)), ("Cash Cellar", D(7)), ("First Wine Shop", D(4)),
    ]  # fmt: skip
    assert row.net == D(15 + 4 - 3 + 7)


@pytest.mark.django_db
def test_top_accounts_are_the_largest_buyers_first(sam: User, books_a: QBOConnection) -> None:
    item = mapped_item(books_a, "UF-CAL-NV-750")
    for n in range(7):
        sale("invoice", item, account(books_a, f"Account {n}"), 10 + n, date(2025, 3, 10))
    [row] = placements(user=sam, start=MARCH[0], end=MARCH[1]).rows
    assert [a.name for a in row.top] == [f"Account {n}" for n in (6, 5, 4, 3, 2)]


@pytest.mark.django_db
def test_the_settings_move_new_and_lost(sam: User, books_a: QBOConnection) -> None:
    item = mapped_item(books_a, "UF-CAL-NV-750")
    back = account(books_a, "Back Again Bistro")
    quiet = account(books_a, "Quiet Shop")
    sale("invoice", item, back, 2, date(2024, 11, 20))  # 3½ months before March
    sale("invoice", item, back, 2, date(2025, 3, 15))
    sale("invoice", item, quiet, 2, date(2025, 1, 15))  # 60 days on: 16 March
    default = placements(user=sam, start=MARCH[0], end=MARCH[1]).rows[0]
    assert not default.new and not default.lost
    short = placements(
        user=sam, start=MARCH[0], end=MARCH[1],
        rules=PlacementRules(new_after_months=3, lost_after_days=60),
    ).rows[0]  # fmt: skip
    assert [a.name for a in short.new] == ["Back Again Bistro"]
    assert [a.name for a in short.lost] == ["Quiet Shop"]


def test_bad_settings_and_periods_are_refused() -> None:
    with pytest.raises(ValueError, match="new_after_months"):
        PlacementRules(new_after_months=0)
    with pytest.raises(ValueError, match="lost_after_days"):
        PlacementRules(lost_after_days=10_000)


@pytest.mark.django_db
def test_a_period_that_ends_before_it_starts_is_refused(sam: User) -> None:
    with pytest.raises(ValueError, match="start"):
        placements(user=sam, start=MARCH[1], end=MARCH[0])


def test_months_before_keeps_the_day_or_the_months_last() -> None:
    assert months_before(date(2025, 3, 15), 6) == date(2024, 9, 15)
    assert months_before(date(2025, 5, 31), 3) == date(2025, 2, 28)
    assert months_before(date(2024, 5, 31), 3) == date(2024, 2, 29)
    assert months_before(date(2025, 1, 31), 13) == date(2023, 12, 31)


# --- Scope and cost ----------------------------------------------------------------------


@pytest.mark.django_db
def test_each_partner_sees_only_its_own_accounts(
    sam: User, alice: User, bob: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    for books, name in ((books_a, "Alpha Bistro"), (books_b, "Beta Bistro")):
        sale("invoice", mapped_item(books, "UF-CAL-NV-750"), account(books, name), 3,
             date(2025, 3, 3))  # fmt: skip

    def names(user: User, **narrow: Any) -> set[str]:
        report = placements(user=user, start=MARCH[0], end=MARCH[1], **narrow)
        return {a.name for row in report.rows for a in row.accounts}

    assert names(sam) == {"Alpha Bistro", "Beta Bistro"}
    assert names(alice) == {"Alpha Bistro"}
    assert names(bob) == {"Beta Bistro"}
    # A filter narrows within the scope, never widens it.
    assert names(alice, partner_id=books_b.partner_id) == set()
    assert names(sam, partner_id=books_b.partner_id) == {"Beta Bistro"}
    assert names(sam, sku="UF-NONE") == set()


@pytest.mark.django_db
def test_the_query_count_does_not_grow_with_accounts(sam: User, books_a: QBOConnection) -> None:
    item = mapped_item(books_a, "UF-CAL-NV-750")

    def queries() -> int:
        with CaptureQueriesContext(db_connection) as captured:
            placements(user=sam, start=MARCH[0], end=MARCH[1])
        return len(captured)

    sale("invoice", item, account(books_a, "One"), 1, date(2025, 3, 2))
    few = queries()
    for n in range(30):
        sale("invoice", item, account(books_a, f"More {n}"), 1, date(2025, 3, 2))
    assert queries() == few


# --- Against qbo_sandbox over HTTP -------------------------------------------------------


@pytest.fixture
def sandbox(sandbox_server: SandboxProcess) -> Iterator[SandboxProcess]:  # noqa: F811
    with pointed_at(sandbox_server):
        yield sandbox_server


# The sales forms and the sign of their item lines, written out here rather than taken from
# the app, so the comparison is independent of it.
SIGNS = {"Invoice": 1, "SalesReceipt": 1, "CreditMemo": -1, "RefundReceipt": -1}


def expected_from_documents(
    books: Books, items: dict[str, tuple[str, int]], start: date, end: date,
    new_months: int, lost_days: int,
) -> dict[tuple[str, str], dict[str, Any]]:  # fmt: skip
    """(SKU, customer id) → what the rules make of the documents the sandbox's API lists,
    computed from each day's net bottles per account and SKU."""
    daily: dict[tuple[str, str], dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for entity, sign in SIGNS.items():
        for document in books.all(entity):
            customer = str(document.get("CustomerRef", {}).get("value", ""))
            if not customer:
                continue
            day = date.fromisoformat(document["TxnDate"])
            for line in document.get("Line", []):
                if line.get("DetailType") != "SalesItemLineDetail":
                    continue
                detail = line["SalesItemLineDetail"]
                item = str(detail.get("ItemRef", {}).get("value", ""))
                if item in items and detail.get("Qty") is not None:
                    code, per_unit = items[item]
                    daily[(code, customer)][day] += sign * D(str(detail["Qty"])) * per_unit
    new_since = months_before(start, new_months)
    expected = {}
    for key, days in daily.items():
        purchases = sorted(d for d, bottles in days.items() if bottles > 0 and d <= end)
        net = sum((b for d, b in days.items() if start <= d <= end), D(0))
        year = [d for d in purchases if d > end - timedelta(days=365)]
        last = purchases[-1] if purchases else None
        expected[key] = {
            "net": net,
            "buying": net > 0,
            "new": net > 0 and not [d for d in purchases if new_since <= d < start],
            "lost": last is not None and start <= last + timedelta(days=lost_days) <= end,
            "reorder_days": (
                (D((year[-1] - year[0]).days) / (len(year) - 1)).quantize(D("0.1"))
                if len(year) >= 2 else None
            ),
        }  # fmt: skip
    return expected


@pytest.mark.django_db(transaction=True)
def test_a_seeded_companys_accounts_equal_those_counted_from_its_documents(
    sandbox: SandboxProcess, partner_a: Partner, sam: User
) -> None:
    catalog_demo_load()
    realm = sandbox.new_company(seed="demo", scale=SCALE)
    books = Books(sandbox, realm)
    connection = connection_for(sandbox, partner_a, realm, company_name="Seeded books")
    run = sync.connection_sync(connection_id=connection.pk, trigger="test")
    assert run is not None and run.status == SyncRun.Status.SUCCEEDED, run and run.error
    items = {
        m.item_qbo_id: (m.catalog_sku.code, m.bottles_per_unit)
        for m in SKUMapping.objects.filter(connection=connection).select_related("catalog_sku")
    }
    assert items
    days = sorted(date.fromisoformat(i["TxnDate"]) for i in books.all("Invoice"))
    # A month two thirds into the history: purchases before it, in it, and lost accounts.
    middle = days[2 * len(days) // 3]
    start = middle.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    lost_seen = False
    for new_months, lost_days in ((6, 90), (2, 30)):
        rules = PlacementRules(new_after_months=new_months, lost_after_days=lost_days)
        report = placements(user=sam, start=start, end=end, rules=rules)
        expected = expected_from_documents(books, items, start, end, new_months, lost_days)
        got = {
            (row.sku, a.customer_qbo_id): {
                "net": a.net, "buying": a.buying, "new": a.new, "lost": a.lost,
                "reorder_days": a.reorder_days,
            }
            for row in report.rows
            for a in row.accounts
        }  # fmt: skip
        # The report leaves out accounts with nothing to say of the period.
        said = {
            key: figures
            for key, figures in expected.items()
            if figures["buying"] or figures["lost"] or figures["net"]
            or figures["reorder_days"] is not None
        }  # fmt: skip
        assert got == said, (new_months, lost_days)
        # The period is a lively one: every kind of figure occurs.
        assert any(f["new"] for f in got.values()), (new_months, lost_days)
        assert any(f["buying"] and not f["new"] for f in got.values())
        lost_seen = lost_seen or any(f["lost"] for f in got.values())
        for row in report.rows:
            intervals = [a.reorder_days for a in row.accounts if a.reorder_days is not None]
            median = statistics.median(intervals).quantize(D("0.1")) if intervals else None
            assert row.reorder_days == median
    assert lost_seen


@pytest.mark.django_db
def test_accounts_buying_by_month_counts_each_months_net_buyers(
    sam: User, alice: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    item = mapped_item(books_a, "UF-CAL-NV-750")
    other = mapped_item(books_a, "UF-JUL-NV-750")
    one, two = account(books_a, "One Bistro"), account(books_a, "Two Shop")
    sale("invoice", item, one, 3, date(2025, 1, 5))
    sale("invoice", item, two, 1, date(2025, 1, 20))
    sale("credit_memo", item, two, 2, date(2025, 1, 25))  # January: Two returned more
    sale("invoice", item, one, 2, date(2025, 3, 2))
    sale("invoice", other, two, 9, date(2025, 2, 2))  # another SKU: not this one's
    # Partner B buys the same SKU in February: not partner A's accounts.
    sale("invoice", mapped_item(books_b, "UF-CAL-NV-750"), account(books_b, "Beta"), 4,
         date(2025, 2, 3))  # fmt: skip

    def series(user: User, connection: QBOConnection) -> list[tuple[date, int]]:
        return accounts_buying_by_month(
            user=user, partner_id=connection.partner_id, sku="UF-CAL-NV-750",
            start=date(2024, 12, 1), end=date(2025, 3, 31),
        )  # fmt: skip

    months = [date(2024, 12, 1), date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)]
    assert series(sam, books_a) == list(zip(months, [0, 1, 0, 1], strict=True))
    assert series(sam, books_b) == list(zip(months, [0, 0, 1, 0], strict=True))
    # Alice may not see partner B's accounts: nothing counts, whatever she asks for.
    assert series(alice, books_b) == list(zip(months, [0, 0, 0, 0], strict=True))
