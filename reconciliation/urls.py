from __future__ import annotations

from django.urls import path

from . import views

app_name = "reconciliation"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:pk>/", views.connection_page, name="connection"),
    path("<int:pk>/run/", views.run_now, name="run"),
    path("<int:pk>/status/", views.run_status, name="status"),
]
