from __future__ import annotations

from django.urls import path

from .catalog import views as catalog
from .channels import views as channels
from .mapping import views as mapping
from .purchasing import views as purchasing
from .push import views as push
from .reports import ledger_views as ledger
from .reports import placements_views as accounts
from .reports import views as reports
from .warehouse import views as warehouse

app_name = "inventory"
urlpatterns = [
    path("discrepancies/", reports.discrepancies, name="discrepancies"),
    path("depletion/", reports.depletion, name="depletion"),
    path("sell-through/", reports.sell_through_page, name="sell_through"),
    path("ledger/", ledger.stock_ledger_page, name="stock_ledger"),
    path("ledger/<int:partner_id>/<str:sku>/", ledger.stock_ledger_row, name="stock_ledger_row"),
    path("accounts/", accounts.placements_page, name="placements"),
    path("accounts/<int:partner_id>/<str:sku>/", accounts.placements_row, name="placements_row"),
    path("channels/", channels.channel_accounts, name="channels"),
    path(
        "channels/accounts/<int:connection_id>/<str:customer_qbo_id>/",
        channels.channel_override,
        name="channel_override",
    ),
    path("channels/<int:partner_id>/rules/", channels.channel_rules, name="channel_rules"),
    path(
        "channels/<int:partner_id>/rules/new/",
        channels.channel_rule_create,
        name="channel_rule_create",
    ),
    path(
        "channels/<int:partner_id>/types/refresh/",
        channels.channel_types_refresh,
        name="channel_types_refresh",
    ),
    path("channels/rules/<int:pk>/", channels.channel_rule_edit, name="channel_rule_edit"),
    path(
        "channels/rules/<int:pk>/delete/", channels.channel_rule_delete, name="channel_rule_delete"
    ),
    path("channels/rules/<int:pk>/move/", channels.channel_rule_move, name="channel_rule_move"),
    path("conflicts/", mapping.conflicts, name="conflicts"),
    path("conflicts/<int:pk>/choose/", mapping.conflict_choose, name="conflict_choose"),
    path("conflicts/<int:pk>/ignore/", mapping.conflict_ignore, name="conflict_ignore"),
    path("conflicts/<int:pk>/unmap/", mapping.conflict_unmap, name="conflict_unmap"),
    path("suppliers/", purchasing.suppliers, name="suppliers"),
    path("suppliers/<int:pk>/vendor/", purchasing.supplier_vendor, name="supplier_vendor"),
    path("catalog/", catalog.catalog_list, name="catalog"),
    path("catalog/export.csv", catalog.catalog_export, name="catalog_export"),
    path("catalog/import/", catalog.catalog_import, name="catalog_import"),
    path(
        "catalog/import/<uuid:token>/",
        catalog.catalog_import_preview,
        name="catalog_import_preview",
    ),
    path("warehouse/upload/", warehouse.upload, name="warehouse_upload"),
    path("warehouse/upload/<int:pk>/", warehouse.upload_detail, name="warehouse_upload_detail"),
    path(
        "warehouse/upload/<int:pk>/confirm/",
        warehouse.upload_confirm,
        name="warehouse_upload_confirm",
    ),
    path("warehouse/tokens/", warehouse.tokens, name="warehouse_tokens"),
    path(
        "warehouse/tokens/<int:pk>/revoke/", warehouse.token_revoke, name="warehouse_token_revoke"
    ),
    path("push/", push.push_jobs, name="push_jobs"),
    path("push/stock/new/", push.push_stock_new, name="push_stock_new"),
    path("push/items/new/", push.push_items_new, name="push_items_new"),
    path("push/<int:pk>/", push.push_job, name="push_job"),
    path("push/<int:pk>/approve/", push.push_job_approve, name="push_job_approve"),
    path("push/<int:pk>/discard/", push.push_job_discard, name="push_job_discard"),
    path("push/<int:pk>/retry/", push.push_job_retry, name="push_job_retry"),
    path("api/warehouse/snapshots/", warehouse.api_snapshots, name="warehouse_api_snapshots"),
]
