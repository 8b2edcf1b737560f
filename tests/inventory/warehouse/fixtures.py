"""Catalog SKUs and helpers shared by the warehouse-feed tests."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from inventory.catalog.models import CatalogSKU


def today() -> date:
    return timezone.localdate()


def days_ago(n: int) -> str:
    return (today() - timedelta(days=n)).isoformat()


@pytest.fixture(name="catalog")
def catalog_fixture(db: None) -> dict[str, CatalogSKU]:
    specs = [
        ("UF-CAL-NV-750", "The Callie Sparkling Rosé", None, 750, 12, True),
        ("UF-BDB-2021-1500", "Blanc de Blancs Magnum", 2021, 1500, 6, True),
        ("UF-CAL-NV-375", "The Callie Sparkling Rosé", None, 375, 24, True),
        ("UF-DEM-NV-750", "Demi-Sec", None, 750, 6, False),
    ]
    return {
        code: CatalogSKU.objects.create(
            code=code,
            wine=wine,
            vintage=vintage,
            format_ml=ml,
            bottles_per_case=per_case,
            active=active,
        )
        for code, wine, vintage, ml, per_case, active in specs
    }
