from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pytest
from quickbooks.objects.customer import Customer
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.utils import build_choose_clause, build_where_clause

from qbo_sandbox.query import (
    MAX_RESULTS_CAP,
    QUERYABLE,
    Condition,
    Query,
    QueryError,
    QueryResult,
    execute,
    parse,
    to_response,
)

Obj = Mapping[str, Any]


def item(id_: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"Id": id_, "Name": name, "Active": True, **extra}


ITEMS = [
    item("1", "Crémant: Brut", Sku="UF-CR-750", Type="Inventory", UnitPrice=24),
    item("2", "Crémant: Rosé", Sku="UF-RO-750", Type="Inventory", UnitPrice=26.5),
    item("3", "Château d'Yquem 2015", Sku="CY-2015", Type="Inventory", UnitPrice=Decimal("410.00")),
    item("9", "Brut Nature", Type="NonInventory", UnitPrice="19.99"),
    item("10", "Tasting fee", Type="Service", UnitPrice=15),
    item("11", "Old Rosé", Sku="UF-OLD", Type="Inventory", UnitPrice=12, Active=False),
]


def ids(
    statement: str, objects: Sequence[Obj] = ITEMS, *, hides_inactive: bool = False
) -> list[str]:
    result = execute(parse(statement), objects, hides_inactive=hides_inactive)
    return [obj["Id"] for obj in result.objects]


def count(statement: str, objects: Sequence[Obj] = ITEMS, *, hides_inactive: bool = False) -> int:
    result = execute(parse(statement), objects, hides_inactive=hides_inactive)
    assert result.objects == []
    assert result.total_count is not None
    return result.total_count


