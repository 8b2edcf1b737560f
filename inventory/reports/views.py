"""The two report pages: stock discrepancies and depletion. Reads only (the selectors are in
``inventory.reports.selectors``); partner users see only their own partner's rows, exports
included.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.http import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import AuthedRequest, role_required
from accounts.roles import EVERYONE
from common.charts import bar_chart
from common.htmx import wants_fragment
from common.tables import Column, Table, csv_response

from . import selectors, sell_through
from .forms import DepletionFilterForm, DiscrepancyFilterForm, SellThroughFilterForm
from .ledger_views import ledger_url
from .selectors import (
    DEFAULT_WINDOW,
    DepletionRow,
    depletion_report,
)

if TYPE_CHECKING:
    pass


# ------------------------------------------------------------------------------------------
# The stock discrepancies page: per partner × SKU, the warehouse quantity against the
# QuickBooks quantity, with its tolerance status and a trend. Reads only (the selectors are
# in ``inventory.reports.selectors``); partner users see only their own partner's rows, exports
# included.


DISCREPANCIES = Table(
    [
        Column("partner", "Partner", sort="partner_name", attr="partner_name"),
        Column("sku", "SKU", sort="sku_code", attr="sku_code", nowrap=True),
        Column("wine", "Wine", sort="wine"),
        Column("warehouse_bottles", "Warehouse (bottles)", sort="warehouse_bottles", kind="qty"),
        Column("qbo_bottles", "QuickBooks (bottles)", sort="qbo_bottles", kind="qty"),
        Column("qbo_cases", "QuickBooks (cases)", sort="qbo_cases", kind="qty"),
        # Both sort by size whatever the sign: the worst shortfall (a large negative) and the
        # worst surplus belong together at the top, not at opposite ends.
        Column("difference", "Difference (bottles)", sort=lambda r: r.abs_difference, kind="qty"),
        Column("value", "Value at cost", sort=lambda r: r.value_sort, kind="money"),
        # The export's: on the page the value cell says what a bottle cost.
        Column("cost_per_bottle", "Cost per bottle", kind="money"),
        Column("cost_source", "Cost from"),
        Column("difference_ratio", "Difference %", sort="difference_ratio", kind="percent"),
        Column("status", "Status", sort="status", attr="status_label"),
        Column("warehouse_as_of", "Warehouse as of", sort="warehouse_as_of", kind="date"),
        Column("last_synced_at", "Last synced", sort="last_synced_at", kind="datetime"),
        # The export leaves the trend picture out: a picture is not data, and the quantities
        # it draws are the warehouse feed's own export.
        Column("trend", "Trend", attr="trend", export=False),
    ],
    # The largest value at cost first: what costs the most to leave wrong is at the top.
    default_sort="-value",
)
# On the page the value cell carries the cost per bottle and its source.
EXPORT_ONLY = ("cost_per_bottle", "cost_source")


@role_required(*EVERYONE)
@require_GET
def discrepancies(request: AuthedRequest) -> HttpResponseBase:
    user = request.user
    form = DiscrepancyFilterForm(request.GET, user=user)
    form.is_valid()  # bad filters are shown and left out; the rest still apply
    filters = form.filters()
    rows = selectors.discrepancy_rows(user=user, **filters)
    table = DISCREPANCIES.bind(request, rows, hide=EXPORT_ONLY)
    if table.is_csv:
        return csv_response(table, f"stock-discrepancies-{timezone.localdate():%Y-%m-%d}.csv")
    selectors.attach_trends(table.rows)
    template = "inventory/reports/discrepancies.html"
    if wants_fragment(request):
        template += "#discrepancy-table"
    context = {
        "form": form,
        "table": table,
        "filtered": any(value not in (None, "") for value in filters.values()),
        "totals": selectors.discrepancy_totals(rows),
        "tolerance_share": selectors.TOLERANCE_SHARE,
        "tolerance_bottles": selectors.TOLERANCE_BOTTLES,
    }
    return render(request, template, context)


# ------------------------------------------------------------------------------------------
# The Depletion page: what each partner sold on to retailers, per SKU, and how many days
# its stock lasts at that pace. It reads the mirror only (``inventory.reports.selectors``); partner
# users see only their partner's rows, exports included.

PAGE = "inventory/reports/depletion.html"
FRAGMENT = "depletion-table"
REGION = "depletion-table-region"


def _weekly_text(row: DepletionRow) -> str:
    # One CSV cell: "2025-W10 (partial): 12; 2025-W11: 30"; the weeks vary with the window
    # and today, so they cannot be fixed columns.
    # Plain digits, as the other numeric cells export (30, not 30.0000 or 3E+1).
    return "; ".join(f"{week.label}: {bottles.normalize():f}" for week, bottles in row.weekly)


DEPLETION = Table(
    [
        Column("partner", "Partner", sort="partner"),
        Column("sku", "SKU", sort="sku", link=lambda r: r.chart_url, nowrap=True),
        Column("wine", "Wine", sort="wine"),
        Column("sold", "Sold (bottles)", sort="sold", kind="qty"),
        Column("returned", "Returned (bottles)", sort="returned", kind="qty"),
        Column("net_depletion", "Net depletion (bottles)", sort="net_depletion", kind="qty"),
        Column("daily", "Per day", sort="daily", kind="number"),
        Column("on_hand", "On hand (bottles)", sort="on_hand", kind="qty"),
        Column("days_on_hand", "Days on hand", sort="days_on_hand", kind="number"),
        Column("low", "Warning", sort="low", csv=lambda r: "low" if r.low else ""),
        Column("weekly", "Net bottles per week", csv=_weekly_text),
    ],
    # Shortest-lasting stock first: what needs a reorder is at the top.
    default_sort="days_on_hand",
)


def _chart_url(request: AuthedRequest, row: DepletionRow, *, sees_all: bool) -> str:
    """This page narrowed to one row (its SKU, and its partner for staff), keeping the
    window and threshold: the chart then shows that row's weeks."""
    params = request.GET.copy()
    for name in ("page", "format", "sort"):
        params.pop(name, None)
    params["sku"] = row.sku
    if sees_all:
        params["partner"] = str(row.partner_id)
    return f"{request.path}?{params.urlencode()}"


