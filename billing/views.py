"""Receivables pages: open invoices and credits with aging, one invoice, applied payments.

All of them read the mirror (nothing here calls QuickBooks). Partner users see only their
partner's rows, exports included; staff and admins see every partner.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseBase, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET

from accounts.access import AuthedRequest, role_required
from accounts.roles import EVERYONE, Role
from common.charts import bar_chart
from common.htmx import wants_fragment
from common.tables import Column, Table, csv_response
from common.templatetags.ui import format_money

from . import selectors
from .forms import (
    InvoiceFilterForm,
    PaymentFilterForm,
    ReceivablesFilterForm,
    StatementForm,
)


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


@role_required(*EVERYONE)
@require_GET
def invoices(request: AuthedRequest) -> HttpResponseBase:
    if request.GET.get("group") == BY_CUSTOMER:
        # The old "Show: Totals by customer" view of this page (bookmarks, links in mail):
        # the receivables-by-customer page now shows those totals, and more.
        name = "billing:receivables_csv" if OPEN_INVOICES.wants_csv(request) else None
        return redirect(_receivables_url(request.GET, name or "billing:receivables"))
    user = request.user
    form = InvoiceFilterForm(request.GET, user=user)
    form.is_valid()  # bad filters are shown and left out; the rest still apply
    filters = form.filters()
    # "Today" is the user's today (UserTimezoneMiddleware activates their zone): an
    # invoice due today is not overdue in Los Angeles while it already is in Paris.
    today = timezone.localdate()
    hide = _hidden_columns(request)
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
        "by_customer_url": _receivables_url(request.GET, "billing:receivables"),
        "totals": totals,
        "chart": _bucket_chart(totals),
        "today": today,
        "filtered": _filtered(filters),
        "show_partner": user.sees_all_partners,
        "kind_labels": selectors.KIND_LABELS,
        "bucket_labels": selectors.BUCKET_LABELS,
    }
    return render(request, _partial(request, "billing/invoices.html", "invoice-table"), context)


# The filters the open-invoices page and the receivables page share, carried from one to
# the other. (An aging bucket means "documents of that age" there and "customers with a
# balance of that age" here: close enough for a link, and the page says which it shows.)
SHARED_FILTERS = ("partner", "customer", "bucket")
BY_CUSTOMER = "customer"  # the old ?group= value of the invoices page's customer view


def _receivables_url(params: QueryDict, name: str) -> str:
    carried = QueryDict(mutable=True)
    for key in SHARED_FILTERS:
        if value := params.get(key, ""):
            carried[key] = str(value)
    query = carried.urlencode()
    return f"{reverse(name)}?{query}" if query else reverse(name)


def _bucket_chart(totals: dict[str, Any]) -> SafeString:
    return bar_chart(
        [(bucket["label"], bucket["amount"]) for bucket in totals["buckets"]],
        title="Open balance by aging bucket, credits netted",
        value_format=format_money,
    )


@role_required(*EVERYONE)
@require_GET
def invoice_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    try:
        invoice = selectors.get_invoice_for_user(
            user=request.user, pk=pk, today=timezone.localdate()
        )
    except Http404:
        # An old link to an invoice QuickBooks has since deleted: its row (and so this id)
        # went with it, and nothing maps the id to its history. The page says where deleted
        # invoices' histories are, to anyone: it must not tell another partner's invoice
        # from a missing one.
        return render(request, "billing/invoice_missing.html", status=404)
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
        "history": selectors.invoice_history(invoice=invoice),
        # QuickBooks' documents as sent are for admins, who debug the sync; no other page
        # shows them, and a partner's user has their own QuickBooks for that.
        "show_raw": request.user.role == Role.ADMIN,
    }
    return render(request, "billing/invoice.html", context)


def _history_url(row: Any) -> str:
    return reverse("billing:invoice_history", args=[row.connection_id, row.qbo_id])


DELETED_INVOICES = Table(
    [
        Column("partner", "Partner", sort="partner"),
        Column("number", "Number", sort="number", link=_history_url),
        Column("customer", "Customer", sort="customer_name", attr="customer_name"),
        Column("total", "Total", sort="total", kind="money", currency=lambda r: r.currency),
        Column("deleted", "Deleted in QuickBooks", sort="seen_at", attr="seen_at", kind="date",
               nowrap=True),
    ],
    default_sort="-deleted",
)  # fmt: skip


@role_required(*EVERYONE)
@require_GET
def deleted_invoices(request: AuthedRequest) -> HttpResponse:
    rows = selectors.deleted_invoices(user=request.user)
    table = DELETED_INVOICES.bind(request, rows, hide=_hidden_columns(request))
    template = _partial(request, "billing/deleted_invoices.html", "deleted-table")
    context = {"table": table, "retention_days": settings.MIRROR_VERSION_RETENTION_DAYS}
    return render(request, template, context)


@role_required(*EVERYONE)
@require_GET
def invoice_history(request: AuthedRequest, connection_id: int, qbo_id: str) -> HttpResponse:
    record = selectors.get_invoice_record_for_user(
        user=request.user, connection_id=connection_id, qbo_id=qbo_id
    )
    context = {
        "record": record,
        "history": record.history,
        # As on the invoice page: QuickBooks' documents as sent are for admins only.
        "show_raw": request.user.role == Role.ADMIN,
    }
    return render(request, "billing/invoice_history.html", context)


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


# --- Receivables by customer, one customer, a statement ------------------------------------


def _customer_url(row: dict[str, Any]) -> str | None:
    # Documents for no customer (QuickBooks allows it) have no account to open.
    if not row["customer_qbo_id"]:
        return None
    return reverse(
        "billing:receivables_customer", args=[row["connection_id"], row["customer_qbo_id"]]
    )


def _row_currency(row: dict[str, Any]) -> str:
    return str(row["currency"])


RECEIVABLES = Table(
    [
        Column("partner", "Partner", sort=lambda r: r["partner"].casefold()),
        Column("customer", "Customer", sort=lambda r: r["customer_name"].casefold(),
               attr="customer_name", link=_customer_url),
        # Amounts in two currencies do not add up: each has its own row, and the export
        # says which. (On the page every amount carries its currency.)
        Column("currency", "Currency", sort="currency"),
        *(Column(b.key, b.label, sort=b.key, kind="money", currency=_row_currency)
          for b in selectors.AGING_BUCKETS),
        Column("total", "Total", sort="total", kind="money", currency=_row_currency),
        # Open credit memos and unapplied payments, already netted in the buckets and the
        # total: shown apart so that a small total is told from a big one mostly credited.
        Column("credits", "Credits", sort="credits", kind="money", currency=_row_currency),
        Column("oldest_invoice", "Oldest invoice", sort="oldest_invoice", kind="date",
               nowrap=True),
        Column("most_days_overdue", "Days overdue", sort="most_days_overdue", kind="number"),
        Column("last_payment_date", "Last payment", sort="last_payment_date", kind="date",
               nowrap=True),
        Column("last_payment_amount", "Last payment amount", sort="last_payment_amount",
               kind="money", currency=_row_currency),
    ],
    # The selector's order, partner then customer name; sorting by a column is stable, so
    # that order breaks its ties.
    default_sort="partner",
)  # fmt: skip
# Staff's page: the partner under each customer instead of a column of its own, so the
# thirteen columns fit 1280 px (the export keeps the column; partner users need neither).
RECEIVABLES_NOTED = replace(
    RECEIVABLES,
    columns=[
        replace(c, note=lambda r: r["partner"]) if c.key == "customer" else c
        for c in RECEIVABLES.columns
    ],
)


def _receivables_read(request: AuthedRequest) -> tuple[ReceivablesFilterForm, Any, Any]:
    form = ReceivablesFilterForm(request.GET, user=request.user)
    form.is_valid()  # bad filters are shown and left out; the rest still apply
    today = timezone.localdate()
    data = selectors.receivables_by_customer(user=request.user, today=today, **form.filters())
    return form, today, data


def _receivables_csv(request: AuthedRequest) -> HttpResponseBase:
    _, today, data = _receivables_read(request)
    table = RECEIVABLES.bind(request, data.rows)
    return csv_response(table, f"receivables-by-customer-{today:%Y-%m-%d}.csv")


@role_required(*EVERYONE)
@require_GET
def receivables(request: AuthedRequest) -> HttpResponseBase:
    if RECEIVABLES.wants_csv(request):
        # The table's own export link (?format=csv) reads as the export's URL does.
        return _receivables_csv(request)
    form, today, data = _receivables_read(request)
    table = (RECEIVABLES_NOTED if request.user.sees_all_partners else RECEIVABLES).bind(
        request, data.rows, hide=("partner", "currency")
    )
    export = request.GET.copy()
    for name in (RECEIVABLES.page_param, RECEIVABLES.format_param):
        export.pop(name, None)
    export[RECEIVABLES.sort_param] = table.sort_value
    context = {
        "form": form,
        "table": table,
        "totals": data.totals,
        # The totals row, a cell per column shown: the sums of the money columns.
        "footer": [
            {"numeric": c.numeric, "value": data.totals.get(c.key) if c.kind == "money" else None}
            for c in table.columns
        ],
        "export_url": f"{reverse('billing:receivables_csv')}?{export.urlencode()}",
        "invoices_url": _receivables_url(request.GET, "billing:invoices"),
        "today": today,
        # "Overdue only" unticked is no filter.
        "filtered": _filtered({k: v for k, v in form.filters().items() if v is not False}),
        "show_partner": request.user.sees_all_partners,
    }
    template = _partial(request, "billing/receivables.html", "receivables-table")
    return render(request, template, context)


@role_required(*EVERYONE)
@require_GET
def receivables_csv(request: AuthedRequest) -> HttpResponseBase:
    return _receivables_csv(request)


CUSTOMER_ITEMS = Table(
    [
        OPEN_INVOICES.by_key[key]
        for key in ("kind", "number", "txn_date", "due", "total", "balance", "days_overdue",
                    "aging_bucket")
    ],
    default_sort="-days_overdue",
    tie_break=("kind", "pk"),
    prefix="items_",
)  # fmt: skip

CUSTOMER_PAYMENTS = Table(
    [
        Column("txn_date", "Date", sort="txn_date", kind="date", nowrap=True),
        Column("payment_method", "Method", sort="payment_method"),
        Column("reference", "Reference", sort="reference"),
        Column("received", "Received", sort="total_amt", kind="money", attr="total_amt",
               currency=lambda p: p.currency),
        Column("unapplied", "Unapplied", sort="unapplied_amt", kind="money",
               attr="unapplied_amt", currency=lambda p: p.currency),
        Column("voided", "Voided", csv=lambda p: "yes" if p.voided else ""),
    ],
    default_sort="-txn_date",
    prefix="payments_",
)  # fmt: skip


@role_required(*EVERYONE)
@require_GET
def receivables_customer(
    request: AuthedRequest, connection_id: int, customer_qbo_id: str
) -> HttpResponse:
    account = selectors.get_customer_account(
        user=request.user, connection_id=connection_id, customer_qbo_id=customer_qbo_id
    )
    today = timezone.localdate()
    aging = selectors.customer_aging(account=account, today=today)
    items = CUSTOMER_ITEMS.bind(
        request, selectors.customer_open_items(account=account, today=today), count=aging["count"]
    )
    payments = CUSTOMER_PAYMENTS.bind(request, selectors.customer_payments(account=account))
    context = {
        "account": account,
        "aging": aging,
        "items": items,
        "payments": payments,
        "today": today,
        "kind_labels": selectors.KIND_LABELS,
        "bucket_labels": selectors.BUCKET_LABELS,
    }
    template = _partial(request, "billing/customer.html", "customer-tables")
    return render(request, template, context)


@role_required(*EVERYONE)
@require_GET
def statement(request: AuthedRequest, connection_id: int, customer_qbo_id: str) -> HttpResponse:
    account = selectors.get_customer_account(
        user=request.user, connection_id=connection_id, customer_qbo_id=customer_qbo_id
    )
    form = StatementForm(request.GET, today=timezone.localdate())
    form.is_valid()  # a bad date is shown next to the field; the statement is as of today
    context = {
        "form": form,
        "statement": selectors.customer_statement(account=account, as_of=form.as_of_date()),
        "kind_labels": selectors.KIND_LABELS,
    }
    return render(request, "billing/statement.html", context)
