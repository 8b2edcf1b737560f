from __future__ import annotations

from django.urls import path

from . import views

app_name = "allowances"
urlpatterns = [
    path("programs/", views.programs, name="programs"),
    path("programs/new/", views.program_edit, name="program_new"),
    path("programs/<int:pk>/", views.program, name="program"),
    path("programs/<int:pk>/edit/", views.program_edit, name="program_edit"),
    path(
        "programs/<int:pk>/evidence/<int:partner_id>/<str:month>/",
        views.evidence,
        name="evidence",
    ),
    path("claims/", views.claims, name="claims"),
    path("claims/new/", views.claim_new, name="claim_new"),
    path("claims/<int:pk>/", views.claim, name="claim"),
    path("claims/<int:pk>/submit/", views.claim_submit, name="claim_submit"),
    path("claims/<int:pk>/discard/", views.claim_discard, name="claim_discard"),
    path("claims/<int:pk>/decide/", views.claim_decide, name="claim_decide"),
    path("payments/", views.payments, name="payments"),
]