@role_required(*EVERYONE)
@require_GET
def depletion(request: AuthedRequest) -> HttpResponseBase:
    user = request.user
    data = request.GET.copy()
    # A first visit shows the defaults in the form, not empty fields.
    data.setdefault("window", str(DEFAULT_WINDOW))
    form = DepletionFilterForm(data, user=user)
    form.is_valid()  # bad filters are shown and replaced by their defaults
    filters = form.filters()
    # "Today" is the user's today (UserTimezoneMiddleware activates their zone).
    today = timezone.localdate()
    report = depletion_report(user=user, today=today, **filters)
    for row in report.rows:
        row.chart_url = _chart_url(request, row, sees_all=user.sees_all_partners)
    table = DEPLETION.bind(request, report.rows)
    if table.is_csv:
        return csv_response(table, f"depletion-{today:%Y-%m-%d}.csv")
    one_row = report.rows[0] if len(report.rows) == 1 else None
    chart_title = (
        f"Net depletion per week (bottles): {one_row.sku}, {one_row.partner}"
        if one_row
        else f"Net depletion per week (bottles), all {len(report.rows)} rows shown"
    )
    context = {
        "form": form,
        "table": table,
        "report": report,
        "filters": filters,
        "low_count": sum(1 for row in report.rows if row.low),
        "chart": bar_chart(
            [(week.label, bottles) for week, bottles in report.weekly_totals],
            title=chart_title,
        ),
        "chart_title": chart_title,
        "filtered": bool(filters["partner_id"] or filters["sku"]),
        "row_template": f"{PAGE}#depletion-row",
    }
    template = PAGE
    if wants_fragment(request):
        # The table's own sort and page links target its region; the filter form targets
        # the whole results (notices and chart change with the filters).
        if request.htmx.target == REGION:
            template += f"#{REGION}"
            context["oob"] = True
        else:
            template += f"#{FRAGMENT}"
    return render(request, template, context)


