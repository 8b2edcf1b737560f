"""Seeds: `empty` (accounts, payment methods, terms, preferences) and `demo` (three wine
distributors with six months of history), deterministic from the seed number.

Name lists (accounts, items, customers, classes, employees) go through the normal create
path. The transactions, which `--scale` multiplies (scale 250 is about 100,000 invoices
per company), are planned in memory, priced and balanced with the same rule functions the
API uses (`accounting.sales_lines`, `finish_invoice`, `stock_effect`, `void_invoice`,
`zeroed`, `sales.finish_sale`), and written with one executemany. Beside the invoices and
payments: cash sales to on-premise accounts (about one sale in eight), a few credit memos
and a refund a month, estimates, purchase orders to Une Femme billed on receipt, breakage
credits, and the bill payments that settle the bills.
"""

from __future__ import annotations

import gc
import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from qbo_sandbox import books as verbs
from qbo_sandbox.accounting import (
    finish_invoice,
    sales_lines,
    stock_effect,
    void_invoice,
    zeroed,
)
from qbo_sandbox.books import SPECS, Books
from qbo_sandbox.common import COMPANY_TZ, JSON, company_today, money, now_ms, num, qbo_time
from qbo_sandbox.entities import USD, full_preferences
from qbo_sandbox.purchases import PAY_TYPES
from qbo_sandbox.sales import finish_sale
from qbo_sandbox.seed_data import (
    CHART_OF_ACCOUNTS,
    CITIES,
    CLASSES,
    COMPANY_CITIES,
    COMPANY_NAMES,
    CREMANTS,
    CUSTOMER_FIRST,
    CUSTOMER_KIND,
    CUSTOMER_TYPES,
    DEPARTMENTS,
    EMPLOYEES,
    FAMILY_NAMES,
    GIVEN_NAMES,
    KIND_CUSTOMER_TYPES,
    NOTABLE_CUSTOMER_TYPES,
    NOTABLE_CUSTOMERS,
    ON_PREMISE_KINDS,
    OTHER_WINES,
    PAYMENT_METHODS,
    RETIRED_WINES,
    RETURN_REASONS,
    STREETS,
    SUB_CLASSES,
    TAX_CODES,
    TAX_RATES,
    TERMS,
    UNE_FEMME,
    VENDORS,
)
from qbo_sandbox.store import Row, Store, Tx

# Realm ids are 16-digit numbers, like Intuit's sandbox companies.
REALM_BASE = 9130_3500_0000_0000
HISTORY_DAYS = 182
INVOICES_PER_COMPANY = 400
# The forms the company numbers itself (DocNumber from 1001, a sequence per form).
_NUMBERED = ("Invoice", "SalesReceipt", "CreditMemo", "RefundReceipt", "Estimate", "PurchaseOrder")


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
    # The documents added after the first demo (cash sales, returns, purchasing) draw
    # from their own stream, so the invoices, payments and stock that unefemme's tests
    # read come out exactly as they did before them.
    more = random.Random(f"qbo_sandbox:{seed_number}:{number}:more")
    tx.add_company(realm_id, name, now_ms())
    seeder = _Seeder(tx, realm_id, name, rng, more, scale, COMPANY_CITIES[slot])
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


def customer_type_of(display_name: str) -> str | None:
    """The CustomerType a demo customer gets, from the kind of account its name says.

    About one customer in eight gets none: those whose name's SHA-256 starts with a byte
    below 32, a choice that draws nothing from the seed's random streams (so every other
    seeded value stays as it was) and gives a name the same answer in every company.
    """
    if hashlib.sha256(display_name.encode()).digest()[0] < 32:
        return None
    if display_name in NOTABLE_CUSTOMER_TYPES:
        return NOTABLE_CUSTOMER_TYPES[display_name]
    for kind, type_name in KIND_CUSTOMER_TYPES.items():
        if display_name.endswith(f" {kind}"):
            return type_name
    return None


