from __future__ import annotations

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """What looks across every app: the dashboard's tiles, /healthz and the demo's set-up.

    It sits above the other apps so that none of them, accounts least of all, needs to
    import another to show a summary.
    """

    name = "dashboard"
    verbose_name = "Dashboard"