# ------------------------------------------------------------------------------------------
# The Sell-in and sell-through page: per partner × SKU × month (or week), bottles received
# from Une Femme against bottles sold on, with returns both ways and net depletion, in
# bottles and 9-litre cases. Reads the mirror only (``inventory.reports.sell_through``);
# partner users see only their partner's rows, exports included.

SELL_THROUGH_PAGE = "inventory/reports/sell_through.html"
SELL_THROUGH_FRAGMENT = "sell-through-results"


def _measure_columns() -> list[Column]:
    columns = []
    for key, label in sell_through.MEASURES:
        columns.append(Column(key, f"{label} (bottles)", sort=key, kind="qty"))
        columns.append(
            Column(f"{key}_cases", f"{label} (9L cases)", sort=f"{key}_cases", kind="qty")
        )
    return columns


def _ledger_of_period(row: sell_through.SellThroughRow) -> str:
    # Where that period's bottles went: the stock ledger of the row's partner and SKU over
    # the same month or week.
    start = row.period.start
    if row.period.grouping == sell_through.WEEK:
        end = start + timedelta(days=6)
    else:
        end = sell_through.month_end(start)
    return ledger_url(partner_id=row.partner_id, sku=row.sku, start=start, end=end)


SELL_THROUGH = Table(
    [
        Column(
            "partner",
            "Partner",
            sort=lambda r: (r.partner.casefold(), r.sku, r.period.start),
        ),  # fmt: skip
        Column(
            "sku",
            "SKU",
            sort=lambda r: (r.sku, r.partner.casefold(), r.period.start),
            link=_ledger_of_period,
            nowrap=True,
        ),  # fmt: skip
        Column("wine", "Wine", sort="wine"),
        Column("format_ml", "Bottle (ml)", sort="format_ml", kind="number"),
        Column(
            "period",
            "Period",
            attr="period_label",
            sort=lambda r: (r.period.start, r.partner.casefold(), r.sku),
            nowrap=True,
        ),  # fmt: skip
        *_measure_columns(),
    ],
    default_sort="partner",
)


@role_required(*EVERYONE)
@require_GET
def sell_through_page(request: AuthedRequest) -> HttpResponseBase:
    user = request.user
    today = timezone.localdate()
    form = SellThroughFilterForm(request.GET, user=user, today=today)
    form.is_valid()  # bad filters are shown and replaced by their defaults
    filters = form.filters()
    report = sell_through.sell_through_report(user=user, **filters)
    hide = [] if user.sees_all_partners else ["partner"]
    # The other unit's columns stay in the export only.
    cases = form.shown_unit() == sell_through.CASES
    hide += [f"{key}_cases" if not cases else key for key, _ in sell_through.MEASURES]
    table = SELL_THROUGH.bind(request, report.rows, hide=hide)
    if table.is_csv:
        return csv_response(table, f"sell-through-{today:%Y-%m-%d}.csv")
    totals = report.totals
    chart_rows: list[tuple[str, Decimal]] = []
    for period, received, net in report.series:
        chart_rows.append((f"{period.label} received", received))
        chart_rows.append((f"{period.label} net depletion", net))
    context = {
        "form": form,
        "table": table,
        "report": report,
        "totals": [
            (label, totals[key], totals[f"{key}_cases"]) for key, label in sell_through.MEASURES
        ],
        "chart": bar_chart(chart_rows, title="Bottles received from Une Femme and net depletion"),
        "filtered": bool(filters["partner_id"] or filters["sku"]),
    }
    template = SELL_THROUGH_PAGE
    if wants_fragment(request):
        template += f"#{SELL_THROUGH_FRAGMENT}"
    return render(request, template, context)
