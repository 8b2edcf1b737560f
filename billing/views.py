"""Receivables pages: open invoices with aging, one invoice, applied payments.

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


def _invoice_url(invoice: Any) -> str:
    return reverse("billing:invoice", args=[invoice.pk])


OPEN_INVOICES = Table(
    [
        Column("partner", "Partner", sort="connection__partner__name",
               attr="connection__partner__name"),
        Column("customer", "Customer", sort="customer_name", attr="customer_name"),
        Column("doc_number", "Invoice", sort="doc_number", link=_invoice_url),
        Column("txn_date", "Date", sort="txn_date", kind="date"),
        Column("due_date", "Due", sort="due_date", kind="date"),
        Column("total", "Total", sort="total_amt", kind="money", attr="total_amt",
               currency=lambda i: i.currency),
        Column("balance", "Balance", sort="balance", kind="money",
               currency=lambda i: i.currency),
        Column("days_overdue", "Days overdue", sort="days_overdue", kind="number"),
        # Buckets sort by age (their keys would sort "90+" before "current").
        Column("aging_bucket", "Aging", sort="days_overdue",
               csv=lambda i: selectors.BUCKET_LABELS[i.aging_bucket]),
    ],
    default_sort="-days_overdue",
)  # fmt: skip


@role_required(*EVERYONE)
@require_GET
def invoices(request: AuthedRequest) -> HttpResponseBase:
    user = request.user
    form = InvoiceFilterForm(request.GET, user=user)
    form.is_valid()  # bad filters are shown and left out; the rest still apply
    # "Today" is the user's today (UserTimezoneMiddleware activates their zone): an
    # invoice due today is not overdue in Los Angeles while it already is in Paris.
    today = timezone.localdate()
    if OPEN_INVOICES.wants_csv(request):
        export = selectors.open_invoice_export(user=user, today=today, **form.filters())
        table = OPEN_INVOICES.bind(request, export, hide=_hidden_columns(request))
        return csv_response(table, f"open-invoices-{today:%Y-%m-%d}.csv")
    rows = selectors.open_invoice_list(user=user, today=today, **form.filters())
    totals = selectors.aging_totals(rows)
    # The totals counted the rows already; the table's pages use that count.
    table = OPEN_INVOICES.bind(request, rows, hide=_hidden_columns(request), count=totals["count"])
    context = {
        "form": form,
        "table": table,
        "totals": totals,
        "chart": _bucket_chart(totals),
        "today": today,
        "filtered": _filtered(form.filters()),
        "show_partner": user.sees_all_partners,
    }
    return render(request, _partial(request, "billing/invoices.html", "invoice-table"), context)


def _bucket_chart(totals: dict[str, Any]) -> SafeString:
    return bar_chart(
        [(bucket["label"], bucket["amount"]) for bucket in totals["buckets"]],
        title="Open balance by aging bucket",
        value_format=format_money,
    )


@role_required(*EVERYONE)
@require_GET
def invoice_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    invoice = selectors.get_invoice_for_user(user=request.user, pk=pk, today=timezone.localdate())
    applications = list(selectors.invoice_payments(invoice=invoice))
    lines = selectors.invoice_lines(invoice=invoice)
    context = {
        "invoice": invoice,
        "bucket_label": selectors.BUCKET_LABELS[invoice.aging_bucket],  # type: ignore[attr-defined]
        "lines": lines.listed,
        "subtotal": lines.subtotal,
        "applications": applications,
        "applied_total": sum((a.amount for a in applications), Decimal("0.00")),
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
        Column("received", "Received", sort="total_amt", kind="money", attr="total_amt",
               currency=lambda p: p.currency),
        Column("applied", "Applied", sort="applied_amt", kind="money", attr="applied_amt",
               currency=lambda p: p.currency),
        Column("unapplied", "Unapplied", sort="unapplied_amt", kind="money",
               attr="unapplied_amt", currency=lambda p: p.currency),
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
    table = PAYMENTS.bind(request, rows, hide=_hidden_columns(request), count=int(totals["listed"]))
    context = {
        "form": form,
        "table": table,
        "totals": totals,
        "filtered": _filtered(form.filters()),
        "show_partner": user.sees_all_partners,
    }
    return render(request, _partial(request, "billing/payments.html", "payment-table"), context)
