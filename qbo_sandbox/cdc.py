"""Change data capture: `GET /cdc?entities=Item,Invoice&changedSince=...` (docs/qbo-api.md §3)."""

from __future__ import annotations

from datetime import timedelta

from qbo_sandbox.books import SPECS, Books
from qbo_sandbox.common import JSON, Fault, invalid_value, now_ms, parse_timestamp, required_missing

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
    known = {name.lower(): name for name in SPECS}
    names: list[str] = []
    for raw in entities.split(","):
        name = known.get(raw.strip().lower())
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
        rows = books.tx.changed_since(books.realm_id, name, since_ms, CDC_LIMIT)
        if rows:
            responses.append({name: rows, "startPosition": 1, "maxResults": len(rows)})
    return {"CDCResponse": [{"QueryResponse": responses or [{}]}]}
