"""The mirror's history against a real sandbox over HTTP: an import leaves one "created"
version per document, a poll one version per document it changed and none for a quiet
poll, and deleted and voided documents keep theirs (docs/architecture.md, "The mirror's
history")."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from accounts.models import Partner
from billing.models import QBOInvoice
from common import mirror
from common.models import MirrorVersion
from sync.models import SyncRun
from tests.sync.books import MODELS
from tests.sync.test_poll import imported, open_invoice, poll

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

pytestmark = pytest.mark.django_db(transaction=True)


def written_by(run: SyncRun) -> int:
    return sum(c.get("upserted", 0) + c.get("deleted", 0) for c in run.counts.values())


def test_history_of_an_import_a_change_a_quiet_poll_a_deletion_and_a_void(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    connection, books = imported(sandbox_server, partner_a)
    versions = MirrorVersion.objects.filter(connection=connection)

    # The import: one "created" version per mirrored document, nothing else.
    assert set(versions.values_list("kind", flat=True)) == {"created"}
    for spec in mirror.specs():
        rows = MODELS[spec.entity].objects.filter(connection=connection).count()
        assert versions.filter(entity=spec.entity).count() == rows, spec.entity
    import_run = SyncRun.objects.get(connection=connection, kind="import")
    assert not versions.exclude(sync_run=import_run).exists()

    # A payment applied to an open invoice, in QuickBooks.
    target = open_invoice(books)
    before = Decimal(str(target["Balance"])).quantize(Decimal("0.01"))
    applied = (before / 2).quantize(Decimal("0.01"))
    payment = books.post(
        "Payment",
        {
            "CustomerRef": {"value": target["CustomerRef"]["value"]},
            "TotalAmt": float(applied),
            "Line": [
                {
                    "Amount": float(applied),
                    "LinkedTxn": [{"TxnId": target["Id"], "TxnType": "Invoice"}],
                }
            ],
        },
    )["Payment"]
    after = books.read("Invoice", target["Id"])

    run = poll(connection)

    new = versions.filter(sync_run=run)
    # Exactly one version per document the poll changed, and one per change it counted.
    per_document = Counter(new.values_list("entity", "qbo_id"))
    assert set(per_document.values()) == {1}
    assert len(per_document) == written_by(run) >= 2
    invoice_version = new.get(entity="Invoice", qbo_id=target["Id"])
    assert invoice_version.kind == "updated"
    assert invoice_version.sync_token == str(after["SyncToken"]) != str(target["SyncToken"])
    assert invoice_version.changes["balance"] == [before, before - applied]
    assert invoice_version.raw["SyncToken"] == after["SyncToken"]
    payment_version = new.get(entity="Payment", qbo_id=payment["Id"])
    assert payment_version.kind == "created" and payment_version.changes == {}

    # A quiet poll: the CDC overlap sends the same versions again, and none is written.
    quiet = poll(connection)
    assert not versions.filter(sync_run=quiet).exists()

    # An invoice deleted and another voided: both keep their history, closed in words.
    doomed, voided = sorted(
        (
            r
            for r in books.all("Invoice")
            if r["Id"] != target["Id"] and not r.get("LinkedTxn") and r["TotalAmt"] > 0
        ),
        key=lambda r: int(r["Id"]),
    )[:2]
    books.post(
        "Invoice", {"Id": doomed["Id"], "SyncToken": doomed["SyncToken"]}, operation="delete"
    )
    books.post("Invoice", {"Id": voided["Id"], "SyncToken": voided["SyncToken"]}, operation="void")

    last = poll(connection)

    assert not QBOInvoice.objects.filter(connection=connection, qbo_id=doomed["Id"]).exists()
    gone = list(versions.filter(entity="Invoice", qbo_id=doomed["Id"]).order_by("seen_at", "pk"))
    assert [v.kind for v in gone] == ["created", "deleted"]
    assert gone[-1].sync_run_id == last.pk and gone[-1].raw["status"] == "Deleted"
    void = list(versions.filter(entity="Invoice", qbo_id=voided["Id"]).order_by("seen_at", "pk"))
    assert [v.kind for v in void] == ["created", "voided"]
    assert void[-1].changes["voided"] == [False, True]
    assert versions.filter(sync_run=last).count() == written_by(last)
