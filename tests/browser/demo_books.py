"""qbo_sandbox's three demo companies, synced into unefemme the way production gets there.

What the page walk and the export totals stand on (``demo_books`` in conftest.py):

- Une Femme's demo catalog first, so the SKU mapping that runs after each sync has codes
  to match (as ``demo_setup`` leaves a fresh install);
- each demo distributor as a partner with a partner user, connected to its company with
  ``connection_connect``: what the OAuth callback calls once the partner has consented
  (the consent itself is tests/browser/test_connect_quickbooks.py's subject), which
  enqueues the real import for the real worker;
- a staff member and an admin;
- warehouse snapshots for every mapped SKU of every partner, plus one SKU nobody mapped:
  three earlier days pushed by the warehouse system over HTTP with its API token, today's
  uploaded as a CSV file by the admin. Their quantities straddle QuickBooks' (equal, more,
  fewer) so every discrepancy status has rows.

The DB is flushed after each test (the live server needs ``transaction=True``), so this
runs once per test; the three imports run side by side on the worker.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

import requests
from django.urls import reverse
from django.utils import timezone

from accounts.demo import DEMO_PARTNERS
from accounts.models import Partner, User
from accounts.roles import Role
from inventory.catalog.models import CatalogSKU
from inventory.catalog.services import catalog_demo_load
from inventory.mapping.models import QBOItem, SKUMapping
from inventory.warehouse import services as warehouse
from sync import locks, services
from sync.clients.qbo import TokenSet
from sync.models import QBOConnection, SyncRun
from tests.browser.conftest import wait_for
from tests.factories import PartnerFactory, UserFactory, partner_user
from tests.sync.books import Books

if TYPE_CHECKING:
    from tests.browser.conftest import LiveApp

IMPORT_TIMEOUT_S = 120.0
# Earlier warehouse days, pushed over the API: the discrepancy trend's points.
HISTORY_DAYS = (21, 14, 7)
UPLOAD_NAME = "warehouse-today.csv"


@dataclass(frozen=True)
class Company:
    """One demo distributor: its partner, a partner user, its QuickBooks company."""

    partner: Partner
    user: User
    realm: str
    connection: QBOConnection
    books: Books  # the company read over plain HTTP with a token of its own

    @property
    def name(self) -> str:
        return self.partner.name


@dataclass(frozen=True)
class DemoBooks:
    companies: list[Company]
    staff: User
    admin: User
    # (partner slug, SKU code) -> today's warehouse bottles
    warehouse_today: dict[tuple[str, str], Decimal]
    # (partner slug, SKU code) pairs with a snapshot and no mapping
    unmapped: set[tuple[str, str]]

    def company(self, slug: str) -> Company:
        [found] = [c for c in self.companies if c.partner.slug == slug]
        return found


# --- the companies as QuickBooks has them, read over HTTP ------------------------------------


def dec(value: Any) -> Decimal:
    """A QuickBooks amount as Decimal: whole amounts arrive as JSON integers, others as
    numbers (parsed as Decimal by Books) or strings."""
    return Decimal(str(value)) if value is not None else Decimal(0)


def select_all(books: Books, entity: str, where: str = "") -> list[dict[str, Any]]:
    """Every row of a query, paged with STARTPOSITION and MAXRESULTS (QuickBooks' own
    paging; the importer pages by Id instead)."""
    rows: list[dict[str, Any]] = []
    while True:
        page = books.query(
            f"SELECT * FROM {entity} {where} STARTPOSITION {len(rows) + 1} MAXRESULTS 1000"
        ).get(entity, [])
        rows.extend(page)
        if len(page) < 1000:
            return rows


def is_voided(txn: dict[str, Any]) -> bool:
    # QuickBooks keeps a voided transaction with zeroed amounts and "Voided" in its note.
    return str(txn.get("PrivateNote") or "").lower().startswith("voided") and not dec(
        txn.get("TotalAmt")
    )


def applied_amount(payment: dict[str, Any]) -> Decimal:
    """The money a payment applied to invoices: its lines that link an invoice, less the
    credit memos it used to pay them (credit is not money received)."""

    def linked(kind: str) -> Decimal:
        return sum(
            (
                dec(line.get("Amount"))
                for line in payment.get("Line") or []
                if any(link.get("TxnType") == kind for link in line.get("LinkedTxn") or [])
            ),
            Decimal(0),
        )

    return linked("Invoice") - linked("CreditMemo")


@dataclass(frozen=True)
class Upstream:
    """One company's open receivables (invoices, and the credits that offset them: credit
    memos with credit left, payments with money unapplied), payments and items, as its
    QuickBooks answers now."""

    open_invoices: list[dict[str, Any]]
    open_credits: list[dict[str, Any]]
    unapplied_payments: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    items: dict[str, dict[str, Any]]  # by Id, inactive ones included

    @property
    def open_items(self) -> int:
        return len(self.open_invoices) + len(self.open_credits) + len(self.unapplied_payments)

    @property
    def open_balance(self) -> Decimal:
        """What the customers owe, net: open invoices less credit left and money unapplied
        (QuickBooks' AgedReceivables counts both as credits)."""
        return (
            sum((dec(i["Balance"]) for i in self.open_invoices), Decimal(0))
            - sum((remaining_credit(c) for c in self.open_credits), Decimal(0))
            - sum((dec(p.get("UnappliedAmt")) for p in self.unapplied_payments), Decimal(0))
        )

    @property
    def open_total(self) -> Decimal:
        """The documents' totals, credits negative, as the open-items export lists them."""
        return sum((dec(i["TotalAmt"]) for i in self.open_invoices), Decimal(0)) - sum(
            (dec(c.get("TotalAmt")) for c in [*self.open_credits, *self.unapplied_payments]),
            Decimal(0),
        )

    @property
    def received(self) -> Decimal:
        return sum((dec(p.get("TotalAmt")) for p in self.payments), Decimal(0))

    @property
    def applied(self) -> Decimal:
        return sum((applied_amount(p) for p in self.payments), Decimal(0))

    @property
    def unapplied(self) -> Decimal:
        return sum((dec(p.get("UnappliedAmt")) for p in self.payments), Decimal(0))

    def qty_on_hand(self, item_id: str) -> Decimal:
        """An item's QtyOnHand; zero for one QuickBooks no longer has or does not count."""
        return dec(self.items.get(item_id, {}).get("QtyOnHand"))


def remaining_credit(memo: dict[str, Any]) -> Decimal:
    return dec(memo.get("RemainingCredit", memo.get("Balance")))


def read_upstream(books: Books) -> Upstream:
    # Receivable today: nothing voided, nothing dated after today (the report date).
    today = timezone.localdate().isoformat()
    payments = select_all(books, "Payment")
    return Upstream(
        # Voided invoices have a zero balance, so "open" needs no other condition.
        open_invoices=[
            i
            for i in select_all(books, "Invoice", "WHERE Balance > '0'")
            if str(i.get("TxnDate") or today) <= today
        ],
        open_credits=[
            c
            for c in select_all(books, "CreditMemo")
            if remaining_credit(c) > 0
            and not is_voided(c)
            and str(c.get("TxnDate") or today) <= today
        ],
        unapplied_payments=[
            p
            for p in payments
            if dec(p.get("UnappliedAmt")) > 0
            and not is_voided(p)
            and str(p.get("TxnDate") or today) <= today
        ],
        payments=payments,
        items={
            str(item["Id"]): item
            for item in select_all(books, "Item", "WHERE Active IN (true, false)")
        },
    )


# --- set-up ----------------------------------------------------------------------------------


def _tokens(app: LiveApp, realm: str) -> TokenSet:
    minted = app.sandbox.mint_tokens(realm)
    now = timezone.now()
    return TokenSet(
        access_token=minted["access_token"],
        refresh_token=minted["refresh_token"],
        access_expires_at=now + timedelta(seconds=int(minted["expires_in"])),
        refresh_expires_at=now + timedelta(seconds=int(minted["x_refresh_token_expires_in"])),
    )


def _synced(connection: QBOConnection) -> bool:
    """The import succeeded and its task is over: the SKU mapping runs after the run is
    marked succeeded, and the realm's lease is released only after that."""
    succeeded = SyncRun.objects.filter(
        connection=connection, kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.SUCCEEDED
    ).exists()
    return succeeded and not locks.realm_lock_held(realm_id=connection.realm_id)


def _connect(app: LiveApp) -> list[Company]:
    realms = {name: realm for realm, name in app.sandbox.realms.items()}
    companies = []
    for name, slug, contact in DEMO_PARTNERS:
        partner = PartnerFactory(name=name, slug=slug, contact_email=contact)
        user = partner_user(partner, email=f"buyer@{slug}.test")
        realm = realms[name]
        # What the OAuth callback does with the code it exchanged; the import is enqueued
        # on commit and the worker runs it.
        connection = services.connection_connect(
            partner=partner, realm_id=realm, tokens=_tokens(app, realm), user=user
        )
        companies.append(Company(partner, user, realm, connection, Books(app.sandbox, realm)))
    for company in companies:
        wait_for(
            partial(_synced, company.connection),
            timeout=IMPORT_TIMEOUT_S,
            what=f"the import of {company.name}",
        )
        company.connection.refresh_from_db()
        assert not company.connection.last_error, company.connection.last_error
    return companies


def qbo_bottles_by_sku(connection: QBOConnection) -> dict[str, Decimal]:
    """SKU code -> bottles QuickBooks holds (mirror quantities × the mapping's bottles per
    unit). Only to choose warehouse quantities near QuickBooks'; never an expected
    figure."""
    on_hand = dict(
        QBOItem.objects.filter(connection=connection).values_list("qbo_id", "qty_on_hand")
    )
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for mapping in SKUMapping.objects.filter(connection=connection).select_related("catalog_sku"):
        qty = on_hand.get(mapping.item_qbo_id) or Decimal(0)
        totals[mapping.catalog_sku.code] += qty * mapping.bottles_per_unit
    return dict(totals)


def _warehouse_quantities(
    companies: list[Company],
) -> tuple[dict[tuple[str, str], Decimal], set[tuple[str, str]]]:
    """Today's warehouse bottles per (partner slug, SKU): equal to QuickBooks', or a tenth
    and 5 bottles fewer (QuickBooks over), or more (under), in turn, so each status is
    well outside the tolerance; for each partner one catalog SKU it has not mapped, when
    there is one (an "unmapped" row)."""
    codes = list(CatalogSKU.objects.order_by("code").values_list("code", flat=True))
    tenth = Decimal("0.1")
    today: dict[tuple[str, str], Decimal] = {}
    unmapped: set[tuple[str, str]] = set()
    for company in companies:
        slug = company.partner.slug
        qbo = qbo_bottles_by_sku(company.connection)
        for index, code in enumerate(sorted(qbo)):
            bottles = qbo[code].quantize(Decimal(1))
            shift = (Decimal(0), -(bottles * tenth + 5), bottles * tenth + 5)[index % 3]
            today[(slug, code)] = max(bottles + shift, Decimal(0)).quantize(Decimal(1))
        missing = [code for code in codes if code not in qbo]
        if missing:
            today[(slug, missing[0])] = Decimal(60)
            unmapped.add((slug, missing[0]))
    return today, unmapped


def _push_history(
    app: LiveApp, companies: list[Company], admin: User, today_qty: dict[tuple[str, str], Decimal]
) -> None:
    """The warehouse system's pushes of earlier days: one token per partner, one request
    per day, over HTTP to the live server's API."""
    today = timezone.localdate()
    url = app.url + reverse("inventory:warehouse_api_snapshots")
    for company in companies:
        slug = company.partner.slug
        _, secret = warehouse.warehouse_token_issue(
            partner=company.partner, label="WMS production", user=admin
        )
        for step, days in enumerate(HISTORY_DAYS):
            lines = [
                # Each earlier day a little off today's, so the trend has a shape.
                {"sku": code, "bottles": str(bottles + 6 * (len(HISTORY_DAYS) - step))}
                for (partner, code), bottles in sorted(today_qty.items())
                if partner == slug
            ]
            response = requests.post(
                url,
                data=json.dumps({"as_of": (today - timedelta(days=days)).isoformat(),
                                 "lines": lines}),
                headers={
                    "Authorization": f"Bearer {secret}",
                    "Idempotency-Key": str(uuid.uuid4()),
                    "Content-Type": "application/json",
                },
                timeout=30,
            )  # fmt: skip
            assert response.status_code in (200, 201), (response.status_code, response.text)


def _upload_today(admin: User, today_qty: dict[tuple[str, str], Decimal]) -> None:
    """Today's quantities as the admin's CSV upload, previewed and confirmed."""
    today: date = timezone.localdate()
    rows = ["partner,sku,as_of,bottles"] + [
        f"{slug},{code},{today.isoformat()},{bottles}"
        for (slug, code), bottles in sorted(today_qty.items())
    ]
    upload = warehouse.warehouse_upload_create(
        user=admin, filename=UPLOAD_NAME, content=("\n".join(rows) + "\n").encode()
    )
    result = warehouse.warehouse_upload_confirm(
        upload_id=upload.pk, user=admin, sha256=upload.sha256
    )
    assert result.applied and result.plan.count("error") == 0, result.plan.counts


def demo_books_synced(app: LiveApp) -> DemoBooks:
    catalog_demo_load()
    staff = UserFactory(email="finance@unefemme.test", role=Role.STAFF)
    admin = UserFactory(email="owner@unefemme.test", role=Role.ADMIN)
    companies = _connect(app)
    today_qty, unmapped = _warehouse_quantities(companies)
    _push_history(app, companies, admin, today_qty)
    _upload_today(admin, today_qty)
    return DemoBooks(
        companies=companies,
        staff=staff,
        admin=admin,
        warehouse_today=today_qty,
        unmapped=unmapped,
    )
