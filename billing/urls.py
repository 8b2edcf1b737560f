from __future__ import annotations

from django.urls import path

from . import views

app_name = "billing"
urlpatterns = [
    path("invoices/", views.invoices, name="invoices"),
    path("invoices/<int:pk>/", views.invoice_detail, name="invoice"),
    # By QuickBooks' id in its company, not by row: a deleted invoice has no row left.
    path("invoices/deleted/", views.deleted_invoices, name="deleted_invoices"),
    path(
        "invoices/<int:connection_id>/<str:qbo_id>/history/",
        views.invoice_history,
        name="invoice_history",
    ),
    path("payments/", views.payments, name="payments"),
    path("receivables/", views.receivables, name="receivables"),
    path("receivables/export.csv", views.receivables_csv, name="receivables_csv"),
    path(
        "receivables/<int:connection_id>/<str:customer_qbo_id>/",
        views.receivables_customer,
        name="receivables_customer",
    ),
    path(
        "receivables/<int:connection_id>/<str:customer_qbo_id>/statement/",
        views.statement,
        name="statement",
    ),
]
