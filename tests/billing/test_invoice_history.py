"""The invoice page's History: the mirror's versions of the invoice, newest first, in
words; QuickBooks' documents as sent for admins only; the same queries however long."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import User
from billing.models import QBOInvoice
from common.models import MirrorVersion
from sync.models import QBOConnection, SyncRun
from tests.billing.factories import InvoiceFactory
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db

# 07:30 on the business day (TIME_ZONE is Los Angeles: PST by November).
NOV_2 = datetime(2026, 11, 2, 15, 30, tzinfo=ZoneInfo("UTC"))


def _url(pk: int) -> str:
    return reverse("billing:invoice", args=[pk])


def _history(page: str) -> list[str]:
    part = page.split("<h2>History</h2>", 1)[1]
    items = re.findall(r"<li[^>]*>(.*?)(?:<details>|</li>)", part, re.S)
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", i))).strip() for i in items]


def version(invoice: QBOInvoice, kind: str, seen_at: datetime, **fields: Any) -> MirrorVersion:
    made: MirrorVersion = MirrorVersion.objects.create(
        connection_id=invoice.connection_id, entity="Invoice", qbo_id=invoice.qbo_id,
        kind=kind, seen_at=seen_at, **fields,
    )  # fmt: skip
    return made


@pytest.fixture
def invoice(books_a: QBOConnection) -> QBOInvoice:
    made: QBOInvoice = InvoiceFactory(
        connection=books_a, qbo_id="130", doc_number="1042",
        total_amt=Decimal("1200.00"), balance=Decimal("700.00"),
    )  # fmt: skip
    return made


def test_it_tells_the_history_newest_first_naming_the_payment(
    alice: User, books_a: QBOConnection, invoice: QBOInvoice
) -> None:
    first = SyncRun.objects.create(connection=books_a, kind="import", started_at=NOV_2)
    paid = SyncRun.objects.create(connection=books_a, kind="poll", started_at=NOV_2)
    later = SyncRun.objects.create(
        connection=books_a, kind="poll", started_at=NOV_2 + timedelta(days=3, hours=1)
    )
    version(invoice, "created", NOV_2 - timedelta(days=30), sync_run=first, sync_token="0")
    version(invoice, "updated", NOV_2, sync_run=paid, sync_token="1",
            changes={"balance": ["1200.00", "700.00"]},
            raw={"Id": "130", "SyncToken": "1", "Balance": 700})  # fmt: skip
    # The payment that came in the same sync, linking this invoice; another linking
    # another invoice does not count.
    for ref, txn in (("1187", "130"), ("1188", "131")):
        MirrorVersion.objects.create(
            connection=books_a, entity="Payment", qbo_id=f"9{ref}", kind="created",
            seen_at=NOV_2, sync_run=paid,
            raw={"Id": f"9{ref}", "PaymentRefNum": ref,
                 "Line": [{"Amount": 500, "LinkedTxn": [{"TxnId": txn, "TxnType": "Invoice"}]}]},
        )  # fmt: skip
    version(invoice, "updated", NOV_2 + timedelta(days=3), sync_run=later, sync_token="2",
            changes={"due_date": ["2026-11-30", "2026-12-15"]})  # fmt: skip

    page = signed_in(alice).get(_url(invoice.pk)).content.decode()

    assert _history(page) == [
        "Due date Nov 30, 2026 → Dec 15, 2026 on Nov 5, 2026 — seen in the sync of "
        "Nov 5, 2026, 08:30",
        "Balance $1,200.00 → $700.00 on Nov 2, 2026 — payment 1187",
        "First seen on Oct 3, 2026",
    ]
    # The documents as sent are an admin's, not a partner user's.
    assert "Document as received" not in page


def test_a_voided_invoice_says_when_it_went(alice: User, invoice: QBOInvoice) -> None:
    version(invoice, "created", NOV_2 - timedelta(days=1))
    version(invoice, "voided", NOV_2, changes={"voided": [False, True],
                                               "total_amt": ["1200.00", "0.00"]})  # fmt: skip

    page = signed_in(alice).get(_url(invoice.pk)).content.decode()

    assert _history(page)[0] == (
        "Voided; Total $1,200.00 → $0.00 on Nov 2, 2026 — seen in the sync of Nov 2, 2026, 07:30"
    )


def test_admins_see_the_document_as_received(ada: User, sam: User, invoice: QBOInvoice) -> None:
    version(invoice, "created", NOV_2, sync_token="0", raw={"Id": "130", "DocNumber": "1042"})

    admin_page = signed_in(ada).get(_url(invoice.pk)).content.decode()
    staff_page = signed_in(sam).get(_url(invoice.pk)).content.decode()

    assert "Document as received (SyncToken 0)" in admin_page
    assert "&quot;DocNumber&quot;: &quot;1042&quot;" in admin_page
    assert "Document as received" not in staff_page
    assert _history(staff_page) == ["First seen on Nov 2, 2026"]


def test_another_partners_invoice_and_its_history_are_404(bob: User, invoice: QBOInvoice) -> None:
    version(invoice, "created", NOV_2)

    assert signed_in(bob).get(_url(invoice.pk)).status_code == 404


LINK = {"TxnId": "130", "TxnType": "Invoice"}


def _queries(user: User, invoice: QBOInvoice) -> int:
    client = signed_in(user)
    with CaptureQueriesContext(db_connection) as captured:
        assert client.get(_url(invoice.pk)).status_code == 200
    return len(captured)


def test_the_page_reads_the_same_queries_at_n_and_ten_n_versions(
    ada: User, books_a: QBOConnection, invoice: QBOInvoice
) -> None:
    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            run = SyncRun.objects.create(connection=books_a, kind="poll")
            version(invoice, "updated", NOV_2 + timedelta(hours=i), sync_run=run,
                    changes={"balance": [str(1200 - i), str(1199 - i)]})  # fmt: skip
            MirrorVersion.objects.create(
                connection=books_a, entity="Payment", qbo_id=str(5000 + i), kind="created",
                seen_at=NOV_2, sync_run=run,
                raw={"Id": str(5000 + i), "Line": [{"LinkedTxn": [LINK]}]},
            )  # fmt: skip

    add(3, 0)
    at_n = _queries(ada, invoice)
    add(27, 3)
    assert _queries(ada, invoice) == at_n
