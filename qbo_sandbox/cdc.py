"""Change data capture: `GET /cdc?entities=Item,Invoice&changedSince=...` (docs/qbo-api.md §3)."""

from __future__ import annotations

import hashlib
import random
from datetime import timedelta

from qbo_sandbox.books import SPECS, Books, tombstone_stub
from qbo_sandbox.common import JSON, Fault, invalid_value, now_ms, parse_timestamp, required_missing
from qbo_sandbox.operations import ApiOptions

# Every entity name CDC answers for, in Intuit's spelling (docs/qbo-api.md §3): the names
# Intuit's CDC documentation lists, without the five §3 says CDC does not cover
# (JournalCode, TaxAgency, TimeActivity, TaxCode, TaxRate), plus the singletons and
# InventoryAdjustment this sandbox models, which Intuit's "all API entities except those
# five" also covers. A name here that the sandbox does not model answers no changes; a
# name missing here, QBO entity or not, is a 2010 fault. An entity added to books.SPECS
# and named here reports its changes with nothing else to change.
# CustomerType is modelled (read and query only) but deliberately NOT named here: whether
# QBO's CDC covers it is [unconfirmed] (Intuit's list does not name it), so the sandbox
# refuses `entities=CustomerType` with 2010 like any other name CDC does not support.
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
# [unconfirmed]; the switch `cdc_cap_order` (`--cdc-cap-order`, /_sandbox/config)
# decides. By default ("oldest") the sandbox keeps the 1000 OLDEST changes, so a client
# that moves `changedSince` up to the newest LastUpdatedTime it received always makes
# progress; "newest" keeps the 1000 newest (newest first), "arbitrary" a pseudo-random
# 1000, the same for the same realm, entity, changedSince and set of matches.
CDC_LIMIT = 1000
CAP_ORDERS = ("oldest", "newest", "arbitrary")
LOOK_BACK = timedelta(days=30)


def run_cdc(
    books: Books, options: ApiOptions, entities: str | None, changed_since: str | None
) -> JSON:
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
        rows = _changes(books, options.cdc_cap_order, name, since_ms)
        if options.cdc_spurious_deleted > 0:
            rows = [
                _spuriously_deleted(books.realm_id, name, row, options.cdc_spurious_deleted)
                for row in rows
            ]
        if rows:
            responses.append({name: rows, "startPosition": 1, "maxResults": len(rows)})
    return {"CDCResponse": [{"QueryResponse": responses or [{}]}]}


def _changes(books: Books, cap_order: str, entity: str, since_ms: int) -> list[JSON]:
    """The objects and tombstones of `entity` changed since `since_ms`, at most CDC_LIMIT
    of them, the ones `cap_order` keeps when more match."""
    tx, realm_id = books.tx, books.realm_id
    if cap_order != "arbitrary":
        return tx.changed_since(realm_id, entity, since_ms, CDC_LIMIT, newest=cap_order == "newest")
    keys = tx.changed_since_keys(realm_id, entity, since_ms)
    if len(keys) <= CDC_LIMIT:
        return tx.changed_since(realm_id, entity, since_ms, CDC_LIMIT)
    # Seeded from a digest of everything the choice may depend on (never Python's salted
    # hash()), so the same question over the same matches always keeps the same 1000.
    digest = hashlib.sha256(f"{realm_id}\x1f{entity}\x1f{since_ms}\x1f".encode())
    digest.update(",".join(f"{ms}:{entity_id}" for ms, entity_id in keys).encode())
    chosen = random.Random(digest.hexdigest()).sample(keys, CDC_LIMIT)
    return tx.rows_by_id(realm_id, entity, [entity_id for _, entity_id in chosen])


def _spuriously_deleted(realm_id: str, entity: str, row: JSON, probability: float) -> JSON:
    """`row`, or with `probability` a tombstone in its place when it is a live object.

    Models Deleted statuses reported for objects nobody deleted (Intuit's .NET SDK issue
    #189). The draw is a digest of the object's version, so one version is reported the
    same way by every CDC answer, and a later version draws afresh. Only CDC does this:
    queries and reads still find the object.
    """
    if row.get("status") == "Deleted":
        return row
    version = f"{realm_id}\x1f{entity}\x1f{row['Id']}\x1f{row.get('SyncToken', '')}"
    draw = int.from_bytes(hashlib.sha256(version.encode()).digest()[:8], "big") / 2**64
    if draw >= probability:
        return row
    return tombstone_stub(row["Id"], row.get("MetaData", {}).get("LastUpdatedTime", ""))
