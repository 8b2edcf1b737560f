"""CustomerType: the list QBO classifies customers with (docs/qbo-api.md §6, "CustomerType").

Read and queried like the other name lists, refused on create and update through the API
(QBO makes types in its settings), absent from CDC, and named by `Customer.CustomerTypeRef`
with its `value` alone. Every demo company carries four types, and each seeded customer the
type its name's kind implies, or none for about one customer in eight.

The HTTP tests read the session sandbox's demo companies and write only to companies of
their own; the seed's determinism and the data it kept are checked in process.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from quickbooks.objects.customer import Customer as QBCustomer
from quickbooks.objects.customertype import CustomerType as QBCustomerType

# The rule modules register the modelled entities in SPECS when imported (operations.py).
import qbo_sandbox.operations  # noqa: F401
from qbo_sandbox import seed
from qbo_sandbox.books import SPECS
from qbo_sandbox.seed_data import (
    CUSTOMER_KIND,
    CUSTOMER_TYPES,
    KIND_CUSTOMER_TYPES,
    NOTABLE_CUSTOMER_TYPES,
    NOTABLE_CUSTOMERS,
)
from qbo_sandbox.store import Store

from .support import RealmApi, assert_validation_fault, connect, days_ago, fault_codes

if TYPE_CHECKING:
    from quickbooks import QuickBooks

    from qbo_sandbox.testing import SandboxProcess

DEMO_TYPES = {"Restaurant", "Bar", "Wine shop", "Grocery"}
EVERYTHING = "WHERE Active IN (true, false) MAXRESULTS 1000"

# The kind of account a name says, decided here from the words of the name (in this order:
# a pool name starts with a word like "Cellar" and ends with its kind, "Cellar Bistro").
_KINDS = (
    ("Bar", re.compile(r"\b(Wine Bar|Oyster Bar|Tavern)\b")),
    ("Restaurant", re.compile(r"\b(Bistrot?|Trattoria|Brasserie|Kitchen|Café|Chez)\b")),
    ("Grocery", re.compile(r"\b(Grocery|Market)\b")),
    (
        "Wine shop",
        re.compile(r"\b(Wine Shop|Bottle Shop|Cellars?|Wines|Spirits|Corkscrew)\b"),
    ),
)


def kind_of(name: str) -> str:
    for type_name, pattern in _KINDS:
        if pattern.search(name):
            return type_name
    raise AssertionError(f"no kind of account in the name {name!r}")


def type_names(api: RealmApi) -> dict[str, str]:
    """Id → Name of every CustomerType of the company, inactive ones included."""
    rows = api.rows(f"SELECT * FROM CustomerType {EVERYTHING}", "CustomerType")
    return {row["Id"]: row["Name"] for row in rows}


# ------------------------------------------------------------ the demo companies


@pytest.fixture(scope="module")
def demo_apis(sandbox: SandboxProcess) -> dict[str, RealmApi]:
    return {realm_id: connect(sandbox, realm_id).api for realm_id in sorted(sandbox.realms)}


def test_each_demo_company_has_four_active_types_queryable_and_readable(
    demo_apis: dict[str, RealmApi],
) -> None:
    for realm_id, api in demo_apis.items():
        types = api.rows("SELECT * FROM CustomerType", "CustomerType")
        assert {row["Name"] for row in types} == DEMO_TYPES, realm_id
        assert [row["Id"] for row in types] == ["1", "2", "3", "4"]  # their own sequence
        for row in types:
            assert row["Active"] is True and row["SyncToken"] == "0"
            assert set(row) >= {"Id", "SyncToken", "Name", "Active", "MetaData"}
            assert set(row["MetaData"]) == {"CreateTime", "LastUpdatedTime"}
            assert api.read("CustomerType", row["Id"]) == row
        assert api.rows("SELECT * FROM CustomerType WHERE Active = true", "CustomerType") == types
        assert api.query("SELECT COUNT(*) FROM CustomerType")["totalCount"] == 4
        page = api.query("SELECT * FROM customertype ORDERBY Id STARTPOSITION 2 MAXRESULTS 2")
        assert [row["Id"] for row in page["CustomerType"]] == ["2", "3"]
        assert page["startPosition"] == 2 and page["maxResults"] == 2
        named = api.rows("SELECT * FROM CustomerType WHERE Name = 'wine shop'", "CustomerType")
        assert [row["Name"] for row in named] == ["Wine shop"]
        missing = api.request("GET", "customertype/99")
        assert_validation_fault(missing, "610")


def test_python_quickbooks_reads_the_types(sandbox: SandboxProcess) -> None:
    realm_id = sorted(sandbox.realms)[0]
    qb: QuickBooks = connect(sandbox, realm_id).qb
    found = QBCustomerType.all(qb=qb)
    assert {found_type.Name for found_type in found} == DEMO_TYPES
    one = QBCustomerType.get(found[0].Id, qb=qb)
    assert one.Name == found[0].Name and one.Active is True


def test_every_seeded_customer_has_its_names_type_or_none(
    demo_apis: dict[str, RealmApi],
) -> None:
    untyped_in: dict[str, set[bool]] = {}
    for realm_id, api in demo_apis.items():
        names = type_names(api)
        customers = api.rows(f"SELECT * FROM Customer {EVERYTHING}", "Customer")
        assert len(customers) >= 100
        untyped = 0
        for customer in customers:
            name = customer["DisplayName"]
            ref = customer.get("CustomerTypeRef")
            untyped_in.setdefault(name, set()).add(ref is None)
            if ref is None:
                untyped += 1
                continue
            assert ref == {"value": ref["value"]}, ref  # the value alone, no name
            assert names[ref["value"]] == kind_of(name), (realm_id, name)
        # About one in eight (a stable hash of the name picks them).
        assert len(customers) / 16 <= untyped <= len(customers) / 4, (realm_id, untyped)
        kinds = Counter(
            names[c["CustomerTypeRef"]["value"]] for c in customers if "CustomerTypeRef" in c
        )
        assert set(kinds) == DEMO_TYPES, kinds
    # The choice depends on the name only: a name is typed in every company or in none.
    assert all(len(answers) == 1 for answers in untyped_in.values())


def test_a_demo_customer_read_returns_its_type_ref(
    demo_apis: dict[str, RealmApi],
) -> None:
    api = next(iter(demo_apis.values()))
    customer = api.rows("SELECT * FROM Customer WHERE DisplayName = 'Ça Va Wine Bar'", "Customer")[
        0
    ]
    bar = next(i for i, name in type_names(api).items() if name == "Bar")
    assert customer["CustomerTypeRef"] == {"value": bar}
    assert api.read("Customer", customer["Id"])["CustomerTypeRef"] == {"value": bar}


# ------------------------------------------------------------ read-only through the API


def test_creating_or_updating_a_type_through_the_api_is_refused(
    sandbox: SandboxProcess, demo_apis: dict[str, RealmApi]
) -> None:
    api = next(iter(demo_apis.values()))
    created = api.request("POST", "customertype", json_body={"Name": "Hotel"})
    assert "Unsupported Operation" in assert_validation_fault(created, "500")["Message"]
    current = api.read("CustomerType", "1")
    for body in (
        {**current, "Name": "Restaurants"},
        {"Id": "1", "SyncToken": current["SyncToken"], "sparse": True, "Active": False},
    ):
        refused = api.request("POST", "customertype", json_body=body)
        assert_validation_fault(refused, "500")
        refused = api.request(
            "POST", "customertype", params={"operation": "update"}, json_body=body
        )
        assert_validation_fault(refused, "500")
    deleted = api.request(
        "POST",
        "customertype",
        params={"operation": "delete"},
        json_body={"Id": "1", "SyncToken": current["SyncToken"]},
    )
    assert_validation_fault(deleted, "500")
    response = api.batch(
        [
            {"bId": "1", "operation": "create", "CustomerType": {"Name": "Hotel"}},
            {"bId": "2", "operation": "update", "CustomerType": {**current, "Name": "Eatery"}},
        ]
    )
    assert response.status_code == 200, response.text
    for item in response.json()["BatchItemResponse"]:
        assert item["Fault"]["Error"][0]["code"] == "500", item
    assert api.read("CustomerType", "1") == current
    assert {row["Name"] for row in api.rows("SELECT * FROM CustomerType", "CustomerType")} == (
        DEMO_TYPES
    )


def test_cdc_refuses_customer_type_as_any_unsupported_entity(
    demo_apis: dict[str, RealmApi],
) -> None:
    api = next(iter(demo_apis.values()))
    since = days_ago(3)
    for entities in ("CustomerType", "Customer,CustomerType", "customertype"):
        refused = api.request("GET", "cdc", params={"entities": entities, "changedSince": since})
        error = assert_validation_fault(refused, "2010")
        # The same answer as a name CDC does not cover (TaxCode, docs/qbo-api.md §3).
        other = api.request("GET", "cdc", params={"entities": "TaxCode", "changedSince": since})
        assert fault_codes(other) == [error["code"]]
    response = api.batch(
        [{"bId": "1", "CDCQuery": {"Entities": "CustomerType", "ChangedSince": since}}]
    )
    assert response.json()["BatchItemResponse"][0]["Fault"]["Error"][0]["code"] == "2010"


# ------------------------------------------------------------ CustomerTypeRef on a customer


@pytest.fixture
def typed_realm(sandbox: SandboxProcess) -> tuple[str, dict[str, dict[str, Any]]]:
    """An empty company with two types made through the control endpoint."""
    realm_id = sandbox.new_company(seed="empty")
    made = {name: sandbox.customer_type(realm_id, name) for name in ("Restaurant", "Bar")}
    return realm_id, made


def test_a_customer_takes_a_valid_type_and_returns_its_value_only(
    sandbox: SandboxProcess, typed_realm: tuple[str, dict[str, dict[str, Any]]]
) -> None:
    realm_id, made = typed_realm
    api = connect(sandbox, realm_id).api
    restaurant, bar = made["Restaurant"]["Id"], made["Bar"]["Id"]
    created = api.create(
        "Customer",
        {"DisplayName": "Chez Nous", "CustomerTypeRef": {"value": restaurant, "name": "x"}},
    )
    assert created["CustomerTypeRef"] == {"value": restaurant}
    assert api.read("Customer", created["Id"])["CustomerTypeRef"] == {"value": restaurant}
    # Not a field Customer queries filter on (docs/qbo-api.md §6, [unconfirmed]).
    by_type = api.query_raw(f"SELECT * FROM Customer WHERE CustomerTypeRef = '{restaurant}'")
    assert_validation_fault(by_type, "4001")
    found = api.rows("SELECT * FROM Customer WHERE DisplayName = 'Chez Nous'", "Customer")
    assert found[0]["CustomerTypeRef"] == {"value": restaurant}
    # A sparse update changes it, a full update that leaves it out removes it.
    changed = api.update(
        "Customer",
        {
            "Id": created["Id"],
            "SyncToken": created["SyncToken"],
            "sparse": True,
            "CustomerTypeRef": {"value": bar},
        },
    )
    assert changed["CustomerTypeRef"] == {"value": bar}
    kept = api.update(
        "Customer",
        {"Id": created["Id"], "SyncToken": changed["SyncToken"], "sparse": True, "Notes": "VIP"},
    )
    assert kept["CustomerTypeRef"] == {"value": bar}
    full = api.update(
        "Customer",
        {"Id": created["Id"], "SyncToken": kept["SyncToken"], "DisplayName": "Chez Nous"},
    )
    assert "CustomerTypeRef" not in full
    # CDC reports the customer with its ref.
    cdc = api.ok("GET", "cdc", params={"entities": "Customer", "changedSince": days_ago(1)})
    reported = cdc["CDCResponse"][0]["QueryResponse"][0]["Customer"]
    assert [row["Id"] for row in reported] == [created["Id"]]


def test_an_unknown_or_inactive_type_is_refused_like_an_unknown_or_inactive_term(
    sandbox: SandboxProcess, typed_realm: tuple[str, dict[str, dict[str, Any]]]
) -> None:
    realm_id, made = typed_realm
    api = connect(sandbox, realm_id).api
    unknown_type = api.request(
        "POST", "customer", json_body={"DisplayName": "Nowhere", "CustomerTypeRef": {"value": "99"}}
    )
    unknown_term = api.request(
        "POST", "customer", json_body={"DisplayName": "Nowhere", "SalesTermRef": {"value": "99"}}
    )
    error = assert_validation_fault(unknown_type, "2500")
    assert fault_codes(unknown_term) == ["2500"]
    assert error["element"] == "CustomerTypeRef"
    malformed = api.request(
        "POST", "customer", json_body={"DisplayName": "Nowhere", "CustomerTypeRef": "2"}
    )
    assert_validation_fault(malformed, "2010")
    # Deactivated in QBO's settings (here, the control endpoint): refused like an inactive term.
    bar = sandbox.customer_type(realm_id, Id=made["Bar"]["Id"], active=False)
    assert bar["Active"] is False and bar["SyncToken"] == "1"
    inactive_type = api.request(
        "POST",
        "customer",
        json_body={"DisplayName": "Le Zinc", "CustomerTypeRef": {"value": bar["Id"]}},
    )
    term = api.create("Term", {"Name": "Net 10", "DueDays": 10})
    api.update("Term", {**term, "Active": False})
    inactive_term = api.request(
        "POST",
        "customer",
        json_body={"DisplayName": "Le Zinc", "SalesTermRef": {"value": term["Id"]}},
    )
    assert_validation_fault(inactive_type, "610")
    assert fault_codes(inactive_term) == ["610"]
    assert not api.rows("SELECT * FROM Customer WHERE DisplayName = 'Le Zinc'", "Customer")
    # Inactive types are hidden unless the query asks about Active, as other name lists.
    assert [row["Name"] for row in api.rows("SELECT * FROM CustomerType", "CustomerType")] == [
        "Restaurant"
    ]
    assert set(type_names(api).values()) == {"Restaurant", "Bar"}
    assert (
        api.rows("SELECT * FROM CustomerType WHERE Active = false", "CustomerType")[0]["Name"]
        == "Bar"
    )


def test_python_quickbooks_round_trips_a_customers_type(
    sandbox: SandboxProcess, typed_realm: tuple[str, dict[str, dict[str, Any]]]
) -> None:
    realm_id, made = typed_realm
    qb = connect(sandbox, realm_id).qb
    customer = QBCustomer()
    customer.DisplayName = "Trattoria Nonna"
    customer.CustomerTypeRef = {"value": made["Restaurant"]["Id"]}
    customer.save(qb=qb)
    again = QBCustomer.get(customer.Id, qb=qb)
    assert again.CustomerTypeRef == {"value": made["Restaurant"]["Id"]}
    again.Notes = "Tuesday deliveries"
    again.save(qb=qb)  # a full update sending every attribute back, the ref included
    assert QBCustomer.get(customer.Id, qb=qb).CustomerTypeRef == {"value": made["Restaurant"]["Id"]}


def test_the_control_endpoint_keeps_type_names_unique_and_valid(
    sandbox: SandboxProcess, typed_realm: tuple[str, dict[str, dict[str, Any]]]
) -> None:
    realm_id, made = typed_realm
    path = f"/_sandbox/companies/{realm_id}/customer-types"
    for body, code in (({"Name": "bar"}, "6240"), ({"Name": "A:B"}, "6000"), ({}, "2020")):
        with pytest.raises(RuntimeError) as refused:
            sandbox.control("POST", path, body)
        answer = json.loads(str(refused.value).split(" 400 ", 1)[1])
        assert answer["Fault"]["Error"][0]["code"] == code, answer
    with pytest.raises(RuntimeError, match="404"):
        sandbox.control("POST", "/_sandbox/companies/1/customer-types", {"Name": "Hotel"})
    renamed = sandbox.customer_type(realm_id, "Wine bar", Id=made["Bar"]["Id"])
    assert renamed["Name"] == "Wine bar" and renamed["Active"] is True


# ------------------------------------------------------------ the seed, in process


def _seeded(seed_number: int) -> dict[str, list[dict[str, Any]]]:
    """Every live row of the first demo company of `seed_number`, by entity, MetaData left out
    (its times near now move with the clock)."""
    store = Store(":memory:")
    try:
        with store.transaction() as tx:
            realm_id, _ = seed.create_company(tx, "demo", seed_number=seed_number)
            rows = tx.conn.execute(
                "SELECT entity, data FROM entity WHERE realm_id = ? AND deleted = 0"
                " ORDER BY entity, id",
                (realm_id,),
            ).fetchall()
    finally:
        store.close()
    found: dict[str, list[dict[str, Any]]] = {}
    for entity, text in rows:
        data = json.loads(text)
        data.pop("MetaData", None)
        found.setdefault(entity, []).append(data)
    return found


@pytest.fixture(scope="module")
def seed_seven() -> dict[str, list[dict[str, Any]]]:
    return _seeded(7)


def test_the_same_seed_gives_the_same_types_and_refs(
    seed_seven: dict[str, list[dict[str, Any]]],
) -> None:
    again = _seeded(7)
    assert again["CustomerType"] == seed_seven["CustomerType"]
    refs = [(c["Id"], c.get("CustomerTypeRef")) for c in seed_seven["Customer"]]
    assert refs == [(c["Id"], c.get("CustomerTypeRef")) for c in again["Customer"]]
    assert again == seed_seven


def test_every_kind_and_notable_account_maps_to_a_demo_type() -> None:
    assert set(KIND_CUSTOMER_TYPES) == set(CUSTOMER_KIND)
    assert set(NOTABLE_CUSTOMER_TYPES) == set(NOTABLE_CUSTOMERS)
    assert set(CUSTOMER_TYPES) == DEMO_TYPES
    assert {*KIND_CUSTOMER_TYPES.values(), *NOTABLE_CUSTOMER_TYPES.values()} == DEMO_TYPES


def test_the_untyped_customers_are_picked_by_a_stable_hash_of_the_name(
    seed_seven: dict[str, list[dict[str, Any]]],
) -> None:
    for customer in seed_seven["Customer"]:
        digest = hashlib.sha256(customer["DisplayName"].encode()).digest()
        assert ("CustomerTypeRef" in customer) == (digest[0] >= 32), customer["DisplayName"]


def test_the_rest_of_the_demo_data_is_what_it_was_before_customer_types(
    seed_seven: dict[str, list[dict[str, Any]]],
) -> None:
    """Figures of seed 7's first company recorded before CustomerType was seeded: the types
    draw nothing from the seed's random streams and have an id sequence of their own."""
    counts = {entity: len(rows) for entity, rows in seed_seven.items()}
    assert counts == {
        "Account": 19,
        "Bill": 16,
        "BillPayment": 11,
        "Class": 5,
        "CompanyInfo": 1,
        "CreditMemo": 17,
        "Customer": 118,
        "CustomerType": 4,
        "Department": 3,
        "Employee": 4,
        "Estimate": 12,
        "InventoryAdjustment": 26,
        "Invoice": 383,
        "Item": 61,
        "Payment": 289,
        "PaymentMethod": 5,
        "Preferences": 1,
        "PurchaseOrder": 11,
        "RefundReceipt": 7,
        "SalesReceipt": 48,
        "TaxCode": 2,
        "TaxRate": 4,
        "Term": 3,
        "Vendor": 3,
        "VendorCredit": 3,
    }

    def total(entity: str, key: str) -> Decimal:
        return sum((Decimal(str(row[key])) for row in seed_seven[entity]), Decimal(0))

    assert total("Invoice", "TotalAmt") == Decimal("360626.30")
    assert total("Invoice", "Balance") == Decimal("78268.36")
    assert total("Payment", "TotalAmt") == Decimal("283262.94")
    assert total("Customer", "Balance") == Decimal("74563.36")
    assert sum(Decimal(str(i.get("QtyOnHand", 0))) for i in seed_seven["Item"]) == 13554
    customers = seed_seven["Customer"]
    assert [(c["Id"], c["DisplayName"]) for c in (customers[0], customers[1], customers[-1])] == [
        ("1", "Le Bistrot d'Émile"),
        ("2", "O'Malley's Wine & Spirits"),
        ("118", "Cellar Bottle Shop"),
    ]
    first = seed_seven["Invoice"][0]
    assert (first["Id"], first["DocNumber"], first["CustomerRef"], first["TotalAmt"]) == (
        "1",
        "1002",
        {"value": "72", "name": "Vine Brasserie"},
        1362,
    )
    transactions = [
        int(row["Id"])
        for entity, rows in seed_seven.items()
        if SPECS[entity].sequence == "Txn"
        for row in rows
    ]
    assert (len(transactions), min(transactions), max(transactions)) == (823, 1, 826)
    assert [t["Id"] for t in seed_seven["CustomerType"]] == ["1", "2", "3", "4"]
