"""Days sales outstanding per partner (docs/reports.md, "Days sales outstanding"): the
receivables and credit sales it is computed from, each case's arithmetic written out by
hand, and partner isolation."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.roles import Role
from billing import selectors
from tests.billing.factories import (
    ConnectionFactory,
    CreditMemoFactory,
    InvoiceFactory,
    PaymentFactory,
)
from tests.factories import UserFactory, partner_user

pytestmark = pytest.mark.django_db

TODAY = date(2026, 6, 30)
WINDOW_START = TODAY - timedelta(days=selectors.DSO_DAYS - 1)  # 2026-03-31


def test_dso_is_net_receivables_over_net_credit_sales_times_the_window() -> None:
    conn = ConnectionFactory()
    # Sales in the window: 9,000 + 1,000 invoiced, less a 500 credit memo = 9,500.
    InvoiceFactory(
        connection=conn,
        txn_date=TODAY,
        due_date=TODAY,
        total_amt=Decimal("9000.00"),
        balance=Decimal("3000.00"),
    )
    InvoiceFactory(
        connection=conn,
        txn_date=WINDOW_START,
        due_date=WINDOW_START,
        total_amt=Decimal("1000.00"),
        balance=Decimal("1000.00"),
    )
    CreditMemoFactory(
        connection=conn,
        txn_date=TODAY - timedelta(days=3),
        total_amt=Decimal("500.00"),
        balance=Decimal("200.00"),
    )
    # Outside the window: sold the day before it started (still open, so it is owed),
    # one dated after today, and a voided one: none of them are sales of the window.
    InvoiceFactory(
        connection=conn,
        txn_date=WINDOW_START - timedelta(days=1),
        due_date=WINDOW_START,
        total_amt=Decimal("700.00"),
        balance=Decimal("700.00"),
    )
    InvoiceFactory(connection=conn, txn_date=TODAY + timedelta(days=1), total_amt=Decimal("50.00"))
    InvoiceFactory(connection=conn, txn_date=TODAY, total_amt=Decimal("80.00"), voided=True)
    # 100 received and not applied: a credit against what is owed.
    PaymentFactory(
        connection=conn,
        txn_date=TODAY,
        total_amt=Decimal("100.00"),
        unapplied_amt=Decimal("100.00"),
    )
    admin = UserFactory(role=Role.ADMIN)

    result = selectors.dso_by_partner(user=admin, today=TODAY)[conn.partner_id]

    # Owed 3,000 + 1,000 + 700 = 4,700; credits 200 + 100; net 4,400.
    assert result.receivables == Decimal("4400.00")
    assert result.sales == Decimal("9500.00")
    # 4,400 / 9,500 × 91 = 42.147… days.
    assert result.dso == Decimal("42.1")
    owed = selectors.receivables_by_partner(user=admin, today=TODAY)[conn.partner_id]
    # The 700 was due on WINDOW_START, 90 days ago: overdue; the 1,000 too; 3,000 is current.
    assert owed.overdue == Decimal("1700.00")
    assert sum(owed.by_bucket.values()) == owed.net


def test_no_credit_sales_means_no_dso_rather_than_zero_or_infinity() -> None:
    conn = ConnectionFactory()
    InvoiceFactory(
        connection=conn, txn_date=WINDOW_START - timedelta(days=30), total_amt=Decimal("300.00")
    )
    admin = UserFactory(role=Role.ADMIN)
    result = selectors.dso_by_partner(user=admin, today=TODAY)[conn.partner_id]
    assert result.receivables == Decimal("300.00")
    assert result.sales == 0
    assert result.dso is None


def test_a_partner_user_gets_only_its_own_partners_figures() -> None:
    mine, theirs = ConnectionFactory(), ConnectionFactory()
    for conn in (mine, theirs):
        InvoiceFactory(connection=conn, txn_date=TODAY, total_amt=Decimal("10.00"))
    alice = partner_user(mine.partner)
    assert set(selectors.dso_by_partner(user=alice, today=TODAY)) == {mine.partner_id}
    assert set(selectors.receivables_by_partner_all(today=TODAY)) == {
        mine.partner_id,
        theirs.partner_id,
    }


def test_the_figures_cost_two_queries_however_many_partners(
    django_assert_num_queries: object,
) -> None:
    for _ in range(5):
        conn = ConnectionFactory()
        InvoiceFactory(connection=conn, txn_date=TODAY, total_amt=Decimal("10.00"))
    admin = UserFactory(role=Role.ADMIN)
    with django_assert_num_queries(2):  # type: ignore[operator]
        assert len(selectors.dso_by_partner(user=admin, today=TODAY)) == 5


money = st.decimals(min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=2)


@given(receivables=money, sales=money)
def test_dso_formula_never_fails_and_is_none_without_sales(
    receivables: Decimal, sales: Decimal
) -> None:
    dso = selectors.days_sales_outstanding(receivables=receivables, sales=sales)
    if sales <= 0:
        assert dso is None
    else:
        assert dso is not None
        assert abs(dso - receivables / sales * selectors.DSO_DAYS) <= Decimal("0.05")
