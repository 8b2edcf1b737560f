from __future__ import annotations

from django.urls import path

from . import views

app_name = "notifications"
urlpatterns = [
    path("sent/", views.sent, name="sent"),
    path("preferences/", views.preferences, name="preferences"),
]