def error(statement: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse(statement)
    return caught.value


# --- python-quickbooks, end to end through its own query builders ------------------------


class FakeQuickBooks:
    """Stands in for pyqb's client at its one query seam, answering through this module."""

    def __init__(self, objects: Sequence[Obj], *, hides_inactive: bool) -> None:
        self.objects = objects
        self.hides_inactive = hides_inactive
        self.statements: list[str] = []

    def query(self, select: str) -> dict[str, Any]:
        self.statements.append(select)
        query = parse(select)
        result = execute(query, self.objects, hides_inactive=self.hides_inactive)
        return {"QueryResponse": to_response(query, result), "time": "2025-05-01T10:00:00-07:00"}


def test_pyqb_all_sends_star_sku_and_gets_every_active_item() -> None:
    qb = FakeQuickBooks(ITEMS, hides_inactive=True)
    items = Item.all(qb=qb)
    assert qb.statements == ["SELECT *, Sku FROM Item MAXRESULTS 100"]
    assert [i.Id for i in items] == ["1", "2", "3", "9", "10"]
    assert items[0].Sku == "UF-CR-750"


def test_pyqb_all_with_order_by_sends_two_words() -> None:
    qb = FakeQuickBooks(ITEMS, hides_inactive=True)
    items = Item.all(order_by="UnitPrice DESC", max_results=2, qb=qb)
    assert qb.statements == ["SELECT *, Sku FROM Item ORDER BY UnitPrice DESC MAXRESULTS 2"]
    assert [i.Id for i in items] == ["3", "2"]


def test_pyqb_filter_escapes_the_quote_and_sends_python_true() -> None:
    qb = FakeQuickBooks(ITEMS, hides_inactive=True)
    items = Item.filter(Name="Château d'Yquem 2015", Active=True, qb=qb)
    assert qb.statements == [
        "SELECT * FROM Item WHERE Name = 'Château d\\'Yquem 2015' AND Active = True"
    ]
    assert [i.Id for i in items] == ["3"]


def test_pyqb_where_sends_orderby_startposition_maxresults() -> None:
    qb = FakeQuickBooks(ITEMS, hides_inactive=True)
    items = Item.where("", order_by="Id", start_position=1, max_results=1000, qb=qb)
    assert qb.statements == ["SELECT * FROM Item  ORDERBY Id STARTPOSITION 1 MAXRESULTS 1000"]
    assert [i.Id for i in items] == ["1", "2", "3", "9", "10"]


def test_pyqb_count_reads_total_count() -> None:
    qb = FakeQuickBooks(ITEMS, hides_inactive=True)
    assert Item.count(qb=qb) == 5
    assert Item.count("Active = true", qb=qb) == 5
    assert Item.count("Active = false", qb=qb) == 1
    assert qb.statements == [
        "SELECT COUNT(*) FROM Item ",
        "SELECT COUNT(*) FROM Item WHERE Active = true",
        "SELECT COUNT(*) FROM Item WHERE Active = false",
    ]


def test_pyqb_choose_quoted_and_unquoted_ids() -> None:
    qb = FakeQuickBooks(ITEMS, hides_inactive=True)
    assert [i.Id for i in Item.choose(["10", "2", "404"], qb=qb)] == ["2", "10"]
    assert [i.Id for i in Item.choose([1, 9], qb=qb)] == ["1", "9"]
    assert qb.statements == [
        "SELECT * FROM Item WHERE Id in ('10', '2', '404')",
        "SELECT * FROM Item WHERE Id in (1, 9)",
    ]


def test_pyqb_empty_result_is_an_empty_list() -> None:
    qb = FakeQuickBooks(ITEMS, hides_inactive=True)
    assert Item.filter(Name="Nothing", qb=qb) == []
    assert Customer.all(qb=FakeQuickBooks([], hides_inactive=True)) == []


def test_pyqb_invoices_by_customer_ref() -> None:
    invoices = [
        {"Id": "5", "DocNumber": "1001", "CustomerRef": {"value": "20", "name": "Bar"}},
        {"Id": "6", "DocNumber": "1002", "CustomerRef": {"value": "21", "name": "Cave"}},
    ]
    qb = FakeQuickBooks(invoices, hides_inactive=False)
    found = Invoice.where(build_choose_clause(["20"], "CustomerRef"), qb=qb)
    assert [i.DocNumber for i in found] == ["1001"]


@pytest.mark.parametrize(
    "statement",
    [
        # Verbatim from docs/qbo-api.md §2, "Statements pyqb sends".
        "SELECT *, Sku FROM Item MAXRESULTS 100",
        "SELECT * FROM Item WHERE Name = 'O\\'Brien' AND Active = True",
        "SELECT * FROM Item ORDERBY Id STARTPOSITION 1 MAXRESULTS 1000",
        "SELECT * FROM Item ORDER BY Name DESC",
        "SELECT COUNT(*) FROM Item WHERE Active = true",
        "SELECT * FROM Item WHERE Id in ('1', '2')",
        "select * from Invoice orderby DocNumber desc, Id desc",
        # The Intuit example, with the entity's own MetaData spelling.
        "SELECT * FROM Invoice WHERE Metadata.LastUpdatedTime > '2011-08-10T10:20:30-0700'",
    ],
)
def test_documented_statements_parse(statement: str) -> None:
    parse(statement)


# --- Grammar --------------------------------------------------------------------------


def test_parse_builds_the_public_query() -> None:
    query = parse(
        "select Id, name from Item where metadata.lastupdatedtime >= '2025-01-01' "
        "and parentRef = '20' and Name like '%Brut%' and ID in (1, 'b', c) "
        "order by Name desc, UNITPRICE asc, id maxresults 5 startposition 3"
    )
    assert query == Query(
        entity="Item",
        count=False,
        fields=("Id", "Name"),
        conditions=(
            Condition("MetaData.LastUpdatedTime", ">=", "2025-01-01"),
            Condition("ParentRef", "=", "20"),
            Condition("Name", "LIKE", "%Brut%"),
            Condition("Id", "IN", (Decimal("1"), "b", "c")),
        ),
        order_by=(("Name", True), ("UnitPrice", False), ("Id", False)),
        start_position=3,
        max_results=5,
    )


def test_defaults_for_select_star() -> None:
    query = parse("SELECT * FROM Item")
    assert query.fields is None
    assert query.count is False
    assert query.conditions == ()
    assert query.order_by == ()
    assert (query.start_position, query.max_results) == (1, 100)


def test_star_with_extra_field_keeps_both() -> None:
    assert parse("SELECT *, sku FROM Item").fields == ("*", "Sku")


@pytest.mark.parametrize("statement", ["SELECT COUNT(*) FROM Item", "select count ( * ) from Item"])
def test_count_star(statement: str) -> None:
    query = parse(statement)
    assert query.count is True
    assert query.fields is None


def test_keywords_any_case_and_whitespace_anywhere() -> None:
    statement = (
        "\n  sElEcT\t*\n FrOm   Item\r\n  wHeRe Name\n=\n'Brut Nature'\n"
        "  aNd  Active=true OrDeRbY Name DeSc\n MaXrEsUlTs\t7 StArTpOsItIoN 1\n"
    )
    query = parse(statement)
    assert query.max_results == 7
    assert query.order_by == (("Name", True),)
    assert ids(statement) == ["9"]


def test_operators_without_spaces() -> None:
    assert ids("SELECT * FROM Item WHERE UnitPrice>=24 AND UnitPrice<=26.5") == ["1", "2"]


def test_field_list_still_returns_whole_objects() -> None:
    result = execute(parse("SELECT Id, Name FROM Item WHERE Id = '1'"), ITEMS, hides_inactive=True)
    assert result.objects == [ITEMS[0]]


def test_entity_name_is_matched_case_insensitively_and_canonicalised() -> None:
    assert parse("select * from ITEM").entity == "Item"
    assert parse("select * from paymentmethod").entity == "PaymentMethod"


def test_every_entity_accepts_id_and_metadata() -> None:
    for entity in QUERYABLE:
        parse(
            f"SELECT * FROM {entity} WHERE Id = '1' AND MetaData.CreateTime < '2030-01-01' "
            "ORDERBY MetaData.LastUpdatedTime"
        )


# --- Rejected statements --------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "encountered"),
    [
        ("SELECT * FROM Item WHERE Name = 'a' OR Name = 'b'", '" "or" "OR "" at line 1, column 37'),
        ("SELECT * FROMM Item", '" <IDENTIFIER> "FROMM "" at line 1, column 10'),
        ("SELECT * FROM Item WHERE Name <> 'a'", '" ">" "> "" at line 1, column 32'),
        ("SELECT * FROM Item WHERE", '"<EOF>" at line 1, column 25'),
        ("SELECT * FROM Item\nWHERE Name = 'a'\nGROUP BY Name", '"GROUP "" at line 3, column 1'),
        ("SELECT * FROM Item MAXRESULTS 1.5", '" <DECIMAL> "1.5 "" at line 1, column 31'),
        ("SELECT * FROM Item MAXRESULTS 5 MAXRESULTS 6", '"MAXRESULTS "" at line 1, column 33'),
        ("SELECT * FROM Item MAXRESULTS 5 ORDERBY Id", '"ORDERBY "" at line 1, column 33'),
        ("SELECT * FROM Item WHERE Name IN ()", '" ")" ") "" at line 1, column 35'),
        ("SELECT * FROM Item WHERE Name = ('a')", '" "(" "( "" at line 1, column 33'),
        ("SELECT Name FROM Item, Invoice", '" "," ", "" at line 1, column 22'),
        ("", '"<EOF>" at line 1, column 1'),
    ],
)
def test_syntax_errors_are_4000_naming_token_and_position(statement: str, encountered: str) -> None:
    raised = error(statement)
    assert raised.code == "4000"
    assert raised.message == "Error parsing query"
    assert raised.detail.startswith("QueryParserError: Encountered ")
    assert encountered in raised.detail


