from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail

from accounts.models import Partner, User
from accounts.roles import Role
from inventory.catalog.models import CatalogSKU
from inventory.mapping.models import MappingConflict
from inventory.warehouse.models import WarehouseSnapshot
from sync.models import QBOConnection, SyncRun
from tests.billing.factories import ConnectionFactory
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _recording_backend(settings: Any) -> Iterator[None]:
    # Django's test set-up replaces EMAIL_BACKEND with locmem; put the recording backend
    # back in front of it, as in production, so SentMessage rows are written too.
    settings.EMAIL_BACKEND = "notifications.backends.RecordingEmailBackend"
    settings.EMAIL_DELIVERY_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://unefemme.example"
    mail.outbox = []
    yield


@pytest.fixture
def books_a(partner_a: Partner) -> QBOConnection:
    conn: QBOConnection = ConnectionFactory(partner=partner_a, company_name="Bubbles Books")
    return conn


@pytest.fixture
def books_b(partner_b: Partner) -> QBOConnection:
    conn: QBOConnection = ConnectionFactory(partner=partner_b, company_name="Ouest Books")
    return conn


@pytest.fixture
def people(alice: User, bob: User, sam: User, ada: User) -> dict[str, User]:
    """The cast, plus a second user of partner A, an inactive admin and a second staff."""
    return {
        "alice": alice,
        "alice2": UserFactory(
            email="alice2@bubbles.test", role=Role.PARTNER, partner=alice.partner
        ),
        "bob": bob,
        "sam": sam,
        "ada": ada,
        "gone": UserFactory(email="gone@unefemme.test", role=Role.ADMIN, is_active=False),
    }


def recipients(kind: str | None = None) -> list[str]:
    return sorted(
        address
        for m in mail.outbox
        if kind is None or m.extra_headers.get("X-Unefemme-Kind") == kind
        for address in m.to
    )


def failed_run(conn: QBOConnection, at: datetime, error: str = "QuickBooks said 500") -> SyncRun:
    run: SyncRun = SyncRun.objects.create(
        connection=conn, kind="poll", status=SyncRun.Status.FAILED, started_at=at,
        finished_at=at, error=error,
    )  # fmt: skip
    return run


def ok_run(conn: QBOConnection, at: datetime) -> SyncRun:
    run: SyncRun = SyncRun.objects.create(
        connection=conn, kind="poll", status=SyncRun.Status.SUCCEEDED, started_at=at,
        finished_at=at,
    )  # fmt: skip
    return run


def conflict(conn: QBOConnection, n: int, sku: str = "UF-CAL-NV-750") -> MappingConflict:
    row: MappingConflict = MappingConflict.objects.create(
        connection=conn, kind=MappingConflict.Kind.UNMATCHED, fingerprint=f"fp-{n}",
        item_qbo_id=str(500 + n), sku_code=sku,
    )  # fmt: skip
    return row


def sku(code: str = "UF-CAL-NV-750") -> CatalogSKU:
    row, _ = CatalogSKU.objects.get_or_create(
        code=code, defaults={"wine": "The Callie", "format_ml": 750, "bottles_per_case": 12}
    )
    return row


def snapshot(partner: Partner, as_of: date, bottles: int = 120) -> WarehouseSnapshot:
    row: WarehouseSnapshot = WarehouseSnapshot.objects.create(
        partner=partner, sku=sku(), as_of=as_of, bottles=Decimal(bottles), source="csv"
    )
    return row


def days(n: int) -> timedelta:
    return timedelta(days=n)
