"""Mirrored QuickBooks items for two partners, for tables over a partner-scoped queryset."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from accounts.models import Partner
from inventory.mapping.models import QBOItem
from sync.models import QBOConnection


@pytest.fixture
def connection_a(partner_a: Partner) -> QBOConnection:
    return QBOConnection.objects.create(partner=partner_a, realm_id="9130000000000001")


@pytest.fixture
def connection_b(partner_b: Partner) -> QBOConnection:
    return QBOConnection.objects.create(partner=partner_b, realm_id="9130000000000002")


@pytest.fixture
def make_item(db: None) -> Callable[..., QBOItem]:
    counter = iter(range(1, 100_000))

    def make(connection: QBOConnection, sku: str, **fields: Any) -> QBOItem:
        fields.setdefault("name", sku)
        fields.setdefault("qty_on_hand", Decimal("0"))
        return QBOItem.objects.create(
            connection=connection, qbo_id=str(next(counter)), sku=sku, **fields
        )

    return make
