"""The sandbox's books read and changed over plain HTTP, independently of sync's client.

What the mirror is compared with: every row of every mirrored entity, paged with
STARTPOSITION (not the importer's keyset paging), parsed with ``Decimal``, through its own
token (a separate grant, minted by the sandbox's control endpoint).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import requests
from django.db.models import Sum
from django.utils import timezone

from billing.models import QBOInvoice, QBOPayment
from common import mirror
from sync.clients.qbo import TokenSet
from sync.crypto import Secret
from sync.models import QBOConnection

if TYPE_CHECKING:
    from accounts.models import Partner
    from qbo_sandbox.testing import SandboxProcess

TIMEOUT = 30.0
# Every mirrored entity's model, from the registry the sync itself uses: an entity added
# to the mirror is compared with QuickBooks without a change here.
MODELS: dict[str, Any] = {spec.entity: spec.model for spec in mirror.specs()}


@dataclass
class Books:
    sandbox: SandboxProcess
    realm_id: str
    token: str = ""
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.token = self.sandbox.mint_tokens(self.realm_id)["access_token"]

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(
            method,
            f"{self.sandbox.api_url}/company/{self.realm_id}/{path}",
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
            timeout=TIMEOUT,
            **kwargs,
        )
        if response.status_code == 429:
            time.sleep(float(response.headers.get("Retry-After", "1")))
            return self._request(method, path, **kwargs)
        assert response.status_code == 200, (method, path, response.status_code, response.text)
        return json.loads(response.text, parse_float=Decimal)

    def query(self, statement: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "query", params={"query": statement})
        return dict(result["QueryResponse"])

    def all(self, entity: str) -> list[dict[str, Any]]:
        # Name lists hide inactive rows unless asked; the mirror keeps them.
        scope = " WHERE Active IN (true, false)" if entity in ("Customer", "Item", "Vendor") else ""
        fields = "*, Sku" if entity == "Item" else "*"
        rows: list[dict[str, Any]] = []
        while True:
            page = self.query(
                f"SELECT {fields} FROM {entity}{scope} STARTPOSITION {len(rows) + 1} "
                "MAXRESULTS 1000"
            ).get(entity, [])
            rows.extend(page)
            if len(page) < 1000:
                return rows

    def post(self, entity: str, body: dict[str, Any], **params: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "POST", entity.lower(), params={"minorversion": "75", **params}, json=body
        )
        return result

    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"{entity.lower()}/{entity_id}")
        return dict(result[entity])

    def batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result: dict[str, Any] = self._request(
            "POST", "batch", json={"BatchItemRequest": items}, params={"minorversion": "75"}
        )
        return list(result["BatchItemResponse"])


@dataclass(frozen=True)
class Figures:
    """What must agree between QuickBooks and the mirror, to the cent."""

    versions: dict[str, dict[str, str]]  # entity -> {qbo id: SyncToken}
    invoice_total: Decimal
    invoice_balance: Decimal
    payment_total: Decimal
    payment_unapplied: Decimal

    @property
    def counts(self) -> dict[str, int]:
        return {entity: len(rows) for entity, rows in self.versions.items()}


def _sum(rows: list[dict[str, Any]], key: str) -> Decimal:
    return sum((Decimal(str(row.get(key, 0))) for row in rows), Decimal("0")).quantize(
        Decimal("0.01")
    )


def upstream(books: Books) -> Figures:
    rows = {entity: books.all(entity) for entity in mirror.entities()}
    return Figures(
        versions={
            entity: {str(r["Id"]): str(r["SyncToken"]) for r in entity_rows}
            for entity, entity_rows in rows.items()
        },
        invoice_total=_sum(rows["Invoice"], "TotalAmt"),
        invoice_balance=_sum(rows["Invoice"], "Balance"),
        payment_total=_sum(rows["Payment"], "TotalAmt"),
        payment_unapplied=_sum(rows["Payment"], "UnappliedAmt"),
    )


def mirrored(connection: QBOConnection) -> Figures:
    def total(model: Any, column: str) -> Decimal:
        value = model.objects.filter(connection=connection).aggregate(s=Sum(column))["s"]
        return (value or Decimal("0")).quantize(Decimal("0.01"))

    return Figures(
        versions={
            entity: dict(
                model.objects.filter(connection=connection).values_list("qbo_id", "sync_token")
            )
            for entity, model in MODELS.items()
        },
        invoice_total=total(QBOInvoice, "total_amt"),
        invoice_balance=total(QBOInvoice, "balance"),
        payment_total=total(QBOPayment, "total_amt"),
        payment_unapplied=total(QBOPayment, "unapplied_amt"),
    )


def connection_for(
    sandbox: SandboxProcess, partner: Partner, realm_id: str, **fields: Any
) -> QBOConnection:
    """A connected connection with freshly minted tokens, as if the partner had consented."""
    minted = sandbox.mint_tokens(realm_id)
    now = timezone.now()
    tokens = TokenSet(
        access_token=minted["access_token"],
        refresh_token=minted["refresh_token"],
        access_expires_at=now + timedelta(seconds=int(minted["expires_in"])),
        refresh_expires_at=now + timedelta(seconds=int(minted["x_refresh_token_expires_in"])),
    )
    values: dict[str, Any] = {
        "partner": partner,
        "realm_id": realm_id,
        "access_token": Secret(tokens.access_token),
        "access_token_expires_at": tokens.access_expires_at,
        "refresh_token": Secret(tokens.refresh_token),
        "refresh_token_expires_at": tokens.refresh_expires_at,
        "next_sync_at": now + timedelta(minutes=5),
    }
    connection: QBOConnection = QBOConnection.objects.create(**{**values, **fields})
    return connection


def stats(sandbox: SandboxProcess) -> dict[str, Any]:
    result: dict[str, Any] = sandbox.control("GET", "/_sandbox/status")["stats"]
    return result
