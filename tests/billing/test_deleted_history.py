"""An invoice's history by its QuickBooks id (/billing/invoices/<connection>/<qbo id>/history/)
and the list of invoices deleted in QuickBooks (/billing/invoices/deleted/): a deleted
invoice has no row, and so no invoice page, but its history stays reachable and says when
it went. Versions are written by the mirror's own write path (common.mirror.mirror_apply),
at set times."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import User
from billing.models import QBOInvoice
from common.mirror import mirror_apply, mirror_prune
from sync.models import QBOConnection, SyncRun
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db

# 07:30 on the business day (TIME_ZONE is Los Angeles: PST by November).
NOV_1 = datetime(2026, 11, 1, 15, 30, tzinfo=ZoneInfo("UTC"))
DAY = timedelta(days=1)


def document(qbo_id: str, token: int, balance: str, **extra: Any) -> dict[str, Any]:
    """An invoice as QuickBooks sends it, at version ``token``."""
    return {
        "Id": qbo_id,
        "SyncToken": str(token),
        "DocNumber": f"10{qbo_id}",
        "CustomerRef": {"value": "7", "name": "Cave de Reims"},
        "TxnDate": "2026-10-01",
        "DueDate": "2026-10-31",
        "TotalAmt": Decimal("1200.00"),
        "Balance": Decimal(balance),
        "MetaData": {"LastUpdatedTime": f"2026-11-01T10:00:{token:02d}-08:00"},
        **extra,
    }


def tombstone(qbo_id: str) -> dict[str, Any]:
    return {
        "Id": qbo_id,
        "status": "Deleted",
        "MetaData": {"LastUpdatedTime": "2026-11-03T09:00:00-08:00"},
    }


def sync(books: QBOConnection, at: datetime, *objects: dict[str, Any]) -> None:
    """``objects`` applied to the mirror at ``at``, as a poll of that moment would."""
    with time_machine.travel(at, tick=False):
        run = SyncRun.objects.create(connection=books, kind="poll", started_at=at)
        mirror_apply(connection_id=books.pk, entity="Invoice", objects=list(objects), run_id=run.pk)


def deleted_invoice(books: QBOConnection, qbo_id: str = "130", changes: int = 1) -> str:
    """Invoice ``qbo_id``: first seen on Nov 1, its balance changed ``changes`` times on Nov
    2, deleted in QuickBooks on Nov 3. Returns its Id."""
    sync(books, NOV_1, document(qbo_id, 0, "1200.00"))
    for n in range(1, changes + 1):
        sync(books, NOV_1 + DAY + n * timedelta(minutes=1), document(qbo_id, n, f"{1200 - n}.00"))
    sync(books, NOV_1 + 2 * DAY, tombstone(qbo_id))
    assert not QBOInvoice.objects.filter(connection=books, qbo_id=qbo_id).exists()
    return qbo_id


def history_url(books: QBOConnection, qbo_id: str) -> str:
    return reverse("billing:invoice_history", args=[books.pk, qbo_id])


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", fragment))).strip()


def history(page: str) -> list[str]:
    part = page.split("<h2>History</h2>", 1)[1]
    items = re.findall(r"<li[^>]*>(.*?)(?:<details>|</li>)", part, re.S)
    return [text_of(i) for i in items]


def facts(page: str) -> dict[str, str]:
    pairs = re.findall(r"<dt>(.*?)</dt><dd[^>]*>(.*?)</dd>", page, re.S)
    return {text_of(k): text_of(v) for k, v in pairs}


# --- The history page ------------------------------------------------------------------------


def test_a_deleted_invoice_keeps_a_page_that_says_when_it_went(
    alice: User, books_a: QBOConnection
) -> None:
    qbo_id = deleted_invoice(books_a)

    response = signed_in(alice).get(history_url(books_a, qbo_id))

    assert response.status_code == 200
    page = response.content.decode()
    assert "<h1>History of invoice 10130</h1>" in page
    assert "Deleted in QuickBooks on Nov 3, 2026" in text_of(page)
    assert history(page) == [
        "Deleted in QuickBooks; gone from the mirror on Nov 3, 2026",
        "Balance $1,200.00 → $1,199.00 on Nov 2, 2026 — seen in the sync of Nov 2, 2026, 07:31",
        "First seen on Nov 1, 2026",
    ]
    # What it was, from the last document QuickBooks sent before deleting it.
    shown = facts(page)
    assert shown["Customer"] == "Cave de Reims"
    assert shown["Last total"] == "$1,200.00"
    assert shown["Date"] == "2026-10-01"
    assert f'href="{reverse("billing:deleted_invoices")}"' in page
    # The documents as sent are an admin's, not a partner user's.
    assert "Document as received" not in page


def test_a_voided_invoice_says_when_it_was_voided_and_links_its_page(
    alice: User, books_a: QBOConnection
) -> None:
    sync(books_a, NOV_1, document("140", 0, "1200.00"))
    sync(
        books_a,
        NOV_1 + DAY,
        document("140", 1, "0", TotalAmt=0, PrivateNote="Voided"),
    )
    invoice = QBOInvoice.objects.get(connection=books_a, qbo_id="140")

    page = signed_in(alice).get(history_url(books_a, "140")).content.decode()

    assert "Voided in QuickBooks on Nov 2, 2026" in text_of(page)
    assert "Deleted in QuickBooks on" not in text_of(page)
    assert f'href="{reverse("billing:invoice", args=[invoice.pk])}"' in page
    assert history(page)[0] == (
        "Voided; Balance $1,200.00 → $0.00; Total $1,200.00 → $0.00 on Nov 2, 2026 — "
        "seen in the sync of Nov 2, 2026, 07:30"
    )


def test_a_live_invoices_history_page_leads_to_its_invoice_page(
    alice: User, books_a: QBOConnection
) -> None:
    sync(books_a, NOV_1, document("150", 0, "1200.00"))
    invoice = QBOInvoice.objects.get(connection=books_a, qbo_id="150")

    page = signed_in(alice).get(history_url(books_a, "150")).content.decode()

    assert f'href="{reverse("billing:invoice", args=[invoice.pk])}"' in page
    assert "Deleted in QuickBooks on" not in page
    assert history(page) == ["First seen on Nov 1, 2026"]


def test_a_deletion_a_reimport_found_is_told_too(alice: User, books_a: QBOConnection) -> None:
    sync(books_a, NOV_1, document("160", 0, "1200.00"))
    with time_machine.travel(NOV_1 + 4 * DAY, tick=False):
        mirror_prune(
            connection_id=books_a.pk, entity="Invoice", after_id="", last_id=None, keep=set()
        )

    page = signed_in(alice).get(history_url(books_a, "160")).content.decode()

    assert "Deleted in QuickBooks on Nov 5, 2026" in text_of(page)
    assert facts(page)["Customer"] == "Cave de Reims"


def test_admins_alone_see_the_documents_as_received(
    ada: User, sam: User, books_a: QBOConnection
) -> None:
    qbo_id = deleted_invoice(books_a)

    admin_page = signed_in(ada).get(history_url(books_a, qbo_id)).content.decode()
    staff_page = signed_in(sam).get(history_url(books_a, qbo_id)).content.decode()

    # The tombstone and each document, as QuickBooks sent them.
    assert admin_page.count("Document as received") == 3
    assert "&quot;status&quot;: &quot;Deleted&quot;" in admin_page
    assert "Document as received" not in staff_page
    assert len(history(staff_page)) == 3


def test_another_partners_history_is_404_as_is_an_unknown_id(
    alice: User, bob: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    qbo_id = deleted_invoice(books_a)
    # Ids collide across companies: B's invoice 130 is not A's.
    deleted_invoice(books_b)

    assert signed_in(bob).get(history_url(books_a, qbo_id)).status_code == 404
    assert signed_in(alice).get(history_url(books_b, qbo_id)).status_code == 404
    assert signed_in(alice).get(history_url(books_a, "999")).status_code == 404
    assert signed_in(alice).get(history_url(books_a, qbo_id)).status_code == 200
    assert signed_in(bob).get(history_url(books_b, qbo_id)).status_code == 200


def _queries(user: User, url: str) -> int:
    client = signed_in(user)
    with CaptureQueriesContext(db_connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_history_page_reads_the_same_queries_at_n_and_ten_n_versions(
    ada: User, books_a: QBOConnection
) -> None:
    short = deleted_invoice(books_a, "170", changes=3)
    long = deleted_invoice(books_a, "171", changes=30)

    assert _queries(ada, history_url(books_a, long)) == _queries(ada, history_url(books_a, short))


# --- Old links to a deleted invoice's page ---------------------------------------------------


def test_an_old_link_to_a_deleted_invoice_says_where_its_history_is(
    alice: User, bob: User, books_a: QBOConnection
) -> None:
    sync(books_a, NOV_1, document("180", 0, "1200.00"))
    old = reverse("billing:invoice", args=[QBOInvoice.objects.get(qbo_id="180").pk])
    sync(books_a, NOV_1 + DAY, tombstone("180"))

    response = signed_in(alice).get(old)

    assert response.status_code == 404
    said = error(response.content.decode())
    assert f'href="{reverse("billing:deleted_invoices")}"' in said
    # Another partner's user is told the very same: it names nothing of the invoice.
    assert error(signed_in(bob).get(old).content.decode()) == said


def error(page: str) -> str:
    found = re.search(r'<section class="error-page".*?</section>', page, re.S)
    assert found is not None
    return found.group(0)


# --- The list of deleted invoices ------------------------------------------------------------


def test_the_list_holds_the_readers_deleted_invoices_only(
    alice: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    deleted_invoice(books_a, "130")
    sync(books_a, NOV_1, document("131", 0, "1200.00"))  # still in QuickBooks
    deleted_invoice(books_b, "230")

    page = signed_in(alice).get(reverse("billing:deleted_invoices")).content.decode()

    rows = re.findall(r"<tr>\s*(<td.*?)</tr>", page, re.S)
    assert [text_of(re.sub(r"</td>", " |", row)) for row in rows] == [
        "10130 | Cave de Reims | $1,200.00 | Nov 3, 2026 |"
    ]
    assert f'href="{history_url(books_a, "130")}"' in page
    assert "10230" not in page and ">Partner<" not in page


def test_staff_see_every_partners_deleted_invoices(
    sam: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    deleted_invoice(books_a, "130")
    deleted_invoice(books_b, "230")

    page = signed_in(sam).get(reverse("billing:deleted_invoices")).content.decode()

    assert f'href="{history_url(books_a, "130")}"' in page
    assert f'href="{history_url(books_b, "230")}"' in page
    assert books_a.partner.name in html.unescape(page)
    assert books_b.partner.name in html.unescape(page)


def test_the_list_as_an_htmx_fragment(alice: User, books_a: QBOConnection) -> None:
    deleted_invoice(books_a)
    url = reverse("billing:deleted_invoices")

    fragment = signed_in(alice).get(url, headers={"HX-Request": "true"}).content.decode()

    assert fragment.lstrip().startswith('<div id="deleted-table">')
    assert "<h1>" not in fragment
    assert f'href="{history_url(books_a, "130")}"' in fragment


def test_the_invoices_page_leads_to_the_list(alice: User) -> None:
    page = signed_in(alice).get(reverse("billing:invoices")).content.decode()

    assert f'href="{reverse("billing:deleted_invoices")}"' in page


def test_the_list_reads_the_same_queries_at_n_and_ten_n_deleted_invoices(
    sam: User, books_a: QBOConnection
) -> None:
    url = reverse("billing:deleted_invoices")
    for n in range(3):
        deleted_invoice(books_a, str(300 + n))
    at_n = _queries(sam, url)
    for n in range(3, 30):
        deleted_invoice(books_a, str(300 + n))

    assert _queries(sam, url) == at_n
