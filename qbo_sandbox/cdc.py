"""Change data capture: `GET /cdc?entities=Item,Invoice&changedSince=...` (docs/qbo-api.md §3)."""

from __future__ import annotations

from datetime import timedelta

from qbo_sandbox.books import SPECS, Books
from qbo_sandbox.common import JSON, Fault, invalid_value, now_ms, parse_timestamp, required_missing

# Every entity name CDC answers for, in Intuit's spelling (docs/qbo-api.md §3): the names
# Intuit's CDC documentation lists, without the five §3 says CDC does not cover
# (JournalCode, TaxAgency, TimeActivity, TaxCode, TaxRate), plus the singletons and
# InventoryAdjustment this sandbox models, which Intuit's "all API entities except those
# five" also covers. A name here that the sandbox does not model answers no changes; a
# name missing here, QBO entity or not, is a 2010 fault. An entity added to books.SPECS
# and named here reports its changes with nothing else to change.
CDC_ENTITIES: tuple[str, ...] = (
    "Account",
    "Bill",
    "BillPayment",
    "Budget",
    "Class",
    "CompanyInfo",
    "CreditCardPayment",
    "CreditMemo",
    "Customer",
    "Department",
    "Deposit",
    "Employee",
    "Estimate",
    "InventoryAdjustment",
    "Invoice",
    "Item",
    "JournalEntry",
    "Payment",
    "PaymentMethod",
    "Preferences",
    "Purchase",
    "PurchaseOrder",
    "RecurringTransaction",
    "RefundReceipt",
    "SalesReceipt",
    "Term",
    "Transfer",
    "Vendor",
    "VendorCredit",
)
# Names match whatever their case and are answered in Intuit's spelling, as queries match
# entity names (docs/qbo-api.md §2) [unconfirmed for CDC].
_BY_LOWER_NAME = {name.lower(): name for name in CDC_ENTITIES}

# QBO answers at most 1000 objects per entity and has no paging. Which 1000 it keeps is
# [unconfirmed]; the sandbox keeps the 1000 OLDEST changes, so a client that moves
# `changedSince` up to the newest LastUpdatedTime it received always makes progress.
CDC_LIMIT = 1000
LOOK_BACK = timedelta(days=30)


def run_cdc(books: Books, entities: str | None, changed_since: str | None) -> JSON:
    if not entities:
        raise required_missing("entities")
    if not changed_since:
        raise required_missing("changedSince")
    names: list[str] = []
    for raw in entities.split(","):
        name = _BY_LOWER_NAME.get(raw.strip().lower())
        if name is None:
            raise invalid_value("entities", raw.strip())
        if name not in names:
            names.append(name)
    try:
        since = parse_timestamp(changed_since)
    except ValueError:
        raise invalid_value("changedSince", changed_since) from None
    since_ms = int(since.timestamp() * 1000)
    # The 30-day look-back is measured in real days: --time-scale never stretches it.
    if since_ms < now_ms() - int(LOOK_BACK.total_seconds() * 1000):
        # Status and code are [unconfirmed]: a 400 ValidationFault carrying QBO's message.
        raise Fault(
            "6000",
            "A business validation error has occurred while processing your request",
            f"Operation cdc with changedSince date {changed_since} which is older than "
            "fixed days is not supported.",
            element="changedSince",
        )
    responses: list[JSON] = []
    for name in names:
        if name not in SPECS:
            continue  # Not modelled, so never changed: no entry, like a modelled one unchanged.
        rows = books.tx.changed_since(books.realm_id, name, since_ms, CDC_LIMIT)
        if rows:
            responses.append({name: rows, "startPosition": 1, "maxResults": len(rows)})
    return {"CDCResponse": [{"QueryResponse": responses or [{}]}]}
