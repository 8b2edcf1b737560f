"""billing.selectors: aging, totals, isolation, applied payments (credits: test_credits.py)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from accounts.models import User
from billing import selectors
from sync.models import QBOConnection
from tests.billing.factories import (
    InvoiceFactory,
    InvoiceLineFactory,
    ItemFactory,
    PaymentApplicationFactory,
    PaymentFactory,
    pay,
)

TODAY = date(2025, 6, 30)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("days_late", "days_overdue", "bucket"),
    [
        (-10, 0, "current"),  # not yet due
        (0, 0, "current"),  # due today
        (1, 1, "1-30"),
        (30, 30, "1-30"),
        (31, 31, "31-60"),
        (60, 60, "31-60"),
        (61, 61, "61-90"),
        (90, 90, "61-90"),
        (91, 91, "90+"),
        (400, 400, "90+"),
    ],
)
def test_aging_bucket_boundaries(
    sam: User, books_a: QBOConnection, days_late: int, days_overdue: int, bucket: str
) -> None:
    InvoiceFactory(connection=books_a, due_date=TODAY - timedelta(days=days_late))

    row: Any
    (row,) = selectors.open_items(user=sam, today=TODAY)

    assert (row.days_overdue, row.aging_bucket) == (days_overdue, bucket)


def test_without_due_date_an_invoice_is_due_on_its_txn_date(
    sam: User, books_a: QBOConnection
) -> None:
    InvoiceFactory(connection=books_a, due_date=None, txn_date=TODAY - timedelta(days=45))
    InvoiceFactory(connection=books_a, due_date=None, txn_date=None, doc_number="NODATES")

    rows: dict[str, Any] = {r.number: r for r in selectors.open_items(user=sam, today=TODAY)}

    assert [(r.days_overdue, r.aging_bucket) for r in rows.values() if r.number != "NODATES"] == [
        (45, "31-60")
    ]
    assert (rows["NODATES"].days_overdue, rows["NODATES"].aging_bucket) == (0, "current")


def test_only_unpaid_unvoided_invoices_are_open(sam: User, books_a: QBOConnection) -> None:
    InvoiceFactory(connection=books_a, doc_number="OPEN", balance=Decimal("0.01"))
    InvoiceFactory(connection=books_a, doc_number="PAID", balance=Decimal("0.00"))
    InvoiceFactory(connection=books_a, doc_number="VOID", balance=Decimal("5.00"), voided=True)

    rows = selectors.open_items(user=sam, today=TODAY)

    assert [r.number for r in rows] == ["OPEN"]


def test_partner_user_sees_only_own_partners_invoices(
    alice: User, bob: User, sam: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    # Same QBO id in both companies: ids collide across realms.
    InvoiceFactory(connection=books_a, qbo_id="7", doc_number="A-7")
    InvoiceFactory(connection=books_b, qbo_id="7", doc_number="B-7")

    def docs(user: User, **filters: object) -> list[str]:
        rows = selectors.open_items(user=user, today=TODAY, **filters)  # type: ignore[arg-type]
        return sorted(r.number for r in rows)

    assert docs(alice) == ["A-7"]
    assert docs(bob) == ["B-7"]
    assert docs(sam) == ["A-7", "B-7"]
    # A partner filter narrows; it never widens what a partner user may see.
    assert docs(alice, partner_id=books_b.partner_id) == []
    assert docs(sam, partner_id=books_b.partner_id) == ["B-7"]


def test_filters_customer_bucket_and_due_range(sam: User, books_a: QBOConnection) -> None:
    InvoiceFactory(connection=books_a, doc_number="1", customer_name="Crémant: Brut Bar",
                   due_date=TODAY - timedelta(days=5))  # fmt: skip
    InvoiceFactory(connection=books_a, doc_number="2", customer_name="Château d'Yquem",
                   due_date=TODAY - timedelta(days=45))  # fmt: skip
    InvoiceFactory(connection=books_a, doc_number="3", customer_name="château D'YQUEM cellar",
                   due_date=TODAY + timedelta(days=5))  # fmt: skip

    def docs(**filters: object) -> list[str]:
        rows = selectors.open_items(user=sam, today=TODAY, **filters)  # type: ignore[arg-type]
        return sorted(r.number for r in rows)

    assert docs(customer="château d'yquem") == ["2", "3"]
    assert docs(customer="Crémant: Brut") == ["1"]
    assert docs(bucket="31-60") == ["2"]
    assert docs(bucket="current") == ["3"]
    assert docs(due_from=TODAY - timedelta(days=5)) == ["1", "3"]
    assert docs(due_to=TODAY - timedelta(days=5)) == ["1", "2"]
    assert docs(due_from=TODAY, due_to=TODAY) == []


def test_bucket_totals_reconcile_to_the_cent(sam: User, books_a: QBOConnection) -> None:
    # Amounts a float sum gets wrong (0.1 + 0.2 ...), spread over every bucket.
    balances = ["0.10", "0.20", "33.33", "33.33", "33.34", "1234567.89", "0.01", "99.99"]
    lates = [0, 1, 30, 31, 60, 61, 90, 91]
    for balance, late in zip(balances, lates, strict=True):
        InvoiceFactory(connection=books_a, total_amt=Decimal("2000000.00"),
                       balance=Decimal(balance), due_date=TODAY - timedelta(days=late))  # fmt: skip

    totals = selectors.aging_totals(user=sam, today=TODAY)

    expected = sum((Decimal(b) for b in balances), Decimal("0"))
    assert totals["total"] == expected == Decimal("1234768.19")
    assert sum((b["amount"] for b in totals["buckets"]), Decimal("0")) == expected
    by_key = {b["key"]: (b["amount"], b["count"]) for b in totals["buckets"]}
    assert by_key == {
        "current": (Decimal("0.10"), 1),
        "1-30": (Decimal("33.53"), 2),
        "31-60": (Decimal("66.67"), 2),
        "61-90": (Decimal("1234567.90"), 2),
        "90+": (Decimal("99.99"), 1),
    }
    assert all(isinstance(b["amount"], Decimal) for b in totals["buckets"])
    assert totals["count"] == 8


def test_totals_follow_the_filters_and_are_zero_when_empty(
    alice: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    InvoiceFactory(connection=books_a, balance=Decimal("10.00"), due_date=TODAY)
    InvoiceFactory(connection=books_b, balance=Decimal("999.00"), due_date=TODAY)

    totals = selectors.aging_totals(user=alice, today=TODAY)
    assert totals["total"] == Decimal("10.00")

    empty = selectors.aging_totals(user=alice, today=TODAY, bucket="90+")
    assert empty["total"] == Decimal("0.00")
    assert [b["amount"] for b in empty["buckets"]] == [Decimal("0.00")] * 5


def test_get_invoice_for_user_404s_on_another_partners_invoice(
    alice: User, sam: User, books_b: QBOConnection
) -> None:
    from django.http import Http404

    invoice = InvoiceFactory(connection=books_b)

    with pytest.raises(Http404):
        selectors.get_invoice_for_user(user=alice, pk=invoice.pk, today=TODAY)
    found: Any = selectors.get_invoice_for_user(user=sam, pk=invoice.pk, today=TODAY)
    assert (found, found.days_overdue, found.aging_bucket) == (invoice, 150, "90+")


def test_invoice_lines_name_items_from_the_same_company(
    books_a: QBOConnection, books_b: QBOConnection
) -> None:
    ItemFactory(connection=books_a, qbo_id="11", name="The Juliette Brut NV 750")
    ItemFactory(connection=books_b, qbo_id="11", name="Someone else's item")
    invoice = InvoiceFactory(connection=books_a)
    InvoiceLineFactory(invoice=invoice, position=1, item_qbo_id="")
    InvoiceLineFactory(invoice=invoice, position=0, item_qbo_id="11")

    lines: list[Any] = selectors.invoice_lines(invoice=invoice).listed

    assert [(ln.position, ln.item_name) for ln in lines] == [(0, "The Juliette Brut NV 750"),
                                                            (1, "")]  # fmt: skip


def test_invoice_lines_keep_quickbooks_subtotal_out_of_the_lines(
    books_a: QBOConnection,
) -> None:
    invoice = InvoiceFactory(connection=books_a, total_amt=Decimal("46.80"))
    InvoiceLineFactory(invoice=invoice, position=0, amount=Decimal("40.00"))
    InvoiceLineFactory(invoice=invoice, position=1, amount=Decimal("12.00"))
    InvoiceLineFactory(invoice=invoice, position=2, detail_type="DiscountLineDetail",
                       qty=None, unit_price=None, amount=Decimal("5.20"))  # fmt: skip
    InvoiceLineFactory(invoice=invoice, position=3, detail_type="SubTotalLineDetail",
                       qty=None, unit_price=None, amount=Decimal("52.00"))  # fmt: skip

    lines = selectors.invoice_lines(invoice=invoice)

    assert [ln.position for ln in lines.listed] == [0, 1, 2]
    assert lines.subtotal == Decimal("52.00")
    assert selectors.invoice_lines(invoice=InvoiceFactory(connection=books_a)).subtotal is None


def test_invoice_payments_match_on_connection_and_qbo_id(
    books_a: QBOConnection, books_b: QBOConnection
) -> None:
    invoice = InvoiceFactory(connection=books_a, qbo_id="42")
    mine = pay(invoice, Decimal("40.00"), txn_date=date(2025, 3, 2))
    earlier = pay(invoice, Decimal("20.00"), txn_date=date(2025, 3, 1))
    # Invoice 42 of another company, and a credit memo 42 of ours: neither paid this one.
    other = PaymentFactory(connection=books_b)
    PaymentApplicationFactory(payment=other, txn_qbo_id="42")
    memo = PaymentFactory(connection=books_a)
    PaymentApplicationFactory(payment=memo, txn_qbo_id="42", txn_type="CreditMemo")

    settled = selectors.invoice_settlement(invoice=invoice)

    assert [(a.payment, a.amount) for a in settled.payments] == [
        (earlier, Decimal("20.00")),
        (mine, Decimal("40.00")),
    ]
    assert settled.credits == []


def test_payment_list_links_the_invoices_each_payment_paid(
    sam: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    first = InvoiceFactory(connection=books_a, qbo_id="1", doc_number="A-1")
    second = InvoiceFactory(connection=books_a, qbo_id="2", doc_number="A-2")
    InvoiceFactory(connection=books_b, qbo_id="3", doc_number="B-3")
    payment = PaymentFactory(connection=books_a, total_amt=Decimal("75.00"),
                             unapplied_amt=Decimal("5.00"))  # fmt: skip
    PaymentApplicationFactory(payment=payment, txn_qbo_id="1", amount=Decimal("50.00"))
    PaymentApplicationFactory(payment=payment, txn_qbo_id="2", amount=Decimal("20.00"))
    # Paid an invoice id that exists only in the other company: no link across companies.
    PaymentApplicationFactory(payment=payment, txn_qbo_id="3", amount=Decimal("0.00"))

    row: Any
    (row,) = selectors.payment_list(user=sam)

    assert row.applied_amt == Decimal("70.00")
    assert [(a.invoice_pk, a.invoice_doc_number, a.amount) for a in row.applications.all()] == [
        (first.pk, "A-1", Decimal("50.00")),
        (second.pk, "A-2", Decimal("20.00")),
        (None, None, Decimal("0.00")),
    ]


def test_payment_totals_reconcile_and_skip_voided(
    alice: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    invoice = InvoiceFactory(connection=books_a)
    pay(invoice, Decimal("0.10"), Decimal("0.20"), unapplied=Decimal("0.30"))
    pay(invoice, Decimal("33.33"))
    pay(invoice, Decimal("99.99"), voided=True)
    pay(InvoiceFactory(connection=books_b), Decimal("500.00"))

    totals = selectors.payment_totals(selectors.payment_list(user=alice))

    assert totals["received"] == Decimal("33.93")
    assert totals["applied"] == Decimal("33.63")
    assert totals["unapplied"] == Decimal("0.30")
    assert totals["received"] == totals["applied"] + totals["unapplied"]
    assert totals["difference"] == Decimal("0.00")
    assert totals["count"] == 2


def test_payment_list_filters_by_date_and_partner(
    sam: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    PaymentFactory(connection=books_a, reference="MAR", txn_date=date(2025, 3, 15))
    PaymentFactory(connection=books_a, reference="APR", txn_date=date(2025, 4, 1))
    PaymentFactory(connection=books_b, reference="BOB", txn_date=date(2025, 3, 20))

    def refs(**filters: object) -> list[str]:
        return [p.reference for p in selectors.payment_list(user=sam, **filters)]  # type: ignore[arg-type]

    assert refs() == ["APR", "BOB", "MAR"]
    assert refs(date_from=date(2025, 3, 16), date_to=date(2025, 3, 31)) == ["BOB"]
    assert refs(partner_id=books_a.partner_id) == ["APR", "MAR"]
