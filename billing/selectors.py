"""Reads of the billing mirror: open invoices and credits with aging (per customer too),
one invoice with its lines and the payments and credits applied to it, and payments with
the invoices they paid and the credit memos they used.

Everything here reads the mirror (nothing calls QuickBooks) and is scoped with
``.visible_to(user)``. Money is summed in SQL as Decimal so totals reconcile to the cent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from django.contrib.postgres.aggregates import StringAgg
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    DateField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    FilteredRelation,
    Func,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
    When,
)
from django.db.models.expressions import BaseExpression, RawSQL
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Concat, Greatest, NullIf
from django.http import Http404
from django.utils import dateformat, timezone

from accounts.models import Partner
from common import mirror
from common.models import MirrorVersion
from common.templatetags.ui import format_money

from .models import (
    CREDIT_MEMO_LINK,
    QBOCreditMemo,
    QBOCustomer,
    QBOInvoice,
    QBOInvoiceLine,
    QBOPayment,
    QBOPaymentApplication,
)

if TYPE_CHECKING:
    from accounts.models import User

ZERO = Decimal("0.00")
MONEY = DecimalField(max_digits=18, decimal_places=2)


# --- Aging --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    key: str
    label: str
    # Inclusive bounds on days overdue; ``None`` is unbounded.
    low: int | None
    high: int | None


AGING_BUCKETS: tuple[Bucket, ...] = (
    Bucket("current", "Current", None, 0),
    Bucket("1-30", "1–30 days", 1, 30),
    Bucket("31-60", "31–60 days", 31, 60),
    Bucket("61-90", "61–90 days", 61, 90),
    Bucket("90+", "Over 90 days", 91, None),
)
BUCKET_KEYS = tuple(b.key for b in AGING_BUCKETS)
BUCKET_LABELS = {b.key: b.label for b in AGING_BUCKETS}
BUCKETS_BY_KEY = {b.key: b for b in AGING_BUCKETS}


def _bucket_q(bucket: Bucket) -> Q:
    q = Q()
    if bucket.low is not None:
        q &= Q(days_overdue__gte=bucket.low)
    if bucket.high is not None:
        q &= Q(days_overdue__lte=bucket.high)
    return q


class _DaysBetween(Func):
    """``later - earlier`` for two dates, in whole days: PostgreSQL's ``date - date`` is an
    integer (Django's own date subtraction would make an interval)."""

    arg_joiner = " - "
    template = "(%(expressions)s)"
    output_field = IntegerField()


class _AsFetched:
    """For an expression whose value psycopg already returns as its output field's Python
    type (an int for an integer, a Decimal for a numeric): Django would convert it again,
    row by row, and a query whose rows need converting is read through a Python loop where
    one that needs none is not. An export of 30,000 invoices spent a tenth of its time on
    ``int()`` of the days overdue. (Returning the no-op converter is correct whether Django
    then skips it, as 5.2 does, or calls it.)"""

    @property
    def convert_value(self) -> Callable[[Any, Any, Any], Any]:
        # Django's own no-op, the one its get_db_converters() leaves out (not in the stubs).
        noop: Callable[[Any, Any, Any], Any] = BaseExpression._convert_value_noop  # type: ignore[attr-defined]
        return noop


class _WholeDays(_AsFetched, Greatest):
    pass


def _aged(rows: QuerySet[Any], *, today: date, due: Any) -> QuerySet[Any]:
    """``rows`` annotated with ``days_overdue``, the whole days from ``due`` to ``today`` (0
    when not yet due), and ``aging_bucket``, the key of its ``AGING_BUCKETS``."""
    aged: QuerySet[Any] = rows.annotate(
        days_overdue=_WholeDays(_DaysBetween(Value(today, output_field=DateField()), due), 0),
    ).annotate(
        aging_bucket=Case(
            *(When(_bucket_q(b), then=Value(b.key)) for b in AGING_BUCKETS),
            output_field=CharField(),
        )
    )
    return aged


def _invoice_due(today: date) -> Coalesce:
    # An invoice without a due date is due on its transaction date (what QuickBooks does
    # when no terms are set, and what its aging report ages it from); with neither, it
    # counts as current.
    return Coalesce(F("due_date"), F("txn_date"), Value(today), output_field=DateField())


def _credit_due(today: date) -> Coalesce:
    # A credit has no due date: QuickBooks ages it from its own date.
    return Coalesce(F("txn_date"), Value(today), output_field=DateField())


def _with_aging(invoices: QuerySet[QBOInvoice], *, today: date) -> QuerySet[QBOInvoice]:
    return _aged(invoices, today=today, due=_invoice_due(today))


# --- Open items: invoices and credits, aged ---------------------------------------------------
#
# The open-invoices page lists, ages and totals what QuickBooks' A/R aging counts as open
# on a customer's account (its AgedReceivables and AgedReceivableDetail reports; their
# rules are qbo_sandbox/reports.py ``_open_items``, which ours follow so that the two agree
# to the cent, customer by customer and bucket by bucket):
#
# - An invoice: its Balance, aged from its DueDate (from its TxnDate without one).
# - A credit memo: the credit it has left (RemainingCredit, the mirror's ``balance``), as
#   a negative amount, aged from its own TxnDate. A credit has no due date, and it is not
#   always Current: QuickBooks puts a credit memo dated 45 days ago under 31–60 days,
#   where it nets against that customer's invoices of the same age.
# - A payment with money left unapplied (UnappliedAmt): that amount, negative, aged from
#   the payment's TxnDate. QuickBooks' aging counts it as a credit, as it does a credit
#   memo's, and so do we: the customer has paid it, and owes that much less.
# - A document dated after the report date (today) is not yet on the books and is left
#   out; so is a voided one (QuickBooks zeroes it: nothing is open on it).
#
# A customer's figures and the totals are the sums of these, credits netted against what
# is owed. One rule of QuickBooks' we do not follow: its report adds back to each invoice
# what payments dated after the report date paid of it, where the mirror only holds
# today's balances. That differs only while a payment is dated in the future.

INVOICE, CREDIT_MEMO, PAYMENT = "invoice", "credit_memo", "payment"
KIND_LABELS = {INVOICE: "Invoice", CREDIT_MEMO: "Credit memo", PAYMENT: "Unapplied payment"}
# The page's "Type" filter: which kinds of open item each choice keeps.
KIND_FILTERS: dict[str, tuple[str, ...]] = {
    "invoices": (INVOICE,),
    "credits": (CREDIT_MEMO, PAYMENT),
}

# The columns of an open item, whatever its kind (``open_items``). ``number`` is an
# invoice's or credit memo's number, a payment's reference; ``due`` the date it ages from
# (a credit's own date; an invoice's due date, None without one); ``total`` and
# ``open_balance`` are negative for credits.
OPEN_ITEM_COLUMNS = (
    "kind", "pk", "partner", "customer_qbo_id", "customer_name", "number", "qbo_id",
    "txn_date", "due", "total", "open_balance", "currency", "days_overdue", "aging_bucket",
)  # fmt: skip


class InvoiceFilters(TypedDict, total=False):
    """The open-invoices filters (billing.forms ``filters()``), shared by the page, its
    export and its totals."""

    partner_id: int | None
    customer: str
    bucket: str
    due_from: date | None
    due_to: date | None
    kind: str


# Which rows of a mirror model a read starts from: what a user may see (every page), or
# one connection's (reconciliation, which runs for a company, with nobody signed in).
Scope = Callable[[QuerySet[Any]], QuerySet[Any]]


def _user_scope(user: User) -> Scope:
    def scope(rows: QuerySet[Any]) -> QuerySet[Any]:
        visible: QuerySet[Any] = rows.visible_to(user)  # type: ignore[attr-defined]
        return visible

    return scope


def _connection_scope(connection_id: int) -> Scope:
    return lambda rows: rows.filter(connection_id=connection_id)


def _open_sources(
    *, scope: Scope, today: date, **filters: Unpack[InvoiceFilters]
) -> list[QuerySet[Any]]:
    """One queryset per kind of open item the filters keep, each scoped by ``scope`` (to
    what a user may see), filtered, and annotated with the columns of
    ``OPEN_ITEM_COLUMNS``."""
    bucket = filters.get("bucket", "")
    if bucket and bucket not in BUCKET_LABELS:
        raise ValueError(f"Unknown aging bucket {bucket!r}; one of {', '.join(BUCKET_KEYS)}.")
    kind = filters.get("kind", "")
    if kind and kind not in KIND_FILTERS:
        raise ValueError(f"Unknown kind {kind!r}; one of {', '.join(KIND_FILTERS)}.")
    kinds = KIND_FILTERS[kind] if kind else (INVOICE, CREDIT_MEMO, PAYMENT)
    sources: list[QuerySet[Any]] = []
    for name in kinds:
        rows: QuerySet[Any]
        if name == INVOICE:
            rows = scope(QBOInvoice.objects.all()).filter(balance__gt=0)
            rows = rows.annotate(
                number=F("doc_number"), due=F("due_date"), total=F("total_amt"),
                open_balance=F("balance"),
            )  # fmt: skip
            due = _invoice_due(today)
        elif name == CREDIT_MEMO:
            rows = scope(QBOCreditMemo.objects.all()).filter(balance__gt=0)
            rows = rows.annotate(
                number=F("doc_number"), due=F("txn_date"),
                total=ExpressionWrapper(-F("total_amt"), output_field=MONEY),
                open_balance=ExpressionWrapper(-F("balance"), output_field=MONEY),
            )  # fmt: skip
            due = _credit_due(today)
        else:
            rows = scope(QBOPayment.objects.all()).filter(unapplied_amt__gt=0)
            rows = rows.annotate(
                number=F("reference"), due=F("txn_date"),
                total=ExpressionWrapper(-F("total_amt"), output_field=MONEY),
                open_balance=ExpressionWrapper(-F("unapplied_amt"), output_field=MONEY),
            )  # fmt: skip
            due = _credit_due(today)
        rows = rows.filter(
            Q(txn_date__lte=today) | Q(txn_date__isnull=True), voided=False
        ).annotate(kind=Value(name), partner=F("connection__partner__name"))
        sources.append(_filtered_items(_aged(rows, today=today, due=due), filters))
    return sources


def _filtered_items(rows: QuerySet[Any], filters: InvoiceFilters) -> QuerySet[Any]:
    partner_id = filters.get("partner_id")
    customer = filters.get("customer", "")
    bucket = filters.get("bucket", "")
    due_from = filters.get("due_from")
    due_to = filters.get("due_to")
    if partner_id is not None:
        rows = rows.filter(connection__partner_id=partner_id)
    if customer:
        rows = rows.filter(customer_name__icontains=customer)
    if due_from is not None:
        rows = rows.filter(due__gte=due_from)
    if due_to is not None:
        rows = rows.filter(due__lte=due_to)
    if bucket:
        # The bucket's range of days rather than its label: the same rows, simpler SQL.
        rows = rows.filter(_bucket_q(BUCKETS_BY_KEY[bucket]))
    return rows


def _union(sources: list[QuerySet[Any]]) -> QuerySet[Any]:
    first, *others = sources
    # UNION ALL: rows of different kinds never repeat one another, and PostgreSQL need
    # not look for duplicates among tens of thousands of invoices.
    return first.union(*others, all=True) if others else first


def open_items(*, user: User, today: date, **filters: Unpack[InvoiceFilters]) -> QuerySet[Any]:
    """Everything open on the accounts ``user`` may see, as QuickBooks' A/R aging counts
    it (see above): invoices with a balance left, credit memos with credit left and
    payments with money unapplied, each a named row of ``OPEN_ITEM_COLUMNS`` (``kind`` is a
    key of ``KIND_LABELS``; ``pk`` is the row's id in its own kind's table). Unordered:
    the page's table sorts them (by any of those columns, ``kind`` and ``pk`` breaking
    ties). The page and its export read the same rows, so the export carries what the
    page lists.

    ``partner_id`` narrows within what the user may see; it never widens it.
    """
    sources = [
        rows.values_list(*OPEN_ITEM_COLUMNS, named=True)
        for rows in _open_sources(scope=_user_scope(user), today=today, **filters)
    ]
    return _union(sources)


def _bucket_of(days_overdue: int) -> Bucket:
    for bucket in AGING_BUCKETS:
        if (bucket.low is None or days_overdue >= bucket.low) and (
            bucket.high is None or days_overdue <= bucket.high
        ):
            return bucket
    raise ValueError(f"No aging bucket holds {days_overdue} days overdue.")


class _Totals:
    """Open amounts added up per aging bucket, what is owed (invoices) and what is
    credited (credit memos and unapplied payments) apart as well as netted."""

    def __init__(self) -> None:
        self.amounts = dict.fromkeys(BUCKET_KEYS, ZERO)
        self.owed = dict.fromkeys(BUCKET_KEYS, ZERO)
        self.credits = dict.fromkeys(BUCKET_KEYS, ZERO)
        self.counts = dict.fromkeys(BUCKET_KEYS, 0)
        self.owed_counts = dict.fromkeys(BUCKET_KEYS, 0)

    def add(self, kind: str, bucket: str, amount: Decimal, count: int) -> None:
        self.amounts[bucket] += amount
        (self.owed if kind == INVOICE else self.credits)[bucket] += amount
        self.counts[bucket] += count
        if kind == INVOICE:
            self.owed_counts[bucket] += count

    def result(self) -> dict[str, Any]:
        return {
            "buckets": [
                {
                    "key": b.key,
                    "label": b.label,
                    "amount": self.amounts[b.key],
                    "owed": self.owed[b.key],
                    "credits": self.credits[b.key],
                    "count": self.counts[b.key],
                    "owed_count": self.owed_counts[b.key],
                }
                for b in AGING_BUCKETS
            ],
            "total": sum(self.amounts.values(), ZERO),
            "owed": sum(self.owed.values(), ZERO),
            "credits": sum(self.credits.values(), ZERO),
            "count": sum(self.counts.values()),
            "owed_count": sum(self.owed_counts.values()),
        }


def aging_totals(*, user: User, today: date, **filters: Unpack[InvoiceFilters]) -> dict[str, Any]:
    """The open amounts of ``open_items`` (same arguments) per aging bucket and overall, in
    one query: ``amount`` nets credits against what is owed, ``owed`` is the invoices'
    part and ``credits`` (zero or negative) the credits'. ``count`` is the number of
    rows, which is also what the page's table counts: the view gives it to the table
    rather than counting the same rows a second time.

    PostgreSQL sums the open amounts per kind and number of days overdue (a few hundred
    groups however many rows), and the groups are added into their buckets here: Decimal
    sums of Decimals, exact, so the buckets add up to ``total`` to the cent. Summing each
    bucket in SQL instead (ten sums, each filtered on the day range) evaluated the days
    overdue ten times per invoice, and took a third longer.

    The page's rows (50 of them, sorted) come from a query of their own. One query could
    return both, with the sums as window functions over every row, but PostgreSQL then
    holds every open invoice in the window before sorting out 50 of them: on 90,000 open
    invoices that took half as long again as this query and the page's together.

    Returns ``{"buckets": [{"key", "label", "amount", "owed", "credits", "count",
    "owed_count"}, ...], "total", "owed", "credits", "count", "owed_count"}``
    (``owed_count``: the invoices among the rows).
    """
    groups = _union(
        [
            rows.order_by()
            .values("kind", "days_overdue")
            .annotate(amount=Sum("open_balance"), count=Count("pk"))
            .values_list("kind", "days_overdue", "amount", "count")
            for rows in _open_sources(scope=_user_scope(user), today=today, **filters)
        ]
    )
    totals = _Totals()
    for kind, days_overdue, amount, count in groups:
        totals.add(kind, _bucket_of(days_overdue).key, amount, count)
    return totals.result()


@dataclass(frozen=True)
class CustomerAging:
    """``rows``: one dict per customer (and currency) with something open, with its
    ``partner``, ``customer_qbo_id``, ``customer_name``, ``currency``, its net open amount
    under each bucket's key (and in ``by_bucket``, a list in the buckets' order), ``total``
    and ``count`` (the documents open); ``totals`` as
    ``aging_totals`` gives them for the same rows."""

    rows: list[dict[str, Any]]
    totals: dict[str, Any]


def aging_by_customer(
    *, user: User, today: date, **filters: Unpack[InvoiceFilters]
) -> CustomerAging:
    """The open items of ``open_items`` (same arguments) summed per customer and aging
    bucket, credits netted: QuickBooks' AgedReceivables, a row per customer. One query.
    Customers are told apart by their QuickBooks id in their company (two companies'
    customers 58 are different customers) and ordered by partner and name.

    PostgreSQL groups the rows by customer, kind and bucket (at most fifteen groups per
    customer), and each customer's groups are added up here in Decimal. A customer billed
    in two currencies has a row for each: their amounts do not add up.
    """
    return _aging_by_customer(_open_sources(scope=_user_scope(user), today=today, **filters))


def aging_by_customer_for_connection(*, connection_id: int, today: date) -> CustomerAging:
    """``aging_by_customer`` of one connection's company, for no user: what reconciliation
    compares with QuickBooks' AgedReceivables. Only for code that has already decided who
    may see the connection (a task, or a view that loaded it for its user)."""
    return _aging_by_customer(_open_sources(scope=_connection_scope(connection_id), today=today))


def _customers(sources: list[QuerySet[Any]]) -> tuple[list[dict[str, Any]], _Totals]:
    """The open items of ``sources`` summed per customer (and currency): one query.
    PostgreSQL groups the rows by customer, kind and bucket (at most fifteen groups per
    customer) and each customer's groups are added up here in Decimal. A row holds
    ``partner``, ``connection_id``, ``customer_qbo_id``, ``customer_name``, ``currency``,
    its net amount under each bucket's key, ``total``, ``owed`` (its open invoices),
    ``credits`` (zero or negative), ``overdue`` (its open invoices past due), ``count``
    (documents open), ``oldest_invoice`` and ``most_days_overdue`` (of its open
    invoices; None without one). Unordered."""
    key = ("connection_id", "customer_qbo_id", "currency")
    groups = _union(
        [
            rows.order_by()
            .values(*key, "kind", "aging_bucket")
            .annotate(
                partner_name=Max("partner"), name=Max("customer_name"),
                amount=Sum("open_balance"), count=Count("pk"),
                oldest=Min("txn_date"), most_days=Max("days_overdue"),
            )
            .values_list(*key, "kind", "aging_bucket", "partner_name", "name", "amount",
                         "count", "oldest", "most_days")
            for rows in sources
        ]
    )  # fmt: skip
    customers: dict[tuple[int, str, str], dict[str, Any]] = {}
    totals = _Totals()
    for (
        connection_id, customer_id, currency, kind, bucket, partner, name, amount, count,
        oldest, most_days,
    ) in groups:  # fmt: skip
        row = customers.get((connection_id, customer_id, currency))
        if row is None:
            row = customers[(connection_id, customer_id, currency)] = {
                "partner": partner,
                "connection_id": connection_id,
                "customer_qbo_id": customer_id,
                "customer_name": name,
                "currency": currency,
                **dict.fromkeys(BUCKET_KEYS, ZERO),
                "total": ZERO,
                "owed": ZERO,
                "credits": ZERO,
                "overdue": ZERO,
                "count": 0,
                "oldest_invoice": None,
                "most_days_overdue": None,
            }
        # The documents of one customer may carry its name as it was when each was
        # last changed; the greatest stands for them all, whatever order groups come in.
        row["customer_name"] = max(row["customer_name"], name)
        row[bucket] += amount
        row["total"] += amount
        row["count"] += count
        totals.add(kind, bucket, amount, count)
        if kind == INVOICE:
            row["owed"] += amount
            if bucket != "current":
                row["overdue"] += amount
            if oldest is not None and (
                row["oldest_invoice"] is None or oldest < row["oldest_invoice"]
            ):
                row["oldest_invoice"] = oldest
            if row["most_days_overdue"] is None or most_days > row["most_days_overdue"]:
                row["most_days_overdue"] = most_days
        else:
            row["credits"] += amount
    return list(customers.values()), totals


def _by_partner_and_name(row: dict[str, Any]) -> tuple[str, str, str]:
    return (row["partner"], row["customer_name"].casefold(), row["customer_qbo_id"])


def _aging_by_customer(sources: list[QuerySet[Any]]) -> CustomerAging:
    rows, totals = _customers(sources)
    rows.sort(key=_by_partner_and_name)
    for row in rows:
        row["by_bucket"] = [row[key] for key in BUCKET_KEYS]  # in the buckets' order
    return CustomerAging(rows=rows, totals=totals.result())


# --- Receivables by customer, one customer's account, a statement -------------------------

# The receivables-by-customer page (docs/reports.md, "Receivables by customer"): the rows
# of ``aging_by_customer`` with what finance asks next about each account: its credits
# apart, its oldest open invoice and its last payment. Its filters "overdue only" and
# "a balance in bucket" choose customers, not documents: a customer shown is shown with
# its whole account, so the page's totals stay those of the open-invoices page.


@dataclass(frozen=True)
class CustomerReceivables:
    """``rows``: one dict per partner × customer × currency with something open (see
    ``receivables_by_customer``); ``totals``: their sums, keyed as the rows are."""

    rows: list[dict[str, Any]]
    totals: dict[str, Any]


# The row keys the totals row sums.
RECEIVABLE_SUMS = (*BUCKET_KEYS, "total", "owed", "credits", "overdue", "count")


def receivables_by_customer(
    *,
    user: User,
    today: date,
    partner_id: int | None = None,
    customer: str = "",
    overdue_only: bool = False,
    bucket: str = "",
) -> CustomerReceivables:
    """Each customer ``user`` may see with something open, as ``aging_by_customer`` counts
    it (its net amount per bucket, credits netted, and ``total``), with ``owed`` (its open
    invoices), ``credits`` (zero or negative: open credit memos and unapplied payments),
    ``overdue`` (its open invoices past due), ``count`` (documents open),
    ``oldest_invoice`` (the date of its oldest open invoice) and ``most_days_overdue``
    (the most days any of its open invoices is overdue; both None with no open invoice),
    ``last_payment_date`` and ``last_payment_amount`` (its latest payment not voided and
    not dated after ``today``, in the row's currency; None without one), and
    ``connection_id``, which with ``customer_qbo_id`` names its account. Two queries.

    ``partner_id`` and ``customer`` (name contains) narrow the documents read;
    ``overdue_only`` keeps customers with an open invoice past due, ``bucket`` those whose
    net amount in that bucket is above zero. Rows are ordered by partner and name.
    """
    if bucket and bucket not in BUCKET_LABELS:
        raise ValueError(f"Unknown aging bucket {bucket!r}; one of {', '.join(BUCKET_KEYS)}.")
    sources = _open_sources(
        scope=_user_scope(user), today=today, partner_id=partner_id, customer=customer
    )
    customers, _ = _customers(sources)
    for row in customers:
        row["last_payment_date"] = row["last_payment_amount"] = None
    rows = [
        row
        for row in customers
        if (not overdue_only or row["overdue"] > 0) and (not bucket or row[bucket] > 0)
    ]
    if rows:
        _add_last_payments(rows, user=user, today=today, partner_id=partner_id)
    rows.sort(key=_by_partner_and_name)
    totals: dict[str, Any] = {name: sum((r[name] for r in rows), ZERO) for name in RECEIVABLE_SUMS}
    totals["count"] = int(totals["count"])
    totals["customers"] = len(rows)
    return CustomerReceivables(rows=rows, totals=totals)


def _add_last_payments(
    rows: list[dict[str, Any]], *, user: User, today: date, partner_id: int | None
) -> None:
    """Sets each row's last payment: one query, PostgreSQL's DISTINCT ON picking each
    customer's latest payment (the latest date, then the latest stored) from the payments
    of the partners the rows are of."""
    payments = QBOPayment.objects.visible_to(user).filter(
        Q(txn_date__lte=today) | Q(txn_date__isnull=True), voided=False
    )
    if partner_id is not None:
        payments = payments.filter(connection__partner_id=partner_id)
    payments = payments.filter(connection_id__in={row["connection_id"] for row in rows})
    key = ("connection_id", "customer_qbo_id", "currency")
    latest = (
        payments.order_by(*key, F("txn_date").desc(nulls_last=True), "-pk")
        .distinct(*key)
        .values_list(*key, "txn_date", "total_amt")
    )
    by_customer = {(c, q, cur): (day, amount) for c, q, cur, day, amount in latest}
    for row in rows:
        found = by_customer.get((row["connection_id"], row["customer_qbo_id"], row["currency"]))
        if found is not None:
            row["last_payment_date"], row["last_payment_amount"] = found


@dataclass(frozen=True)
class CustomerAccount:
    """One customer of one partner's company, as a user who may see that company sees it:
    the partner (``partner_name``), the customer's QuickBooks id and ``name``."""

    connection_id: int
    partner_name: str
    customer_qbo_id: str
    name: str


def get_customer_account(
    *, user: User, connection_id: int, customer_qbo_id: str
) -> CustomerAccount:
    """The customer ``customer_qbo_id`` of company ``connection_id``, if ``user`` may see that
    company and the mirror holds anything of that customer (its record, a document or a
    payment); 404 otherwise, so another partner's customer is indistinguishable from a
    missing one. One query: the partner, checked as the user's, with the customer's name
    (its record's, else the one its latest document or payment carries)."""
    same = {"connection_id": connection_id}
    names: list[Any] = [
        Subquery(
            QBOCustomer.objects.filter(**same, qbo_id=customer_qbo_id).values("display_name")[:1]
        ),
        *(
            Subquery(
                model.objects.filter(**same, customer_qbo_id=customer_qbo_id)
                .order_by("-pk")
                .values("customer_name")[:1]
            )
            for model in (QBOInvoice, QBOCreditMemo, QBOPayment)
        ),
    ]
    found = (
        Partner.objects.visible_to(user)
        .filter(connections__pk=connection_id)
        .annotate(customer=Coalesce(*names, output_field=CharField()))
        .values_list("name", "customer")
        .first()
    )
    if found is None or found[1] is None:
        raise Http404("No such customer.")
    return CustomerAccount(
        connection_id=connection_id,
        partner_name=found[0],
        customer_qbo_id=customer_qbo_id,
        name=found[1],
    )


def _customer_sources(account: CustomerAccount, *, today: date) -> list[QuerySet[Any]]:
    # The account was loaded for its user (get_customer_account): its company is theirs.
    sources = _open_sources(scope=_connection_scope(account.connection_id), today=today)
    return [rows.filter(customer_qbo_id=account.customer_qbo_id) for rows in sources]


def customer_open_items(*, account: CustomerAccount, today: date) -> QuerySet[Any]:
    """What is open on ``account`` (from ``get_customer_account``), as ``open_items`` has
    it: its invoices, credit memos and unapplied payments, aged as of ``today``."""
    return _union(
        [
            rows.values_list(*OPEN_ITEM_COLUMNS, named=True)
            for rows in _customer_sources(account, today=today)
        ]
    )


def customer_aging(*, account: CustomerAccount, today: date) -> dict[str, Any]:
    """``aging_totals`` of one account: its open amounts per bucket, credits netted. One
    query."""
    groups = _union(
        [
            rows.order_by()
            .values("kind", "days_overdue")
            .annotate(amount=Sum("open_balance"), count=Count("pk"))
            .values_list("kind", "days_overdue", "amount", "count")
            for rows in _customer_sources(account, today=today)
        ]
    )
    totals = _Totals()
    for kind, days_overdue, amount, count in groups:
        totals.add(kind, _bucket_of(days_overdue).key, amount, count)
    return totals.result()


def customer_payments(*, account: CustomerAccount) -> QuerySet[QBOPayment]:
    """Every payment of ``account``, voided ones too (the page marks them), newest first."""
    return (
        QBOPayment.objects.filter(
            connection_id=account.connection_id, customer_qbo_id=account.customer_qbo_id
        )
        .only(*PAYMENT_PAGE_FIELDS)
        .order_by(F("txn_date").desc(nulls_last=True), "-pk")
    )


# Kinds in the order a statement lists those of one day: what was billed, then credits.
_STATEMENT_ORDER = {INVOICE: 0, CREDIT_MEMO: 1, PAYMENT: 2}


@dataclass(frozen=True)
class Statement:
    """A customer's statement as of ``as_of``: ``items`` (named rows of
    ``OPEN_ITEM_COLUMNS`` as dicts, oldest first, each with ``running``, the balance
    after it), ``aging`` (``customer_aging``) and ``total_due`` (every item netted)."""

    account: CustomerAccount
    as_of: date
    items: list[dict[str, Any]]
    aging: dict[str, Any]
    total_due: Decimal


def customer_statement(*, account: CustomerAccount, as_of: date) -> Statement:
    """Everything open on ``account`` as of ``as_of``, for its printable statement. Two
    queries. Balances are the mirror's, i.e. today's: a statement as of a past date ages
    today's open items as of that date and leaves out those dated after it; it does not
    put back what was paid since (docs/reports.md, "Receivables by customer")."""
    items = [row._asdict() for row in customer_open_items(account=account, today=as_of)]
    items.sort(
        key=lambda i: (
            i["txn_date"] or as_of,
            _STATEMENT_ORDER[i["kind"]],
            i["number"] or "",
            i["pk"],
        )
    )
    running = ZERO
    for item in items:
        running += item["open_balance"]
        item["running"] = running
    aging = customer_aging(account=account, today=as_of)
    return Statement(
        account=account, as_of=as_of, items=items, aging=aging, total_due=aging["total"]
    )


# --- Per partner: receivables, credit sales, days sales outstanding ------------------------

# Days sales outstanding looks back a quarter: 13 whole weeks, so a window never starts
# or ends mid-week differently from the weekly trends (docs/reports.md, "Days sales
# outstanding").
DSO_DAYS = 91
DSO_PLACES = Decimal("0.1")


@dataclass(frozen=True)
class PartnerReceivables:
    """A partner's open receivables as the open-invoices page counts them (``aging_totals``
    over the partner's rows): ``owed`` the open invoices, ``credits`` (zero or negative)
    its open credit memos and unapplied payments, ``by_bucket`` the net amount per aging
    bucket key, ``overdue`` the open invoices past due."""

    owed: Decimal
    credits: Decimal
    overdue: Decimal
    by_bucket: dict[str, Decimal]

    @property
    def net(self) -> Decimal:
        return self.owed + self.credits


def _all_scope(rows: QuerySet[Any]) -> QuerySet[Any]:
    return rows


def _receivables_by_partner(scope: Scope, today: date) -> dict[int, PartnerReceivables]:
    return _partner_receivables(_open_sources(scope=scope, today=today))


def _partner_receivables(sources: list[QuerySet[Any]]) -> dict[int, PartnerReceivables]:
    """The open items of ``sources`` (as ``_open_sources`` makes them) added up per partner,
    in one query."""
    groups = _union(
        [
            rows.order_by()
            .values("connection__partner_id", "kind", "aging_bucket")
            .annotate(amount=Sum("open_balance"))
            .values_list("connection__partner_id", "kind", "aging_bucket", "amount")
            for rows in sources
        ]
    )
    parts: dict[int, dict[str, Any]] = {}
    for partner_id, kind, bucket, amount in groups:
        part = parts.setdefault(
            partner_id,
            {
                "owed": ZERO,
                "credits": ZERO,
                "overdue": ZERO,
                "by_bucket": dict.fromkeys(BUCKET_KEYS, ZERO),
            },
        )
        part["by_bucket"][bucket] += amount
        if kind == INVOICE:
            part["owed"] += amount
            if bucket != "current":
                part["overdue"] += amount
        else:
            part["credits"] += amount
    return {partner_id: PartnerReceivables(**part) for partner_id, part in parts.items()}


def receivables_by_partner(*, user: User, today: date) -> dict[int, PartnerReceivables]:
    """The open receivables of each partner ``user`` may see, keyed by partner id, in one
    query; a partner with nothing open has no entry."""
    return _receivables_by_partner(_user_scope(user), today)


def receivables_by_partner_all(*, today: date) -> dict[int, PartnerReceivables]:
    """``receivables_by_partner`` over every partner, for no user: the daily history job."""
    return _receivables_by_partner(_all_scope, today)


def _credit_sales_by_partner(scope: Scope, start: date, end: date) -> dict[int, Decimal]:
    # Credit sales are what enters receivables: invoices, less the credit memos issued
    # against them. Sales receipts are paid at the till and never owed, so they are left
    # out (docs/reports.md, "Days sales outstanding").
    window = Q(voided=False, txn_date__gte=start, txn_date__lte=end)
    signed = [
        scope(model.objects.all())
        .filter(window)
        .order_by()
        .values("connection__partner_id")
        .annotate(amount=Sum(ExpressionWrapper(sign * F("total_amt"), output_field=MONEY)))
        .values_list("connection__partner_id", "amount")
        for model, sign in ((QBOInvoice, 1), (QBOCreditMemo, -1))
    ]
    sales: dict[int, Decimal] = {}
    for partner_id, amount in _union(signed):
        sales[partner_id] = sales.get(partner_id, ZERO) + amount
    return sales


def credit_sales_by_partner(*, user: User, start: date, end: date) -> dict[int, Decimal]:
    """Net credit sales dated ``start`` to ``end`` (both included) per partner ``user`` may
    see, in one query."""
    return _credit_sales_by_partner(_user_scope(user), start, end)


def credit_sales_by_partner_all(*, start: date, end: date) -> dict[int, Decimal]:
    """``credit_sales_by_partner`` over every partner, for no user (the history job)."""
    return _credit_sales_by_partner(_all_scope, start, end)


# --- Per partner on a past day, from the documents (the history backfill) -------------------
#
# The mirror holds today's balances only. What was open at the end of a past day is
# rebuilt from the documents themselves (docs/reports.md, "Daily history"):
#
# - an invoice dated on or before the day, less what payments dated on or before it
#   applied to it (``QBOPaymentApplication`` lines of type Invoice);
# - a credit memo dated on or before the day, less the credit payments dated on or before
#   it used (lines of type CreditMemo);
# - a payment dated on or before the day, with what it left unapplied: a payment's lines
#   carry its own date, so what it leaves unapplied does not change with the day.
#
# Voided documents count nothing, as on the open-invoices page; the aging is the page's
# (``_aged``), as of the day. For today, with no payment dated in the future, this is
# ``receivables_by_partner_all``'s figure to the cent: the tests hold the two together.


def _applied_on_or_before(day: date, txn_type: str) -> Coalesce:
    applied = (
        QBOPaymentApplication.objects.filter(
            txn_type=txn_type,
            txn_qbo_id=OuterRef("qbo_id"),
            payment__connection_id=OuterRef("connection_id"),
            payment__voided=False,
        )
        .filter(Q(payment__txn_date__lte=day) | Q(payment__txn_date__isnull=True))
        .order_by()
        .values("txn_qbo_id")
        .annotate(applied=Sum("amount"))
        .values("applied")
    )
    return Coalesce(Subquery(applied, output_field=MONEY), ZERO, output_field=MONEY)


def _sources_on(day: date) -> list[QuerySet[Any]]:
    """``_open_sources`` over every partner as the documents stood at the end of ``day``."""
    invoices = QBOInvoice.objects.annotate(
        open_balance=ExpressionWrapper(
            F("total_amt") - _applied_on_or_before(day, "Invoice"), output_field=MONEY
        )
    ).filter(open_balance__gt=0)
    memos = QBOCreditMemo.objects.annotate(
        credit_left=ExpressionWrapper(
            F("total_amt") - _applied_on_or_before(day, CREDIT_MEMO_LINK), output_field=MONEY
        )
    ).filter(credit_left__gt=0)
    payments = QBOPayment.objects.filter(unapplied_amt__gt=0)
    dated = Q(txn_date__lte=day) | Q(txn_date__isnull=True)
    return [
        _aged(
            rows.filter(dated, voided=False).annotate(kind=Value(name)),
            today=day,
            due=due,
        )
        for name, rows, due in (
            (INVOICE, invoices, _invoice_due(day)),
            (
                CREDIT_MEMO,
                memos.annotate(
                    open_balance=ExpressionWrapper(-F("credit_left"), output_field=MONEY)
                ),
                _credit_due(day),
            ),
            (
                PAYMENT,
                payments.annotate(
                    open_balance=ExpressionWrapper(-F("unapplied_amt"), output_field=MONEY)
                ),
                _credit_due(day),
            ),
        )
    ]


def receivables_by_partner_on(*, day: date) -> dict[int, PartnerReceivables]:
    """``receivables_by_partner_all`` as the documents stood at the end of ``day`` (see
    above), for no user: the history backfill. One query."""
    return _partner_receivables(_sources_on(day))


@dataclass(frozen=True)
class PartnerPayments:
    unapplied: Decimal  # left unapplied on payments dated on or before the day
    received: Decimal  # the payments dated on the day


def payments_by_partner_all(*, day: date) -> dict[int, PartnerPayments]:
    """Per partner, for no user (the history job): the cash received on ``day`` (payments
    dated that day) and what payments dated on or before it left unapplied, voided
    payments left out. One query; a partner with neither has no entry."""
    rows = (
        QBOPayment.objects.filter(voided=False)
        .filter(Q(txn_date__lte=day) | Q(txn_date__isnull=True))
        .order_by()
        .values("connection__partner_id")
        .annotate(
            unapplied=Coalesce(Sum("unapplied_amt"), ZERO, output_field=MONEY),
            received=Coalesce(Sum("total_amt", filter=Q(txn_date=day)), ZERO, output_field=MONEY),
        )
        .values_list("connection__partner_id", "unapplied", "received")
    )
    return {
        partner_id: PartnerPayments(unapplied=unapplied, received=received)
        for partner_id, unapplied, received in rows
    }


def days_sales_outstanding(
    *, receivables: Decimal, sales: Decimal, days: int = DSO_DAYS
) -> Decimal | None:
    """DSO = net receivables at the end of the window ÷ net credit sales over the ``days``
    days ending then × ``days``, to a tenth of a day (docs/reports.md, "Days sales
    outstanding"). None when there were no credit sales: the ratio has no meaning, and
    showing 0 or infinity would read as a figure."""
    if sales <= 0:
        return None
    return (receivables / sales * days).quantize(DSO_PLACES)


@dataclass(frozen=True)
class PartnerDSO:
    receivables: Decimal  # net: open invoices less credits, at ``today``
    sales: Decimal  # net credit sales over the DSO_DAYS days ending ``today``
    dso: Decimal | None


def dso_by_partner(*, user: User, today: date, days: int = DSO_DAYS) -> dict[int, PartnerDSO]:
    """Days sales outstanding of each partner ``user`` may see that has receivables or
    sales, keyed by partner id: two queries whatever the number of partners."""
    owed = receivables_by_partner(user=user, today=today)
    sales = credit_sales_by_partner(user=user, start=today - timedelta(days=days - 1), end=today)
    result = {}
    for partner_id in owed.keys() | sales.keys():
        net = owed[partner_id].net if partner_id in owed else ZERO
        sold = sales.get(partner_id, ZERO)
        result[partner_id] = PartnerDSO(
            receivables=net, sales=sold,
            dso=days_sales_outstanding(receivables=net, sales=sold, days=days),
        )  # fmt: skip
    return result


# --- The most overdue customers (the dashboard's attention list) ---------------------------


@dataclass(frozen=True)
class OverdueCustomer:
    partner: str
    connection_id: int
    customer_qbo_id: str
    customer_name: str
    overdue: Decimal  # open balance of the customer's invoices past due
    invoices: int  # how many invoices that is
    oldest_days: int  # days the longest-overdue of them is past due


def most_overdue_customers(*, user: User, today: date, limit: int = 5) -> list[OverdueCustomer]:
    """The customers ``user`` may see with the most money past due on invoices, largest
    first, ``limit`` of them: one query, grouped and cut in PostgreSQL.

    Credits are not netted here: a customer's unapplied payment is money to apply, not a
    reason to stop chasing the invoice it might pay; the receivables pages show both."""
    (invoices,) = _open_sources(scope=_user_scope(user), today=today, kind="invoices")
    rows = (
        invoices.filter(days_overdue__gt=0)
        .order_by()
        .values("connection_id", "customer_qbo_id")
        .annotate(
            partner_name=Max("partner"), name=Max("customer_name"),
            overdue=Sum("open_balance"), invoices=Count("pk"), oldest=Max("days_overdue"),
        )
        .order_by("-overdue", "connection_id", "customer_qbo_id")
        .values_list(
            "partner_name", "connection_id", "customer_qbo_id", "name", "overdue", "invoices",
            "oldest",
        )[:limit]
    )  # fmt: skip
    return [OverdueCustomer(*row) for row in rows]


# --- One invoice ----------------------------------------------------------------------------


def get_invoice_for_user(*, user: User, pk: int, today: date) -> QBOInvoice:
    """Invoice ``pk`` if ``user`` may see it, with ``days_overdue`` and ``aging_bucket`` as
    of ``today``; 404 otherwise, so another partner's invoice is indistinguishable from a
    missing one."""
    invoices: QuerySet[QBOInvoice] = QBOInvoice.objects.visible_to(user)
    invoices = _with_aging(invoices, today=today)
    try:
        invoice: QBOInvoice = invoices.select_related("connection__partner").get(pk=pk)
    except QBOInvoice.DoesNotExist:
        raise Http404("No such invoice.") from None
    return invoice


@dataclass(frozen=True)
class InvoiceLines:
    listed: list[QBOInvoiceLine]
    subtotal: Decimal | None


def invoice_lines(*, invoice: QBOInvoice) -> InvoiceLines:
    """The invoice's lines to list, in order, each with ``item_name`` (the partner's QBO
    item it refers to, looked up in the same company: item ids collide across companies),
    and QuickBooks' ``subtotal`` (None when the mirror holds no subtotal line).

    Subtotal lines are not listed: each repeats the sum of the lines above it, so listing
    one makes the invoice read as if billed twice. QuickBooks appends one to every
    invoice; should an invoice carry several, the last is the subtotal of them all.
    """
    # Items are inventory's rows; the registry hands over their model without an import.
    items = mirror.model_for("Item")._default_manager
    item_name = items.filter(
        connection_id=invoice.connection_id, qbo_id=OuterRef("item_qbo_id")
    ).values("name")[:1]
    # One query for both: the subtotal is split off here rather than read separately.
    lines = list(
        invoice.lines.annotate(
            item_name=Coalesce(Subquery(item_name), Value(""), output_field=CharField())
        ).order_by("position")
    )
    subtotals = [line for line in lines if line.detail_type == QBOInvoiceLine.SUBTOTAL]
    return InvoiceLines(
        listed=[line for line in lines if line.detail_type != QBOInvoiceLine.SUBTOTAL],
        subtotal=subtotals[-1].amount if subtotals else None,
    )


# A payment line linking a credit memo (CREDIT_MEMO_LINK) records credit the payment used,
# not money it brought: QuickBooks lets that credit pay invoices alongside the money, so
# what a payment's lines give invoices is its money plus the credit it used, and its
# UnappliedAmt is TotalAmt − (invoices paid − credit used) (qbo_sandbox/accounting.py
# ``_payment``). Any other link (an invoice, or a charge the mirror does not hold) is
# something paid.


@dataclass(frozen=True)
class InvoiceSettlement:
    """How an invoice was paid: ``payments``, what each payment applied to it (money and
    credit alike, as QuickBooks records it on the invoice); ``credits``, the credit memos
    those payments used, each with ``memo_doc_number`` and ``memo_txn_date`` (None when the
    mirror has no such credit memo) and ``shared``, whether its payment also paid other
    invoices (QuickBooks then does not say which of them the credit went to)."""

    payments: list[QBOPaymentApplication]
    credits: list[QBOPaymentApplication]


def invoice_settlement(*, invoice: QBOInvoice) -> InvoiceSettlement:
    """The payment applications that paid ``invoice``, matched on (connection, QBO id), and
    the credit memos those payments used, in one query; each with its ``payment`` loaded,
    oldest payment first. Everything read is in the invoice's own company, which the caller
    has checked the user may see."""
    company = invoice.connection_id
    paid = QBOPaymentApplication.objects.filter(
        payment__connection_id=company, txn_type="Invoice", txn_qbo_id=invoice.qbo_id
    )
    memo = QBOCreditMemo.objects.filter(connection_id=company, qbo_id=OuterRef("txn_qbo_id"))
    elsewhere = QBOPaymentApplication.objects.filter(
        payment_id=OuterRef("payment_id"), txn_type="Invoice"
    ).exclude(txn_qbo_id=invoice.qbo_id)
    applications: QuerySet[QBOPaymentApplication] = (
        QBOPaymentApplication.objects.filter(
            Q(txn_type="Invoice", txn_qbo_id=invoice.qbo_id) | Q(txn_type=CREDIT_MEMO_LINK),
            payment__connection_id=company,
            payment_id__in=paid.values("payment_id"),
        )
        .annotate(
            memo_doc_number=Subquery(memo.values("doc_number")[:1]),
            memo_txn_date=Subquery(memo.values("txn_date")[:1]),
            shared=Exists(elsewhere),
        )
        .select_related("payment")
        .order_by(F("payment__txn_date").asc(nulls_last=True), "payment_id", "pk")
    )
    payments: list[QBOPaymentApplication] = []
    credits: list[QBOPaymentApplication] = []
    for application in applications:
        (credits if application.txn_type == CREDIT_MEMO_LINK else payments).append(application)
    return InvoiceSettlement(payments=payments, credits=credits)


# --- Payments ------------------------------------------------------------------------------


def _payments(
    *,
    user: User,
    partner_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    customer: str = "",
    reference: str = "",
    amount: Decimal | None = None,
) -> QuerySet[QBOPayment]:
    payments: QuerySet[QBOPayment] = QBOPayment.objects.visible_to(user)
    if partner_id is not None:
        payments = payments.filter(connection__partner_id=partner_id)
    if date_from is not None:
        payments = payments.filter(txn_date__gte=date_from)
    if date_to is not None:
        payments = payments.filter(txn_date__lte=date_to)
    if customer:
        payments = payments.filter(customer_name__icontains=customer)
    if reference:
        payments = payments.filter(reference__icontains=reference)
    if amount is not None:
        # The amount received, as the page's Received column shows it.
        payments = payments.filter(total_amt=amount)
    return payments


# What the payments page reads of each payment (billing/templates/billing/payments.html);
# never ``raw`` nor the connection's own columns.
PAYMENT_PAGE_FIELDS = (
    "txn_date", "customer_name", "payment_method", "reference", "total_amt", "unapplied_amt",
    "applied_amt", "credit_used_amt", "currency", "voided", "connection__partner__name",
)  # fmt: skip


def payment_list(
    *,
    user: User,
    partner_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    customer: str = "",
    reference: str = "",
    amount: Decimal | None = None,
) -> QuerySet[QBOPayment]:
    """Payments ``user`` may see, newest first, with ``applied_amt`` (the money applied to
    invoices: what their applications paid less the credit memos they used) and
    ``credit_used_amt`` (those credit memos' credit), and ``applications`` prefetched.
    Each application to an invoice carries ``invoice_pk`` and ``invoice_doc_number`` of
    the invoice it paid in the same company, each use of a credit memo
    ``memo_doc_number`` of that credit memo (``None`` when the mirror does not hold the
    document). ``partner_id`` narrows within what the user may see; it never widens it."""
    same_company = {
        "connection_id": OuterRef("payment__connection_id"),
        "qbo_id": OuterRef("txn_qbo_id"),
    }
    invoice = QBOInvoice.objects.filter(**same_company)
    memo = QBOCreditMemo.objects.filter(**same_company)
    is_invoice = Q(txn_type="Invoice")
    applications = QBOPaymentApplication.objects.annotate(
        invoice_pk=Case(
            When(is_invoice, then=Subquery(invoice.values("pk")[:1])),
            default=None,
            output_field=IntegerField(),
        ),
        invoice_doc_number=Case(
            When(is_invoice, then=Subquery(invoice.values("doc_number")[:1])),
            default=None,
            output_field=CharField(),
        ),
        memo_doc_number=Case(
            When(txn_type=CREDIT_MEMO_LINK, then=Subquery(memo.values("doc_number")[:1])),
            default=None,
            output_field=CharField(),
        ),
    ).order_by("pk")
    return (
        _payments(
            user=user,
            partner_id=partner_id,
            date_from=date_from,
            date_to=date_to,
            customer=customer,
            reference=reference,
            amount=amount,
        )
        .select_related("connection__partner")
        .only(*PAYMENT_PAGE_FIELDS)
        .prefetch_related(Prefetch("applications", queryset=applications))
        .order_by(F("txn_date").desc(nulls_last=True), "-pk")
    )


def payment_export(
    *,
    user: User,
    partner_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    customer: str = "",
    reference: str = "",
    amount: Decimal | None = None,
) -> QuerySet[Any]:
    """The payments of ``payment_list`` as the payments export reads them: named rows of the
    columns it prints, named as its columns read them (billing/views.py ``PAYMENTS``). No
    model instances, no ``raw`` JSON, no connection columns, no applications loaded.

    The applications are joined and grouped by payment, not looked up per payment: one
    pass gives ``invoices_paid``, the text of the applications that paid something
    ("INV-1001 50.00; Invoice 404 20.00"), and ``credits_used``, that of the credit memos
    used ("1005 40.00"): each as the number of the document in the same company (its type
    and QBO id when the mirror has no such document, or it has no number) and its amount,
    in the order they were stored. A numeric(18, 2) as text is the text of its Decimal, so
    the file is what it was when Python wrote it from the prefetched applications.

    The invoice each application paid is joined too (``paid_invoice``: the connection's
    invoice with the application's QBO id, at most one by the model's unique constraint)
    rather than looked up by a subquery per application, so PostgreSQL can hash the
    invoices once for a big export where a subquery probed the index for every one of
    115,000 applications (the read was about 15% faster so, measured on 77,000 payments),
    and still probe the index for a small one. The credit memo a use of credit names is
    joined the same way (``used_memo``).
    """

    def text(document: str) -> Concat:
        return Concat(
            Coalesce(
                NullIf(f"{document}__doc_number", Value("")),
                Concat("applications__txn_type", Value(" "), "applications__txn_qbo_id"),
            ),
            Value(" "),
            Cast("applications__amount", TextField()),
            output_field=TextField(),
        )

    payments = _payments(
        user=user,
        partner_id=partner_id,
        date_from=date_from,
        date_to=date_to,
        customer=customer,
        reference=reference,
        amount=amount,
    )
    columns = (
        "pk", "txn_date", "connection__partner__name", "customer_name", "payment_method",
        "reference", "total_amt", "unapplied_amt", "voided", "applied_amt", "credit_used_amt",
    )  # fmt: skip
    # A payment without applications has one joined row of NULLs: not an entry.
    is_credit = Q(applications__txn_type=CREDIT_MEMO_LINK)
    is_paid = Q(applications__isnull=False) & ~is_credit
    rows: QuerySet[Any] = (
        payments.annotate(
            paid_invoice=FilteredRelation(
                "connection__invoices",
                condition=Q(connection__invoices__qbo_id=F("applications__txn_qbo_id")),
            ),
            used_memo=FilteredRelation(
                "connection__credit_memos",
                condition=Q(connection__credit_memos__qbo_id=F("applications__txn_qbo_id")),
            ),
        )
        .values(*columns)
        .annotate(
            invoices_paid=StringAgg(
                text("paid_invoice"), "; ", filter=is_paid, order_by="applications__pk"
            ),
            credits_used=StringAgg(
                text("used_memo"), "; ", filter=is_credit, order_by="applications__pk"
            ),
        )
        .values_list(
            *columns,
            "invoices_paid",
            "credits_used",
            named=True,
        )  # fmt: skip
    )
    return rows


def payment_totals(payments: QuerySet[QBOPayment]) -> dict[str, Decimal | int]:
    """Received, applied and unapplied over the non-voided ``payments`` (as returned by
    ``payment_list``), summed by PostgreSQL, with ``count`` of those and ``listed``, every
    payment voided or not (what the page's table lists, so it needs no COUNT of its own).
    ``applied`` is money applied to invoices (what the applications paid less the credit
    memos they used), ``credit_used`` the credit memos' credit those payments used: credit
    spent, not money received, so it is in neither ``received`` nor ``applied``.
    ``difference`` is received − applied − unapplied: zero when QuickBooks' figures agree,
    as they should.

    One query: each payment carries its applications' sums (``QBOPayment.applied_amt``).
    """
    counted = Q(voided=False)
    row: dict[str, Any] = payments.order_by().aggregate(
        received=Coalesce(Sum("total_amt", filter=counted), ZERO, output_field=MONEY),
        unapplied=Coalesce(Sum("unapplied_amt", filter=counted), ZERO, output_field=MONEY),
        applied=Coalesce(Sum("applied_amt", filter=counted), ZERO, output_field=MONEY),
        credit_used=Coalesce(Sum("credit_used_amt", filter=counted), ZERO, output_field=MONEY),
        count=Count("pk", filter=counted),
        listed=Count("pk"),
    )
    row["difference"] = row["received"] - row["applied"] - row["unapplied"]
    return row


# --- A document's history -----------------------------------------------------------------

# What the history calls the invoice's columns; a change to any other (the customer's id,
# which the name already says) is not described, but the version's ``raw`` still has it.
_HISTORY_LABELS = {
    "balance": "Balance",
    "total_amt": "Total",
    "due_date": "Due date",
    "txn_date": "Date",
    "customer_name": "Customer",
    "doc_number": "Number",
    "currency": "Currency",
}
_MONEY_COLUMNS = frozenset({"balance", "total_amt"})
# A payment's version that links this invoice: the JSON path is QuickBooks' own shape.
_LINKS_INVOICE = '$.Line[*].LinkedTxn[*] ? (@.TxnId == $id && @.TxnType == "Invoice")'


@dataclass(frozen=True)
class HistoryEntry:
    kind: str
    seen_at: datetime
    sync_token: str
    text: str
    raw: str  # the document as received, indented, for admins; "" when there was none


def _on(moment: datetime) -> str:
    return dateformat.format(timezone.localtime(moment), "M j, Y")


def _value(column: str, value: Any, currency: str) -> str:
    if value is None or value == "":
        return "—"
    if column in _MONEY_COLUMNS:
        return format_money(value, currency)
    if column in ("due_date", "txn_date"):
        return dateformat.format(date.fromisoformat(str(value)), "M j, Y")
    return str(value)


def invoice_history(*, invoice: QBOInvoice) -> list[HistoryEntry]:
    """Every change the mirror took in for ``invoice``, newest first, in words: what
    changed and when, and the payment whose application to it came in the same sync (or
    else the sync it came in); "First seen", "Voided" and "Deleted" likewise. Two queries
    whatever the history's length: the versions with their runs, then the payments of
    those runs that link this invoice. The caller has checked the user may see it."""
    versions = _invoice_versions(connection_id=invoice.connection_id, qbo_id=invoice.qbo_id)
    return _history_entries(
        versions,
        connection_id=invoice.connection_id,
        qbo_id=invoice.qbo_id,
        currency=invoice.currency,
    )


def _invoice_versions(*, connection_id: int, qbo_id: str) -> list[MirrorVersion]:
    # Newest first; the index mirrorversion_doc reads them in that order.
    return list(
        MirrorVersion.objects.filter(connection_id=connection_id, entity="Invoice", qbo_id=qbo_id)
        .select_related("sync_run")
        .order_by("-seen_at", "-pk")
    )


def _history_entries(
    versions: list[MirrorVersion], *, connection_id: int, qbo_id: str, currency: str
) -> list[HistoryEntry]:
    """``versions`` (newest first) in words; one query for the payments that came in the
    same syncs and link this invoice, none when no version needs one."""
    runs = {v.sync_run_id for v in versions if v.kind != "created" and v.sync_run_id}
    payments: dict[int, list[str]] = {}
    if runs:
        linking = (
            MirrorVersion.objects.filter(
                connection_id=connection_id, entity="Payment", sync_run_id__in=runs
            )
            .alias(
                links=RawSQL(
                    "jsonb_path_exists(raw::jsonb, %s::jsonpath, %s::jsonb)",
                    (_LINKS_INVOICE, json.dumps({"id": qbo_id})),
                    output_field=BooleanField(),
                )
            )
            .filter(links=True)
            .order_by("pk")
        )
        for payment in linking:
            number = (payment.raw or {}).get("PaymentRefNum") or payment.qbo_id
            payments.setdefault(payment.sync_run_id or 0, []).append(str(number))
    entries: list[HistoryEntry] = []
    for version in versions:
        on = _on(version.seen_at)
        if version.kind == MirrorVersion.Kind.CREATED:
            text = f"First seen on {on}"
        elif version.kind == MirrorVersion.Kind.DELETED:
            text = f"Deleted in QuickBooks; gone from the mirror on {on}"
        else:
            described = [
                f"{label} {_value(column, before, currency)} → {_value(column, after, currency)}"
                for column, label in _HISTORY_LABELS.items()
                if column in version.changes
                for before, after in [version.changes[column]]
            ]
            if version.kind == MirrorVersion.Kind.VOIDED:
                described.insert(0, "Voided")
            what = "; ".join(described) or "Changed in QuickBooks (no amount or date)"
            paid_by = payments.get(version.sync_run_id or -1)
            if paid_by:
                why = f"payment {', '.join(paid_by)}"
            else:
                run = version.sync_run
                at = timezone.localtime(run.started_at if run else version.seen_at)
                why = f"seen in the sync of {dateformat.format(at, 'M j, Y, H:i')}"
            text = f"{what} on {on} — {why}"
        raw = "" if version.raw is None else json.dumps(version.raw, indent=2, default=str)
        entries.append(HistoryEntry(version.kind, version.seen_at, version.sync_token, text, raw))
    return entries


# --- An invoice by its QuickBooks id: its history, deleted or not ---------------------------
#
# The invoice page goes by the mirrored row's id, and a deletion in QuickBooks deletes the
# row. Its history stays (MirrorVersion names a document by connection, entity and
# QuickBooks id, never by row), and is reached by those: the history page and the list of
# deleted invoices below.


@dataclass(frozen=True)
class InvoiceRecord:
    """An invoice of one company as its history knows it, whether or not the mirror still
    holds it: its facts from its row, else from the last document the history kept of it
    (empty when retention has pruned every one); when it was voided or deleted; and its
    history in words, newest first (``invoice_history``)."""

    connection_id: int
    partner_name: str
    qbo_id: str
    doc_number: str
    customer_name: str
    txn_date: date | None
    total_amt: Decimal | None
    currency: str
    invoice_pk: int | None  # its row in the mirror; None once QuickBooks deleted it
    voided: bool
    voided_at: datetime | None  # when the mirror saw it voided, while the history says
    deleted_at: datetime | None  # when the mirror saw QuickBooks' deletion
    history: list[HistoryEntry]

    @property
    def gone(self) -> bool:
        return self.invoice_pk is None


_INVOICE_FACTS = ("doc_number", "customer_name", "txn_date", "total_amt", "currency", "voided")


def get_invoice_record_for_user(*, user: User, connection_id: int, qbo_id: str) -> InvoiceRecord:
    """Invoice ``qbo_id`` of company ``connection_id`` with its history, if ``user`` may see
    that company and the mirror holds the invoice or any version of it; 404 otherwise, so
    another partner's invoice is indistinguishable from a missing one. At most four queries
    however long the history: the partner (checked as the user's), the invoice's row, the
    versions, and the payments the history names."""
    partner_name = (
        Partner.objects.visible_to(user)
        .filter(connections__pk=connection_id)
        .values_list("name", flat=True)
        .first()
    )
    if partner_name is None:
        raise Http404("No such invoice.")
    row = (
        QBOInvoice.objects.filter(connection_id=connection_id, qbo_id=qbo_id)
        .values("pk", *_INVOICE_FACTS)
        .first()
    )
    versions = _invoice_versions(connection_id=connection_id, qbo_id=qbo_id)
    if row is None and not versions:
        raise Http404("No such invoice.")
    if row is not None:
        facts: dict[str, Any] = row
    else:
        # The row is gone: the last document QuickBooks sent (a deletion's is only a
        # tombstone) says what it was, read as the mirror reads one.
        last = next(
            (v.raw for v in versions if v.kind != MirrorVersion.Kind.DELETED and v.raw), None
        )
        facts = mirror.spec_for("Invoice").fields(last) if last is not None else {}
    voided = bool(facts.get("voided"))
    deleted = row is None and versions[0].kind == MirrorVersion.Kind.DELETED
    currency = str(facts.get("currency") or "USD")
    return InvoiceRecord(
        connection_id=connection_id,
        partner_name=partner_name,
        qbo_id=qbo_id,
        doc_number=str(facts.get("doc_number") or ""),
        customer_name=str(facts.get("customer_name") or ""),
        txn_date=facts.get("txn_date"),
        total_amt=facts.get("total_amt"),
        currency=currency,
        invoice_pk=row["pk"] if row is not None else None,
        voided=voided,
        voided_at=next(
            (v.seen_at for v in versions if voided and v.kind == MirrorVersion.Kind.VOIDED),
            None,
        ),
        deleted_at=versions[0].seen_at if deleted else None,
        history=_history_entries(
            versions, connection_id=connection_id, qbo_id=qbo_id, currency=currency
        ),
    )


# A total as QuickBooks writes one; anything else is not cast (a cast that fails would fail
# the page).
_NUMBER = r"^-?[0-9]{1,15}(\.[0-9]+)?$"


def deleted_invoices(*, user: User) -> QuerySet[Any]:
    """The invoices QuickBooks deleted that ``user`` may see, one named row each: its
    closing "deleted" version (``seen_at``, when the mirror saw the deletion), its
    ``partner``, and from the last document its history kept, its ``number`` (else its
    QuickBooks id), ``customer_name``, ``total`` and ``currency`` (None when retention has
    pruned them). Two queries a page, the count and the rows, however many."""
    same_document = {
        "connection_id": OuterRef("connection_id"),
        "entity": "Invoice",
        "qbo_id": OuterRef("qbo_id"),
    }
    sent = (
        MirrorVersion.objects.filter(**same_document, raw__isnull=False)
        .exclude(kind=MirrorVersion.Kind.DELETED)
        .order_by("-seen_at", "-pk")
    )

    def last_sent(path: str) -> Subquery:
        value = sent.annotate(value=KT(f"raw__{path}")).values("value")[:1]
        return Subquery(value, output_field=TextField())

    total = Subquery(
        sent.annotate(text=KT("raw__TotalAmt"))
        .annotate(
            value=Case(When(text__regex=_NUMBER, then=Cast("text", MONEY)), output_field=MONEY)
        )
        .values("value")[:1],
        output_field=MONEY,
    )
    later_deletion = MirrorVersion.objects.filter(
        **same_document, kind=MirrorVersion.Kind.DELETED, pk__gt=OuterRef("pk")
    )
    mirrored = QBOInvoice.objects.filter(
        connection_id=OuterRef("connection_id"), qbo_id=OuterRef("qbo_id")
    )
    rows: QuerySet[Any] = (
        MirrorVersion.objects.visible_to(user)
        .filter(entity="Invoice", kind=MirrorVersion.Kind.DELETED)
        # QuickBooks does not bring a deleted invoice back; should an Id be in the mirror
        # again, its history is that invoice's, and an Id deleted twice is listed once.
        .exclude(Exists(mirrored))
        .exclude(Exists(later_deletion))
        .annotate(
            partner=F("connection__partner__name"),
            number=Coalesce(
                NullIf(last_sent("DocNumber"), Value("")), F("qbo_id"), output_field=TextField()
            ),
            customer_name=last_sent("CustomerRef__name"),
            total=total,
            currency=Coalesce(
                last_sent("CurrencyRef__value"), Value("USD"), output_field=TextField()
            ),
        )
        .values_list(
            "pk", "connection_id", "qbo_id", "seen_at", "partner", "number", "customer_name",
            "total", "currency", named=True,
        )
    )  # fmt: skip
    return rows
