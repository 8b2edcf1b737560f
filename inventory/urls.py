from __future__ import annotations

from django.urls import path

from . import views_catalog, views_depletion, views_discrepancies, views_mapping, views_push
from . import warehouse_views as wh

app_name = "inventory"
urlpatterns = [
    path("discrepancies/", views_discrepancies.discrepancies, name="discrepancies"),
    path("depletion/", views_depletion.depletion, name="depletion"),
    path("conflicts/", views_mapping.conflicts, name="conflicts"),
    path("conflicts/<int:pk>/choose/", views_mapping.conflict_choose, name="conflict_choose"),
    path("conflicts/<int:pk>/ignore/", views_mapping.conflict_ignore, name="conflict_ignore"),
    path("conflicts/<int:pk>/unmap/", views_mapping.conflict_unmap, name="conflict_unmap"),
    path("catalog/", views_catalog.catalog_list, name="catalog"),
    path("catalog/export.csv", views_catalog.catalog_export, name="catalog_export"),
    path("catalog/import/", views_catalog.catalog_import, name="catalog_import"),
    path(
        "catalog/import/<uuid:token>/",
        views_catalog.catalog_import_preview,
        name="catalog_import_preview",
    ),
    path("warehouse/upload/", wh.upload, name="warehouse_upload"),
    path("warehouse/upload/<int:pk>/", wh.upload_detail, name="warehouse_upload_detail"),
    path("warehouse/upload/<int:pk>/confirm/", wh.upload_confirm, name="warehouse_upload_confirm"),
    path("warehouse/tokens/", wh.tokens, name="warehouse_tokens"),
    path("warehouse/tokens/<int:pk>/revoke/", wh.token_revoke, name="warehouse_token_revoke"),
    path("push/", views_push.push_jobs, name="push_jobs"),
    path("push/stock/new/", views_push.push_stock_new, name="push_stock_new"),
    path("push/items/new/", views_push.push_items_new, name="push_items_new"),
    path("push/<int:pk>/", views_push.push_job, name="push_job"),
    path("push/<int:pk>/approve/", views_push.push_job_approve, name="push_job_approve"),
    path("push/<int:pk>/discard/", views_push.push_job_discard, name="push_job_discard"),
    path("push/<int:pk>/retry/", views_push.push_job_retry, name="push_job_retry"),
    path("api/warehouse/snapshots/", wh.api_snapshots, name="warehouse_api_snapshots"),
]
