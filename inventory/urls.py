from __future__ import annotations

from django.urls import path

from . import views

app_name = "inventory"
urlpatterns = [
    path("discrepancies/", views.discrepancies, name="discrepancies"),
    path("conflicts/", views.conflicts, name="conflicts"),
]
