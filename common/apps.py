from __future__ import annotations

from django.apps import AppConfig


class CommonConfig(AppConfig):
    """The shared list-page toolkit: tables, CSV export, formatting tags and SVG charts.

    Its one model is the mirror's history (``MirrorVersion``, written by ``mirror.py``); it is
    also an app so Django finds its templates and template tags."""

    name = "common"
    verbose_name = "Shared page toolkit"
