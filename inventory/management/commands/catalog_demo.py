"""Load Une Femme's eight demo SKUs (the codes qbo_sandbox's demo companies use).

Safe to run any number of times: missing SKUs are created, existing ones left untouched.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from inventory.catalog.services import DEMO_SKUS, catalog_demo_load


class Command(BaseCommand):
    help = "Create the demo catalog SKUs that are missing (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        created = catalog_demo_load()
        self.stdout.write(
            f"Demo catalog: {created} SKU(s) created, {len(DEMO_SKUS) - created} already there."
        )
