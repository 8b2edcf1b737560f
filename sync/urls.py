from __future__ import annotations

from django.urls import path

from . import views

app_name = "sync"
urlpatterns = [
    path("connections/", views.connections, name="connections"),
]
