"""The accounts page (``/inventory/accounts/``): per partner × SKU over a month, the
accounts buying, new placements, lost accounts, reorder interval and top accounts; and its
drill-down per partner × SKU (``/inventory/accounts/<partner>/<sku>/``) with every account,
and the accounts buying month by month. Filtered by SKU it is the page of one wine at every
partner; filtered by partner, the page of one partner's every wine. Reads the mirror only
(``inventory.reports.placements``; the rules are docs/reports.md, "Accounts and
placements"); partner users see only their partner's accounts, exports and drill-downs
included (another partner's drill-down is a 404).
"""

from __future__ import annotations

from collections.abc import Callable
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
from common.charts import bar_chart
from common.htmx import wants_fragment
from common.tables import Column, Table, csv_response
from inventory.channels.models import Channel
from inventory.mapping.models import SKUMapping

from . import placements
from .forms import PlacementsFilterForm
from .placements import AccountFigures, PlacementRow, PlacementRules
from .sell_through import month_end

PAGE = "inventory/reports/placements.html"
FRAGMENT = "placements-results"
ROW_PAGE = "inventory/reports/placements_row.html"
ROW_FRAGMENT = "placements-accounts"
# The drill-down's chart: the accounts buying in each of the twelve months to the chosen one.
CHART_MONTHS = 12


def row_url(partner_id: int, sku: str, query: dict[str, str]) -> str:
    url = reverse("inventory:placements_row", args=[partner_id, sku])
    return f"{url}?{urlencode(query)}" if query else url


def _kept(start: date, rules: PlacementRules, channel: str = "") -> dict[str, str]:
    # What the drill-down must keep of the page's filters: the month, the settings and the
    # channel.
    kept = {"month": f"{start:%Y-%m}"}
    if rules != PlacementRules():
        kept |= {"new_months": str(rules.new_after_months), "lost_days": str(rules.lost_after_days)}
    if channel:
        kept["channel"] = channel
    return kept


def _buying_in(channel: Channel) -> Callable[[PlacementRow], int]:
    return lambda row: row.buying_in(channel)


def _channel_columns() -> list[Column]:
    # Export only: the page has no room for three more counts, the CSV has (docs/reports.md,
    # "Channels").
    return [
        Column(
            f"buying_{channel.value}",
            f"Accounts buying, {channel.label.lower()}",
            csv=_buying_in(channel),
            kind="number",
        )  # fmt: skip
        for channel in Channel
    ]


def _table(kept: dict[str, str]) -> Table:
    return Table(
        [
            Column("partner", "Partner", sort=lambda r: (r.partner.casefold(), r.sku)),
            Column(
                "sku",
                "SKU",
                sort=lambda r: (r.sku, r.partner.casefold()),
                nowrap=True,
                link=lambda r: row_url(r.partner_id, r.sku, kept),
            ),  # fmt: skip
            Column("wine", "Wine", sort="wine"),
            Column(
                "buying", "Accounts buying", attr="buying_count", sort="buying_count", kind="number"
            ),
            Column("new", "New placements", attr="new_count", sort="new_count", kind="number"),
            Column("lost", "Lost accounts", attr="lost_count", sort="lost_count", kind="number"),
            Column(
                "reorder",
                "Reorder interval (days)",
                attr="reorder_days",
                sort=lambda r: (r.reorder_days is None, r.reorder_days or 0),
                kind="qty",
            ),
            Column("net", "Net depletion (bottles)", sort="net", kind="qty"),
            Column("top", "Top accounts", attr="top_names"),
            *_channel_columns(),
        ],  # fmt: skip
        default_sort="partner",
    )


CHANNEL_ONLY_COLUMNS = [f"buying_{channel.value}" for channel in Channel]