@pytest.mark.parametrize(
    ("statement", "detail"),
    [
        ("SELECT * FROM Item WHERE Name ! 'a'", 'column 31.  Encountered: "!" (33)'),
        ("SELECT * FROM Item WHERE Name = 'abc", 'column 37.  Encountered: <EOF> after : "\'abc"'),
        # A trailing backslash escapes the closing quote, as on QBO (quickbooks-ruby #345).
        ("SELECT * FROM Item WHERE Name = 'abc\\'", "Encountered: <EOF>"),
        ("SELECT * FROM Item;", 'Encountered: ";" (59)'),
    ],
)
def test_lexical_errors_are_4000(statement: str, detail: str) -> None:
    raised = error(statement)
    assert raised.code == "4000"
    assert raised.detail.startswith("QueryParserError: Invalid content. Lexical error at line 1")
    assert detail in raised.detail


@pytest.mark.parametrize(
    ("statement", "detail"),
    [
        (
            "SELECT * FROM Item WHERE Foo = 1",
            "QueryValidationError: property 'Foo' is not queryable",
        ),
        ("SELECT * FROM Item ORDERBY Foo", "property 'Foo' is not queryable"),
        ("SELECT Id, Foo FROM Item", "property 'Foo' is not queryable"),
        ("SELECT * FROM Item WHERE CustomerRef = '1'", "property 'CustomerRef' is not queryable"),
        ("SELECT * FROM Invoice WHERE Name = 'x'", "property 'Name' is not queryable"),
        ("SELECT * FROM Widget", "QueryValidationError: entity 'Widget' is not queryable"),
        ("SELECT * FROM Item WHERE UnitPrice = 'cheap'", "value 'cheap' is not valid"),
        ("SELECT * FROM Item WHERE Active = 1", "value '1' is not valid for property 'Active'"),
        ("SELECT * FROM Invoice WHERE TxnDate > 'yesterday'", "value 'yesterday' is not valid"),
        ("SELECT * FROM Item WHERE UnitPrice LIKE '1%'", "operator LIKE is not supported"),
        ("SELECT * FROM Item WHERE Sku > ' '", "null can only be compared with '=', '!=' or IN"),
        ("SELECT * FROM Item WHERE UnitPrice != 'cheap'", "value 'cheap' is not valid"),
        ("SELECT * FROM Item WHERE Active != 1", "value '1' is not valid for property 'Active'"),
        ("SELECT * FROM Item WHERE Foo != 1", "property 'Foo' is not queryable"),
    ],
)
def test_validation_errors_are_4001(statement: str, detail: str) -> None:
    raised = error(statement)
    assert raised.code == "4001"
    assert raised.message == "Invalid query"
    assert detail in raised.detail


