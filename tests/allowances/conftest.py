"""Fixtures the allowances tests share: partner A's and B's companies (the billing tests'),
a program over partner A's SKUs, and a hand-made November of sales to four accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from accounts.models import Partner, User
from allowances.models import AllowanceProgram
from inventory.catalog.models import CatalogSKU
from inventory.mapping.models import QBOItem
from sync.models import QBOConnection
from tests.billing.conftest import books_a, books_b  # noqa: F401 (fixtures, found by name)
from tests.inventory.reports.test_placements import account, mapped_item, sale

D = Decimal
NOV = date(2026, 11, 1)


@dataclass
class November:
    """Partner A's November: Bistro Lune bought 48 bottles of the rosé (60 less 12
    returned), Cellar Door 30 bottles of the rosé and 24 of the brut, Quiet Bar 12 of the
    brut only, and Never Bought nothing. The program covers the rosé alone, from November 1
    to December 31, at $24.00 a 9-litre case: $2.00 a 750 ml bottle."""

    program: AllowanceProgram
    rose: CatalogSKU
    brut: CatalogSKU
    rose_item: QBOItem
    brut_item: QBOItem
    accounts: dict[str, str]


@pytest.fixture
def november(books_a: QBOConnection, ada: User, partner_a: Partner) -> November:  # noqa: F811
    rose_item = mapped_item(books_a, "UF-ROSE-750")
    brut_item = mapped_item(books_a, "UF-BRUT-750")
    case_item = mapped_item(books_a, "UF-ROSE-750", per_unit=12)
    accounts = {
        name: account(books_a, name)
        for name in ("Bistro Lune", "Cellar Door", "Quiet Bar", "Never Bought")
    }
    sale("invoice", case_item, accounts["Bistro Lune"], 5, date(2026, 11, 3))
    sale("credit_memo", rose_item, accounts["Bistro Lune"], 12, date(2026, 11, 20))
    sale("sales_receipt", rose_item, accounts["Cellar Door"], 30, date(2026, 11, 9))
    sale("invoice", brut_item, accounts["Cellar Door"], 24, date(2026, 11, 9))
    sale("invoice", brut_item, accounts["Quiet Bar"], 12, date(2026, 11, 12))
    # Neither counts: voided, and before the program.
    sale("invoice", rose_item, accounts["Cellar Door"], 100, date(2026, 11, 10), voided=True)
    sale("invoice", rose_item, accounts["Quiet Bar"], 6, date(2026, 10, 30))
    rose = CatalogSKU.objects.get(code="UF-ROSE-750")
    brut = CatalogSKU.objects.get(code="UF-BRUT-750")
    program = AllowanceProgram.objects.create(
        name="Rosé winter push",
        start=date(2026, 11, 1),
        end=date(2026, 12, 31),
        rate=D("24.00"),
        unit=AllowanceProgram.Unit.CASE_9L,
        created_by=ada,
    )
    program.partners.set([partner_a])
    program.skus.set([rose])
    return November(program, rose, brut, rose_item, brut_item, accounts)
