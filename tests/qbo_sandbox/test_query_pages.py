"""A plain page of whole objects is answered from the stored JSON texts, spliced without
decoding them (qbo_sandbox/operations.run_query_text); every such answer must be exactly
what the general query path gives. A batch's Query item always takes the general path, so
each statement is asked both ways and the answers compared."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .support import connect, decimal_json

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

    from .support import RealmApi


@pytest.fixture(scope="module")
def demo_api(sandbox: SandboxProcess) -> RealmApi:
    return connect(sandbox, sandbox.new_company(seed="demo", scale=2)).api


def both_ways(api: RealmApi, statements: list[str]) -> list[tuple[Any, Any]]:
    answers = api.batch([{"bId": str(n), "Query": s} for n, s in enumerate(statements)])
    assert answers.status_code == 200, answers.text
    general = {
        item["bId"]: item.get("QueryResponse", item.get("Fault"))
        for item in decimal_json(answers)["BatchItemResponse"]
    }
    pairs = []
    for n, statement in enumerate(statements):
        response = api.query_raw(statement)
        direct = decimal_json(response)
        pairs.append((direct.get("QueryResponse", direct.get("Fault")), general[str(n)]))
    return pairs


def test_an_import_page_is_answered_as_the_general_path_answers_it(demo_api: RealmApi) -> None:
    statements = [
        "SELECT * FROM Invoice WHERE Id > '0' ORDERBY Id MAXRESULTS 1000",
        "SELECT * FROM Invoice WHERE Id > '500' ORDERBY Id MAXRESULTS 1000",
        "SELECT * FROM Payment ORDERBY Id STARTPOSITION 11 MAXRESULTS 10",
        "SELECT * FROM Customer",
        "SELECT * FROM Customer WHERE Active IN (true, false) ORDERBY Id",
        "SELECT * FROM Item WHERE Active IN (true, false) ORDERBY Id",
        "SELECT * FROM Invoice WHERE Id > '99999999'",
    ]
    pairs = both_ways(demo_api, statements)
    for statement, (direct, general) in zip(statements, pairs, strict=True):
        assert direct == general, statement
    assert len(pairs[0][0]["Invoice"]) > 500 and pairs[-1][0] == {}


clauses = st.sampled_from(
    [
        "",
        "WHERE Id > '{n}'",
        "WHERE Id < '{n}'",
        "WHERE Id = '{n}'",
        "WHERE Id IN ('{n}', '3', '7')",
        "WHERE TotalAmt > '{n}'",
        "WHERE TxnDate >= '2025-06-01'",
        "WHERE Id > '{n}' AND TotalAmt >= '50'",
        "WHERE DocNumber = '1003'",
        "WHERE CustomerRef = '{n}'",
    ]
)
orders = st.sampled_from(
    ["", "ORDERBY Id", "ORDERBY Id DESC", "ORDERBY TxnDate", "ORDERBY TxnDate DESC, Id DESC",
     "ORDERBY TotalAmt DESC"]
)  # fmt: skip


@settings(max_examples=12)
@given(
    entity=st.sampled_from(["Invoice", "Payment"]),
    where=st.lists(clauses, min_size=3, max_size=3),
    order=st.lists(orders, min_size=3, max_size=3),
    n=st.integers(0, 900),
    start=st.integers(1, 40),
    size=st.integers(1, 1000),
)
def test_any_page_is_answered_as_the_general_path_answers_it(
    demo_api: RealmApi,
    entity: str,
    where: list[str],
    order: list[str],
    n: int,
    start: int,
    size: int,
) -> None:
    # Three statements per example: one batch request each, under the batch limit.
    statements = [
        f"SELECT * FROM {entity} {w.format(n=n)} {o} STARTPOSITION {start} MAXRESULTS {size}"
        for w, o in zip(where, order, strict=True)
    ]
    for statement, (direct, general) in zip(
        statements, both_ways(demo_api, statements), strict=True
    ):
        assert direct == general, statement