def test_syntax_is_checked_before_names() -> None:
    assert error("SELECT * FROM Widget WHERE Foo = 1 OR Bar = 2").code == "4000"


def test_query_error_str_carries_message_and_detail() -> None:
    raised = error("SELECT * FROM Item WHERE Foo = 1")
    assert str(raised) == "Invalid query: QueryValidationError: property 'Foo' is not queryable"


# --- Values and comparison ------------------------------------------------------------


def test_escaped_quote() -> None:
    statement = "SELECT * FROM Item WHERE Name = 'Château d\\'Yquem 2015'"
    assert parse(statement).conditions[0].value == "Château d'Yquem 2015"
    assert ids(statement) == ["3"]


def test_escaped_backslash_and_other_backslashes() -> None:
    objects = [item("1", "a\\b"), item("2", "C:\\wines"), item("3", "ab")]
    assert parse("SELECT * FROM Item WHERE Name = 'a\\\\b'").conditions[0].value == "a\\b"
    assert ids("SELECT * FROM Item WHERE Name = 'a\\\\b'", objects) == ["1"]
    # \w is no escape sequence, so the backslash stays part of the value.
    assert ids("SELECT * FROM Item WHERE Name = 'C:\\wines'", objects) == ["2"]


def test_strings_compare_case_insensitively() -> None:
    assert ids("SELECT * FROM Item WHERE Name = 'CRÉMANT: BRUT'") == ["1"]
    assert ids("SELECT * FROM Item WHERE Type = inventory") == ["1", "2", "3", "11"]
    assert ids("SELECT * FROM Item WHERE Name < 'c' ORDERBY Name") == ["9"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("%Brut%", ["1", "9"]),
        ("Cr%", ["1", "2"]),
        ("cré%", ["1", "2"]),
        ("%rosé", ["2", "11"]),
        ("%: %", ["1", "2"]),
        ("Crémant: Brut", ["1"]),
        ("Cr%t%u%", ["1"]),
        ("%", ["1", "2", "3", "9", "10", "11"]),
        # Only % is a wildcard: _ and regex characters are literal.
        ("Cr_mant%", []),
        ("Cr.mant%", []),
    ],
)
def test_like(pattern: str, expected: list[str]) -> None:
    assert ids(f"SELECT * FROM Item WHERE Name LIKE '{pattern}'") == expected


def test_in_on_ids_sorts_numerically_and_ignores_misses() -> None:
    assert ids("SELECT * FROM Item WHERE Id IN ('10', '9', '1', '404')") == ["1", "9", "10"]
    assert ids("SELECT * FROM Item WHERE Id IN (10, 9)") == ["9", "10"]
    assert ids("SELECT * FROM Item WHERE Id > '3'") == ["9", "10", "11"]


