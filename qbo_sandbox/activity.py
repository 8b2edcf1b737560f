"""`python -m qbo_sandbox activity`: keep a running sandbox busy through its PUBLIC API.

It behaves like a careful QBO app: tokens minted once through the control endpoint,
then refreshed through the OAuth token endpoint when they expire; every write carries
a `requestid`, so a retry after a dropped connection is safe; a 429 waits Retry-After.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

JSON = dict[str, Any]
MINOR_VERSION = "75"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


def _http(
    method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Client:
    """One app's connection to one company, over plain HTTP."""

    def __init__(
        self, base_url: str, realm_id: str, client_id: str | None, client_secret: str | None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.realm_id = realm_id
        self.client_id = client_id
        self.client_secret = client_secret
        status, _, raw = _http("GET", f"{self.base_url}/.well-known/openid_configuration")
        self.token_endpoint = str(json.loads(raw)["token_endpoint"])
        self.tokens: JSON = {}
        self._mint()

    def _mint(self) -> None:
        # Without --client-id the sandbox mints for the first app it was started with.
        body = {"client_id": self.client_id} if self.client_id else {}
        status, _, raw = _http(
            "POST",
            f"{self.base_url}/_sandbox/companies/{self.realm_id}/tokens",
            body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        if status != 200:
            raise ApiError(status, raw.decode("utf-8", "replace"))
        self.tokens = json.loads(raw)

    def _refresh(self) -> None:
        if self.client_secret is None:
            # Refreshing needs the app's secret; without it, mint a new connection.
            self._mint()
            return
        basic = f"{self.tokens['client_id']}:{self.client_secret}".encode()
        form = urllib.parse.urlencode(
            {"grant_type": "refresh_token", "refresh_token": self.tokens["refresh_token"]}
        )
        status, _, raw = _http(
            "POST",
            self.token_endpoint,
            body=form.encode(),
            headers={
                "Authorization": f"Basic {base64.b64encode(basic).decode()}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        if status == 200:
            self.tokens = {**self.tokens, **json.loads(raw)}
        else:
            # The connection was revoked (or the refresh token expired): reconnect.
            self._mint()

    def call(self, method: str, path: str, payload: Any = None, **params: str) -> JSON:
        """Send one API request, riding out expired tokens, throttling and dropped links."""
        query = {"minorversion": MINOR_VERSION, **params}
        if method == "POST" and path != "query":
            query.setdefault("requestid", str(uuid.uuid4()))
        url = f"{self.base_url}/v3/company/{self.realm_id}/{path}?{urllib.parse.urlencode(query)}"
        body: bytes | None
        if isinstance(payload, str):
            body, content_type = payload.encode(), "application/text"
        else:
            body = None if payload is None else json.dumps(payload).encode()
            content_type = "application/json"
        for attempt in range(8):
            headers = {
                "Authorization": f"Bearer {self.tokens['access_token']}",
                "Accept": "application/json",
                "Content-Type": content_type,
            }
            try:
                status, response_headers, raw = _http(method, url, body=body, headers=headers)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                # Dropped connection: the same requestid makes the retry safe.
                time.sleep(min(2**attempt, 10))
                continue
            if status == 200:
                result: JSON = json.loads(raw)
                return result
            if status == 401:
                self._refresh()
            elif status == 429:
                time.sleep(float(response_headers.get("Retry-After", "60")))
            elif status >= 500:
                time.sleep(min(2**attempt, 10))
            else:
                raise ApiError(status, raw.decode("utf-8", "replace"))
        raise ApiError(0, f"gave up on {method} {path}")

    def rows(self, statement: str, entity: str) -> list[JSON]:
        found: list[JSON] = self.call("POST", "query", statement)["QueryResponse"].get(entity, [])
        return found


class Activity:
    def __init__(self, client: Client, rng: random.Random) -> None:
        self.client = client
        self.rng = rng

    def step(self) -> str:
        # Roughly a distributor's day: invoices and payments most, cash sales, stock in,
        # now and then a return, a quote, an order to a supplier, its receipt, a bill paid.
        operations = (
            (38, self.invoice),
            (20, self.payment),
            (10, self.stock_receipt),
            (7, self.cash_sale),
            (3, self.credit_memo),
            (1, self.refund),
            (2, self.estimate),
            (3, self.purchase_order),
            (3, self.receive_purchase_order),
            (3, self.pay_bill),
            (4, self.rename_item),
            (3, self.void_invoice),
            (3, self.delete_invoice),
        )
        pick = self.rng.uniform(0, sum(weight for weight, _ in operations))
        for weight, operation in operations:
            pick -= weight
            if pick <= 0:
                return operation()
        return operations[0][1]()

    def _wines(self) -> list[JSON]:
        return self.client.rows(
            "SELECT * FROM Item WHERE Type = 'Inventory' MAXRESULTS 1000", "Item"
        )

    def _customers(self) -> list[JSON]:
        return self.client.rows("SELECT * FROM Customer MAXRESULTS 1000", "Customer")

    def _sale_lines(self, wines: list[JSON], most: int) -> list[JSON]:
        lines = []
        for item in self.rng.sample(wines, min(len(wines), self.rng.randint(1, most))):
            qty = self.rng.choice((1, 2, 3, 6, 12))
            price = float(item.get("UnitPrice", 0))
            lines.append(
                {
                    "Amount": round(qty * price, 2),
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": item["Id"]},
                        "Qty": qty,
                        "UnitPrice": price,
                    },
                }
            )
        return lines

    def _accounts(self, account_type: str) -> list[JSON]:
        return self.client.rows(
            f"SELECT * FROM Account WHERE AccountType = '{account_type}'", "Account"
        )

    def _recent_invoices(self) -> list[JSON]:
        return self.client.rows("SELECT * FROM Invoice ORDERBY Id DESC MAXRESULTS 60", "Invoice")

    def invoice(self) -> str:
        created = self._sale("Invoice", 3)
        if created is None:
            return "skipped an invoice (no customers or items)"
        return f"created Invoice {created['Id']} #{created['DocNumber']} for {created['TotalAmt']}"

    def _sale(self, entity: str, most: int, **extra: Any) -> JSON | None:
        customers, wines = self._customers(), self._wines()
        if not customers or not wines:
            return None
        body = {
            "CustomerRef": {"value": self.rng.choice(customers)["Id"]},
            "Line": self._sale_lines(wines, most),
            **extra,
        }
        created: JSON = self.client.call("POST", entity.lower(), body)[entity]
        return created

    def cash_sale(self) -> str:
        created = self._sale("SalesReceipt", 2, PrivateNote="Cash on delivery")
        if created is None:
            return "skipped a cash sale (no customers or items)"
        return f"created SalesReceipt {created['Id']} for {created['TotalAmt']}"

    def credit_memo(self) -> str:
        created = self._sale("CreditMemo", 1, PrivateNote="Bottles returned")
        if created is None:
            return "skipped a credit memo (no customers or items)"
        return f"created CreditMemo {created['Id']}, a credit of {created['TotalAmt']}"

    def refund(self) -> str:
        banks = self._accounts("Bank")
        if not banks:
            return "skipped a refund (no bank account)"
        created = self._sale(
            "RefundReceipt", 1, DepositToAccountRef={"value": banks[0]["Id"]}, PrivateNote="Refund"
        )
        if created is None:
            return "skipped a refund (no customers or items)"
        return f"created RefundReceipt {created['Id']} of {created['TotalAmt']}"

    def estimate(self) -> str:
        created = self._sale("Estimate", 3)
        if created is None:
            return "skipped an estimate (no customers or items)"
        return f"created Estimate {created['Id']} for {created['TotalAmt']}"

    def _supplier(self) -> JSON | None:
        vendors = self.client.rows("SELECT * FROM Vendor MAXRESULTS 1000", "Vendor")
        for vendor in vendors:
            if "Une Femme" in str(vendor.get("DisplayName")):
                return vendor
        return vendors[0] if vendors else None

    def purchase_order(self) -> str:
        vendor, wines = self._supplier(), self._wines()
        if vendor is None or not wines:
            return "skipped a purchase order (no vendor or items)"
        lines = []
        for item in self.rng.sample(wines, min(len(wines), self.rng.randint(1, 4))):
            qty = 12 * self.rng.choice((1, 2, 5))
            cost = float(item.get("PurchaseCost") or item.get("UnitPrice") or 0)
            lines.append(
                {
                    "Amount": round(qty * cost, 2),
                    "DetailType": "ItemBasedExpenseLineDetail",
                    "ItemBasedExpenseLineDetail": {
                        "ItemRef": {"value": item["Id"]},
                        "Qty": qty,
                        "UnitPrice": cost,
                    },
                }
            )
        body = {"VendorRef": {"value": vendor["Id"]}, "Line": lines}
        created = self.client.call("POST", "purchaseorder", body)["PurchaseOrder"]
        return f"ordered PurchaseOrder {created['Id']} #{created['DocNumber']}"

    def receive_purchase_order(self) -> str:
        orders = self.client.rows(
            "SELECT * FROM PurchaseOrder WHERE POStatus = 'Open' MAXRESULTS 20", "PurchaseOrder"
        )
        if not orders:
            return "skipped a receipt (no open purchase order)"
        order = self.rng.choice(orders)
        lines = [
            {key: line[key] for key in ("Amount", "DetailType", line["DetailType"])}
            for line in order["Line"]
        ]
        body = {
            "VendorRef": {"value": order["VendorRef"]["value"]},
            "Line": lines,
            "LinkedTxn": [{"TxnId": order["Id"], "TxnType": "PurchaseOrder"}],
        }
        created = self.client.call("POST", "bill", body)["Bill"]
        return f"received PurchaseOrder {order['Id']} on Bill {created['Id']}"

    def pay_bill(self) -> str:
        bills = self.client.rows("SELECT * FROM Bill WHERE Balance > '0' MAXRESULTS 20", "Bill")
        banks = self._accounts("Bank")
        if not bills or not banks:
            return "skipped a bill payment (no open bill or bank account)"
        bill = self.rng.choice(bills)
        body = {
            "VendorRef": {"value": bill["VendorRef"]["value"]},
            "PayType": "Check",
            "CheckPayment": {"BankAccountRef": {"value": banks[0]["Id"]}},
            "TotalAmt": bill["Balance"],
            "Line": [
                {"Amount": bill["Balance"], "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]}
            ],
        }
        created = self.client.call("POST", "billpayment", body)["BillPayment"]
        return f"paid Bill {bill['Id']} with BillPayment {created['Id']}"

    def payment(self) -> str:
        open_invoices = [i for i in self._recent_invoices() if float(i.get("Balance", 0)) > 0]
        if not open_invoices:
            return "skipped a payment (no open invoice)"
        invoice = self.rng.choice(open_invoices)
        balance = float(invoice["Balance"])
        amount = balance if self.rng.random() < 0.8 else round(balance / 2, 2)
        body = {
            "CustomerRef": {"value": invoice["CustomerRef"]["value"]},
            "TotalAmt": amount,
            "Line": [
                {"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}
            ],
        }
        created = self.client.call("POST", "payment", body)["Payment"]
        return f"created Payment {created['Id']} of {amount} on Invoice {invoice['Id']}"

    def stock_receipt(self) -> str:
        wines = self._wines()
        accounts = self.client.rows(
            "SELECT * FROM Account WHERE AccountType = 'Cost of Goods Sold'", "Account"
        )
        if not wines or not accounts:
            return "skipped a stock receipt (no inventory items)"
        received = self.rng.sample(wines, min(len(wines), self.rng.randint(1, 3)))
        body = {
            "AdjustAccountRef": {"value": accounts[-1]["Id"]},
            "PrivateNote": "Stock receipt",
            "Line": [
                {
                    "DetailType": "ItemAdjustmentLineDetail",
                    "ItemAdjustmentLineDetail": {
                        "ItemRef": {"value": item["Id"]},
                        "QtyDiff": self.rng.choice((12, 24, 48)),
                    },
                }
                for item in received
            ],
        }
        created = self.client.call("POST", "inventoryadjustment", body)["InventoryAdjustment"]
        return f"received stock on {len(received)} items (InventoryAdjustment {created['Id']})"

    def rename_item(self) -> str:
        wines = [w for w in self._wines() if not w.get("ParentRef")]
        if not wines:
            return "skipped a rename (no items)"
        item = self.rng.choice(wines)
        suffix = " (Reserve)"
        name = item["Name"]
        new_name = name[: -len(suffix)] if name.endswith(suffix) else (name + suffix)[:100]
        try:
            self.client.call(
                "POST",
                "item",
                {
                    "Id": item["Id"],
                    "SyncToken": item["SyncToken"],
                    "sparse": True,
                    "Name": new_name,
                },
            )
        except ApiError as error:
            return f"rename of Item {item['Id']} refused ({error})"
        return f"renamed Item {item['Id']} to {new_name!r}"

    def _undo_invoice(self, operation: str) -> str:
        invoices = [i for i in self._recent_invoices() if float(i.get("TotalAmt", 0)) > 0]
        if not invoices:
            return f"skipped a {operation} (no invoice)"
        invoice = self.rng.choice(invoices)
        self.client.call(
            "POST",
            "invoice",
            {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]},
            operation=operation,
        )
        return f"{operation}d Invoice {invoice['Id']}".replace("voidd", "voided")

    def void_invoice(self) -> str:
        return self._undo_invoice("void")

    def delete_invoice(self) -> str:
        return self._undo_invoice("delete")


def _wait_for_status(base_url: str, timeout: float = 120.0) -> JSON:
    """The sandbox's status, waiting for it to come up: the demo starts both together."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, _, raw = _http("GET", f"{base_url}/_sandbox/status")
            if status == 200:
                found: JSON = json.loads(raw)
                return found
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"activity: no qbo_sandbox answering at {base_url}")
        time.sleep(1)


def run(args: argparse.Namespace) -> int:
    base_url = args.base_url.rstrip("/")
    realms = args.realm
    if not realms:
        realms = [company["realm_id"] for company in _wait_for_status(base_url)["companies"]]
    rng = random.Random(args.seed)
    drivers = [
        Activity(Client(base_url, realm, args.client_id, args.client_secret), rng)
        for realm in realms
    ]
    interval = 60.0 / args.per_minute
    deadline = time.monotonic() + args.duration if args.duration > 0 else None
    print(
        f"activity: {len(drivers)} companies, {args.per_minute:g} operations per minute", flush=True
    )
    try:
        while deadline is None or time.monotonic() < deadline:
            started = time.monotonic()
            driver = rng.choice(drivers)
            try:
                outcome = driver.step()
            except ApiError as error:
                outcome = f"refused: {error}"
            print(f"activity realm={driver.client.realm_id} {outcome}", flush=True)
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        pass
    return 0
