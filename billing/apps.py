from __future__ import annotations

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        # billing owns the customers, sales forms and payments of the mirror: sync finds
        # how to write them here (common.mirror), without importing billing.
        from common import mirror

        from .mirror import SPECS

        for spec in SPECS:
            mirror.register(spec)
