"""Mirror versions are append-only in the database (common/migrations/0002): a trigger
refuses any UPDATE, through the ORM or in raw SQL, while retention and a connection's
deletion still delete versions."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import ProgrammingError, connection, transaction
from django.utils import timezone

from accounts.models import Partner
from common.mirror import mirror_apply
from common.models import MirrorVersion
from sync import services
from sync.models import QBOConnection

pytestmark = pytest.mark.django_db

REFUSED = "mirror versions are append-only"


def invoice(token: str, minute: int, balance: str) -> dict[str, Any]:
    return {
        "Id": "130",
        "SyncToken": token,
        "DocNumber": "1042",
        "CustomerRef": {"value": "7", "name": "Cave de Reims"},
        "TotalAmt": Decimal("1200.00"),
        "Balance": Decimal(balance),
        "MetaData": {"LastUpdatedTime": f"2026-11-02T10:{minute:02d}:00-08:00"},
    }


@pytest.fixture
def books(partner_a: Partner) -> QBOConnection:
    made: QBOConnection = QBOConnection.objects.create(
        partner=partner_a, realm_id="4620000000000778"
    )
    return made


@pytest.fixture
def versions(books: QBOConnection) -> list[MirrorVersion]:
    """Two versions of one invoice, written by the mirror's own write path."""
    for token, minute, balance in (("0", 0, "1200.00"), ("1", 5, "700.00")):
        mirror_apply(
            connection_id=books.pk, entity="Invoice", objects=[invoice(token, minute, balance)]
        )
    return list(MirrorVersion.objects.filter(connection=books).order_by("pk"))


def stored(version: MirrorVersion) -> tuple[Any, ...]:
    return tuple(
        MirrorVersion.objects.filter(pk=version.pk).values_list("kind", "sync_token", "raw").get()
    )


def test_an_orm_update_is_refused(versions: list[MirrorVersion]) -> None:
    first = versions[0]
    before = stored(first)

    # Each attempt in its own savepoint: the refused statement aborts what encloses it.
    with pytest.raises(ProgrammingError, match=REFUSED), transaction.atomic():
        MirrorVersion.objects.filter(pk=first.pk).update(kind="deleted")
    with pytest.raises(ProgrammingError, match=REFUSED), transaction.atomic():
        first.sync_token = "9"
        first.save()

    assert stored(first) == before


def test_a_raw_sql_update_is_refused(versions: list[MirrorVersion]) -> None:
    before = [stored(v) for v in versions]

    with (
        pytest.raises(ProgrammingError, match=REFUSED),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE common_mirrorversion SET raw = NULL")

    assert [stored(v) for v in versions] == before


def test_inserting_goes_on_as_before(books: QBOConnection, versions: list[MirrorVersion]) -> None:
    mirror_apply(connection_id=books.pk, entity="Invoice", objects=[invoice("2", 9, "0.00")])

    assert MirrorVersion.objects.filter(connection=books).count() == len(versions) + 1


def test_retention_still_deletes_old_versions(versions: list[MirrorVersion], settings: Any) -> None:
    settings.MIRROR_VERSION_RETENTION_DAYS = 400
    later = timezone.now() + timedelta(days=401)

    pruned = services.retention_prune(now=later)

    assert pruned["versions"] == len(versions)
    assert not MirrorVersion.objects.exists()


def test_deleting_a_connection_still_deletes_its_history(
    books: QBOConnection, versions: list[MirrorVersion], partner_b: Partner
) -> None:
    other = QBOConnection.objects.create(partner=partner_b, realm_id="4620000000000779")
    mirror_apply(connection_id=other.pk, entity="Invoice", objects=[invoice("0", 0, "1200.00")])

    books.delete()

    assert not MirrorVersion.objects.filter(connection_id=books.pk).exists()
    assert MirrorVersion.objects.filter(connection=other).count() == 1
