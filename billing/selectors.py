"""Reads of the billing mirror: open invoices with aging, one invoice with its lines and
the payments applied to it, and payments with the invoices they paid.

Everything here reads the mirror (nothing calls QuickBooks) and is scoped with
``.visible_to(user)``. Money is summed in SQL as Decimal so totals reconcile to the cent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from django.contrib.postgres.aggregates import StringAgg
from django.db.models import (
    Case,
    CharField,
    Count,
    DateField,
    DecimalField,
    F,
    FilteredRelation,
    Func,
    IntegerField,
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
from django.db.models.expressions import BaseExpression
from django.db.models.functions import Cast, Coalesce, Concat, Greatest, NullIf
from django.http import Http404

from common import mirror

from .models import QBOInvoice, QBOInvoiceLine, QBOPayment, QBOPaymentApplication

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


class _Money(_AsFetched, Coalesce):
    pass


def _with_aging(invoices: QuerySet[QBOInvoice], *, today: date) -> QuerySet[QBOInvoice]:
    # An invoice without a due date is due on its transaction date (what QuickBooks does
    # when no terms are set); with neither, it counts as current.
    due = Coalesce(F("due_date"), F("txn_date"), Value(today), output_field=DateField())
    return invoices.annotate(
        days_overdue=_WholeDays(_DaysBetween(Value(today, output_field=DateField()), due), 0),
    ).annotate(
        aging_bucket=Case(
            *(When(_bucket_q(b), then=Value(b.key)) for b in AGING_BUCKETS),
            output_field=CharField(),
        )
    )


class InvoiceFilters(TypedDict, total=False):
    """The open-invoices filters (billing.forms ``filters()``), shared by the page and its
    export."""

    partner_id: int | None
    customer: str
    bucket: str
    due_from: date | None
    due_to: date | None


def _open_invoices(
    *, user: User, today: date, **filters: Unpack[InvoiceFilters]
) -> QuerySet[QBOInvoice]:
    partner_id = filters.get("partner_id")
    customer = filters.get("customer", "")
    bucket = filters.get("bucket", "")
    due_from = filters.get("due_from")
    due_to = filters.get("due_to")
    invoices: QuerySet[QBOInvoice] = QBOInvoice.objects.visible_to(user)
    invoices = invoices.filter(balance__gt=0, voided=False)
    if partner_id is not None:
        invoices = invoices.filter(connection__partner_id=partner_id)
    if customer:
        invoices = invoices.filter(customer_name__icontains=customer)
    if due_from is not None:
        invoices = invoices.filter(due_date__gte=due_from)
    if due_to is not None:
        invoices = invoices.filter(due_date__lte=due_to)
    invoices = _with_aging(invoices, today=today)
    if bucket:
        if bucket not in BUCKET_LABELS:
            raise ValueError(f"Unknown aging bucket {bucket!r}; one of {', '.join(BUCKET_KEYS)}.")
        # The bucket's range of days rather than its label: the same rows, simpler SQL.
        invoices = invoices.filter(_bucket_q(BUCKETS_BY_KEY[bucket]))
    return invoices


# What the open-invoices page reads of each invoice (billing/templates/billing/invoices.html):
# not ``raw`` (QuickBooks' whole JSON, by far the widest column) nor the connection's own
# columns.
INVOICE_PAGE_FIELDS = (
    "doc_number", "qbo_id", "customer_name", "txn_date", "due_date", "total_amt", "balance",
    "currency", "connection__partner__name",
)  # fmt: skip


def open_invoice_list(
    *, user: User, today: date, **filters: Unpack[InvoiceFilters]
) -> QuerySet[QBOInvoice]:
    """Invoices ``user`` may see with a balance left (voided ones excluded), annotated with
    ``days_overdue`` (as of ``today``, 0 when not yet due) and ``aging_bucket`` (a key of
    ``AGING_BUCKETS``), with their partner. Oldest due first.

    ``partner_id`` narrows within what the user may see; it never widens it.
    """
    invoices = _open_invoices(user=user, today=today, **filters)
    return (
        invoices.select_related("connection__partner")
        .only(*INVOICE_PAGE_FIELDS)
        .order_by(F("due_date").asc(nulls_last=True), "pk")
    )


def open_invoice_export(
    *, user: User, today: date, **filters: Unpack[InvoiceFilters]
) -> QuerySet[Any]:
    """The invoices of ``open_invoice_list`` as the open-invoices export reads them: named
    rows of the columns it prints, named as its columns read them (billing/views.py
    ``OPEN_INVOICES``). No model instances, no ``raw`` JSON and no connection columns: an
    export of 30,000 invoices reads 30,000 narrow tuples and builds nothing else."""
    # Typed loosely: the type checker cannot see the aging annotations it selects.
    invoices: QuerySet[Any] = _open_invoices(user=user, today=today, **filters)
    return invoices.values_list(
        "connection__partner__name", "customer_name", "doc_number", "txn_date", "due_date",
        "total_amt", "balance", "days_overdue", "aging_bucket", named=True,
    )  # fmt: skip


def _bucket_of(days_overdue: int) -> Bucket:
    for bucket in AGING_BUCKETS:
        if (bucket.low is None or days_overdue >= bucket.low) and (
            bucket.high is None or days_overdue <= bucket.high
        ):
            return bucket
    raise ValueError(f"No aging bucket holds {days_overdue} days overdue.")


def aging_totals(invoices: QuerySet[QBOInvoice]) -> dict[str, Any]:
    """Balances per aging bucket and overall for ``invoices`` (as returned by
    ``open_invoice_list``), in one query. ``count`` is the number of invoices, which is also
    what the page's table counts: the view gives it to the table rather than counting the
    same rows a second time.

    PostgreSQL sums the balances per number of days overdue (a few hundred groups however
    many invoices), and the groups are added into their buckets here: Decimal sums of
    Decimals, exact, so the buckets add up to ``total`` to the cent. Summing each bucket in
    SQL instead (ten sums, each filtered on the day range) evaluated the days overdue ten
    times per invoice, and took a third longer.

    The page's rows (50 of them, sorted) come from a query of their own. One query could
    return both, with the sums as window functions over every row, but PostgreSQL then
    holds every open invoice in the window before sorting out 50 of them: on 90,000 open
    invoices that took half as long again as this query and the page's together.

    Returns ``{"buckets": [{"key", "label", "amount", "count"}, ...], "total", "count"}``.
    """
    amounts = dict.fromkeys(BUCKET_KEYS, ZERO)
    counts = dict.fromkeys(BUCKET_KEYS, 0)
    # Typed loosely: the type checker cannot see the aging annotations.
    annotated: QuerySet[Any] = invoices
    by_days = (
        annotated.order_by()
        .values("days_overdue")
        .annotate(amount=Sum("balance"), count=Count("pk"))
        .values_list("days_overdue", "amount", "count")
    )
    for days_overdue, amount, count in by_days:
        key = _bucket_of(days_overdue).key
        amounts[key] += amount
        counts[key] += count
    return {
        "buckets": [
            {"key": b.key, "label": b.label, "amount": amounts[b.key], "count": counts[b.key]}
            for b in AGING_BUCKETS
        ],
        "total": sum(amounts.values(), ZERO),
        "count": sum(counts.values()),
    }


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


def invoice_payments(*, invoice: QBOInvoice) -> QuerySet[QBOPaymentApplication]:
    """The payment applications that paid ``invoice``, matched on (connection, QBO id),
    oldest payment first, each with its ``payment`` loaded."""
    applications: QuerySet[QBOPaymentApplication] = QBOPaymentApplication.objects.filter(
        payment__connection_id=invoice.connection_id,
        txn_type="Invoice",
        txn_qbo_id=invoice.qbo_id,
    )
    return applications.select_related("payment").order_by(
        F("payment__txn_date").asc(nulls_last=True), "pk"
    )


# --- Payments ------------------------------------------------------------------------------


def _applied_sum() -> Coalesce:
    applied = (
        QBOPaymentApplication.objects.filter(payment=OuterRef("pk"))
        .order_by()
        .values("payment")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    return Coalesce(Subquery(applied, output_field=MONEY), ZERO, output_field=MONEY)


def _payments(
    *,
    user: User,
    partner_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[QBOPayment]:
    payments: QuerySet[QBOPayment] = QBOPayment.objects.visible_to(user)
    if partner_id is not None:
        payments = payments.filter(connection__partner_id=partner_id)
    if date_from is not None:
        payments = payments.filter(txn_date__gte=date_from)
    if date_to is not None:
        payments = payments.filter(txn_date__lte=date_to)
    return payments


# What the payments page reads of each payment (billing/templates/billing/payments.html);
# never ``raw`` nor the connection's own columns.
PAYMENT_PAGE_FIELDS = (
    "txn_date", "customer_name", "payment_method", "reference", "total_amt", "unapplied_amt",
    "currency", "voided", "connection__partner__name",
)  # fmt: skip


def payment_list(
    *,
    user: User,
    partner_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[QBOPayment]:
    """Payments ``user`` may see, newest first, annotated with ``applied_amt`` (the sum of
    their applications), with ``applications`` prefetched; each application carries
    ``invoice_pk`` and ``invoice_doc_number`` of the invoice it paid in the same company
    (``None`` when that invoice is not in the mirror, or for non-invoice links).
    ``partner_id`` narrows within what the user may see; it never widens it."""
    invoice = QBOInvoice.objects.filter(
        connection_id=OuterRef("payment__connection_id"), qbo_id=OuterRef("txn_qbo_id")
    )
    applications = QBOPaymentApplication.objects.annotate(
        invoice_pk=Case(
            When(txn_type="Invoice", then=Subquery(invoice.values("pk")[:1])),
            default=None,
            output_field=IntegerField(),
        ),
        invoice_doc_number=Subquery(invoice.values("doc_number")[:1]),
    ).order_by("pk")
    return (
        _payments(user=user, partner_id=partner_id, date_from=date_from, date_to=date_to)
        .select_related("connection__partner")
        .only(*PAYMENT_PAGE_FIELDS)
        .annotate(applied_amt=_applied_sum())
        .prefetch_related(Prefetch("applications", queryset=applications))
        .order_by(F("txn_date").desc(nulls_last=True), "-pk")
    )


def payment_export(
    *,
    user: User,
    partner_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Any]:
    """The payments of ``payment_list`` as the payments export reads them: named rows of the
    columns it prints, named as its columns read them (billing/views.py ``PAYMENTS``). No
    model instances, no ``raw`` JSON, no connection columns, no applications loaded.

    The applications are joined and grouped by payment, not looked up per payment: one
    pass gives ``applied_amt``, their sum, and ``invoices_paid``, their text
    ("INV-1001 50.00; Invoice 404 20.00"): each application as the number of the invoice it
    paid in the same company (its type and QBO id when the mirror has no such invoice, or
    the invoice has no number) and its amount, in the order they were stored. A
    numeric(18, 2) as text is the text of its Decimal, so the file is what it was when
    Python wrote it from the prefetched applications.

    The invoice each application paid is joined too (``paid_invoice``: the connection's
    invoice with the application's QBO id, at most one by the model's unique constraint)
    rather than looked up by a subquery per application, so PostgreSQL can hash the
    invoices once for a big export where a subquery probed the index for every one of
    115,000 applications (the read was about 15% faster so, measured on 77,000 payments),
    and still probe the index for a small one.
    """
    paid = Concat(
        Coalesce(
            NullIf("paid_invoice__doc_number", Value("")),
            Concat("applications__txn_type", Value(" "), "applications__txn_qbo_id"),
        ),
        Value(" "),
        Cast("applications__amount", TextField()),
        output_field=TextField(),
    )
    payments = _payments(user=user, partner_id=partner_id, date_from=date_from, date_to=date_to)
    columns = (
        "pk", "txn_date", "connection__partner__name", "customer_name", "payment_method",
        "reference", "total_amt", "unapplied_amt", "voided",
    )  # fmt: skip
    rows: QuerySet[Any] = (
        payments.annotate(
            paid_invoice=FilteredRelation(
                "connection__invoices",
                condition=Q(connection__invoices__qbo_id=F("applications__txn_qbo_id")),
            )
        )
        .values(*columns)
        .annotate(
            applied_amt=_Money(Sum("applications__amount"), ZERO, output_field=MONEY),
            # A payment without applications has one joined row of NULLs: not an entry.
            invoices_paid=StringAgg(
                paid, "; ", filter=Q(applications__isnull=False), order_by="applications__pk"
            ),
        )
        .values_list(*columns, "applied_amt", "invoices_paid", named=True)
    )
    return rows


def payment_totals(payments: QuerySet[QBOPayment]) -> dict[str, Decimal | int]:
    """Received, applied and unapplied over the non-voided ``payments`` (as returned by
    ``payment_list``), summed by PostgreSQL, with ``count`` of those and ``listed``, every
    payment voided or not (what the page's table lists, so it needs no COUNT of its own).
    ``difference`` is received − applied − unapplied: zero when QuickBooks' figures agree,
    as they should.

    Two queries: the payments' own sums, and the sum of their applications, joined once.
    Summing each payment's ``applied_amt`` instead runs its subquery for every payment, and
    took twice as long as both of these together on 77,000 payments.
    """
    counted = Q(voided=False)
    row: dict[str, Any] = payments.order_by().aggregate(
        received=Coalesce(Sum("total_amt", filter=counted), ZERO, output_field=MONEY),
        unapplied=Coalesce(Sum("unapplied_amt", filter=counted), ZERO, output_field=MONEY),
        count=Count("pk", filter=counted),
        listed=Count("pk"),
    )
    paid = QBOPaymentApplication.objects.filter(
        payment__in=payments.filter(counted).order_by().values("pk")
    )
    row["applied"] = paid.aggregate(s=Coalesce(Sum("amount"), ZERO, output_field=MONEY))["s"]
    row["difference"] = row["received"] - row["applied"] - row["unapplied"]
    return row
