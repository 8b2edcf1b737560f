from __future__ import annotations

from django.urls import path

from . import views

app_name = "sync"
urlpatterns = [
    path("connections/", views.connections, name="connections"),
    path("connections/<int:pk>/", views.connection_detail, name="connection"),
    path("connections/<int:pk>/sync/", views.sync_now, name="sync_now"),
    path("connections/<int:pk>/disconnect/", views.disconnect, name="disconnect"),
    path("qbo/connect/", views.connect, name="connect"),
    # The default QBO_REDIRECT_URI; registered with Intuit, so it must not move.
    path("qbo/callback/", views.callback, name="callback"),
    # Intuit's "Disconnect URL": where QuickBooks sends someone who disconnected there.
    path("qbo/disconnected/", views.disconnected, name="disconnected"),
    path("qbo/webhooks/", views.webhooks, name="webhooks"),
]
