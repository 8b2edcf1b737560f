"""Seeds: `empty` (accounts, payment methods, terms, preferences) and `demo` (three wine
distributors with six months of history), deterministic from the seed number.

Name lists (accounts, items, customers) go through the normal create path. The
transactions, which `--scale` multiplies (scale 250 is about 100,000 invoices per
company), are planned in memory, priced and balanced with the same rule functions the
API uses (`accounting.sales_lines`, `finish_invoice`, `applications`, `stock_effect`,
`void_invoice`), and written with one executemany.
"""

from __future__ import annotations

import gc
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from qbo_sandbox import books as verbs
from qbo_sandbox.accounting import (
    applications,
    finish_invoice,
    sales_lines,
    stock_effect,
    void_invoice,
)
from qbo_sandbox.books import SPECS, Books
from qbo_sandbox.common import COMPANY_TZ, JSON, company_today, money, now_ms, num, qbo_time
from qbo_sandbox.entities import USD, full_preferences
from qbo_sandbox.seed_data import (
    CHART_OF_ACCOUNTS,
    CITIES,
    COMPANY_CITIES,
    COMPANY_NAMES,
    CREMANTS,
    CUSTOMER_FIRST,
    CUSTOMER_KIND,
    FAMILY_NAMES,
    GIVEN_NAMES,
    NOTABLE_CUSTOMERS,
    OTHER_WINES,
    PAYMENT_METHODS,
    RETIRED_WINES,
    STREETS,
    TERMS,
    UNE_FEMME,
    VENDORS,
)
from qbo_sandbox.store import Row, Store, Tx

# Realm ids are 16-digit numbers, like Intuit's sandbox companies.
REALM_BASE = 9130_3500_0000_0000
HISTORY_DAYS = 182
INVOICES_PER_COMPANY = 400


def seed_store(store: Store, kind: str, seed_number: int, scale: float) -> list[tuple[str, str]]:
    """Seed a state file that has no companies yet; return every company."""
    with store.transaction() as tx:
        if not tx.companies():
            for _ in range(3 if kind == "demo" else 1):
                create_company(tx, kind, seed_number=seed_number, scale=scale)
        return tx.companies()


def create_company(
    tx: Tx, kind: str, *, seed_number: int, scale: float = 1.0, name: str | None = None
) -> tuple[str, str]:
    """Add one company: the next free realm id of this seed number, deterministic content."""
    base = REALM_BASE + (seed_number % 1_000_000) * 1000
    number = 1
    while tx.company_exists(str(base + number)):
        number += 1
    realm_id = str(base + number)
    slot = (number - 1) % len(COMPANY_NAMES)
    name = name or COMPANY_NAMES[slot]
    rng = random.Random(f"qbo_sandbox:{seed_number}:{number}")
    tx.add_company(realm_id, name, now_ms())
    seeder = _Seeder(tx, realm_id, name, rng, scale, COMPANY_CITIES[slot])
    seeder.basics()
    if kind == "demo":
        # The demo allocates millions of small dicts at large scales and frees none of
        # them until it is done; cyclic garbage collection would only rescan them.
        collecting = gc.isenabled()
        gc.disable()
        try:
            seeder.demo()
        finally:
            if collecting:
                gc.enable()
    return realm_id, name


def _ms(day: date, seconds: int) -> int:
    moment = datetime.combine(day, time(), COMPANY_TZ) + timedelta(seconds=seconds)
    return int(moment.timestamp() * 1000)


def _ref(obj: JSON) -> JSON:
    return {"value": obj["Id"], "name": verbs.display_name(obj)}


@dataclass
class _Plan:
    """A transaction before ids are assigned."""

    entity: str
    ms: int
    doc: JSON
    id: int = 0
    updated_ms: int = 0
    fate: str = "live"  # "live", "void" or "deleted"
    links: list[tuple[_Plan, Decimal]] = field(default_factory=list)  # payments: invoices


