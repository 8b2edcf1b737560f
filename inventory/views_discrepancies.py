"""The stock discrepancies page: per partner × SKU, the warehouse quantity against the
QuickBooks quantity, with its tolerance status and a trend. Reads only (the selectors are
in ``inventory.discrepancies``); partner users see only their own partner's rows, exports
included."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import AuthedRequest, role_required
from accounts.roles import EVERYONE
from common.forms import PartnerFilterForm
from common.htmx import wants_fragment
from common.tables import Column, Table, csv_response

from . import discrepancies as selectors


class DiscrepancyFilterForm(PartnerFilterForm):
    """A GET form: a filter that does not parse is reported next to its field and left
    out, and the other filters still apply."""

    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *selectors.STATUSES])
    sku = forms.CharField(
        required=False, max_length=64, strip=True, label="SKU code",
        widget=forms.TextInput(attrs={"placeholder": "e.g. UF-CAL"}),
    )  # fmt: skip

    def filters(self) -> dict[str, Any]:
        data = getattr(self, "cleaned_data", {})
        return {
            **super().filters(),
            "status": data.get("status") or "",
            "sku_code": data.get("sku") or "",
        }


DISCREPANCIES = Table(
    [
        Column("partner", "Partner", sort="partner_name", attr="partner_name"),
        Column("sku", "SKU", sort="sku_code", attr="sku_code"),
        Column("wine", "Wine", sort="wine"),
        Column("warehouse_bottles", "Warehouse (bottles)", sort="warehouse_bottles", kind="qty"),
        Column("qbo_bottles", "QuickBooks (bottles)", sort="qbo_bottles", kind="qty"),
        Column("qbo_cases", "QuickBooks (cases)", sort="qbo_cases", kind="qty"),
        Column("difference", "Difference (bottles)", sort="difference", kind="qty"),
        Column("difference_ratio", "Difference %", sort="difference_ratio", kind="percent"),
        Column("status", "Status", sort="status", attr="status_label"),
        Column("warehouse_as_of", "Warehouse as of", sort="warehouse_as_of", kind="date"),
        Column("last_synced_at", "Last synced", sort="last_synced_at", kind="datetime"),
        # The export leaves the trend picture out: a picture is not data, and the quantities
        # it draws are the warehouse feed's own export.
        Column("trend", "Trend", attr="trend", export=False),
    ],
    default_sort="-difference",
)


@role_required(*EVERYONE)
@require_GET
def discrepancies(request: AuthedRequest) -> HttpResponseBase:
    user = request.user
    form = DiscrepancyFilterForm(request.GET, user=user)
    form.is_valid()  # bad filters are shown and left out; the rest still apply
    filters = form.filters()
    rows = selectors.discrepancy_rows(user=user, **filters)
    table = DISCREPANCIES.bind(request, rows)
    if table.is_csv:
        return csv_response(table, f"stock-discrepancies-{timezone.localdate():%Y-%m-%d}.csv")
    selectors.attach_trends(table.rows)
    template = "inventory/discrepancies.html"
    if wants_fragment(request):
        template += "#discrepancy-table"
    context = {
        "form": form,
        "table": table,
        "filtered": any(value not in (None, "") for value in filters.values()),
        "tolerance_share": selectors.TOLERANCE_SHARE,
        "tolerance_bottles": selectors.TOLERANCE_BOTTLES,
    }
    return render(request, template, context)