INVOICES: list[dict[str, Any]] = [
    {
        "Id": "101",
        "DocNumber": "1001",
        "TxnDate": "2025-01-15",
        "CustomerRef": {"value": "20", "name": "Bar à Vin"},
        "Balance": 120.5,
        "TotalAmt": Decimal("120.50"),
        "MetaData": {"LastUpdatedTime": "2025-05-01T10:00:00-07:00"},
    },
    {
        "Id": "102",
        "DocNumber": "1002",
        "TxnDate": "2024-12-31",
        "CustomerRef": {"value": "21", "name": "Cave"},
        "Balance": 0,
        "TotalAmt": 80,
        "MetaData": {"LastUpdatedTime": "2025-05-01T18:30:00+02:00"},
    },
    {
        "Id": "103",
        "DocNumber": "1003",
        "TxnDate": "2025-02-01",
        "CustomerRef": {"value": "200"},
        "Balance": "0.30",
        "TotalAmt": 0.3,
        "MetaData": {"LastUpdatedTime": "2025-05-01T17:00:01Z"},
    },
    {"Id": "104", "DocNumber": "1004", "TxnDate": "2025-03-01"},
]


def test_reference_fields_compare_on_value() -> None:
    assert ids("SELECT * FROM Invoice WHERE CustomerRef = '20'", INVOICES) == ["101"]
    assert ids("SELECT * FROM Invoice WHERE CustomerRef = 20", INVOICES) == ["101"]
    assert ids("SELECT * FROM Invoice WHERE CustomerRef IN ('21', '200')", INVOICES) == [
        "102",
        "103",
    ]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # 101 is 17:00:00Z, 102 is 16:30:00Z and 103 is 17:00:01Z.
        ("MetaData.LastUpdatedTime > '2025-05-01T17:00:00Z'", ["103"]),
        ("MetaData.LastUpdatedTime >= '2025-05-01T17:00:00Z'", ["101", "103"]),
        ("MetaData.LastUpdatedTime = '2025-05-01T19:00:00+02:00'", ["101"]),
        ("Metadata.LastUpdatedTime < '2025-05-01T10:00:00-0700'", ["102"]),
        ("metadata.lastupdatedtime <= '2025-05-01T12:00:00.000-05:00'", ["101", "102"]),
        # A literal without an offset is US Pacific time (PDT on this date).
        ("MetaData.LastUpdatedTime = '2025-05-01T10:00:00'", ["101"]),
        ("MetaData.LastUpdatedTime < '2025-05-02'", ["101", "102", "103"]),
    ],
)
def test_datetimes_compare_as_instants_across_zones(condition: str, expected: list[str]) -> None:
    assert ids(f"SELECT * FROM Invoice WHERE {condition}", INVOICES) == expected


def test_dates() -> None:
    statement = "SELECT * FROM Invoice WHERE TxnDate >= '2025-01-01' AND TxnDate < '2025-03-01'"
    assert ids(statement, INVOICES) == ["101", "103"]
    assert ids("SELECT * FROM Invoice WHERE TxnDate = '2024-12-31'", INVOICES) == ["102"]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("Balance = 120.5", ["101"]),
        ("Balance = '120.50'", ["101"]),
        ("TotalAmt = 120.5", ["101"]),
        ("Balance > 0", ["101", "103"]),
        ("Balance = 0.3", ["103"]),
        ("TotalAmt = 0.30", ["103"]),
        ("TotalAmt <= 80", ["102", "103"]),
        ("Balance > -1", ["101", "102", "103"]),
        ("DocNumber = 1002", ["102"]),
    ],
)
def test_numbers_compare_as_decimals(condition: str, expected: list[str]) -> None:
    assert ids(f"SELECT * FROM Invoice WHERE {condition}", INVOICES) == expected


def test_null_is_a_single_space() -> None:
    assert parse("SELECT * FROM Item WHERE Sku = ' '").conditions[0].value is None
    assert ids("SELECT * FROM Item WHERE Sku = ' '") == ["9", "10"]
    assert ids("SELECT * FROM Item WHERE Sku IN (' ', 'CY-2015')") == ["3", "9", "10"]
    assert ids("SELECT * FROM Invoice WHERE CustomerRef = ' '", INVOICES) == ["104"]


