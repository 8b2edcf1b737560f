"""Plain-HTTP helpers shared by the qbo_sandbox integration tests.

Everything here talks to the sandbox over HTTP only; nothing imports the server's internals.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import requests
from intuitlib.client import AuthClient
from quickbooks import QuickBooks

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

MINOR_VERSION = 75
# The app credentials and redirect URI the session sandbox is started with.
CLIENT_ID = "unefemme-test-client"
CLIENT_SECRET = "unefemme-test-secret"
REDIRECT_URI = "http://localhost:8765/qbo/callback"
VERIFIER_TOKEN = "unefemme-test-verifier-token"
# Generous enough for a loaded 2-core machine, short enough that a hung server fails the test.
HTTP_TIMEOUT = 30.0


@dataclass
class RealmApi:
    """Raw HTTP access to one realm, for what python-quickbooks cannot express."""

    api_url: str
    realm_id: str
    access_token: str
    session: requests.Session = field(default_factory=requests.Session)

    def url(self, path: str) -> str:
        return f"{self.api_url}/company/{self.realm_id}/{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        data: str | bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        all_params: dict[str, str] = {"minorversion": str(MINOR_VERSION), **(params or {})}
        all_headers = {
            "Authorization": f"Bearer {self.access_token}",
            "Accept": "application/json",
            **(headers or {}),
        }
        return self.session.request(
            method,
            self.url(path),
            params=all_params,
            json=json_body,
            data=data,
            headers=all_headers,
            timeout=HTTP_TIMEOUT,
        )

    def ok(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, path, **kwargs)
        assert response.status_code == 200, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        body: dict[str, Any] = decimal_json(response)
        return body

    def create(self, entity: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.ok("POST", entity.lower(), json_body=body, **kwargs)[entity]
        return result

    def update(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.create(entity, body)

    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.ok("GET", f"{entity.lower()}/{entity_id}")[entity]
        return result

    def query_raw(self, statement: str) -> requests.Response:
        return self.request(
            "POST",
            "query",
            data=statement.encode(),
            headers={"Content-Type": "application/text"},
        )

    def query(self, statement: str) -> dict[str, Any]:
        response = self.query_raw(statement)
        assert response.status_code == 200, f"{statement!r}: {response.status_code} {response.text}"
        result: dict[str, Any] = decimal_json(response)["QueryResponse"]
        return result

    def rows(self, statement: str, entity: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.query(statement).get(entity, [])
        return found

    def batch(self, items: list[dict[str, Any]]) -> requests.Response:
        return self.request("POST", "batch", json_body={"BatchItemRequest": items})


def decimal_json(response: requests.Response) -> Any:
    """Parse a JSON body with money as Decimal, as the app does (docs/qbo-api.md §10)."""
    return json.loads(response.text, parse_float=Decimal)


def fault_codes(response: requests.Response) -> list[str]:
    """Error codes of a fault body in any of Intuit's three shapes.

    QBO answers with `Fault`/`Error` (API faults), lower-case `fault`/`error` (gateway faults,
    python-quickbooks #250) or, for throttling, historically XML (docs/qbo-api.md §5).
    """
    text = response.text
    if text.lstrip().startswith("<"):
        return re.findall(r'<Error[^>]*\bcode="(\d+)"', text)
    body = json.loads(text)
    fault = body.get("Fault") or body.get("fault") or {}
    errors = fault.get("Error") or fault.get("error") or []
    return [str(error["code"]) for error in errors]


def assert_validation_fault(response: requests.Response, code: str) -> dict[str, Any]:
    """Assert the documented ValidationFault shape (docs/qbo-api.md §7) and return its first
    error."""
    assert response.status_code == 400, f"{response.status_code} {response.text}"
    assert response.headers.get("intuit_tid"), "every response carries intuit_tid"
    body = response.json()
    assert "time" in body, body
    fault = body["Fault"]
    assert fault["type"] == "ValidationFault", body
    errors = fault["Error"]
    assert errors, body
    for error in errors:
        assert {"Message", "Detail", "code"} <= set(error), error
        # Intuit sends the code as a string, and clients compare it as one.
        assert isinstance(error["code"], str), error
    assert errors[0]["code"] == code, body
    first: dict[str, Any] = errors[0]
    return first


def parse_qbo_time(value: str) -> datetime:
    """QBO timestamps look like 2025-01-01T10:00:00.000-08:00 (also -0800 or Z)."""
    value = value.replace("Z", "+00:00")
    value = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", value)
    return datetime.fromisoformat(value)


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).date().isoformat()


# --- Building blocks for test data -------------------------------------------------------------


@dataclass(frozen=True)
class Accounts:
    income: str
    asset: str
    cogs: str


def ensure_accounts(api: RealmApi) -> Accounts:
    """The three accounts an Inventory item needs, reusing the company's chart when it has them.

    An "empty" company may or may not come with a chart of accounts, so missing ones are created.
    """
    existing = api.rows("SELECT * FROM Account MAXRESULTS 1000", "Account")
    wanted = {
        "income": ("Income", "SalesOfProductIncome", "Sales of Product Income"),
        "asset": ("Other Current Asset", "Inventory", "Inventory Asset"),
        "cogs": ("Cost of Goods Sold", "SuppliesMaterialsCogs", "Cost of Goods Sold"),
    }
    ids: dict[str, str] = {}
    for key, (account_type, sub_type, name) in wanted.items():
        match = next(
            (
                account
                for account in existing
                if account.get("AccountType") == account_type
                and account.get("AccountSubType") == sub_type
            ),
            None,
        )
        if match is None:
            match = api.create(
                "Account",
                {"Name": name, "AccountType": account_type, "AccountSubType": sub_type},
            )
        ids[key] = str(match["Id"])
    return Accounts(**ids)


def non_inventory_item_body(name: str, accounts: Accounts, **extra: Any) -> dict[str, Any]:
    return {
        "Name": name,
        "Type": "NonInventory",
        "IncomeAccountRef": {"value": accounts.income},
        **extra,
    }


def inventory_item_body(
    name: str, accounts: Accounts, qty: int | str, unit_price: str = "10.00", **extra: Any
) -> dict[str, Any]:
    return {
        "Name": name,
        "Type": "Inventory",
        "TrackQtyOnHand": True,
        "QtyOnHand": qty,
        "InvStartDate": days_ago(60),
        "UnitPrice": float(Decimal(unit_price)),
        "IncomeAccountRef": {"value": accounts.income},
        "AssetAccountRef": {"value": accounts.asset},
        "ExpenseAccountRef": {"value": accounts.cogs},
        **extra,
    }


def sales_line(item_id: str, qty: str, unit_price: str) -> dict[str, Any]:
    # Money is computed as Decimal; float() only serialises it, and json writes the shortest
    # repr, so "59.97" goes over the wire as exactly 59.97.
    amount = Decimal(qty) * Decimal(unit_price)
    return {
        "Amount": float(amount),
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {
            "ItemRef": {"value": item_id},
            "Qty": float(Decimal(qty)),
            "UnitPrice": float(Decimal(unit_price)),
        },
    }


def invoice_body(customer_id: str, lines: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"CustomerRef": {"value": customer_id}, "Line": lines, **extra}


def payment_body(
    customer_id: str, total: str, applied: list[tuple[str, str]], **extra: Any
) -> dict[str, Any]:
    return {
        "CustomerRef": {"value": customer_id},
        "TotalAmt": float(Decimal(total)),
        "Line": [
            {
                "Amount": float(Decimal(amount)),
                "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}],
            }
            for invoice_id, amount in applied
        ],
        **extra,
    }


# --- Clients -----------------------------------------------------------------------------------


def make_auth_client(
    discovery_url: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    **tokens: Any,
) -> AuthClient:
    return AuthClient(client_id, client_secret, redirect_uri, environment=discovery_url, **tokens)


def make_qb(
    api_url: str,
    auth_client: AuthClient,
    realm_id: str,
) -> QuickBooks:
    """A stock python-quickbooks client pointed at the sandbox (docs/qbo-api.md §11)."""
    qb = QuickBooks(
        auth_client=auth_client,
        refresh_token=auth_client.refresh_token,
        company_id=realm_id,
        minorversion=MINOR_VERSION,
        use_decimal=True,
    )
    qb.api_url_v3 = api_url
    return qb


@dataclass
class Connection:
    """One app's connection to one realm: the tokens, a raw HTTP client and a pyqb client."""

    realm_id: str
    tokens: dict[str, Any]
    api: RealmApi
    qb: QuickBooks


def connect(process: SandboxProcess, realm_id: str, client_id: str | None = None) -> Connection:
    """Mint tokens through the control endpoint (no browser dance) and build both clients."""
    if client_id is None:
        tokens: dict[str, Any] = process.mint_tokens(realm_id)
    else:
        tokens = process.control(
            "POST", f"/_sandbox/companies/{realm_id}/tokens", {"client_id": client_id}
        )
    auth_client = make_auth_client(
        process.discovery_url,
        client_id or process.client_id,
        process.client_secret,
        REDIRECT_URI,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        realm_id=realm_id,
    )
    return Connection(
        realm_id=realm_id,
        tokens=tokens,
        api=RealmApi(process.api_url, realm_id, tokens["access_token"]),
        qb=make_qb(process.api_url, auth_client, realm_id),
    )


@dataclass(frozen=True)
class BigRealm:
    """A company holding more than 1000 active items, for the 1000-row limits."""

    api: RealmApi
    qb: QuickBooks
    item_count: int


BIG_REALM_NEW_ITEMS = 1005


# --- The consent page, read the way a browser reads it -----------------------------------------


@dataclass
class FormControl:
    tag: str
    type: str
    name: str | None
    value: str
    checked: bool
    element_id: str | None
    text: str = ""


@dataclass
class HtmlForm:
    action: str
    method: str
    controls: list[FormControl] = field(default_factory=list)

    def submit_button(self, text: str) -> FormControl | None:
        for control in self.controls:
            if control.type == "submit" and control.text.strip().lower() == text.lower():
                return control
        return None

    def radio_labels(self, name: str) -> dict[str, str]:
        """Radio value -> the label text a person sees next to it."""
        return {
            control.value: control.text.strip()
            for control in self.controls
            if control.type == "radio" and control.name == name
        }

    def submission(self, button: FormControl, choices: dict[str, str]) -> list[tuple[str, str]]:
        """The name/value pairs a browser posts when `button` is clicked.

        Like a browser: hidden and text inputs are sent, a radio group sends only the chosen
        value, and only the clicked submit button contributes its own name and value.
        """
        pairs: list[tuple[str, str]] = []
        for control in self.controls:
            if control.name is None or control.type in ("submit", "button", "reset", "image"):
                continue
            if control.type in ("radio", "checkbox"):
                chosen = choices.get(control.name)
                if chosen is not None:
                    if control.value == chosen:
                        pairs.append((control.name, control.value))
                elif control.checked:
                    pairs.append((control.name, control.value))
                continue
            pairs.append((control.name, choices.get(control.name, control.value)))
        if button.name:
            pairs.append((button.name, button.value))
        return pairs


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[HtmlForm] = []
        self._form: HtmlForm | None = None
        self._button: FormControl | None = None
        self._label_for: str | None = None
        self._label_text: list[str] | None = None
        self._label_inputs: list[FormControl] = []
        self._labels_by_id: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._form = HtmlForm(action=attr.get("action", ""), method=attr.get("method", "get"))
            self.forms.append(self._form)
        elif tag == "label":
            self._label_for = attr.get("for")
            self._label_text = []
            self._label_inputs = []
        elif tag in ("input", "button") and self._form is not None:
            default_type = "submit" if tag == "button" else "text"
            control = FormControl(
                tag=tag,
                type=attr.get("type", default_type).lower(),
                name=attr.get("name"),
                value=attr.get("value", ""),
                checked="checked" in attr,
                element_id=attr.get("id"),
                text=attr.get("value", "") if tag == "input" else "",
            )
            self._form.controls.append(control)
            if tag == "button":
                self._button = control
            elif self._label_text is not None:
                self._label_inputs.append(control)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "button":
            self._button = None
        elif tag == "label" and self._label_text is not None:
            text = " ".join("".join(self._label_text).split())
            for control in self._label_inputs:
                control.text = text
            if self._label_for:
                self._labels_by_id[self._label_for] = text
            self._label_text = None

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button.text += data
        if self._label_text is not None:
            self._label_text.append(data)

    def finish(self) -> list[HtmlForm]:
        for form in self.forms:
            for control in form.controls:
                if control.element_id and control.element_id in self._labels_by_id:
                    control.text = self._labels_by_id[control.element_id]
        return self.forms


def parse_forms(html: str) -> list[HtmlForm]:
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.finish()


def form_with_button(forms: list[HtmlForm], text: str) -> tuple[HtmlForm, FormControl]:
    for form in forms:
        button = form.submit_button(text)
        if button is not None:
            return form, button
    raise AssertionError(f"no form with a {text!r} button")


# --- Webhook receiver ---------------------------------------------------------------------------


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    answered: int

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """A local endpoint that records every webhook POST exactly as it arrived.

    `fail_first` makes it answer 500 to that many deliveries before accepting, to observe
    Intuit's retry behaviour.
    """

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.deliveries: list[Delivery] = []
        self._condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the name http.server dispatches to)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._condition:
                    status = 500 if len(receiver.deliveries) < receiver.fail_first else 200
                    receiver.deliveries.append(
                        Delivery(
                            headers={key.lower(): value for key, value in self.headers.items()},
                            body=body,
                            answered=status,
                        )
                    )
                    receiver._condition.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/qbo"

    def snapshot(self) -> list[Delivery]:
        with self._condition:
            return list(self.deliveries)

    def wait_for(
        self, predicate: Callable[[list[Delivery]], bool], timeout: float = 20.0
    ) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        with self._condition:
            while not predicate(self.deliveries):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"webhook condition not met in {timeout}s; got "
                        f"{[delivery.body.decode() for delivery in self.deliveries]}"
                    )
                self._condition.wait(remaining)
            return list(self.deliveries)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def cloud_events(
    deliveries: list[Delivery], realm_id: str
) -> Iterator[tuple[Delivery, dict[str, Any]]]:
    """Every CloudEvent of a realm, with the delivery that carried it."""
    for delivery in deliveries:
        body = delivery.json()
        if not isinstance(body, list):
            continue
        for event in body:
            if event.get("intuitaccountid") == realm_id:
                yield delivery, event


def signature(body: bytes, verifier_token: str) -> str:
    """What Intuit puts in `intuit-signature`: base64(HMAC-SHA256(raw body, verifier token))."""
    digest = hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()
