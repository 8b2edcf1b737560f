"""The Accounting API under /v3/company/{realmId}/: routing, query, requestid replay.

Each request runs in ONE store transaction. Its work runs in a savepoint, so a fault
leaves nothing behind while the requestid log (which must remember the fault too)
still commits. Change events leave with the response and are published by the
caller only after COMMIT.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from qbo_sandbox import books
from qbo_sandbox.batch import run_batch
from qbo_sandbox.books import SPECS, Books
from qbo_sandbox.cdc import run_cdc
from qbo_sandbox.common import (
    JSON,
    Fault,
    body_time,
    business_error,
    load_zone,
    naive_time_zone,
    object_not_found,
    qbo_time,
    unsupported_operation,
)
from qbo_sandbox.operations import ApiOptions, run_query, run_query_text, write
from qbo_sandbox.pdf import invoice_pdf
from qbo_sandbox.reports import run_report
from qbo_sandbox.store import Event, Store
from qbo_sandbox.web import Request, Response, json_response, text_json_response

ENTITY_PATHS = {name.lower(): name for name in SPECS}
# Real QBO entities this sandbox does not model; they answer "Unsupported Operation".
_NOT_MODELLED = frozenset(
    [
        "attachable",
        "deposit",
        "journalentry",
        "purchase",
        "taxagency",
        "timeactivity",
        "transfer",
        "creditcardpayment",
        "recurringtransaction",
        "exchangerate",
        "companycurrency",
    ]
)
_MAX_REQUEST_ID = 50
_MAX_BATCH_REQUEST_ID = 36


def handle(
    store: Store, options: ApiOptions, realm_id: str, rest: Sequence[str], req: Request
) -> tuple[Response, list[Event]]:
    # Timestamps without an offset (changedSince, query literals) are read in the zone of
    # the `naive_time_zone` switch, for this request only (a ContextVar: threaded server).
    with naive_time_zone(load_zone(options.naive_time_zone)):
        return _handle(store, options, realm_id, rest, req)


def _handle(
    store: Store, options: ApiOptions, realm_id: str, rest: Sequence[str], req: Request
) -> tuple[Response, list[Event]]:
    request_id = req.query.get("requestid") if req.method == "POST" else None
    if request_id is not None:
        limit = _MAX_BATCH_REQUEST_ID if list(rest) == ["batch"] else _MAX_REQUEST_ID
        if len(request_id) > limit:
            fault = business_error(
                f"You cannot enter more than {limit} characters in the request_id field"
            )
            return json_response(400, fault.body()), []
    fingerprint = f"{req.method} /{'/'.join(rest)} {req.query.get('operation', '')}"
    with store.transaction() as tx:
        if request_id:
            logged = tx.logged_response(realm_id, request_id)
            if logged is not None:
                if logged[0] != fingerprint:
                    # The id was used for another operation: QBO's error 600 [unconfirmed
                    # when it is returned instead of a replay].
                    fault = Fault("600", "Duplicate Request ID", f"requestid {request_id}")
                    return json_response(400, fault.body()), []
                return Response(logged[1], logged[2].encode(), "application/json;charset=UTF-8"), []
        try:
            with tx.savepoint():
                response = _dispatch(Books(tx, realm_id), options, rest, req)
        except Fault as fault:
            response = json_response(fault.status, fault.body())
        if request_id and response.content_type.startswith("application/json"):
            tx.log_response(
                realm_id, request_id, fingerprint, response.status, response.body.decode()
            )
        events = list(tx.events)
    return response, events


def _body(req: Request) -> Any:
    try:
        return json.loads(req.body or b"{}")
    except ValueError:
        raise Fault(
            "2010",
            "Request has invalid or unsupported property",
            "Error parsing object: the request body is not valid JSON",
        ) from None


def _dispatch(bk: Books, options: ApiOptions, rest: Sequence[str], req: Request) -> Response:
    if not rest:
        raise unsupported_operation(f"{req.method} on the company root")
    head = rest[0].lower()
    if head == "query" and len(rest) == 1:
        statement = req.query.get("query") if req.method == "GET" else req.text()
        spliced = run_query_text(bk, options, statement or "")
        if spliced is not None:
            return text_json_response(
                200, f'{{"QueryResponse":{spliced},"time":{json.dumps(body_time())}}}'
            )
        return json_response(200, {"QueryResponse": run_query(bk, options, statement or "")})
    if head == "cdc" and len(rest) == 1 and req.method == "GET":
        return json_response(
            200, run_cdc(bk, options, req.query.get("entities"), req.query.get("changedSince"))
        )
    if head == "batch" and len(rest) == 1 and req.method == "POST":
        return json_response(200, run_batch(bk, options, _body(req)))
    if head == "reports" and len(rest) == 2 and req.method == "GET":
        # A report is its own top-level body: Header, Columns, Rows (no `time` member).
        return json_response(200, run_report(bk, rest[1], req.query), stamp=False)
    if head in ("companyinfo", "preferences"):
        return _singleton(bk, ENTITY_PATHS[head], rest, req)
    entity = ENTITY_PATHS.get(head)
    if entity is None:
        raise unsupported_operation(
            f"{req.method} /{head}"
            + (" (not modelled by this sandbox)" if head in _NOT_MODELLED else "")
        )
    if len(rest) == 1 and req.method == "POST":
        return json_response(200, write(bk, entity, req.query, _body(req)))
    if len(rest) == 2 and req.method == "GET":
        found = books.read(bk, entity, rest[1])
        if entity == "Invoice":
            found = _with_invoice_link(bk, found, req)
        return json_response(200, {entity: found})
    if entity == "Invoice" and len(rest) == 3:
        if rest[2] == "send" and req.method == "POST":
            return json_response(200, {entity: _send_invoice(bk, rest[1], req.query.get("sendTo"))})
        if rest[2] == "pdf" and req.method == "GET":
            invoice = books.read(bk, entity, rest[1])
            company = bk.require("CompanyInfo", 1)
            return Response(200, invoice_pdf(company, invoice), "application/pdf")
    raise unsupported_operation(f"{req.method} /{'/'.join(rest)}")


def _singleton(bk: Books, entity: str, rest: Sequence[str], req: Request) -> Response:
    if req.method == "GET" and len(rest) <= 2:
        if len(rest) == 2 and rest[1] not in (bk.realm_id, "1"):
            raise object_not_found(f"{entity} Id={rest[1]}")
        return json_response(200, {entity: bk.require(entity, 1)})
    if req.method == "POST" and len(rest) == 1:
        return json_response(200, {entity: books.update(bk, entity, _body(req))})
    raise unsupported_operation(f"{req.method} /{'/'.join(rest)}")


def _with_invoice_link(bk: Books, invoice: JSON, req: Request) -> JSON:
    """The invoice, carrying InvoiceLink when (and only when) `include=invoiceLink` asks.

    Intuit adds the customer-facing link to a read on request. The sandbox's is the same
    for the same invoice every time, and names neither the company nor the invoice.
    """
    shown = {key: value for key, value in invoice.items() if key != "InvoiceLink"}
    asked = {part.strip().lower() for part in req.query.get("include", "").split(",")}
    if "invoicelink" in asked:
        digest = hashlib.sha256(f"{bk.realm_id}:{invoice['Id']}".encode()).hexdigest()
        shown["InvoiceLink"] = f"https://connect.intuit.com/t/scs-v1-{digest}?locale=en_US"
    return shown


def _send_invoice(bk: Books, invoice_id: str, send_to: str | None) -> JSON:
    old = bk.require("Invoice", invoice_id)
    address = send_to or (old.get("BillEmail") or {}).get("Address")
    if not address:
        raise business_error("The invoice has no email address to send it to")
    new = {
        **old,
        "EmailStatus": "EmailSent",
        "BillEmail": {"Address": address},
        "DeliveryInfo": {"DeliveryType": "Email", "DeliveryTime": qbo_time(bk.now)},
    }
    return bk.save("Invoice", new, old, "Emailed")