def test_missing_properties_never_match_a_comparison() -> None:
    assert ids("SELECT * FROM Invoice WHERE Balance < 1000", INVOICES) == ["101", "102", "103"]


# --- Not equal ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        # Strings, case-insensitively; a bare word is a string too.
        ("SELECT * FROM Item WHERE Name != 'CRÉMANT: BRUT'", ["2", "3", "9", "10", "11"]),
        ("SELECT * FROM Item WHERE Type != inventory", ["9", "10"]),
        ("SELECT * FROM Item WHERE Name !='Brut Nature'", ["1", "2", "3", "10", "11"]),
        # Ids and references numerically, whether quoted or not.
        ("SELECT * FROM Item WHERE Id != '09'", ["1", "2", "3", "10", "11"]),
        ("SELECT * FROM Invoice WHERE CustomerRef != 20", ["102", "103"]),
        # Amounts as decimals: 120.5 is '120.50'.
        ("SELECT * FROM Invoice WHERE Balance != '120.50'", ["102", "103"]),
        ("SELECT * FROM Invoice WHERE TotalAmt != 0.30", ["101", "102"]),
        # Dates as dates, date-times as instants (101 is 17:00:00Z).
        ("SELECT * FROM Invoice WHERE TxnDate != '2025-01-15'", ["102", "103", "104"]),
        (
            "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime != '2025-05-01T19:00:00+02:00'",
            ["102", "103"],
        ),
        # Booleans in any spelling.
        ("SELECT * FROM Item WHERE Active != TRUE", ["11"]),
        ("SELECT * FROM Item WHERE Active != 'false'", ["1", "2", "3", "9", "10"]),
        # Null: != ' ' is "has a value".
        ("SELECT * FROM Item WHERE Sku != ' '", ["1", "2", "3", "11"]),
        ("SELECT * FROM Invoice WHERE CustomerRef != ' '", ["101", "102", "103"]),
        # Like every comparison, it never matches an object without the property.
        ("SELECT * FROM Item WHERE Sku != 'UF-CR-750'", ["2", "3", "11"]),
        # Combined with AND, and with the other operators.
        (
            "SELECT * FROM Item WHERE Type = 'Inventory' AND Name != 'Old Rosé' "
            "AND UnitPrice != 24 AND Sku LIKE 'UF%'",
            ["2"],
        ),
        ("SELECT * FROM Item WHERE Id != '1' AND Id != '2' AND Id IN ('1', '2', '3')", ["3"]),
    ],
)
def test_not_equal(statement: str, expected: list[str]) -> None:
    objects = INVOICES if "FROM Invoice" in statement else ITEMS
    assert ids(statement, objects) == expected


def test_not_equal_is_the_public_operator_and_counts() -> None:
    query = parse("SELECT COUNT(*) FROM Item WHERE Name != 'Tasting fee' AND Active != false")
    assert [(c.field, c.op, c.value) for c in query.conditions] == [
        ("Name", "!=", "Tasting fee"),
        ("Active", "!=", False),
    ]
    assert count("SELECT COUNT(*) FROM Item WHERE Name != 'Tasting fee'") == 5
    # `Active != true` constrains Active, so the inactive row is found where it is hidden
    # by default.
    assert count("SELECT COUNT(*) FROM Item WHERE Active != true", hides_inactive=True) == 1


def test_booleans_accept_any_case_and_quotes() -> None:
    assert ids("SELECT * FROM Item WHERE Active = FALSE") == ["11"]
    assert ids("SELECT * FROM Item WHERE Active = 'false'") == ["11"]


# --- Inactive rows --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("", ["1", "2", "3", "9", "10"]),
        ("WHERE Type = 'Inventory'", ["1", "2", "3"]),
        ("WHERE Active = true", ["1", "2", "3", "9", "10"]),
        ("WHERE Active = false", ["11"]),
        ("WHERE Active IN (true, false)", ["1", "2", "3", "9", "10", "11"]),
        ("WHERE Active IN (false)", ["11"]),
    ],
)
def test_name_lists_hide_inactive_unless_active_is_constrained(
    where: str, expected: list[str]
) -> None:
    assert ids(f"SELECT * FROM Item {where}", hides_inactive=True) == expected


