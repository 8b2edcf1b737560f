"""`POST /batch`: up to 30 operations, each in its own savepoint (docs/qbo-api.md §4)."""

from __future__ import annotations

from typing import Any

from qbo_sandbox import books
from qbo_sandbox.books import SPECS, Books
from qbo_sandbox.cdc import run_cdc
from qbo_sandbox.common import JSON, Fault, unsupported_operation
from qbo_sandbox.operations import ApiOptions, run_query, write

MAX_ITEMS = 30


def _malformed(detail: str) -> Fault:
    return Fault("400", "MalformedRequest", detail)


def run_batch(bk: Books, options: ApiOptions, body: Any) -> JSON:
    items = body.get("BatchItemRequest") if isinstance(body, dict) else None
    if items is None or items == []:
        # QBO's answer to an empty batch (QuickBooks-V3-PHP-SDK #528).
        raise _malformed("Batch Request is Empty")
    if not isinstance(items, list):
        raise _malformed("BatchItemRequest must be a list")
    limit = options.batch_max_items
    if len(items) > limit:
        raise Fault(
            "1040",
            "Batch Size Exceeds Limit",
            f"Batch size {len(items)} exceeds the maximum of {limit} items per request",
        )
    results: list[JSON] = []
    for item in items:
        bid = item.get("bId") if isinstance(item, dict) else None
        try:
            # Items run in order, each in a savepoint: a faulting item leaves no trace
            # and does not stop the others.
            with bk.tx.savepoint():
                result = _run_item(Books(bk.tx, bk.realm_id), options, item)
        except Fault as fault:
            result = {"Fault": fault.fault()}
        results.append({"bId": bid, **result})
    return {"BatchItemResponse": results}


def _run_item(bk: Books, options: ApiOptions, item: Any) -> JSON:
    if not isinstance(item, dict) or not item.get("bId"):
        raise _malformed("Each batch item needs a bId")
    payload_keys = [k for k in item if k not in ("bId", "operation", "optionsData")]
    if len(payload_keys) != 1:
        raise _malformed("Each batch item carries exactly one entity, Query or CDCQuery")
    key = payload_keys[0]
    if key == "Query":
        return {"QueryResponse": run_query(bk, options, str(item["Query"]))}
    if key == "CDCQuery":
        cdc = item["CDCQuery"] if isinstance(item["CDCQuery"], dict) else {}
        return run_cdc(bk, options, cdc.get("Entities"), cdc.get("ChangedSince"))
    if key not in SPECS:
        raise unsupported_operation(f"{key} in a batch")
    operation = item.get("operation", "create")
    body = item[key]
    if operation == "create":
        return {key: books.create(bk, key, body)}
    if operation == "update":
        params = {"operation": "update"}
        if item.get("optionsData") == "void":
            params["include"] = "void"
        return write(bk, key, params, body)
    if operation == "delete":
        return write(bk, key, {"operation": "delete"}, body)
    raise unsupported_operation(f"{operation} in a batch")