class _Seeder:
    def __init__(
        self,
        tx: Tx,
        realm_id: str,
        name: str,
        rng: random.Random,
        scale: float,
        address: tuple[str, str, str, str],
    ) -> None:
        self.tx = tx
        self.realm_id = realm_id
        self.name = name
        self.rng = rng
        self.scale = scale
        self.address = address
        self.today = company_today()
        self.start = self.today - timedelta(days=HISTORY_DAYS)
        self.now = now_ms()
        # Name lists "exist" from a week before the six months of history.
        self.books = Books(tx, realm_id, now=_ms(self.start - timedelta(days=7), 9 * 3600))
        self.accounts: dict[str, JSON] = {}
        self.terms: dict[str, JSON] = {}
        self.methods: list[JSON] = []
        self._midnights: dict[date, int] = {}

    def create(self, entity: str, body: JSON) -> JSON:
        return verbs.create(self.books, entity, body)

    # ------------------------------------------------------------ every company

    def basics(self) -> None:
        line1, city, state, postal = self.address
        addr = {
            "Line1": line1,
            "City": city,
            "CountrySubDivisionCode": state,
            "PostalCode": postal,
            "Country": "US",
        }
        slug = "".join(c for c in self.name.lower() if c.isascii() and c.isalnum())[:24]
        info = {
            "Id": "1",
            "CompanyName": self.name,
            "LegalName": f"{self.name} LLC",
            "CompanyAddr": addr,
            "CustomerCommunicationAddr": addr,
            "LegalAddr": addr,
            "PrimaryPhone": {"FreeFormNumber": f"(503) 555-{self.rng.randint(1000, 9999)}"},
            "CompanyStartDate": (self.start - timedelta(days=400)).isoformat(),
            "FiscalYearStartMonth": "January",
            "Country": "US",
            "Email": {"Address": f"accounts@{slug}.example.com"},
            "WebAddr": {"URI": f"https://www.{slug}.example.com"},
            "SupportedLanguages": "en",
            "NameValue": [
                {"Name": "NeoEnabled", "Value": "true"},
                {"Name": "IndustryType", "Value": "Beer, Wine & Liquor Wholesalers"},
                {"Name": "CompanyType", "Value": "LLC"},
                {"Name": "SubscriptionStatus", "Value": "SUBSCRIBED"},
                {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"},
                {"Name": "ItemCategoriesFeature", "Value": "true"},
            ],
        }
        self.books.save("CompanyInfo", info, None, "Create")
        for account_name, account_type, subtype in CHART_OF_ACCOUNTS:
            self.accounts[account_name] = self.create(
                "Account",
                {"Name": account_name, "AccountType": account_type, "AccountSubType": subtype},
            )
        for method, kind in PAYMENT_METHODS:
            self.methods.append(self.create("PaymentMethod", {"Name": method, "Type": kind}))
        for term, days in TERMS:
            self.terms[term] = self.create("Term", {"Name": term, "DueDays": days})
        preferences = {
            "Id": "1",
            "AccountingInfoPrefs": {
                "TrackDepartments": False,
                "ClassTrackingPerTxn": False,
                "CustomerTerminology": "Customers",
                "FirstMonthOfFiscalYear": "January",
            },
            "ProductAndServicesPrefs": {
                "ForSales": True,
                "ForPurchase": True,
                "QuantityWithPriceAndRate": True,
                "QuantityOnHand": True,
            },
            "SalesFormsPrefs": {
                "CustomTxnNumbers": False,
                "AllowDiscount": True,
                "AllowDeposit": False,
                "AllowShipping": False,
                "DefaultTerms": _ref(self.terms["Net 30"]),
                "DefaultDiscountAccount": self.accounts["Discounts Given"]["Id"],
            },
            "VendorAndPurchasesPrefs": {
                "TrackingByCustomer": False,
                "BillableExpenseTracking": False,
            },
            "TaxPrefs": {"UsingSalesTax": False},
            "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}},
            "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
            "TimeTrackingPrefs": {"UseServices": False, "WorkWeekStartDate": "Monday"},
            "EmailMessagesPrefs": {
                "InvoiceMessage": {
                    "Subject": f"Invoice from {self.name}",
                    "Message": "Thank you for your business.",
                }
            },
            "OtherPrefs": {
                "NameValue": [
                    {"Name": "SalesFormsPrefs.DefaultCustomerMessage", "Value": "Cheers!"}
                ]
            },
        }
        # Every other standard block and key, as QBO answers them (entities.py).
        preferences = full_preferences(self.books, preferences)
        self.books.save("Preferences", preferences, None, "Create")

    # ------------------------------------------------------------ the demo

    def demo(self) -> None:
        vendors = [self.create("Vendor", {"DisplayName": v, "CompanyName": v}) for v in VENDORS]
        items = self._items()
        customers = self._customers()
        plans = self._invoices(items, customers)
        plans += self._payments([p for p in plans if p.fate == "live"], customers)
        plans += self._stock_receipts(items)
        plans += self._bills(vendors[1])
        self._write(plans, items, customers)

    def _inventory_body(self, name: str, price: str, sku: str | None, description: str) -> JSON:
        body: JSON = {
            "Name": name,
            "Type": "Inventory",
            "TrackQtyOnHand": True,
            "QtyOnHand": 0,
            "InvStartDate": (self.start - timedelta(days=7)).isoformat(),
            "UnitPrice": float(price),
            "PurchaseCost": float(money(Decimal(price) * Decimal("0.62"))),
            "Description": description,
            "IncomeAccountRef": _ref(self.accounts["Sales of Product Income"]),
            "AssetAccountRef": _ref(self.accounts["Inventory Asset"]),
            "ExpenseAccountRef": _ref(self.accounts["Cost of Goods Sold"]),
        }
        if sku:
            body["Sku"] = sku
        return body

    def _items(self) -> list[JSON]:
        rng = self.rng
        bodies: list[JSON] = []
        for wine in UNE_FEMME:
            shape = rng.choice(("bottle", "case", "both", "both"))
            bottle = f"Une Femme {wine.label} {wine.vintage} {wine.ml}ml"
            case = f"Une Femme {wine.short} {wine.vintage} {wine.ml}ml - Case of {wine.per_case}"
            case_price = str(Decimal(wine.price) * wine.per_case)
            description = f'Une Femme "{wine.label}", {wine.vintage}, {wine.ml} ml'
            # Most items carry the catalog code; some only match by name.
            # The Blanc de Blancs bottle always carries its code: the "Library Release"
            # below collides with it.
            with_sku = rng.random() < 0.7 or wine.code == "UF-BDB-2021-750"
            if shape in ("bottle", "both"):
                bodies.append(
                    self._inventory_body(
                        bottle, wine.price, wine.code if with_sku else None, description
                    )
                )
            if shape in ("case", "both"):
                sku = wine.code if with_sku and shape == "case" else None
                bodies.append(
                    self._inventory_body(
                        case, case_price, sku, f"{description}, case of {wine.per_case}"
                    )
                )
        # The anomalies a sync must cope with, in every demo company: two items carrying
        # the same code, and a Juliette case carrying the Callie code.
        bodies.append(
            self._inventory_body(
                "Une Femme Blanc de Blancs 2021 750ml (Library Release)",
                "36.00",
                "UF-BDB-2021-750",
                "Library release",
            )
        )
        bodies.append(
            self._inventory_body(
                "Une Femme The Juliette Brut NV 750ml - Case of 12 (Promo)",
                "199.00",
                "UF-CAL-NV-750",
                "Promotional case",
            )
        )
        names = {body["Name"] for body in bodies}
        others = [w for w in OTHER_WINES if w[0] not in names]
        count = rng.randint(26, 48)
        chosen = others[:3] + rng.sample(others[3:], count - 3)
        for wine_name, price in chosen:
            sku = f"DST-{rng.randint(10000, 99999)}" if rng.random() < 0.5 else None
            bodies.append(self._inventory_body(wine_name, price, sku, wine_name))
        items = [self.create("Item", body) for body in bodies]
        parent = self.create("Item", {"Name": "Crémant", "Type": "Category"})
        for wine_name, price in CREMANTS:
            body = self._inventory_body(
                wine_name, price, None, f"{wine_name}, méthode traditionnelle"
            )
            items.append(self.create("Item", {**body, "ParentRef": _ref(parent), "SubItem": True}))
        income = _ref(self.accounts["Shipping & Delivery Income"])
        items.append(
            self.create(
                "Item",
                {
                    "Name": "Delivery fee",
                    "Type": "Service",
                    "UnitPrice": 25,
                    "IncomeAccountRef": income,
                },
            )
        )
        items.append(
            self.create(
                "Item",
                {
                    "Name": "Gift box (wood, 3 bottles)",
                    "Type": "NonInventory",
                    "UnitPrice": 18,
                    "IncomeAccountRef": _ref(self.accounts["Sales of Product Income"]),
                },
            )
        )
        for wine_name, price in RETIRED_WINES:
            self.create(
                "Item", {**self._inventory_body(wine_name, price, None, "Retired"), "Active": False}
            )
        return items

    def _customers(self) -> list[JSON]:
        rng = self.rng
        names = list(NOTABLE_CUSTOMERS)
        pool = [f"{first} {kind}" for first in CUSTOMER_FIRST for kind in CUSTOMER_KIND]
        names += rng.sample(pool, rng.randint(100, 130))
        terms = [self.terms["Net 30"]] * 6 + [self.terms["Net 60"], self.terms["Due on receipt"]]
        customers = []
        for number, display in enumerate(names):
            city, state, zip_prefix = rng.choice(CITIES)
            slug = "".join(c for c in display.lower() if c.isascii() and c.isalnum())[:20]
            body: JSON = {
                "DisplayName": display,
                "CompanyName": display,
                "PrimaryEmailAddr": {"Address": f"orders@{slug}.example.com"},
                "PrimaryPhone": {
                    "FreeFormNumber": f"({rng.randint(200, 989)}) 555-{rng.randint(1000, 9999)}"
                },
                "BillAddr": {
                    "Line1": f"{rng.randint(10, 4999)} {rng.choice(STREETS)} St",
                    "City": city,
                    "CountrySubDivisionCode": state,
                    "PostalCode": f"{zip_prefix}{rng.randint(10, 99)}",
                },
                "SalesTermRef": _ref(rng.choice(terms)),
            }
            if rng.random() < 0.5:
                body["GivenName"] = rng.choice(GIVEN_NAMES)
                body["FamilyName"] = rng.choice(FAMILY_NAMES)
            if number > len(NOTABLE_CUSTOMERS) and rng.random() < 0.03:
                body["Active"] = False
            customers.append(self.create("Customer", body))
        return customers

    # ------------------------------------------------------------ transactions

    def _moment(self, day: date) -> int:
        """A business-hours time on `day`, never in the future."""
        midnight = self._midnights.get(day)
        if midnight is None:
            midnight = self._midnights[day] = _ms(day, 0)
        ms = midnight + 1000 * (8 * 3600 + int(self.rng.random() * 10 * 3600))
        return min(ms, self.now - 60_000 - int(self.rng.random() * 540_000))

    def _invoices(self, items: list[JSON], customers: list[JSON]) -> list[_Plan]:
        rng = self.rng
        active = [c for c in customers if c.get("Active") is not False]
        wines = [i for i in items if i["Type"] == "Inventory"]
        une_femme = [i for i in wines if i["Name"].startswith("Une Femme")]
        delivery = next(i for i in items if i["Name"] == "Delivery fee")
        catalog = {item["Id"]: item for item in items}
        due_days = {term["Id"]: term.get("DueDays", 0) for term in self.terms.values()}
        count = max(1, round(rng.randint(380, 420) * self.scale))
        days = sorted(int(rng.random() * (HISTORY_DAYS + 1)) for _ in range(count))
        dates = [self.start + timedelta(days=offset) for offset in range(HISTORY_DAYS + 1)]
        # Up to 100,000 invoices per company: the per-invoice work avoids repeated
        # date formatting and reference building.
        iso = {day: day.isoformat() for day in dates}
        refs = {customer["Id"]: _ref(customer) for customer in active}
        bottle_sizes = (1, 2, 3, 6, 12, 24)
        plans = []
        for number, offset in enumerate(days):
            day = dates[offset]
            customer = active[int(rng.random() * len(active))]
            lines: list[JSON] = []
            pool = une_femme if rng.random() < 0.6 else wines
            for item in rng.sample(pool, 1 + int(rng.random() * 3)):
                if "Case of" in item["Name"]:
                    qty = 1 + int(rng.random() * 5)
                else:
                    qty = bottle_sizes[int(rng.random() * 6)]
                lines.append(
                    {
                        "DetailType": "SalesItemLineDetail",
                        "SalesItemLineDetail": {
                            "ItemRef": {"value": item["Id"]},
                            "Qty": qty,
                            "UnitPrice": item["UnitPrice"],
                        },
                    }
                )
            if rng.random() < 0.12:
                lines.append(
                    {
                        "DetailType": "SalesItemLineDetail",
                        "SalesItemLineDetail": {
                            "ItemRef": {"value": delivery["Id"]},
                            "Qty": 1,
                            "UnitPrice": 25,
                        },
                    }
                )
            if rng.random() < 0.05:
                lines.append(
                    {
                        "DetailType": "DiscountLineDetail",
                        "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": 10},
                    }
                )
            priced, total = sales_lines(self.books, lines, catalog)
            term = customer["SalesTermRef"]
            due = day + timedelta(days=int(due_days[term["value"]]))
            doc: JSON = {
                "CustomerRef": refs[customer["Id"]],
                "Line": priced,
                "TxnDate": iso[day],
                "DueDate": due.isoformat(),
                "DocNumber": str(1001 + number),
                "SalesTermRef": term,
                "EmailStatus": "EmailSent" if rng.random() < 0.8 else "NotSet",
                "ApplyTaxAfterDiscount": False,
            }
            plan = _Plan("Invoice", self._moment(day), doc)
            plan.doc = finish_invoice(doc, total, Decimal(0), customer)
            age = (self.today - day).days
            if age <= 25 and rng.random() < 0.06:
                plan.fate = "deleted"
            elif rng.random() < 0.02:
                plan.fate = "void"
            plans.append(plan)
        # Small scales still get a few of each: deletions within CDC's 30 days (the
        # newest invoices) and voids among the older ones.
        for fate, candidates in (
            ("deleted", plans[-12::4]),
            ("void", plans[: len(plans) // 2 : 7]),
        ):
            missing = 3 - sum(1 for plan in plans if plan.fate == fate)
            for plan in [p for p in candidates if p.fate == "live"][: max(0, missing)]:
                plan.fate = fate
        return plans

    def _payments(self, invoices: list[_Plan], customers: list[JSON]) -> list[_Plan]:
        rng = self.rng
        undeposited = _ref(self.accounts["Undeposited Funds"])
        payments: list[_Plan] = []
        last_full: dict[str, _Plan] = {}
        for invoice in invoices:
            day = date.fromisoformat(invoice.doc["TxnDate"])
            age = (self.today - day).days
            chance = rng.random()
            full, partial = (0.85, 0.93) if age > 60 else (0.55, 0.65) if age > 15 else (0.2, 0.25)
            if chance >= partial:
                continue
            total = Decimal(str(invoice.doc["TotalAmt"]))
            amount = total if chance < full else money(total * Decimal(rng.randint(30, 70)) / 100)
            pay_day = min(self.today, day + timedelta(days=rng.randint(2, 50)))
            ms = max(self._moment(pay_day), invoice.ms + 60_000)
            customer_id = invoice.doc["CustomerRef"]["value"]
            previous = last_full.pop(customer_id, None)
            if amount == total and previous is not None and rng.random() < 0.15:
                # One payment covering two invoices of the same customer.
                previous.links.append((invoice, amount))
                previous.ms = max(previous.ms, ms)
                continue
            method = rng.choice(self.methods)
            doc: JSON = {
                "CustomerRef": invoice.doc["CustomerRef"],
                "TxnDate": pay_day.isoformat(),
                "PaymentMethodRef": _ref(method),
                "DepositToAccountRef": undeposited,
                "ProcessPayment": False,
                "CurrencyRef": USD,
            }
            if method["Name"] in ("Check", "ACH"):
                doc["PaymentRefNum"] = str(rng.randint(1000, 99999))
            plan = _Plan("Payment", ms, doc, links=[(invoice, amount)])
            if amount == total:
                last_full[customer_id] = plan
            payments.append(plan)
        for plan in payments:
            applied = sum((amount for _, amount in plan.links), Decimal(0))
            # A few customers overpay, leaving a credit (UnappliedAmt).
            extra = Decimal(rng.choice((10, 25, 50, 100))) if rng.random() < 0.04 else Decimal(0)
            plan.doc["TxnDate"] = (
                datetime.fromtimestamp(plan.ms / 1000, COMPANY_TZ).date().isoformat()
            )
            plan.doc["TotalAmt"] = num(applied + extra)
            plan.doc["UnappliedAmt"] = num(extra)
        active = [c for c in customers if c.get("Active") is not False]
        for _ in range(2):
            # Prepayments: money received before any invoice, entirely unapplied.
            day = self.today - timedelta(days=rng.randint(1, 20))
            prepaid = rng.randint(2, 10) * 50
            doc = {
                "CustomerRef": _ref(rng.choice(active)),
                "TxnDate": day.isoformat(),
                "TotalAmt": prepaid,
                "UnappliedAmt": prepaid,
                "PaymentMethodRef": _ref(self.methods[1]),
                "DepositToAccountRef": undeposited,
                "ProcessPayment": False,
                "CurrencyRef": USD,
                "PrivateNote": "Prepayment",
            }
            payments.append(_Plan("Payment", self._moment(day), doc))
        return payments

    def _stock_receipts(self, items: list[JSON]) -> list[_Plan]:
        rng = self.rng
        wines = [i for i in items if i["Type"] == "Inventory"]
        shrinkage = _ref(self.accounts["Inventory Shrinkage"])
        plans = []
        for _ in range(max(1, round(26 * self.scale))):
            day = self.start + timedelta(days=rng.randint(0, HISTORY_DAYS))
            received = rng.sample(wines, rng.randint(1, 4))
            lines = [
                {
                    "Id": str(n),
                    "LineNum": n,
                    "DetailType": "ItemAdjustmentLineDetail",
                    "ItemAdjustmentLineDetail": {
                        "ItemRef": _ref(item),
                        "QtyDiff": rng.choice((12, 24, 36, 60, 120)),
                    },
                }
                for n, item in enumerate(received, start=1)
            ]
            doc = {
                "TxnDate": day.isoformat(),
                "AdjustAccountRef": shrinkage,
                "Line": lines,
                "PrivateNote": "Stock receipt",
            }
            plans.append(_Plan("InventoryAdjustment", self._moment(day), doc))
        return plans

    def _bills(self, vendor: JSON) -> list[_Plan]:
        freight = _ref(self.accounts["Freight & Delivery"])
        payable = _ref(self.accounts["Accounts Payable (A/P)"])
        plans = []
        for _ in range(max(1, round(6 * self.scale))):
            day = self.start + timedelta(days=self.rng.randint(0, HISTORY_DAYS))
            amount = num(money(Decimal(self.rng.randint(15000, 90000)) / 100))
            doc = {
                "VendorRef": _ref(vendor),
                "TxnDate": day.isoformat(),
                "DueDate": (day + timedelta(days=30)).isoformat(),
                "APAccountRef": payable,
                "Line": [
                    {
                        "Id": "1",
                        "LineNum": 1,
                        "Amount": amount,
                        "DetailType": "AccountBasedExpenseLineDetail",
                        "AccountBasedExpenseLineDetail": {"AccountRef": freight},
                    }
                ],
                "TotalAmt": amount,
                "Balance": amount,
                "CurrencyRef": USD,
            }
            plans.append(_Plan("Bill", self._moment(day), doc))
        return plans

    # ------------------------------------------------------------ writing

    def _write(self, plans: list[_Plan], items: list[JSON], customers: list[JSON]) -> None:
        rng = self.rng
        plans.sort(key=lambda p: p.ms)
        first = self.tx.next_id(self.realm_id, "Txn", len(plans))
        for offset, plan in enumerate(plans):
            plan.id = first + offset
            plan.doc["Id"] = str(plan.id)
            plan.updated_ms = plan.ms
        invoice_count = sum(1 for p in plans if p.entity == "Invoice")
        self.tx.next_id(self.realm_id, "DocNumber:Invoice", invoice_count)
        # Payments: lines, and each paid invoice's Balance, LinkedTxn and version.
        paid: dict[str, list[_Plan]] = {}
        for plan in plans:
            if plan.entity == "Payment":
                plan.doc["Line"] = [
                    {
                        "Amount": num(amount),
                        "LinkedTxn": [{"TxnId": invoice.doc["Id"], "TxnType": "Invoice"}],
                    }
                    for invoice, amount in plan.links
                ]
                for invoice, _ in plan.links:
                    paid.setdefault(invoice.doc["Id"], []).append(plan)
        by_invoice: dict[str, Decimal] = {}
        for plan in plans:
            if plan.entity == "Payment":
                for invoice_id, amount in applications(plan.doc).items():
                    by_invoice[invoice_id] = by_invoice.get(invoice_id, Decimal(0)) + amount
        party: dict[str, tuple[Decimal, int, int]] = {}  # customer -> (balance, writes, last ms)

        def touch(customer_id: str, delta: Decimal, ms: int) -> None:
            balance, writes, last = party.get(customer_id, (Decimal(0), 0, 0))
            party[customer_id] = (balance + delta, writes + 1, max(last, ms))

        rows = []
        for plan in plans:
            doc = plan.doc
            if plan.entity == "Invoice":
                payments = paid.get(doc["Id"], [])
                applied = by_invoice.get(doc["Id"], Decimal(0))
                doc["Balance"] = num(Decimal(str(doc["TotalAmt"])) - applied)
                doc["HomeBalance"] = doc["Balance"]
                doc["LinkedTxn"] = [{"TxnId": p.doc["Id"], "TxnType": "Payment"} for p in payments]
                versions = len(payments)
                plan.updated_ms = max([plan.ms, *(p.ms for p in payments)])
                customer_id = doc["CustomerRef"]["value"]
                touch(customer_id, Decimal(str(doc["TotalAmt"])), plan.ms)
                if plan.fate != "live":
                    end = min(self.now - 1000, plan.ms + rng.randint(3600_000, 5 * 86_400_000))
                    plan.updated_ms = end
                    touch(customer_id, -Decimal(str(doc["TotalAmt"])), end)
                if plan.fate == "void":
                    doc = plan.doc = void_invoice(None, doc)
                    versions += 1
                self._stamp(doc, plan, versions)
            elif plan.entity == "Payment":
                touch(doc["CustomerRef"]["value"], -Decimal(str(doc["TotalAmt"])), plan.ms)
                self._stamp(doc, plan, 0)
            else:
                self._stamp(doc, plan, 0)
            if plan.fate == "deleted":
                stub = {
                    "domain": "QBO",
                    "status": "Deleted",
                    "Id": doc["Id"],
                    "MetaData": {"LastUpdatedTime": qbo_time(plan.updated_ms)},
                }
                rows.append(
                    Row(
                        plan.entity,
                        plan.id,
                        stub,
                        active=False,
                        deleted=True,
                        updated_ms=plan.updated_ms,
                    )
                )
            else:
                rows.append(
                    Row(
                        plan.entity,
                        plan.id,
                        doc,
                        doc_number=doc.get("DocNumber") if plan.entity == "Invoice" else None,
                        updated_ms=plan.updated_ms,
                    )
                )
        self.tx.put_many(self.realm_id, rows)
        self._finish_items(items, [p for p in plans if p.fate != "deleted"])
        self._finish_customers(customers, party)

    def _stamp(self, doc: JSON, plan: _Plan, versions: int) -> None:
        doc["domain"] = "QBO"
        doc["sparse"] = False
        doc["SyncToken"] = str(versions)
        doc["MetaData"] = {
            "CreateTime": qbo_time(plan.ms),
            "LastUpdatedTime": qbo_time(plan.updated_ms),
        }

    def _finish_items(self, items: list[JSON], plans: list[_Plan]) -> None:
        """Each inventory item ends with a plausible stock; its version counts its movements."""
        moves: dict[str, tuple[int, int]] = {}  # item id -> (writes, last ms)
        for plan in plans:
            for item_id in stock_effect(plan.doc, plan.entity):
                writes, last = moves.get(str(item_id), (0, 0))
                moves[str(item_id)] = (writes + 1, max(last, plan.ms))
        rows = []
        for item in items:
            if item["Id"] not in moves or not item.get("TrackQtyOnHand"):
                continue
            writes, last = moves[item["Id"]]
            stock = (
                self.rng.choice((0, 3, 7))
                if self.rng.random() < 0.08
                else self.rng.randint(12, 480)
            )
            item.update(QtyOnHand=stock, SyncToken=str(writes))
            item["MetaData"] = {**item["MetaData"], "LastUpdatedTime": qbo_time(last)}
            rows.append(
                Row(
                    "Item",
                    int(item["Id"]),
                    item,
                    name_key=SPECS["Item"].name_key(item),
                    updated_ms=last,
                )
            )
        self.tx.put_many(self.realm_id, rows)

    def _finish_customers(
        self, customers: list[JSON], party: dict[str, tuple[Decimal, int, int]]
    ) -> None:
        rows = []
        for customer in customers:
            if customer["Id"] not in party:
                continue
            balance, writes, last = party[customer["Id"]]
            customer.update(
                Balance=num(balance), BalanceWithJobs=num(balance), SyncToken=str(writes)
            )
            customer["MetaData"] = {**customer["MetaData"], "LastUpdatedTime": qbo_time(last)}
            rows.append(
                Row(
                    "Customer",
                    int(customer["Id"]),
                    customer,
                    active=customer.get("Active") is not False,
                    name_key=SPECS["Customer"].name_key(customer),
                    updated_ms=last,
                )
            )
        self.tx.put_many(self.realm_id, rows)