@role_required(*EVERYONE)
@require_GET
def placements_page(request: AuthedRequest) -> HttpResponseBase:
    user = request.user
    today = timezone.localdate()
    form = PlacementsFilterForm(request.GET, user=user, today=today)
    form.is_valid()  # bad filters are shown and replaced by their defaults
    filters = form.filters()
    report = placements.placements(user=user, **filters)
    kept = _kept(filters["start"], filters["rules"], filters["channel"])
    hide = CHANNEL_ONLY_COLUMNS + ([] if user.sees_all_partners else ["partner"])
    table = _table(kept).bind(request, report.rows, hide=hide)
    if table.is_csv:
        return csv_response(table, f"accounts-{filters['start']:%Y-%m}.csv")
    context = {
        "form": form,
        "table": table,
        "report": report,
        "totals": {
            "buying": sum(row.buying_count for row in report.rows),
            "new": sum(row.new_count for row in report.rows),
            "lost": sum(row.lost_count for row in report.rows),
        },
        # Per channel: every account of every row once per SKU, as the totals count them.
        "by_channel": placements.channel_counts([a for row in report.rows for a in row.accounts]),
        "channel": filters["channel"],
        "filtered": bool(filters["partner_id"] or filters["sku"] or filters["channel"]),
        "so_far": filters["end"] != month_end(filters["start"]),
    }
    template = PAGE
    if wants_fragment(request):
        template += f"#{FRAGMENT}"
    return render(request, template, context)


ACCOUNTS = Table(
    [
        Column("name", "Account", sort=lambda a: (a.name.casefold(), a.customer_qbo_id)),
        Column("status", "This month", sort=lambda a: (a.status, a.name.casefold())),
        Column(
            "channel",
            "Channel",
            attr="channel_label",
            sort=lambda a: (a.channel_label, a.name.casefold()),
        ),  # fmt: skip
        Column("net", "Net depletion (bottles)", sort="net", kind="qty"),
        Column(
            "first_purchase",
            "First purchase this month",
            sort=lambda a: (a.first_purchase is None, a.first_purchase or date.min),
            kind="date",
        ),
        Column(
            "last_purchase",
            "Last purchase",
            sort=lambda a: (a.last_purchase is None, a.last_purchase or date.min),
            kind="date",
        ),
        Column(
            "reorder",
            "Reorder interval (days)",
            attr="reorder_days",
            sort=lambda a: (a.reorder_days is None, a.reorder_days or 0),
            kind="qty",
        ),
    ],  # fmt: skip
    default_sort="-net",
    per_page=100,
)


@role_required(*EVERYONE)
@require_GET
def placements_row(request: AuthedRequest, partner_id: int, sku: str) -> HttpResponseBase:
    user = request.user
    # Another partner's accounts are not there for a partner user: a 404, as for any object
    # outside one's scope.
    partner = get_object_or_404(Partner.objects.visible_to(user), pk=partner_id)
    mapped = SKUMapping.objects.visible_to(user).filter(
        connection__partner=partner, catalog_sku__code=sku
    )
    if not mapped.exists():
        raise Http404("No such SKU mapped for this partner.")
    today = timezone.localdate()
    form = PlacementsFilterForm(request.GET, user=user, today=today)
    form.is_valid()
    filters = form.filters()
    start, end, rules = filters["start"], filters["end"], filters["rules"]
    channel = filters["channel"]
    report = placements.placements(
        user=user, start=start, end=end, rules=rules, partner_id=partner.pk, sku=sku,
        channel=channel,
    )  # fmt: skip
    row: PlacementRow | None = report.rows[0] if report.rows else None
    accounts: list[AccountFigures] = row.accounts if row else []
    table = ACCOUNTS.bind(request, accounts)
    if table.is_csv:
        return csv_response(table, f"accounts-{partner.slug}-{sku}-{start:%Y-%m}.csv")
    series = placements.accounts_buying_by_month(
        user=user, partner_id=partner.pk, sku=sku,
        start=placements.months_before(start, CHART_MONTHS - 1), end=end,
    )  # fmt: skip
    page_query: dict[str, Any] = _kept(start, rules, channel) | {"sku": sku}
    if user.sees_all_partners:
        page_query["partner"] = str(partner.pk)
    context = {
        "form": form,
        "partner": partner,
        "sku": sku,
        "row": row,
        "report": report,
        "table": table,
        "by_channel": placements.channel_counts(accounts),
        "channel": channel,
        "new": row.new if row else [],
        "lost": row.lost if row else [],
        "chart": bar_chart(
            [(f"{month:%b %Y}", count) for month, count in series],
            title=f"Accounts buying {sku} each month",
        ),
        "page_url": f"{reverse('inventory:placements')}?{urlencode(page_query)}",
    }
    template = ROW_PAGE
    if wants_fragment(request):
        template += f"#{ROW_FRAGMENT}"
    return render(request, template, context)
