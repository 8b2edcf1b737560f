"""A payment stores its applications' sums (QBOPayment.applied_amt, credit_used_amt):
written by the mirror with the payment, filled by the migration for payments mirrored
before, and equal to the sums of the applications stored beside it either way."""

from __future__ import annotations

import copy
import importlib
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connection as db

from accounts.models import Partner
from billing.models import CREDIT_MEMO_LINK, QBOPayment
from common.mirror import mirror_apply
from sync import services
from sync.models import SyncRun
from tests.billing.factories import ConnectionFactory
from tests.sync.books import connection_for

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

fill = importlib.import_module("billing.migrations.0006_payment_application_sums").FILL


def sums_from_applications(connection_id: int) -> dict[str, tuple[Decimal, Decimal]]:
    """(applied, credit used) of each payment, added up here from its applications."""
    found: dict[str, tuple[Decimal, Decimal]] = {}
    for payment in QBOPayment.objects.filter(connection_id=connection_id).prefetch_related(
        "applications"
    ):
        credit = sum(
            (a.amount for a in payment.applications.all() if a.txn_type == CREDIT_MEMO_LINK),
            Decimal("0"),
        )
        paid = sum(
            (a.amount for a in payment.applications.all() if a.txn_type != CREDIT_MEMO_LINK),
            Decimal("0"),
        )
        found[payment.qbo_id] = (paid - credit, credit)
    return found


def stored_sums(connection_id: int) -> dict[str, tuple[Decimal, Decimal]]:
    return {
        qbo_id: (applied, credit)
        for qbo_id, applied, credit in QBOPayment.objects.filter(
            connection_id=connection_id
        ).values_list("qbo_id", "applied_amt", "credit_used_amt")
    }


@pytest.mark.django_db(transaction=True)
def test_the_mirror_and_the_migration_store_each_payments_application_sums(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    realm = sandbox_server.new_company(seed="demo", scale=1)
    connection = connection_for(sandbox_server, partner_a, realm)
    run = services.connection_sync(connection_id=connection.pk, trigger="test")
    assert run is not None and run.status == SyncRun.Status.SUCCEEDED

    expected = sums_from_applications(connection.pk)
    assert len(expected) > 100
    # (The demo company's payments use no credit memo: the next test has one that does.)
    assert stored_sums(connection.pk) == expected
    # QuickBooks' own figures agree: what a payment applied is its total less what it
    # left unapplied (the demo company's books balance).
    for total, unapplied, applied in QBOPayment.objects.filter(
        connection=connection, voided=False
    ).values_list("total_amt", "unapplied_amt", "applied_amt"):
        assert applied == total - unapplied

    # Payments mirrored before the columns existed: the migration's fill gives the same.
    QBOPayment.objects.filter(connection=connection).update(
        applied_amt=Decimal("0"), credit_used_amt=Decimal("0")
    )
    with db.cursor() as cursor:
        cursor.execute(fill)
    assert stored_sums(connection.pk) == expected


@pytest.mark.django_db
def test_a_changed_payment_has_its_sums_rewritten(partner_a: Partner) -> None:
    conn = ConnectionFactory(partner=partner_a)
    payment: dict[str, Any] = {
        "Id": "77",
        "SyncToken": "0",
        "MetaData": {"LastUpdatedTime": "2026-11-02T10:00:00-08:00"},
        "CustomerRef": {"value": "1", "name": "Cave"},
        "TotalAmt": Decimal("700.00"),
        "UnappliedAmt": Decimal("0"),
        "Line": [
            {"Amount": Decimal("900.00"), "LinkedTxn": [{"TxnId": "5", "TxnType": "Invoice"}]},
            {"Amount": Decimal("200.00"), "LinkedTxn": [{"TxnId": "9", "TxnType": "CreditMemo"}]},
        ],
    }
    mirror_apply(connection_id=conn.pk, entity="Payment", objects=[payment])
    assert stored_sums(conn.pk) == {"77": (Decimal("700.00"), Decimal("200.00"))}

    changed = copy.deepcopy(payment)
    changed["SyncToken"] = "1"
    changed["MetaData"]["LastUpdatedTime"] = "2026-11-03T10:00:00-08:00"
    changed["TotalAmt"] = Decimal("900.00")
    del changed["Line"][1]
    mirror_apply(connection_id=conn.pk, entity="Payment", objects=[changed])
    assert (
        stored_sums(conn.pk)
        == sums_from_applications(conn.pk)
        == {"77": (Decimal("900.00"), Decimal("0"))}
    )
