"""unefemme's import against the naive one: python-quickbooks and one ORM save per row.

    uv run python bench/naive_import.py [--scale 20] [--pages 3]

Starts its own qbo_sandbox, PostgreSQL and Redis (throw-away; nothing under var/ or in
DATABASE_URL is touched), imports a demo company with unefemme's sync engine, then reads
the same company's invoices the way a first attempt would: python-quickbooks 0.9.12's
``Invoice.query`` in pages of 1000, and for each invoice an ``update_or_create`` of its
mirror row and one ``create`` per line. That is slow (about 90 invoices/s), so only the
first ``--pages`` pages are timed, for ``--seconds`` at most. Compared: invoices per second,
wall time both, with the sandbox's throttle off. Target: unefemme at least 10× the naive
pace.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Result, print_table, with_sandbox  # noqa: E402

if TYPE_CHECKING:
    from import_demo import ImportRun

    from qbo_sandbox.testing import SandboxProcess

PAGE_SIZE = 1000


def naive_import(
    sandbox: SandboxProcess, realm_id: str, pages: int, budget: float
) -> tuple[int, float]:
    """The first ``pages`` pages of invoices, saved one at a time into billing's mirror
    under a connection of their own (disconnected, so it is not the realm's live one),
    deleted again afterwards; it stops early after ``budget`` seconds (a pace needs no
    more, and a busy machine can make it three times slower). Returns (invoices saved,
    seconds)."""
    from intuitlib.client import AuthClient
    from quickbooks import QuickBooks
    from quickbooks.objects.invoice import Invoice

    from accounts.models import Partner
    from billing.models import QBOInvoice, QBOInvoiceLine
    from sync.models import QBOConnection

    # python-quickbooks' OAuth2Session refuses plain http (the sandbox's) without this.
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    tokens = sandbox.mint_tokens(realm_id)
    auth = AuthClient(
        sandbox.client_id,
        sandbox.client_secret,
        "http://127.0.0.1/callback",
        environment=sandbox.discovery_url,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        realm_id=realm_id,
    )
    qb = QuickBooks(
        auth_client=auth,
        refresh_token=auth.refresh_token,
        company_id=realm_id,
        minorversion=75,
        use_decimal=True,
    )
    qb.api_url_v3 = sandbox.api_url  # how the tests point python-quickbooks at the sandbox

    partner = Partner.objects.create(name="Bench naive import", slug=f"bench-naive-{realm_id}")
    connection = QBOConnection.objects.create(
        partner=partner, realm_id=realm_id, status=QBOConnection.Status.DISCONNECTED
    )
    saved = 0
    started = time.monotonic()
    for page in range(pages):
        invoices = Invoice.query(
            f"SELECT * FROM Invoice STARTPOSITION {page * PAGE_SIZE + 1} MAXRESULTS {PAGE_SIZE}",
            qb=qb,
        )
        for invoice in invoices:
            row, _ = QBOInvoice.objects.update_or_create(
                connection=connection, qbo_id=str(invoice.Id), defaults=_columns(invoice)
            )
            row.lines.all().delete()
            for position, line in enumerate(invoice.Line or []):
                detail = getattr(line, "SalesItemLineDetail", None)
                item = getattr(detail, "ItemRef", None)
                QBOInvoiceLine.objects.create(
                    invoice=row,
                    line_id=str(getattr(line, "Id", "") or ""),
                    position=position,
                    detail_type=str(line.DetailType or ""),
                    item_qbo_id=str(getattr(item, "value", "") or ""),
                    description=str(getattr(line, "Description", "") or ""),
                    qty=getattr(detail, "Qty", None),
                    unit_price=getattr(detail, "UnitPrice", None),
                    amount=line.Amount or 0,
                )
            saved += 1
            if time.monotonic() - started > budget:
                break
        if len(invoices) < PAGE_SIZE or time.monotonic() - started > budget:
            break
    seconds = time.monotonic() - started
    QBOInvoice.objects.filter(connection=connection).delete()
    connection.delete()
    partner.delete()
    return saved, seconds


def _columns(invoice: Any) -> dict[str, Any]:
    customer = invoice.CustomerRef
    meta = invoice.MetaData
    return {
        "sync_token": str(invoice.SyncToken or ""),
        "qbo_updated_at": getattr(meta, "LastUpdatedTime", None),
        "raw": json.loads(invoice.to_json()),
        "doc_number": str(invoice.DocNumber or ""),
        "customer_qbo_id": str(getattr(customer, "value", "") or ""),
        "customer_name": str(getattr(customer, "name", "") or ""),
        "txn_date": invoice.TxnDate or None,
        "due_date": invoice.DueDate or None,
        "total_amt": invoice.TotalAmt or 0,
        "balance": invoice.Balance or 0,
        "currency": str(getattr(invoice.CurrencyRef, "value", "") or "USD"),
    }


def measure(
    sandbox: SandboxProcess, imported: ImportRun, pages: int = 3, budget: float = 60.0
) -> list[Result]:
    """Figure 7: unefemme's invoices per second over the naive import's, same company."""
    ours = imported.rate("Invoice")
    if ours is None:
        ours = imported.rows / imported.seconds
        ours_note = "all entities' rows/s (no per-entity time)"
    else:
        ours_note = "invoices/s of its invoice pages"
    saved, seconds = naive_import(sandbox, imported.connection.realm_id, pages, budget)
    naive = saved / seconds
    return [
        Result.check(
            "unefemme import ÷ naive python-quickbooks import",
            ours / naive,
            "×",
            at_least=10.0,
            record=f"unefemme {ours:,.0f} {ours_note}; naive {naive:,.0f} invoices/s "
            f"({saved:,} invoices with their lines in {seconds:.1f} s)",
        )
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=20.0, help="the company's scale")
    parser.add_argument("--pages", type=int, default=3, help="naive pages of 1000 at most")
    parser.add_argument("--seconds", type=float, default=60.0, help="naive time budget")
    args = parser.parse_args()
    return with_sandbox(0, lambda sandbox: run(sandbox, args.scale, args.pages, args.seconds))


def run(sandbox: SandboxProcess, scale: float, pages: int, budget: float) -> int:
    from import_demo import connect_and_import

    results = measure(sandbox, connect_and_import(sandbox, scale), pages, budget)
    print_table(results, title=f"imports of a company of scale {scale:g}")
    return 0 if all(r.ok is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
