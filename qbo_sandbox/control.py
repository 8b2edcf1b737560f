"""Sandbox-only control endpoints under /_sandbox/ (test and demo tooling, no auth)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from qbo_sandbox import books, seed
from qbo_sandbox.books import Books
from qbo_sandbox.common import Fault
from qbo_sandbox.web import Request, Response, json_response

if TYPE_CHECKING:
    from qbo_sandbox.app import SandboxApp


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": message}, stamp=False)


def _body(req: Request) -> dict[str, Any]:
    if not req.body.strip():
        return {}
    data = json.loads(req.body)
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def handle(app: SandboxApp, req: Request, parts: list[str]) -> Response:
    try:
        body = _body(req) if req.method == "POST" else {}
        return _route(app, req, parts, body)
    except (ValueError, TypeError) as error:
        return _error(400, str(error))


def _route(app: SandboxApp, req: Request, parts: list[str], body: dict[str, Any]) -> Response:
    if parts == ["status"] and req.method == "GET":
        return json_response(200, status(app), stamp=False)
    if parts == ["config"]:
        if req.method == "POST":
            return json_response(200, configure(app, body), stamp=False)
        return json_response(200, config(app), stamp=False)
    if parts == ["faults"] and req.method == "GET":
        # What fault injection did since the config was last set (faults.py).
        return json_response(200, app.faults.snapshot(), stamp=False)
    if parts == ["clock"] and req.method == "POST":
        seconds = body.get("advance_seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError("advance_seconds must be a number of Intuit seconds, 0 or more")
        offset_ms = app.clock.advance_wall_time(seconds)
        return json_response(
            200,
            {
                "offset_seconds": offset_ms / 1000 * app.clock.time_scale,
                "now_ms": app.clock.now_ms(),
            },
            stamp=False,
        )
    if parts == ["companies"] and req.method == "POST":
        kind = body.get("seed", "empty")
        if kind not in ("demo", "empty"):
            raise ValueError("seed must be demo or empty")
        with app.store.transaction() as tx:
            realm_id, name = seed.create_company(
                tx,
                kind,
                seed_number=int(body.get("seed_number", 1)),
                scale=float(body.get("scale", 1.0)),
                name=body.get("name"),
            )
        return json_response(200, {"realm_id": realm_id, "name": name}, stamp=False)
    if len(parts) == 3 and parts[0] == "companies" and req.method == "POST":
        realm_id, action = parts[1], parts[2]
        with app.store.transaction() as tx:
            if not tx.company_exists(realm_id):
                return _error(404, f"no company {realm_id}")
        if action == "tokens":
            tokens = app.oauth.mint(realm_id, body.get("client_id"))
            if tokens is None:
                return _error(400, "unknown client_id")
            return json_response(200, tokens, stamp=False)
        if action == "expire-access-tokens":
            app.oauth.expire_access_tokens(realm_id)
            return json_response(200, {"realm_id": realm_id, "expired": True}, stamp=False)
        if action == "revoke-tokens":
            app.oauth.revoke_realm(realm_id)
            return json_response(200, {"realm_id": realm_id, "revoked": True}, stamp=False)
        if action == "customer-types":
            try:
                written = write_customer_type(app, realm_id, body)
            except Fault as fault:
                return json_response(
                    400, {"error": str(fault), "Fault": fault.fault()}, stamp=False
                )
            return json_response(200, {"CustomerType": written}, stamp=False)
    return _error(404, f"no control endpoint {req.method} /_sandbox/{'/'.join(parts)}")


def write_customer_type(app: SandboxApp, realm_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create a CustomerType (`{"Name", "Active"?}`) or, given its `Id`, change it (a sparse
    update of what the body names: `{"Id": "2", "Active": false}` deactivates it).

    What QBO's settings screen does; its API refuses to (entities.py), so tests that need
    types beyond the demo's four make them here. The same rules as the API's other name
    lists apply (unique Name, no colon, faults as JSON under "Fault"); the change gets a
    SyncToken and LastUpdatedTime but no webhook, as no API request made it.
    """
    with app.store.transaction() as tx:
        bk = Books(tx, realm_id)
        if body.get("Id") not in (None, ""):
            current = bk.require("CustomerType", body["Id"])
            change = {**body, "SyncToken": current["SyncToken"], "sparse": True}
            return books.update(bk, "CustomerType", change, internal=True)
        return books.create(bk, "CustomerType", body, internal=True)


# Switches that live on the OAuth settings (oauth.py) rather than on app.Config, read and
# set through the same /_sandbox/config so that tests have one place to flip behaviour.
OAUTH_SWITCHES = ("rotate_every_refresh",)


def config(app: SandboxApp) -> dict[str, Any]:
    settings = app.oauth.settings
    return {**asdict(app.config), **{key: getattr(settings, key) for key in OAUTH_SWITCHES}}


def configure(app: SandboxApp, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply every change or none: the OAuth switches are checked before Config's, and
    set only once Config has accepted the rest."""
    oauth_changes = {key: changes[key] for key in OAUTH_SWITCHES if key in changes}
    for key, value in oauth_changes.items():
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
    app.configure({key: value for key, value in changes.items() if key not in oauth_changes})
    for key, value in oauth_changes.items():
        setattr(app.oauth.settings, key, value)
    return config(app)


def status(app: SandboxApp) -> dict[str, Any]:
    with app.store.transaction() as tx:
        companies = [
            {"realm_id": realm_id, "name": name, "counts": tx.entity_counts(realm_id)}
            for realm_id, name in tx.companies()
        ]
    stats: dict[str, Any] = dict(app.stats.snapshot())
    stats["webhooks"] = asdict(app.dispatcher.stats) if app.dispatcher else {}
    return {"companies": companies, "stats": stats}
