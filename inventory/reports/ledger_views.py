"""The stock ledger page (``/inventory/ledger/``) and its drill-down per partner × SKU
(``/inventory/ledger/<partner>/<sku>/``): where the bottles went over a period. Reads the
mirror only (``inventory.reports.stock_ledger``); partner users see only their partner's
rows, exports and drill-downs included (another partner's drill-down is a 404).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import Http404, HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from accounts.access import AuthedRequest, role_required
from accounts.models import Partner
from accounts.roles import EVERYONE
from common.htmx import wants_fragment
from common.tables import Column, Table, csv_response

from . import stock_ledger
from .ledger_forms import CASES, StockLedgerFilterForm
from .stock_ledger import FIGURES, LedgerLine, LedgerRow

PAGE = "inventory/reports/stock_ledger.html"
FRAGMENT = "stock-ledger-results"
ROW_PAGE = "inventory/reports/stock_ledger_row.html"
ROW_FRAGMENT = "stock-ledger-lines"

# The figures the table shows (all but QuickBooks now, which sits beside them below).
_FIGURE_WORDS = dict(FIGURES)


def ledger_url(*, partner_id: int, sku: str, start: date, end: date) -> str:
    """One partner × SKU's ledger and documents over ``start``..``end``: where the other
    report pages' rows link to."""
    path = reverse("inventory:stock_ledger_row", args=[partner_id, sku])
    return f"{path}?{urlencode({'start': f'{start:%Y-%m-%d}', 'end': f'{end:%Y-%m-%d}'})}"


def row_url(row: LedgerRow) -> str:
    """The row's drill-down, for the same period."""
    return ledger_url(partner_id=row.partner_id, sku=row.sku, start=row.start, end=row.end)


def _figure_columns() -> list[Column]:
    columns = []
    for key, words in FIGURES:
        columns.append(Column(key, f"{words} (bottles)", sort=key, kind="qty"))
        columns.append(Column(f"{key}_cases", f"{words} (9L cases)", sort=f"{key}_cases",
                              kind="qty"))  # fmt: skip
    return columns


LEDGER = Table(
    [
        Column("partner", "Partner", sort=lambda r: (r.partner.casefold(), r.sku)),
        Column(
            "sku", "SKU", sort=lambda r: (r.sku, r.partner.casefold()), link=row_url, nowrap=True
        ),
        Column("wine", "Wine", sort="wine"),
        *_figure_columns(),
        Column(
            "now_difference",
            "QuickBooks now − expected closing (bottles)",
            sort="now_difference",
            kind="qty",
        ),  # fmt: skip
        Column(
            "warehouse_bottles", "Warehouse count (bottles)", sort="warehouse_bottles", kind="qty"
        ),  # fmt: skip
        Column("warehouse_as_of", "Counted on", sort="warehouse_as_of", kind="date"),
        Column(
            "qbo_on_count_day",
            "QuickBooks on count day (bottles)",
            sort="qbo_on_count_day",
            kind="qty",
        ),  # fmt: skip
        Column(
            "warehouse_difference",
            "QuickBooks − warehouse (bottles)",
            sort="warehouse_difference",
            kind="qty",
        ),  # fmt: skip
        Column("status", "Status", sort="status", attr="status_label"),
        Column("reasons", "Explanation", attr="reasons_text"),
    ],
    default_sort="partner",
)


def _hidden(user: Any, unit: str) -> list[str]:
    hide = [] if user.sees_all_partners else ["partner"]
    # The explanations are sentences: on the page they sit in each row's drill-down, where
    # the documents they cite are; the export keeps them in a column.
    hide.append("reasons")
    # QuickBooks now − expected closing is by construction the movements dated after the
    # period, which the drill-down lists; the page keeps QuickBooks now beside the closing
    # and stays within a laptop's width.
    hide.append("now_difference")
    # The other unit's columns stay in the export only.
    for key, _ in FIGURES:
        hide.append(key if unit == CASES else f"{key}_cases")
    return hide