def test_entities_that_do_not_hide_inactive_show_everything() -> None:
    assert ids("SELECT * FROM Item", hides_inactive=False) == ["1", "2", "3", "9", "10", "11"]


def test_count_hides_inactive_too() -> None:
    assert count("SELECT COUNT(*) FROM Item", hides_inactive=True) == 5
    assert (
        count("SELECT COUNT(*) FROM Item WHERE Active IN (true, false)", hides_inactive=True) == 6
    )


# --- Ordering and paging --------------------------------------------------------------


def test_default_order_is_id_numeric() -> None:
    shuffled = [ITEMS[4], ITEMS[0], ITEMS[3], ITEMS[2], ITEMS[1]]
    assert ids("SELECT * FROM Item", shuffled) == ["1", "2", "3", "9", "10"]


def test_order_by_two_keys_with_desc() -> None:
    assert ids("SELECT * FROM Item ORDERBY Type, Name DESC") == ["11", "2", "1", "3", "9", "10"]
    assert ids("SELECT * FROM Item ORDER BY Type DESC, UnitPrice ASC") == [
        "10",
        "9",
        "11",
        "1",
        "2",
        "3",
    ]


def test_order_by_number_mixes_int_float_decimal_and_string() -> None:
    assert ids("SELECT * FROM Item ORDERBY UnitPrice") == ["11", "10", "9", "1", "2", "3"]


def test_order_by_breaks_ties_by_id_and_puts_missing_values_first() -> None:
    objects = [item("12", "b"), item("3", "a", Sku="X"), item("7", "c"), item("2", "d", Sku="X")]
    assert ids("SELECT * FROM Item ORDERBY Sku", objects) == ["7", "12", "2", "3"]
    assert ids("SELECT * FROM Item ORDERBY Sku DESC", objects) == ["2", "3", "7", "12"]


def test_order_by_reference_value() -> None:
    assert ids("SELECT * FROM Invoice ORDERBY CustomerRef DESC", INVOICES) == [
        "103",
        "102",
        "101",
        "104",
    ]


@pytest.mark.parametrize(
    ("paging", "expected"),
    [
        ("", ["1", "2", "3", "9", "10", "11"]),
        ("STARTPOSITION 1 MAXRESULTS 2", ["1", "2"]),
        ("STARTPOSITION 3 MAXRESULTS 2", ["3", "9"]),
        ("MAXRESULTS 2 STARTPOSITION 3", ["3", "9"]),
        ("STARTPOSITION 5", ["10", "11"]),
        ("STARTPOSITION 6 MAXRESULTS 5", ["11"]),
        ("STARTPOSITION 7", []),
        ("STARTPOSITION 0 MAXRESULTS 1", ["1"]),
        ("STARTPOSITION -4 MAXRESULTS 1", ["1"]),
        ("MAXRESULTS 0", ["1"]),
    ],
)
def test_paging(paging: str, expected: list[str]) -> None:
    assert ids(f"SELECT * FROM Item {paging}") == expected


def test_paging_applies_after_ordering() -> None:
    assert ids("SELECT * FROM Item ORDERBY Name STARTPOSITION 2 MAXRESULTS 2") == ["3", "1"]


def many(n: int) -> list[dict[str, Any]]:
    return [item(str(i), f"Wine {i}") for i in range(1, n + 1)]


def test_default_page_is_100_and_maxresults_caps_at_1000() -> None:
    objects = many(1500)
    assert len(ids("SELECT * FROM Item", objects)) == 100
    page = ids("SELECT * FROM Item MAXRESULTS 1500", objects)
    assert parse("SELECT * FROM Item MAXRESULTS 1500").max_results == MAX_RESULTS_CAP
    assert page == [str(i) for i in range(1, 1001)]
    assert ids("SELECT * FROM Item STARTPOSITION 1001 MAXRESULTS 1000", objects)[-1] == "1500"


def test_count_ignores_order_and_paging() -> None:
    objects = many(1500)
    statement = "SELECT COUNT(*) FROM Item WHERE Name LIKE 'Wine 1%' ORDERBY Name STARTPOSITION 5"
    assert count(statement + " MAXRESULTS 3", objects) == 612  # 1, 10-19, 100-199, 1000-1500


def test_execute_returns_the_objects_themselves() -> None:
    result = execute(parse("SELECT * FROM Item WHERE Id = '3'"), ITEMS, hides_inactive=True)
    assert result.objects[0] is ITEMS[2]
    assert result.total_count is None


