from __future__ import annotations

from django.apps import AppConfig


class AllowancesConfig(AppConfig):
    name = "allowances"
    verbose_name = "Depletion allowances"
