"""The dashboard's attention list (dashboard.attention): which rows each list holds and in
what order, the links to the pages that deal with them, who sees which partner's, and
its cost (a constant number of queries)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Partner, User
from billing.selectors import most_overdue_customers
from dashboard.attention import LIST_LENGTH, attention
from reconciliation.selectors import failing_connections as reconciliation_breaks
from sync.models import QBOConnection, SyncRun
from sync.selectors import failing_connections
from tests.billing.factories import ConnectionFactory, InvoiceFactory
from tests.conftest import signed_in
from tests.factories import PartnerFactory
from tests.reconciliation.test_reconciliation_pages import difference, finished_run

pytestmark = pytest.mark.django_db

TODAY = date(2026, 6, 30)


def _owe(connection: QBOConnection, customer: str, name: str, amount: str, days: int) -> None:
    InvoiceFactory(
        connection=connection, customer_qbo_id=customer, customer_name=name,
        txn_date=TODAY - timedelta(days=days + 30), due_date=TODAY - timedelta(days=days),
        total_amt=Decimal(amount), balance=Decimal(amount),
    )  # fmt: skip


def test_most_overdue_customers_are_the_largest_sums_past_due(sam: User) -> None:
    a, b = ConnectionFactory(), ConnectionFactory()
    _owe(a, "1", "Cave A", "100.00", 10)
    _owe(a, "1", "Cave A", "250.00", 95)  # Cave A: 350.00 over 2 invoices, oldest 95 days
    _owe(a, "2", "Bar B", "300.00", 1)
    _owe(a, "3", "Not due", "9000.00", 0)  # due today: not past due
    _owe(a, "3", "Not due", "9000.00", -5)
    # Customer "1" of another company is another customer.
    _owe(b, "1", "Bistro C", "349.99", 40)

    rows = most_overdue_customers(user=sam, today=TODAY, limit=3)

    assert [(r.customer_name, r.overdue, r.invoices, r.oldest_days) for r in rows] == [
        ("Cave A", Decimal("350.00"), 2, 95),
        ("Bistro C", Decimal("349.99"), 1, 40),
        ("Bar B", Decimal("300.00"), 1, 1),
    ]
    assert most_overdue_customers(user=sam, today=TODAY, limit=1)[0].connection_id == a.pk


def test_a_partner_user_sees_only_its_own_customers(alice: User, partner_a: Partner) -> None:
    mine = ConnectionFactory(partner=partner_a)
    _owe(mine, "1", "Mine", "10.00", 5)
    _owe(ConnectionFactory(), "1", "Theirs", "99999.00", 5)
    assert [r.customer_name for r in most_overdue_customers(user=alice, today=TODAY)] == ["Mine"]


def _run(connection: QBOConnection, status: str, minutes_ago: int) -> None:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    SyncRun.objects.create(
        connection=connection, kind=SyncRun.Kind.POLL, status=status, started_at=at,
        finished_at=at, error="Boom" if status == SyncRun.Status.FAILED else "",
    )  # fmt: skip


def test_failing_syncs_list_the_connections_the_tile_counts(sam: User) -> None:
    failed = ConnectionFactory()
    _run(failed, SyncRun.Status.SUCCEEDED, 30)
    _run(failed, SyncRun.Status.FAILED, 20)
    _run(failed, SyncRun.Status.RUNNING, 1)  # a retry in progress: still failing
    recovered = ConnectionFactory()
    _run(recovered, SyncRun.Status.FAILED, 30)
    _run(recovered, SyncRun.Status.SUCCEEDED, 20)
    reconnect = ConnectionFactory(status=QBOConnection.Status.NEEDS_RECONNECT)
    gone = ConnectionFactory(status=QBOConnection.Status.DISCONNECTED)
    _run(gone, SyncRun.Status.FAILED, 5)

    rows = list(failing_connections(user=sam))

    assert {c.pk for c in rows} == {failed.pk, reconnect.pk}
    failed_row: Any = next(c for c in rows if c.pk == failed.pk)
    assert failed_row.latest_error == "Boom"


def test_reconciliation_breaks_are_connections_with_failing_differences(sam: User) -> None:
    old, fresh = ConnectionFactory(), ConnectionFactory()
    for n in range(3):
        difference(old, finished_run(old), n, age=timedelta(hours=1))
    difference(fresh, finished_run(fresh), 1)  # first seen just now: a sync may still clear it
    rows = reconciliation_breaks(user=sam, limit=LIST_LENGTH)
    assert [(r.connection_id, r.differences) for r in rows] == [(old.pk, 3)]


def test_the_page_lists_each_with_a_link_to_the_page_that_deals_with_it(
    sam: User, partner_a: Partner
) -> None:
    connection = ConnectionFactory(partner=partner_a, status=QBOConnection.Status.NEEDS_RECONNECT)
    _owe(connection, "58", "Cave à Vins", "1200.00", 40)
    difference(connection, finished_run(connection), 1, age=timedelta(hours=1))

    html = signed_in(sam).get(reverse("dashboard")).content.decode()

    assert "Needs attention" in html
    customer = reverse(
        "billing:receivables_customer",
        kwargs={"connection_id": connection.pk, "customer_qbo_id": "58"},
    )
    assert f'href="{customer}"' in html and "$1,200.00" in html
    assert f'href="{reverse("sync:connection", args=[connection.pk])}"' in html
    assert "needs reconnecting" in html
    assert f'href="{reverse("reconciliation:connection", args=[connection.pk])}"' in html


def test_nothing_to_do_says_so(sam: User) -> None:
    html = signed_in(sam).get(reverse("dashboard")).content.decode()
    assert "Nothing needs attention" in html


def test_alice_is_never_shown_another_partners_rows(
    alice: User, partner_a: Partner, partner_b: Partner
) -> None:
    theirs = ConnectionFactory(partner=partner_b, status=QBOConnection.Status.NEEDS_RECONNECT)
    _owe(theirs, "1", "Their Customer", "500.00", 30)
    difference(theirs, finished_run(theirs), 1, age=timedelta(hours=1))
    found = attention(user=alice, today=TODAY)
    assert found.empty
    html = signed_in(alice).get(reverse("dashboard")).content.decode()
    assert "Their Customer" not in html and partner_b.name not in html


def _queries(user: User) -> int:
    with CaptureQueriesContext(db_connection) as queries:
        attention(user=user, today=TODAY)
    return len(queries)


def test_the_lists_cost_the_same_queries_with_ten_times_the_rows(sam: User) -> None:
    def grow(n: int) -> None:
        for _ in range(n):
            connection = ConnectionFactory(
                partner=PartnerFactory(), status=QBOConnection.Status.NEEDS_RECONNECT
            )
            _owe(connection, "1", "Cave", "10.00", 5)
            difference(connection, finished_run(connection), 1, age=timedelta(hours=1))

    grow(2)
    small = _queries(sam)
    grow(18)
    assert _queries(sam) == small