@dataclass
class _Plan:
    """A transaction before ids are assigned."""

    entity: str
    ms: int
    doc: JSON
    id: int = 0
    updated_ms: int = 0
    fate: str = "live"  # "live", "void" or "deleted"
    # What a document settles or receives: a payment's invoices, a bill payment's bills
    # and vendor credits, the purchase order a bill receives.
    links: list[tuple[_Plan, Decimal]] = field(default_factory=list)


class _Seeder:
    def __init__(
        self,
        tx: Tx,
        realm_id: str,
        name: str,
        rng: random.Random,
        more: random.Random,
        scale: float,
        address: tuple[str, str, str, str],
    ) -> None:
        self.tx = tx
        self.realm_id = realm_id
        self.name = name
        self.rng = rng
        self.more = more
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

    def create_internal(self, entity: str, body: JSON) -> JSON:
        """Create a row of a list the API serves read-only (CustomerType)."""
        return verbs.create(self.books, entity, body, internal=True)

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
        self._lists()
        plans += self._cash_sales(items, customers)
        plans += self._returns(items, customers)
        plans += self._estimates(items, customers)
        plans += self._purchasing(items, vendors[0], [p for p in plans if p.entity == "Bill"])
        self._write(plans, items, customers, vendors)

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
        # Customer types first (their own id sequence; read-only through the API, so the
        # seed writes them as internal creates). They draw nothing from `rng`.
        types = {
            name: self.create_internal("CustomerType", {"Name": name}) for name in CUSTOMER_TYPES
        }
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
            type_name = customer_type_of(display)
            if type_name is not None:
                body["CustomerTypeRef"] = {"value": types[type_name]["Id"]}
            customers.append(self.create("Customer", body))
        return customers

    # ------------------------------------------------------------ transactions

    def _moment(self, day: date, rng: random.Random | None = None) -> int:
        """A business-hours time on `day`, never in the future."""
        rng = rng or self.rng
        midnight = self._midnights.get(day)
        if midnight is None:
            midnight = self._midnights[day] = _ms(day, 0)
        ms = midnight + 1000 * (8 * 3600 + int(rng.random() * 10 * 3600))
        return min(ms, self.now - 60_000 - int(rng.random() * 540_000))

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

    # ------------------------------------------------------------ beyond invoices

    def _lists(self) -> None:
        """Classes (channels), departments (locations), staff and the sales-tax lists."""
        classes = {name: self.create("Class", {"Name": name}) for name in CLASSES}
        for parent, name in SUB_CLASSES:
            self.create("Class", {"Name": name, "ParentRef": _ref(classes[parent])})
        for name in DEPARTMENTS:
            self.create("Department", {"Name": name})
        slug = "".join(c for c in self.name.lower() if c.isascii() and c.isalnum())[:24]
        for number, (given, family) in enumerate(EMPLOYEES, start=1):
            email = f"{given[0].lower()}.{family.lower()}@{slug}.example.com"
            body = {
                "GivenName": given,
                "FamilyName": family,
                "EmployeeNumber": f"E-{number:03d}",
                "PrimaryEmailAddr": {"Address": email.encode("ascii", "ignore").decode()},
                "HiredDate": (self.start - timedelta(days=200 * number)).isoformat(),
            }
            self.create("Employee", body)
        # Tax codes and rates are read-only through the API: the seed stores them itself.
        effective = qbo_time(_ms(self.start - timedelta(days=400), 0))
        rates = {}
        for name, value in TAX_RATES:
            rate = {
                "Id": str(self.tx.next_id(self.realm_id, "TaxRate")),
                "Name": name,
                "Description": name,
                "Active": True,
                "RateValue": num(Decimal(value)),
                # Agency 1 is the state's tax agency (TaxAgency is not served).
                "AgencyRef": {"value": "1"},
                "SpecialTaxType": "NONE",
                "DisplayType": "ReadOnly",
                "EffectiveTaxRate": [
                    {"RateValue": num(Decimal(value)), "EffectiveDate": effective}
                ],
            }
            rates[name] = self.books.save("TaxRate", rate, None, "Create")
        for name, description, parts in TAX_CODES:
            code = {
                "Id": str(self.tx.next_id(self.realm_id, "TaxCode")),
                "Name": name,
                "Description": description,
                "Active": True,
                "Hidden": False,
                "Taxable": True,
                "TaxGroup": True,
                "SalesTaxRateList": {
                    "TaxRateDetail": [
                        {
                            "TaxRateRef": {"value": rates[part]["Id"], "name": part},
                            "TaxTypeApplicable": "TaxOnAmount",
                            "TaxOrder": 0,
                        }
                        for part in parts
                    ]
                },
                "PurchaseTaxRateList": {"TaxRateDetail": []},
            }
            self.books.save("TaxCode", code, None, "Create")

    def _count(self, low: int, high: int, least: int = 1) -> int:
        return max(least, round(self.more.randint(low, high) * self.scale))

    def _days(self, count: int) -> list[date]:
        return sorted(
            self.start + timedelta(days=int(self.more.random() * (HISTORY_DAYS + 1)))
            for _ in range(count)
        )

    def _sale_line(self, item: JSON, qty: int, description: str | None = None) -> JSON:
        line: JSON = {
            "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {
                "ItemRef": {"value": item["Id"]},
                "Qty": qty,
                "UnitPrice": item["UnitPrice"],
            },
        }
        if description:
            line["Description"] = description
        return line

    def _bottles(self, item: JSON) -> int:
        rng = self.more
        return 1 + int(rng.random() * 3) if "Case of" in item["Name"] else rng.choice((2, 3, 6, 12))

    def _cash_sales(self, items: list[JSON], customers: list[JSON]) -> list[_Plan]:
        """Cash on delivery to on-premise accounts: about one sale in eight."""
        rng = self.more
        active = [c for c in customers if c.get("Active") is not False]
        on_premise = [c for c in active if any(k in c["DisplayName"] for k in ON_PREMISE_KINDS)]
        wines = [i for i in items if i["Type"] == "Inventory"]
        catalog = {item["Id"]: item for item in items}
        methods = {method["Name"]: method for method in self.methods}
        undeposited = _ref(self.accounts["Undeposited Funds"])
        plans = []
        for number, day in enumerate(self._days(self._count(45, 55))):
            customer = rng.choice(on_premise or active)
            picked = rng.sample(wines, 1 + int(rng.random() * 2))
            lines = [self._sale_line(item, self._bottles(item)) for item in picked]
            priced, total = sales_lines(self.books, lines, catalog)
            method = methods[rng.choice(("Cash", "Check", "Check", "Visa", "MasterCard"))]
            doc: JSON = {
                "CustomerRef": _ref(customer),
                "Line": priced,
                "TxnDate": day.isoformat(),
                "DocNumber": str(1001 + number),
                "PaymentMethodRef": _ref(method),
                "DepositToAccountRef": undeposited,
                "PrivateNote": "Cash on delivery",
                "ApplyTaxAfterDiscount": False,
            }
            if method["Name"] == "Check":
                doc["PaymentRefNum"] = str(rng.randint(1000, 99999))
            plan = _Plan("SalesReceipt", self._moment(day, rng), finish_sale(
                "SalesReceipt", doc, total, customer
            ))  # fmt: skip
            if rng.random() < 0.015:
                plan.fate = "void"
            plans.append(plan)
        if plans and all(plan.fate == "live" for plan in plans):
            plans[len(plans) // 3].fate = "void"  # a small scale still shows one
        return plans

    def _returns(self, items: list[JSON], customers: list[JSON]) -> list[_Plan]:
        """A few credit memos a month (returned bottles, waived delivery fees) and a refund."""
        rng = self.more
        active = [c for c in customers if c.get("Active") is not False]
        on_premise = [c for c in active if any(k in c["DisplayName"] for k in ON_PREMISE_KINDS)]
        wines = [i for i in items if i["Type"] == "Inventory"]
        delivery = next(i for i in items if i["Name"] == "Delivery fee")
        catalog = {item["Id"]: item for item in items}
        checking = _ref(self.accounts["Checking"])
        plans = []
        for number, day in enumerate(self._days(self._count(16, 20, least=2))):
            customer = rng.choice(active)
            reason = rng.choice(RETURN_REASONS)
            if rng.random() < 0.8:
                wine = rng.choice(wines)
                line = self._sale_line(wine, rng.choice((1, 1, 2, 3, 6)), reason)
            else:
                reason = "Delivery fee waived"
                line = self._sale_line(delivery, 1, reason)
            priced, total = sales_lines(self.books, [line], catalog)
            doc: JSON = {
                "CustomerRef": _ref(customer),
                "Line": priced,
                "TxnDate": day.isoformat(),
                "DocNumber": str(1001 + number),
                "PrivateNote": reason,
                "CustomerMemo": {"value": reason},
                "ApplyTaxAfterDiscount": False,
            }
            plan = _Plan("CreditMemo", self._moment(day, rng), finish_sale(
                "CreditMemo", doc, total, customer
            ))  # fmt: skip
            plans.append(plan)
        for number, day in enumerate(self._days(self._count(5, 7))):
            customer = rng.choice(on_premise or active)
            wine = rng.choice(wines)
            reason = rng.choice(RETURN_REASONS)
            line = self._sale_line(wine, rng.choice((1, 2, 3)), reason)
            priced, total = sales_lines(self.books, [line], catalog)
            method = self.methods[rng.choice((0, 1))]  # cash or check
            doc = {
                "CustomerRef": _ref(customer),
                "Line": priced,
                "TxnDate": day.isoformat(),
                "DocNumber": str(1001 + number),
                "DepositToAccountRef": checking,
                "PaymentMethodRef": _ref(method),
                "PrivateNote": f"Refund: {reason}",
                "ApplyTaxAfterDiscount": False,
            }
            plan = _Plan("RefundReceipt", self._moment(day, rng), finish_sale(
                "RefundReceipt", doc, total, customer
            ))  # fmt: skip
            plans.append(plan)
        return plans

    def _estimates(self, items: list[JSON], customers: list[JSON]) -> list[_Plan]:
        """Quotes for events and opening orders, a couple a month."""
        rng = self.more
        active = [c for c in customers if c.get("Active") is not False]
        cases = [i for i in items if "Case of" in i["Name"] and i.get("Active") is not False]
        catalog = {item["Id"]: item for item in items}
        plans = []
        days = self._days(self._count(10, 14))
        days[-1] = self.today - timedelta(days=rng.randint(0, 10))  # still awaiting an answer
        for number, day in enumerate(days):
            customer = rng.choice(active)
            picked = rng.sample(cases, min(len(cases), 1 + int(rng.random() * 3)))
            lines = [self._sale_line(item, rng.choice((2, 3, 5, 10))) for item in picked]
            priced, total = sales_lines(self.books, lines, catalog)
            doc: JSON = {
                "CustomerRef": _ref(customer),
                "Line": priced,
                "TxnDate": day.isoformat(),
                "DocNumber": str(1001 + number),
                "ExpirationDate": (day + timedelta(days=30)).isoformat(),
                "ApplyTaxAfterDiscount": False,
            }
            if (self.today - day).days > 30:
                doc["TxnStatus"] = rng.choice(("Accepted", "Accepted", "Closed", "Rejected"))
                if doc["TxnStatus"] == "Accepted":
                    doc["AcceptedDate"] = (day + timedelta(days=rng.randint(1, 10))).isoformat()
            plan = _Plan("Estimate", self._moment(day, rng), finish_sale(
                "Estimate", doc, total, customer
            ))  # fmt: skip
            plans.append(plan)
        return plans

    def _purchasing(self, items: list[JSON], une_femme: JSON, bills: list[_Plan]) -> list[_Plan]:
        """Purchase orders to Une Femme, billed on receipt; breakage credits; bill payments.

        An order arrives five to twelve days after it is placed and is billed then (the
        bill receives it and closes it); the latest order is still on its way. Bills are
        paid by check 20 to 40 days after their date, using any breakage credit Une Femme
        has granted since.
        """
        rng = self.more
        wines = [
            i for i in items
            if i["Name"].startswith("Une Femme") and i["Type"] == "Inventory"
            and i.get("Active") is not False
        ]  # fmt: skip
        vendor = _ref(une_femme)
        payable = _ref(self.accounts["Accounts Payable (A/P)"])
        net30 = _ref(self.terms["Net 30"])
        plans: list[_Plan] = []
        days = self._days(self._count(11, 13, least=3))
        days[-1] = self.today - timedelta(days=rng.randint(0, 3))  # still on order
        for number, day in enumerate(days):
            picked = rng.sample(wines, min(len(wines), 2 + int(rng.random() * 4)))
            lines = []
            for n, item in enumerate(picked, start=1):
                cases = rng.choice((5, 10, 10, 20))
                qty = cases if "Case of" in item["Name"] else cases * 12
                lines.append(self._purchase_line(n, item, qty))
            total = sum((Decimal(str(line["Amount"])) for line in lines), Decimal(0))
            doc: JSON = {
                "VendorRef": vendor,
                "Line": lines,
                "TxnDate": day.isoformat(),
                "DocNumber": str(1001 + number),
                "TotalAmt": num(total),
                "POStatus": "Open",
                "LinkedTxn": [],
                "APAccountRef": payable,
                "POEmail": {"Address": "orders@unefemmewines.example.com"},
                "EmailStatus": "EmailSent",
                "CurrencyRef": USD,
            }
            order = _Plan("PurchaseOrder", self._moment(day, rng), doc)
            plans.append(order)
            arrival = day + timedelta(days=rng.randint(5, 12))
            if arrival >= self.today:
                continue
            bill = {
                "VendorRef": vendor,
                "Line": [dict(line) for line in lines],
                "TxnDate": arrival.isoformat(),
                "DueDate": (arrival + timedelta(days=30)).isoformat(),
                "SalesTermRef": net30,
                "DocNumber": f"UFW-{arrival:%y%m}-{number + 1:04d}",
                "APAccountRef": payable,
                "TotalAmt": num(total),
                "Balance": num(total),
                "CurrencyRef": USD,
            }
            ms = max(self._moment(arrival, rng), order.ms + 60_000)
            bills.append(_Plan("Bill", ms, bill, links=[(order, Decimal(0))]))
            plans.append(bills[-1])
        credits = []
        for day in self._days(self._count(2, 4)):
            item = rng.choice(wines)
            qty = rng.randint(1, 6) if "Case of" not in item["Name"] else 1
            doc = {
                "VendorRef": vendor,
                "Line": [self._purchase_line(1, item, qty)],
                "TxnDate": day.isoformat(),
                "PrivateNote": "Breakage credit",
                "APAccountRef": payable,
                "CurrencyRef": USD,
            }
            doc["TotalAmt"] = doc["Balance"] = doc["Line"][0]["Amount"]
            credits.append(_Plan("VendorCredit", self._moment(day, rng), doc))
        plans += credits
        plans += self._bill_payments(bills, credits)
        return plans

    def _purchase_line(self, number: int, item: JSON, qty: int) -> JSON:
        cost = Decimal(str(item["PurchaseCost"]))
        return {
            "Id": str(number),
            "LineNum": number,
            "Amount": num(money(cost * qty)),
            "DetailType": "ItemBasedExpenseLineDetail",
            "ItemBasedExpenseLineDetail": {
                "ItemRef": _ref(item),
                "Qty": qty,
                "UnitPrice": num(cost),
            },
        }

    def _bill_payments(self, bills: list[_Plan], credits: list[_Plan]) -> list[_Plan]:
        rng = self.more
        checking = _ref(self.accounts["Checking"])
        payable = _ref(self.accounts["Accounts Payable (A/P)"])
        # Each vendor's unused credits, oldest first, with their amounts.
        open_credits: dict[str, list[tuple[_Plan, Decimal]]] = {}
        for credit in sorted(credits, key=lambda p: p.ms):
            open_credits.setdefault(credit.doc["VendorRef"]["value"], []).append(
                (credit, Decimal(str(credit.doc["TotalAmt"])))
            )
        plans: list[_Plan] = []
        # The newest bill is never paid yet: there is always something owed to a supplier.
        for bill in sorted(bills, key=lambda p: p.ms)[:-1]:
            pay_day = date.fromisoformat(bill.doc["TxnDate"]) + timedelta(days=rng.randint(20, 40))
            if pay_day >= self.today:
                continue
            ms = max(self._moment(pay_day, rng), bill.ms + 60_000)
            amount = Decimal(str(bill.doc["TotalAmt"]))
            links = [(bill, amount)]
            waiting = open_credits.get(bill.doc["VendorRef"]["value"], [])
            for index, (credit, credit_amount) in enumerate(waiting):
                if credit.ms >= ms:
                    break  # granted after this payment, as are the ones after it
                if credit_amount <= amount:
                    links.append((credit, credit_amount))
                    del waiting[index]
                    break
            total = amount - sum((a for p, a in links[1:]), Decimal(0))
            doc: JSON = {
                "VendorRef": bill.doc["VendorRef"],
                "PayType": "Check",
                "CheckPayment": {"BankAccountRef": checking, "PrintStatus": "PrintComplete"},
                "TotalAmt": num(total),
                "TxnDate": datetime.fromtimestamp(ms / 1000, COMPANY_TZ).date().isoformat(),
                "DocNumber": str(4001 + len(plans)),
                "APAccountRef": payable,
                "CurrencyRef": USD,
            }
            plans.append(_Plan("BillPayment", ms, doc, links=links))
        return plans

    # ------------------------------------------------------------ writing

    def _write(
        self, plans: list[_Plan], items: list[JSON], customers: list[JSON], vendors: list[JSON]
    ) -> None:
        rng = self.rng
        plans.sort(key=lambda p: p.ms)
        first = self.tx.next_id(self.realm_id, "Txn", len(plans))
        for offset, plan in enumerate(plans):
            plan.id = first + offset
            plan.doc["Id"] = str(plan.id)
            plan.updated_ms = plan.ms
        for entity in _NUMBERED:
            count = sum(1 for p in plans if p.entity == entity)
            if count:
                self.tx.next_id(self.realm_id, f"DocNumber:{entity}", count)
        # Payments and bill payments: lines, and what each paid document (and used credit)
        # gets from them: Balance, LinkedTxn, version.
        settled_by: dict[str, list[_Plan]] = {}
        settled: dict[str, Decimal] = {}
        for plan in plans:
            if plan.entity in ("Payment", "BillPayment"):
                plan.doc["Line"] = [
                    {
                        "Amount": num(amount),
                        "LinkedTxn": [{"TxnId": target.doc["Id"], "TxnType": target.entity}],
                    }
                    for target, amount in plan.links
                ]
                for target, amount in plan.links:
                    settled_by.setdefault(target.doc["Id"], []).append(plan)
                    settled[target.doc["Id"]] = settled.get(target.doc["Id"], Decimal(0)) + amount
        # Bills and the purchase orders they receive.
        received_by: dict[str, _Plan] = {}
        for plan in plans:
            if plan.entity == "Bill":
                orders = [order for order, _ in plan.links]
                plan.doc["LinkedTxn"] = [
                    {"TxnId": order.doc["Id"], "TxnType": "PurchaseOrder"} for order in orders
                ]
                for order in orders:
                    received_by[order.doc["Id"]] = plan
        party: dict[str, tuple[Decimal, int, int]] = {}  # customer -> (balance, writes, last ms)
        vendor_party: dict[str, tuple[Decimal, int, int]] = {}

        def touch(customer_id: str, delta: Decimal, ms: int, book: dict[str, Any] = party) -> None:
            balance, writes, last = book.get(customer_id, (Decimal(0), 0, 0))
            book[customer_id] = (balance + delta, writes + 1, max(last, ms))

        rows = []
        for plan in plans:
            doc = plan.doc
            if plan.entity == "Invoice":
                payments = settled_by.get(doc["Id"], [])
                applied = settled.get(doc["Id"], Decimal(0))
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
            elif plan.entity == "CreditMemo":
                touch(doc["CustomerRef"]["value"], -Decimal(str(doc["RemainingCredit"])), plan.ms)
                self._stamp(doc, plan, 0)
            elif plan.entity in ("Bill", "VendorCredit"):
                payments = settled_by.get(doc["Id"], [])
                left = Decimal(str(doc["TotalAmt"])) - settled.get(doc["Id"], Decimal(0))
                doc["Balance"] = num(left)
                link = PAY_TYPES["Check"][2]
                doc["LinkedTxn"] = doc.get("LinkedTxn", []) + [
                    {"TxnId": p.doc["Id"], "TxnType": link} for p in payments
                ]
                plan.updated_ms = max([plan.ms, *(p.ms for p in payments)])
                sign = 1 if plan.entity == "Bill" else -1
                touch(doc["VendorRef"]["value"], sign * left, plan.updated_ms, vendor_party)
                self._stamp(doc, plan, len(payments))
            elif plan.entity == "PurchaseOrder" and doc["Id"] in received_by:
                bill = received_by[doc["Id"]]
                doc.update(
                    POStatus="Closed", LinkedTxn=[{"TxnId": bill.doc["Id"], "TxnType": "Bill"}]
                )
                plan.updated_ms = bill.ms
                self._stamp(doc, plan, 1)
            elif plan.entity == "SalesReceipt" and plan.fate == "void":
                plan.updated_ms = min(
                    self.now - 1000, plan.ms + self.more.randint(3600_000, 86_400_000)
                )
                doc = plan.doc = zeroed(doc)
                self._stamp(doc, plan, 1)
            else:
                self._stamp(doc, plan, 0)
            if plan.fate == "deleted":
                stub = verbs.tombstone_stub(doc["Id"], qbo_time(plan.updated_ms))
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
                        doc_number=SPECS[plan.entity].doc_number(doc),
                        updated_ms=plan.updated_ms,
                    )
                )
        self.tx.put_many(self.realm_id, rows)
        self._finish_items(items, [p for p in plans if p.fate != "deleted"])
        self._finish_names("Customer", customers, party)
        self._finish_names("Vendor", vendors, vendor_party)

    def _stamp(self, doc: JSON, plan: _Plan, versions: int) -> None:
        doc["domain"] = "QBO"
        doc["sparse"] = False
        doc["SyncToken"] = str(versions)
        doc["MetaData"] = {
            "CreateTime": qbo_time(plan.ms),
            "LastUpdatedTime": qbo_time(plan.updated_ms),
        }

    def _finish_items(self, items: list[JSON], plans: list[_Plan]) -> None:
        """Each inventory item ends with a plausible stock; its version counts its movements.

        Items the first demo's documents (invoices, stock receipts) moved draw their stock
        from the first stream, as they always have; the others from the second.
        """
        moves: dict[str, tuple[int, int]] = {}  # item id -> (writes, last ms)
        first_demo: set[str] = set()
        for plan in plans:
            for item_id in stock_effect(plan.doc, plan.entity):
                writes, last = moves.get(str(item_id), (0, 0))
                moves[str(item_id)] = (writes + 1, max(last, plan.ms))
                if plan.entity in ("Invoice", "InventoryAdjustment"):
                    first_demo.add(str(item_id))
        rows = []
        for item in items:
            if item["Id"] not in moves or not item.get("TrackQtyOnHand"):
                continue
            writes, last = moves[item["Id"]]
            rng = self.rng if item["Id"] in first_demo else self.more
            stock = rng.choice((0, 3, 7)) if rng.random() < 0.08 else rng.randint(12, 480)
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

    def _finish_names(
        self, entity: str, names: list[JSON], party: dict[str, tuple[Decimal, int, int]]
    ) -> None:
        """Customers' and vendors' Balance (and version) after every document of theirs."""
        rows = []
        for name in names:
            if name["Id"] not in party:
                continue
            balance, writes, last = party[name["Id"]]
            name.update(Balance=num(balance), SyncToken=str(writes))
            if entity == "Customer":
                name["BalanceWithJobs"] = num(balance)
            name["MetaData"] = {**name["MetaData"], "LastUpdatedTime": qbo_time(last)}
            rows.append(
                Row(
                    entity,
                    int(name["Id"]),
                    name,
                    active=name.get("Active") is not False,
                    name_key=SPECS[entity].name_key(name),
                    updated_ms=last,
                )
            )
        self.tx.put_many(self.realm_id, rows)