@role_required(*EVERYONE)
@require_GET
def stock_ledger_page(request: AuthedRequest) -> HttpResponseBase:
    user = request.user
    # "Today" is the user's today (UserTimezoneMiddleware activates their zone).
    today = timezone.localdate()
    form = StockLedgerFilterForm(request.GET, user=user, today=today)
    form.is_valid()  # bad filters are shown and replaced by their defaults
    filters = form.filters()
    ledger = stock_ledger.stock_ledger(user=user, **filters)
    unit = form.shown_unit()
    table = LEDGER.bind(request, ledger.rows, hide=_hidden(user, unit))
    if table.is_csv:
        return csv_response(
            table, f"stock-ledger-{filters['start']:%Y-%m-%d}-{filters['end']:%Y-%m-%d}.csv"
        )
    totals = ledger.totals
    context = {
        "form": form,
        "table": table,
        "ledger": ledger,
        "totals": [(words, totals[key], totals[f"{key}_cases"]) for key, words in FIGURES],
        "filtered": bool(filters["partner_id"] or filters["sku"]),
    }
    template = PAGE
    if wants_fragment(request):
        template += f"#{FRAGMENT}"
    return render(request, template, context)


def _document_link(line: LedgerLine) -> str | None:
    if line.invoice_pk is None:
        return None
    return reverse("billing:invoice", args=[line.invoice_pk])


LINES = Table(
    [
        Column("day", "Date", sort=lambda r: (r.day, r.document_type, r.number), kind="date"),
        Column("document_type", "Type", sort=lambda r: (r.document_type, r.day)),
        Column("number", "Number", sort=lambda r: (r.number, r.day), link=_document_link),
        Column("party", "Customer / vendor", sort=lambda r: (r.party.casefold(), r.day)),
        Column("kind", "Counts as", attr="kind_label", sort=lambda r: (r.kind, r.day)),
        Column("bottles", "Bottles (+ in, − out)", sort="bottles", kind="qty"),
        Column("when", "When", attr="when", sort=lambda r: (r.after_end, r.day)),
        Column(
            "tracked",
            "Tracked by QuickBooks",
            sort=lambda r: (r.tracked, r.day),
            csv=lambda r: "yes" if r.tracked else "no",
            attr="tracked_label",
        ),  # fmt: skip
    ],
    default_sort="day",
    per_page=100,
)


@role_required(*EVERYONE)
@require_GET
def stock_ledger_row(request: AuthedRequest, partner_id: int, sku: str) -> HttpResponseBase:
    user = request.user
    # Another partner's ledger is not there for a partner user: a 404, as for any object
    # outside one's scope.
    partner = get_object_or_404(Partner.objects.visible_to(user), pk=partner_id)
    today = timezone.localdate()
    form = StockLedgerFilterForm(request.GET, user=user, today=today)
    form.is_valid()
    filters = form.filters()
    start, end = filters["start"], filters["end"]
    ledger = stock_ledger.stock_ledger(
        user=user, start=start, end=end, partner_id=partner.pk, sku=sku
    )
    if not ledger.rows:
        raise Http404("No such SKU mapped for this partner.")
    [row] = ledger.rows
    lines = stock_ledger.ledger_lines(
        user=user, partner_id=partner.pk, sku=sku, start=start, end=end
    )
    table = LINES.bind(request, lines)
    if table.is_csv:
        return csv_response(table, f"stock-ledger-{partner.slug}-{sku}-{start:%Y-%m-%d}.csv")
    context = {
        "form": form,
        "partner": partner,
        "row": row,
        "table": table,
        "figures": [
            (words, getattr(row, key), getattr(row, f"{key}_cases")) for key, words in FIGURES
        ],  # fmt: skip
        "ledger_url": f"{reverse('inventory:stock_ledger')}?"
        + urlencode(
            {"start": f"{start:%Y-%m-%d}", "end": f"{end:%Y-%m-%d}", "sku": sku}
            | ({"partner": str(partner.pk)} if user.sees_all_partners else {})
        ),
    }
    template = ROW_PAGE
    if wants_fragment(request):
        template += f"#{ROW_FRAGMENT}"
    return render(request, template, context)
