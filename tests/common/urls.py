"""A stand-in list page built the way the inventory and billing pages are, so the toolkit is tested
through the real middleware (sign-in, htmx, the user's timezone) rather than only in isolation."""

from __future__ import annotations

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import include, path

from accounts.access import AuthedRequest, role_required
from accounts.roles import EVERYONE
from common.tables import Column, Table, csv_response
from inventory.mapping.models import QBOItem

STOCK = Table(
    [
        Column("sku", "SKU", sort="sku"),
        Column("partner", "Partner", sort="connection__partner__name",
               attr="connection__partner__name"),
        Column("qty", "On hand", sort="qty_on_hand", kind="qty", attr="qty_on_hand"),
        Column("price", "Unit price", sort="unit_price", kind="money", attr="unit_price"),
        Column("updated", "Updated", sort="qbo_updated_at", kind="datetime",
               attr="qbo_updated_at"),
    ],
    default_sort="sku",
    per_page=2,
)  # fmt: skip


@role_required(*EVERYONE)
def stock_list(request: AuthedRequest) -> HttpResponse | StreamingHttpResponse:
    items = QBOItem.objects.visible_to(request.user).select_related("connection__partner")
    if query := request.GET.get("q", "").strip():  # the page's own filter
        items = items.filter(sku__icontains=query)
    table = STOCK.bind(request, items)
    if table.is_csv:
        return csv_response(table, "stock.csv")
    context = {"table": table, "caption": "Stock on hand", "empty": "No items match.",
               "region_id": "stock-table"}  # fmt: skip
    return render(request, "common/_table.html", context)


# The project's URLs too: the navigation context processor links to them.
urlpatterns = [path("stock/", stock_list, name="test-stock"), path("", include("unefemme.urls"))]