def test_execute_accepts_any_iterable_once() -> None:
    assert (
        execute(parse("SELECT * FROM Item"), iter(ITEMS), hides_inactive=True).objects
        == (ITEMS[:5])
    )


# --- Response shape -------------------------------------------------------------------


def test_to_response_for_a_page() -> None:
    query = parse("SELECT * FROM Item STARTPOSITION 2 MAXRESULTS 2")
    result = execute(query, ITEMS, hides_inactive=True)
    assert to_response(query, result) == {
        "Item": [ITEMS[1], ITEMS[2]],
        "startPosition": 2,
        "maxResults": 2,
    }


def test_to_response_max_results_is_the_number_returned() -> None:
    query = parse("SELECT * FROM Item STARTPOSITION 5 MAXRESULTS 100")
    result = execute(query, ITEMS, hides_inactive=True)
    assert to_response(query, result) == {"Item": [ITEMS[4]], "startPosition": 5, "maxResults": 1}


def test_to_response_for_count() -> None:
    query = parse("SELECT COUNT(*) FROM Item")
    assert to_response(query, execute(query, ITEMS, hides_inactive=True)) == {"totalCount": 5}
    assert to_response(query, execute(query, [], hides_inactive=True)) == {"totalCount": 0}


def test_to_response_for_nothing_found_has_no_entity_key() -> None:
    query = parse("SELECT * FROM Item WHERE Name = 'Nothing'")
    assert to_response(query, execute(query, ITEMS, hides_inactive=True)) == {}
    assert to_response(query, QueryResult(objects=[])) == {}


# --- Names escaped the way python-quickbooks escapes them -----------------------------

_ALPHABET = "abcXYZ éèçÉôœ'':::0129-&"


def _generated_names(seed: int, n: int) -> list[str]:
    """Names full of quotes, colons, accents and backslashes, distinct ignoring case.

    pyqb escapes only the quote (`utils.build_where_clause`), so a backslash it sends
    reaches the lexer raw. A backslash before a quote, before another backslash or at
    the end is therefore ambiguous (see the test below); every other one is kept.
    """
    rng = random.Random(seed)
    names: dict[str, str] = {}
    while len(names) < n:
        chars = [rng.choice(_ALPHABET) for _ in range(rng.randint(1, 24))]
        for _ in range(rng.randint(0, 3)):
            chars.insert(rng.randint(0, len(chars) - 1), "\\")
        name = "".join(chars)
        if any(a == "\\" and b in "'\\" for a, b in zip(name, name[1:], strict=False)):
            continue
        if name.endswith("\\") or name == " ":
            continue
        names.setdefault(name.casefold(), name)
    return list(names.values())


def test_generated_names_cover_the_hard_characters() -> None:
    joined = "".join(_generated_names(seed=1, n=300))
    for char in "'\\:éôœÉ":
        assert char in joined


@pytest.mark.parametrize("seed", range(5))
def test_pyqb_escaped_names_find_exactly_their_object(seed: int) -> None:
    names = _generated_names(seed, n=300)
    objects = [item(str(i), name) for i, name in enumerate(names, start=1)]
    for i, name in enumerate(names, start=1):
        statement = "SELECT * FROM Item WHERE " + build_where_clause(Name=name)
        assert ids(statement, objects) == [str(i)], statement
        choose = "SELECT * FROM Item WHERE " + build_choose_clause([name], "Name")
        assert ids(choose, objects) == [str(i)], choose


def test_names_pyqb_cannot_escape_unambiguously() -> None:
    objects = [item("1", "a\\\\b"), item("2", "Case b\\"), item("3", "x\\'y")]
    # pyqb sends 'a\\b', which reads as a\b: the double backslash is lost.
    assert ids("SELECT * FROM Item WHERE " + build_where_clause(Name="a\\\\b"), objects) == []
    # A trailing backslash swallows the closing quote (QBO does the same).
    assert error("SELECT * FROM Item WHERE " + build_where_clause(Name="Case b\\")).code == "4000"
    # pyqb sends 'x\\'y': the escaped backslash closes the string early.
    assert error("SELECT * FROM Item WHERE " + build_where_clause(Name="x\\'y")).code == "4000"
