from __future__ import annotations

from django.urls import path

from . import views

app_name = "history"
urlpatterns = [
    path("", views.trends, name="trends"),
]
