"""The query language over HTTP, through python-quickbooks and through raw statements."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from quickbooks import QuickBooks
from quickbooks.objects.base import Ref
from quickbooks.objects.item import Item

from .support import (
    BigRealm,
    RealmApi,
    connect,
    ensure_accounts,
    inventory_item_body,
    invoice_body,
    non_inventory_item_body,
    parse_qbo_time,
    sales_line,
)

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

YQUEM = "Château d'Yquem 2015"
# name -> (Type, Sku). The names are built for LIKE, IN and ordering checks below.
ACTIVE_ITEMS: dict[str, tuple[str, str | None]] = {
    "Alpha Brut NV": ("NonInventory", "CAT-001"),
    "Bravo Rosé 2023": ("Service", None),
    "Charlie Crémant Brut": ("NonInventory", "CAT-003"),
    "Delta Riesling 2020": ("Inventory", "CAT-004"),
    "Echo Rosé Magnum": ("Inventory", None),
    "Foxtrot Sparkling Rosé": ("NonInventory", "CAT-006"),
    YQUEM: ("NonInventory", None),
}
INACTIVE_ITEM = "Golf Retired Red"
# TxnDate -> total of one invoice each, for the comparison operators.
INVOICES = {
    "2025-01-10": "50.00",
    "2025-01-20": "100.00",
    "2025-01-30": "150.00",
    "2025-02-10": "200.00",
}


@dataclass(frozen=True)
class Catalog:
    api: RealmApi
    qb: QuickBooks
    item_ids: dict[str, str]


@pytest.fixture(scope="module")
def catalog(sandbox: SandboxProcess) -> Catalog:
    """One company shared by the read-only query tests of this module."""
    conn = connect(sandbox, sandbox.new_company(seed="empty"))
    api = conn.api
    accounts = ensure_accounts(api)
    item_ids: dict[str, str] = {}
    for name, (item_type, sku) in ACTIVE_ITEMS.items():
        extra: dict[str, Any] = {"Sku": sku} if sku else {}
        if name == YQUEM:
            continue
        if item_type == "Inventory":
            body = inventory_item_body(name, accounts, qty=24, **extra)
        else:
            body = non_inventory_item_body(name, accounts, **extra)
            body["Type"] = item_type
        item_ids[name] = api.create("Item", body)["Id"]

    # The apostrophe item goes through python-quickbooks, defaults and all.
    yquem = Item()
    yquem.Name = YQUEM
    yquem.Type = "NonInventory"
    yquem.IncomeAccountRef = Ref()
    yquem.IncomeAccountRef.value = accounts.income
    item_ids[YQUEM] = yquem.save(qb=conn.qb).Id

    retired = api.create("Item", non_inventory_item_body(INACTIVE_ITEM, accounts, Sku="CAT-008"))
    api.update(
        "Item",
        {"Id": retired["Id"], "SyncToken": retired["SyncToken"], "sparse": True, "Active": False},
    )
    item_ids[INACTIVE_ITEM] = retired["Id"]

    customer = api.create("Customer", {"DisplayName": "Query Test Cellars"})
    service_id = item_ids["Bravo Rosé 2023"]
    for txn_date, total in INVOICES.items():
        api.create(
            "Invoice",
            invoice_body(customer["Id"], [sales_line(service_id, "1", total)], TxnDate=txn_date),
        )
    return Catalog(api=api, qb=conn.qb, item_ids=item_ids)


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [row["Name"] for row in rows]


def test_select_star_returns_every_active_item(catalog: Catalog) -> None:
    result = catalog.api.query("SELECT * FROM Item")
    assert sorted(names(result["Item"])) == sorted(ACTIVE_ITEMS)
    assert result["startPosition"] == 1
    # maxResults is the number of rows returned, not the page size asked for.
    assert result["maxResults"] == len(ACTIVE_ITEMS)
    by_name = {row["Name"]: row for row in result["Item"]}
    assert by_name["Delta Riesling 2020"]["QtyOnHand"] == 24
    assert by_name["Delta Riesling 2020"]["Type"] == "Inventory"
    assert by_name[YQUEM]["Id"] == catalog.item_ids[YQUEM]


def test_item_all_asks_for_sku_and_gets_it(catalog: Catalog) -> None:
    # Sku is not returned by default (docs/qbo-api.md §8), which is why pyqb 0.9.12 asks for it.
    plain = catalog.api.rows("SELECT * FROM Item", "Item")
    assert [row["Name"] for row in plain if "Sku" in row] == []

    items = Item.all(qb=catalog.qb)
    skus = {item.Name: getattr(item, "Sku", None) for item in items}
    assert skus == {name: sku for name, (_, sku) in ACTIVE_ITEMS.items()}


def test_a_field_list_is_accepted_and_returns_those_fields(catalog: Catalog) -> None:
    rows = catalog.api.rows("SELECT Id, Name FROM Item WHERE Name = 'Alpha Brut NV'", "Item")
    assert [(row["Id"], row["Name"]) for row in rows] == [
        (catalog.item_ids["Alpha Brut NV"], "Alpha Brut NV")
    ]


def test_count(catalog: Catalog) -> None:
    assert Item.count(qb=catalog.qb) == len(ACTIVE_ITEMS)
    assert Item.count("Type = 'Inventory'", qb=catalog.qb) == 2
    everything = catalog.api.query("select count(*) from Item where Active IN (true, false)")
    assert everything == {"totalCount": len(ACTIVE_ITEMS) + 1}


@pytest.mark.parametrize(
    ("where", "expected_dates"),
    [
        ("TotalAmt = '100.00'", ["2025-01-20"]),
        ("TotalAmt < '100'", ["2025-01-10"]),
        ("TotalAmt > 100", ["2025-01-30", "2025-02-10"]),
        ("TotalAmt <= '100'", ["2025-01-10", "2025-01-20"]),
        ("TotalAmt >= '150'", ["2025-01-30", "2025-02-10"]),
        ("TxnDate >= '2025-01-20' AND TxnDate < '2025-02-01'", ["2025-01-20", "2025-01-30"]),
        ("TxnDate > '2025-01-10' AND TotalAmt <= '150'", ["2025-01-20", "2025-01-30"]),
        ("TxnDate IN ('2025-01-10', '2025-02-10')", ["2025-01-10", "2025-02-10"]),
    ],
)
def test_comparison_operators(catalog: Catalog, where: str, expected_dates: list[str]) -> None:
    rows = catalog.api.rows(f"SELECT * FROM Invoice WHERE {where} ORDERBY TxnDate", "Invoice")
    assert [row["TxnDate"] for row in rows] == expected_dates
    assert [row["TotalAmt"] for row in rows] == [Decimal(INVOICES[day]) for day in expected_dates]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = 'Alpha Brut NV'", {"Alpha Brut NV"}),
        (
            "Name IN ('Alpha Brut NV', 'Charlie Crémant Brut', 'No Such Wine')",
            {"Alpha Brut NV", "Charlie Crémant Brut"},
        ),
        (
            "Type IN ('Service', 'Inventory')",
            {"Bravo Rosé 2023", "Delta Riesling 2020", "Echo Rosé Magnum"},
        ),
        ("Name LIKE 'Alpha%'", {"Alpha Brut NV"}),
        ("Name LIKE '%Rosé%'", {"Bravo Rosé 2023", "Echo Rosé Magnum", "Foxtrot Sparkling Rosé"}),
        ("Name LIKE '%Brut'", {"Charlie Crémant Brut"}),
        ("Type = 'Inventory' AND Name LIKE '%Rosé%'", {"Echo Rosé Magnum"}),
        ("Sku = 'CAT-003'", {"Charlie Crémant Brut"}),
        ("Name < 'C' AND Active = true", {"Alpha Brut NV", "Bravo Rosé 2023"}),
        ("Name > 'E'", {"Echo Rosé Magnum", "Foxtrot Sparkling Rosé"}),
    ],
)
def test_where_on_items(catalog: Catalog, where: str, expected: set[str]) -> None:
    rows = catalog.api.rows(f"SELECT * FROM Item WHERE {where}", "Item")
    assert sorted(names(rows)) == sorted(expected)


@pytest.mark.parametrize(
    ("where", "expected_dates"),
    [
        ("TotalAmt != '100.00'", ["2025-01-10", "2025-01-30", "2025-02-10"]),
        ("TotalAmt != 100 AND TotalAmt != 150.0", ["2025-01-10", "2025-02-10"]),
        ("TxnDate != '2025-01-10' AND TotalAmt < '200'", ["2025-01-20", "2025-01-30"]),
    ],
)
def test_not_equal_on_amounts_and_dates(
    catalog: Catalog, where: str, expected_dates: list[str]
) -> None:
    rows = catalog.api.rows(f"SELECT * FROM Invoice WHERE {where} ORDERBY TxnDate", "Invoice")
    assert [row["TxnDate"] for row in rows] == expected_dates


def test_not_equal_through_python_quickbooks(catalog: Catalog) -> None:
    # The statements clients written against QBO send, through pyqb's raw where clauses.
    others = Item.where("FullyQualifiedName != 'Alpha Brut NV'", qb=catalog.qb)
    assert sorted(item.Name for item in others) == sorted(set(ACTIVE_ITEMS) - {"Alpha Brut NV"})
    escaped = Item.where(r"Name != 'Château d\'Yquem 2015' AND Type != 'Inventory'", qb=catalog.qb)
    assert sorted(item.Name for item in escaped) == sorted(
        name for name, (kind, _) in ACTIVE_ITEMS.items() if kind != "Inventory" and name != YQUEM
    )
    assert Item.count("Sku != 'CAT-001'", qb=catalog.qb) == 3  # only items that have a Sku
    assert Item.count("Active != true", qb=catalog.qb) == 1  # constrains Active: the retired one
    retired = Item.where("Active != true", qb=catalog.qb)
    assert [item.Name for item in retired] == [INACTIVE_ITEM]


def test_not_equal_in_a_get_query_and_a_count(catalog: Catalog) -> None:
    statement = "select * from Item where Name != 'Alpha Brut NV' and Id != '0' orderby Id"
    got = catalog.api.ok("GET", "query", params={"query": statement})["QueryResponse"]
    posted = catalog.api.query(statement)
    assert names(got["Item"]) == names(posted["Item"])
    assert len(got["Item"]) == len(ACTIVE_ITEMS) - 1
    counted = catalog.api.query("SELECT COUNT(*) FROM Item WHERE Name != 'Alpha Brut NV'")
    assert counted == {"totalCount": len(ACTIVE_ITEMS) - 1}


def test_not_equal_pages_and_counts_past_1000_rows(big_realm: BigRealm) -> None:
    where = "WHERE Name != 'Bulk Wine 0000' AND Id != '0'"
    total = big_realm.api.query(f"SELECT COUNT(*) FROM Item {where}")["totalCount"]
    assert total == big_realm.item_count - 1
    seen: list[str] = []
    for start in (1, 1001):
        page = big_realm.api.rows(
            f"SELECT * FROM Item {where} ORDERBY Id STARTPOSITION {start} MAXRESULTS 1000", "Item"
        )
        seen += [row["Id"] for row in page]
    assert len(seen) == len(set(seen)) == total
    assert [int(i) for i in seen] == sorted(int(i) for i in seen)


def test_pyqb_choose_sends_lowercase_in_over_ids(catalog: Catalog) -> None:
    wanted = [catalog.item_ids["Alpha Brut NV"], catalog.item_ids["Echo Rosé Magnum"]]
    chosen = Item.choose(wanted, qb=catalog.qb)
    assert sorted(item.Id for item in chosen) == sorted(wanted)


def by_type_then_name_desc(name: str) -> tuple[str, str]:
    return ACTIVE_ITEMS[name][0], name


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("ORDERBY Name", sorted(ACTIVE_ITEMS)),
        ("ORDERBY Name DESC", sorted(ACTIVE_ITEMS, reverse=True)),
        ("ORDER BY Name ASC", sorted(ACTIVE_ITEMS)),
        ("order by Name desc", sorted(ACTIVE_ITEMS, reverse=True)),
        (
            "ORDERBY Type ASC, Name DESC",
            [
                name
                for item_type in ("Inventory", "NonInventory", "Service")
                for name in sorted(ACTIVE_ITEMS, reverse=True)
                if ACTIVE_ITEMS[name][0] == item_type
            ],
        ),
        (
            "ORDER BY Type DESC, Name",
            [
                name
                for item_type in ("Service", "NonInventory", "Inventory")
                for name in sorted(ACTIVE_ITEMS)
                if ACTIVE_ITEMS[name][0] == item_type
            ],
        ),
    ],
)
def test_ordering(catalog: Catalog, clause: str, expected: list[str]) -> None:
    assert names(catalog.api.rows(f"SELECT * FROM Item {clause}", "Item")) == expected


def test_pyqb_all_with_order_by_and_where_with_orderby(catalog: Catalog) -> None:
    ordered = Item.all(order_by="Name DESC", qb=catalog.qb)
    assert [item.Name for item in ordered] == sorted(ACTIVE_ITEMS, reverse=True)
    inventory = Item.where("Type = 'Inventory'", order_by="Name", qb=catalog.qb)
    assert [item.Name for item in inventory] == ["Delta Riesling 2020", "Echo Rosé Magnum"]


def test_startposition_is_one_based(catalog: Catalog) -> None:
    ordered = sorted(ACTIVE_ITEMS)
    first = catalog.api.query("SELECT * FROM Item ORDERBY Name STARTPOSITION 1 MAXRESULTS 2")
    assert names(first["Item"]) == ordered[0:2]
    assert (first["startPosition"], first["maxResults"]) == (1, 2)
    third = catalog.api.query("SELECT * FROM Item ORDERBY Name STARTPOSITION 3 MAXRESULTS 2")
    assert names(third["Item"]) == ordered[2:4]
    assert (third["startPosition"], third["maxResults"]) == (3, 2)
    last = catalog.api.query("SELECT * FROM Item ORDERBY Name STARTPOSITION 7 MAXRESULTS 5")
    assert names(last["Item"]) == ordered[6:]
    beyond = catalog.api.query("SELECT * FROM Item ORDERBY Name STARTPOSITION 50")
    assert "Item" not in beyond


def test_maxresults_defaults_to_100_and_is_capped_at_1000(big_realm: BigRealm) -> None:
    default_page = big_realm.api.query("SELECT * FROM Item")
    assert len(default_page["Item"]) == 100
    assert default_page["maxResults"] == 100

    assert len(big_realm.api.query("SELECT * FROM Item MAXRESULTS 1000")["Item"]) == 1000
    # Whether QBO refuses MAXRESULTS above 1000 or caps it is unconfirmed (docs/qbo-api.md §2); the
    # developer forums report silently receiving 1000 rows, so that is what we expect.
    capped = big_realm.api.query("SELECT * FROM Item MAXRESULTS 1500")
    assert len(capped["Item"]) == 1000
    assert capped["maxResults"] == 1000


def test_paging_past_1000_rows_sees_every_row_once(big_realm: BigRealm) -> None:
    assert Item.count(qb=big_realm.qb) == big_realm.item_count
    seen: list[str] = []
    position = 1
    while True:
        page = big_realm.api.query(
            f"SELECT * FROM Item ORDERBY Id STARTPOSITION {position} MAXRESULTS 1000"
        )
        rows = page.get("Item", [])
        if not rows:
            break
        seen.extend(row["Id"] for row in rows)
        position += len(rows)
    assert len(seen) == big_realm.item_count
    assert len(set(seen)) == big_realm.item_count


def test_an_escaped_apostrophe_finds_the_item(catalog: Catalog) -> None:
    # python-quickbooks escapes the quote as \' (docs/qbo-api.md §2).
    found = Item.filter(Name=YQUEM, qb=catalog.qb)
    assert [(item.Id, item.Name) for item in found] == [(catalog.item_ids[YQUEM], YQUEM)]

    raw = catalog.api.rows(r"SELECT * FROM Item WHERE Name = 'Château d\'Yquem 2015'", "Item")
    assert [row["Id"] for row in raw] == [catalog.item_ids[YQUEM]]
    like = catalog.api.rows(r"SELECT * FROM Item WHERE Name LIKE '%d\'Yquem%'", "Item")
    assert [row["Id"] for row in like] == [catalog.item_ids[YQUEM]]


@pytest.mark.parametrize("field", ["MetaData.LastUpdatedTime", "Metadata.LastUpdatedTime"])
def test_dotted_metadata_last_updated_time(sandbox: SandboxProcess, field: str) -> None:
    conn = connect(sandbox, sandbox.new_company(seed="empty"))
    accounts = ensure_accounts(conn.api)
    early = [
        conn.api.create("Item", non_inventory_item_body(f"Early {n}", accounts)) for n in range(2)
    ]
    cutoff = max(parse_qbo_time(item["MetaData"]["LastUpdatedTime"]) for item in early)
    # QBO timestamps may have whole-second resolution; make the later items strictly newer.
    time.sleep(1.1)
    late = [
        conn.api.create("Item", non_inventory_item_body(f"Late {n}", accounts)) for n in range(2)
    ]

    stamp = cutoff.isoformat()
    newer = conn.api.rows(f"SELECT * FROM Item WHERE {field} > '{stamp}'", "Item")
    assert sorted(names(newer)) == sorted(names(late))
    older = conn.api.rows(f"SELECT * FROM Item WHERE {field} <= '{stamp}'", "Item")
    assert sorted(names(older)) == sorted(names(early))


def test_inactive_items_are_hidden_unless_asked_for(catalog: Catalog) -> None:
    default = catalog.api.rows("SELECT * FROM Item MAXRESULTS 1000", "Item")
    assert INACTIVE_ITEM not in names(default)
    by_name = catalog.api.rows(f"SELECT * FROM Item WHERE Name = '{INACTIVE_ITEM}'", "Item")
    assert by_name == []

    both = catalog.api.rows("SELECT * FROM Item WHERE Active IN (true, false)", "Item")
    assert sorted(names(both)) == sorted([*ACTIVE_ITEMS, INACTIVE_ITEM])
    inactive = catalog.api.rows("SELECT * FROM Item WHERE Active = false", "Item")
    assert names(inactive) == [INACTIVE_ITEM]
    assert inactive[0]["Active"] is False


@pytest.mark.parametrize(
    "statement",
    [
        "SELEKT * FROM Item",
        "SELECT * FROM Item WHERE Name = 'a' OR Name = 'b'",
        "SELECT * FROM Item WHERE Name = 'unterminated",
        "SELECT * FROM Item ORDERBY",
        "SELECT * Item",
    ],
)
def test_a_malformed_statement_is_a_query_parser_error(catalog: Catalog, statement: str) -> None:
    response = catalog.api.query_raw(statement)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["Fault"]["type"] == "ValidationFault"
    assert "QueryParserError" in body["Fault"]["Error"][0]["Detail"]
    assert "time" in body


@pytest.mark.parametrize(
    "statement",
    ["SELECT * FROM Item WHERE NoSuchField = 'x'", "SELECT * FROM NoSuchEntity"],
)
def test_unknown_fields_and_entities_are_refused(catalog: Catalog, statement: str) -> None:
    response = catalog.api.query_raw(statement)
    assert response.status_code == 400, response.text
    assert response.json()["Fault"]["type"] == "ValidationFault"


def test_get_and_post_forms_give_the_same_rows(catalog: Catalog) -> None:
    statement = "SELECT * FROM Item WHERE Name LIKE '%Rosé%' ORDERBY Name"
    got = catalog.api.request("GET", "query", params={"query": statement})
    posted = catalog.api.query_raw(statement)
    plain = catalog.api.request(
        "POST", "query", data=statement.encode(), headers={"Content-Type": "text/plain"}
    )
    results = [response.json() for response in (got, posted, plain)]
    for response, result in zip((got, posted, plain), results, strict=True):
        assert response.status_code == 200, response.text
        assert "time" in result
    expected = ["Bravo Rosé 2023", "Echo Rosé Magnum", "Foxtrot Sparkling Rosé"]
    assert [names(result["QueryResponse"]["Item"]) for result in results] == [expected] * 3


def test_keywords_in_any_case_and_extra_whitespace(catalog: Catalog) -> None:
    statement = (
        "  select   *  from Item\n  where  Type = 'Inventory'   AND Active = True"
        "  orderby   Name   desc  startposition 1   maxresults  10 "
    )
    rows = catalog.api.rows(statement, "Item")
    assert names(rows) == ["Echo Rosé Magnum", "Delta Riesling 2020"]


def test_an_empty_result_has_no_entity_key(catalog: Catalog) -> None:
    result = catalog.api.query("SELECT * FROM Item WHERE Name = 'Nothing Like This'")
    assert "Item" not in result
    assert Item.filter(Name="Nothing Like This", qb=catalog.qb) == []
