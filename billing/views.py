"""Receivables pages: open invoices and credits with aging, one invoice, applied payments.

All of them read the mirror (nothing here calls QuickBooks). Partner users see only their
partner's rows, exports included; staff and admins see every partner.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET

from accounts.access import AuthedRequest, role_required
from accounts.roles import EVERYONE
from common.charts import bar_chart
from common.htmx import wants_fragment
from common.tables import Column, Table, csv_response
from common.templatetags.ui import format_money

from . import selectors
from .forms import InvoiceFilterForm, PaymentFilterForm


def _partial(request: AuthedRequest, page: str, fragment: str) -> str:
    # A boosted request wants the whole page; only a targeted htmx request gets the table.
    if wants_fragment(request):
        return f"{page}#{fragment}"
    return page


def _hidden_columns(request: AuthedRequest) -> tuple[str, ...]:
    # A partner user's rows are all their own partner's: the column would repeat one name.
    return () if request.user.sees_all_partners else ("partner",)


def _filtered(filters: dict[str, Any]) -> bool:
    # Decides which empty state to show: "nothing matches" versus "nothing at all".
    return any(value not in (None, "") for value in filters.values())


def _item_url(item: Any) -> str | None:
    # Only invoices have a page of their own.
    return reverse("billing:invoice", args=[item.pk]) if item.kind == selectors.INVOICE else None


OPEN_INVOICES = Table(
    [
        Column("partner", "Partner", sort="partner"),
        Column("customer", "Customer", sort="customer_name", attr="customer_name"),
        Column("kind", "Type", sort="kind", csv=lambda i: selectors.KIND_LABELS[i.kind]),
        Column("number", "Number", sort="number", link=_item_url),
        Column("txn_date", "Date", sort="txn_date", kind="date"),
        # A credit's own date: what it ages from (QuickBooks' aging detail lists it so).
        Column("due", "Due", sort="due", kind="date"),
        Column("total", "Total", sort="total", kind="money", currency=lambda i: i.currency),
        Column("balance", "Balance", sort="open_balance", kind="money", attr="open_balance",
               currency=lambda i: i.currency),
        Column("days_overdue", "Days overdue", sort="days_overdue", kind="number"),
        # Buckets sort by age (their keys would sort "90+" before "current").
        Column("aging_bucket", "Aging", sort="days_overdue",
               csv=lambda i: selectors.BUCKET_LABELS[i.aging_bucket]),
    ],
    default_sort="-days_overdue",
    # Rows of different kinds may share an id: the kind tells them apart.
    tie_break=("kind", "pk"),
)  # fmt: skip

AGING_BY_CUSTOMER = Table(
    [
        Column("partner", "Partner", sort="partner"),
        Column("customer", "Customer", sort=lambda r: r["customer_name"].casefold(),
               attr="customer_name"),
        *(Column(b.key, b.label, sort=b.key, kind="money", currency=lambda r: r["currency"])
          for b in selectors.AGING_BUCKETS),
        Column("total", "Total", sort="total", kind="money", currency=lambda r: r["currency"]),
        Column("count", "Documents", sort="count", kind="number"),
    ],
    default_sort="customer",
)  # fmt: skip


@role_required(*EVERYONE)
@require_GET
def invoices(request: AuthedRequest) -> HttpResponseBase:
    user = request.user
    form = InvoiceFilterForm(request.GET, user=user)
    form.is_valid()  # bad filters are shown and left out; the rest still apply
    filters = form.filters()
    # "Today" is the user's today (UserTimezoneMiddleware activates their zone): an
    # invoice due today is not overdue in Los Angeles while it already is in Paris.
    today = timezone.localdate()
    hide = _hidden_columns(request)
    if form.by_customer():
        aging = selectors.aging_by_customer(user=user, today=today, **filters)
        table = AGING_BY_CUSTOMER.bind(request, aging.rows, hide=hide)
        if table.is_csv:
            return csv_response(table, f"aging-by-customer-{today:%Y-%m-%d}.csv")
        totals = aging.totals
    else:
        if OPEN_INVOICES.wants_csv(request):
            export = selectors.open_items(user=user, today=today, **filters)
            table = OPEN_INVOICES.bind(request, export, hide=hide)
            return csv_response(table, f"open-invoices-{today:%Y-%m-%d}.csv")
        totals = selectors.aging_totals(user=user, today=today, **filters)
        rows = selectors.open_items(user=user, today=today, **filters)
        # The totals counted the rows already; the table's pages use that count.
        table = OPEN_INVOICES.bind(request, rows, hide=hide, count=totals["count"])
    context = {
        "form": form,
        "table": table,
        "by_customer": form.by_customer(),
        "totals": totals,
        "chart": _bucket_chart(totals),
        "today": today,
        "filtered": _filtered(filters),
        "show_partner": user.sees_all_partners,
        "kind_labels": selectors.KIND_LABELS,
        "bucket_labels": selectors.BUCKET_LABELS,
    }
    return render(request, _partial(request, "billing/invoices.html", "invoice-table"), context)


def _bucket_chart(totals: dict[str, Any]) -> SafeString:
    return bar_chart(
        [(bucket["label"], bucket["amount"]) for bucket in totals["buckets"]],
        title="Open balance by aging bucket, credits netted",
        value_format=format_money,
    )


@role_required(*EVERYONE)
@require_GET
def invoice_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    invoice = selectors.get_invoice_for_user(user=request.user, pk=pk, today=timezone.localdate())
    settlement = selectors.invoice_settlement(invoice=invoice)
    lines = selectors.invoice_lines(invoice=invoice)
    context = {
        "invoice": invoice,
        "bucket_label": selectors.BUCKET_LABELS[invoice.aging_bucket],  # type: ignore[attr-defined]
        "lines": lines.listed,
        "subtotal": lines.subtotal,
        "applications": settlement.payments,
        "applied_total": sum((a.amount for a in settlement.payments), Decimal("0.00")),
        "credits": settlement.credits,
        "credit_total": sum((a.amount for a in settlement.credits), Decimal("0.00")),
    }
    return render(request, "billing/invoice.html", context)


PAYMENTS = Table(
    [
        Column("txn_date", "Date", sort="txn_date", kind="date"),
        Column("partner", "Partner", sort="connection__partner__name",
               attr="connection__partner__name"),
        Column("customer", "Customer", sort="customer_name", attr="customer_name"),
        Column("payment_method", "Method", sort="payment_method"),
        Column("reference", "Reference", sort="reference"),
        # The export's text is the selector's (selectors.payment_export).
        Column("invoices", "Invoices paid", attr="applications",
               csv=lambda p: p.invoices_paid),
        Column("credits", "Credit memos used", attr="applications",
               csv=lambda p: p.credits_used),
        Column("received", "Received", sort="total_amt", kind="money", attr="total_amt",
               currency=lambda p: p.currency),
        # Money applied to invoices: what the payment's lines paid less the credit it used.
        Column("applied", "Applied", sort="applied_amt", kind="money", attr="applied_amt",
               currency=lambda p: p.currency),
        Column("unapplied", "Unapplied", sort="unapplied_amt", kind="money",
               attr="unapplied_amt", currency=lambda p: p.currency),
        # The credit memos' credit the payment used, which the "Credit memos used" cell
        # lists on the page: a column of the export only, for summing.
        Column("credit_used", "Credit used", sort="credit_used_amt", kind="money",
               attr="credit_used_amt", currency=lambda p: p.currency),
        Column("voided", "Voided", csv=lambda p: "yes" if p.voided else ""),
    ],
    default_sort="-txn_date",
)  # fmt: skip


@role_required(*EVERYONE)
@require_GET
def payments(request: AuthedRequest) -> HttpResponseBase:
    user = request.user
    form = PaymentFilterForm(request.GET, user=user)
    form.is_valid()  # bad filters are shown and left out; the rest still apply
    if PAYMENTS.wants_csv(request):
        export = selectors.payment_export(user=user, **form.filters())
        table = PAYMENTS.bind(request, export, hide=_hidden_columns(request))
        return csv_response(table, f"payments-{timezone.localdate():%Y-%m-%d}.csv")
    rows = selectors.payment_list(user=user, **form.filters())
    totals = selectors.payment_totals(rows)
    # The totals counted the rows already (voided ones too); the table's pages use that.
    hide = (*_hidden_columns(request), "credit_used")
    table = PAYMENTS.bind(request, rows, hide=hide, count=int(totals["listed"]))
    context = {
        "form": form,
        "table": table,
        "totals": totals,
        "filtered": _filtered(form.filters()),
        "show_partner": user.sees_all_partners,
    }
    return render(request, _partial(request, "billing/payments.html", "payment-table"), context)
