"""Import pages are decoded by the client itself (sync.clients.qbo.accounting.page_rows):
what the mirror keeps of a number must be exactly the digits QuickBooks sent, and an answer
that is not a page is a clear error."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from common.mirror import money, qty
from sync.clients.qbo.accounting import page_rows

# Amounts and quantities as QuickBooks writes them: at most 15 significant digits.
amounts = st.decimals(
    min_value=Decimal("-9999999999999.99"),
    max_value=Decimal("9999999999999.99"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)
quantities = st.decimals(
    min_value=Decimal("-99999999999"),
    max_value=Decimal("99999999999"),
    places=4,
    allow_nan=False,
    allow_infinity=False,
)


@given(total=amounts, count=quantities)
def test_every_amount_and_quantity_keeps_the_digits_quickbooks_sent(
    total: Decimal, count: Decimal
) -> None:
    content = f'{{"QueryResponse":{{"Invoice":[{{"Id":"1","TotalAmt":{total},"Qty":{count}}}]}}}}'
    [row] = page_rows(content.encode(), "Invoice")[0]
    assert money(row["TotalAmt"]) == total
    assert qty(row["Qty"]) == count


def test_a_number_longer_than_a_float_holds_is_decoded_exactly() -> None:
    content = b'{"QueryResponse":{"Invoice":[{"Id":"1","TotalAmt":12345678901234567.89}]}}'
    [row] = page_rows(content, "Invoice")[0]
    assert row["TotalAmt"] == Decimal("12345678901234567.89")
    assert isinstance(row["TotalAmt"], Decimal)


@given(content=st.binary(max_size=200))
def test_an_answer_that_is_not_a_page_gives_no_rows_or_a_clear_error(content: bytes) -> None:
    from sync.clients.qbo import QBOError

    try:
        rows = page_rows(content, "Invoice")[0]
    except QBOError:
        return
    assert isinstance(rows, list)


# Any JSON document: what a page's objects may hold, whatever QuickBooks puts in them.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(objects=st.lists(st.dictionaries(st.text(), json_values, max_size=5), max_size=4))
def test_a_page_decodes_to_what_the_json_module_makes_of_it(
    objects: list[dict[str, object]],
) -> None:
    # page_rows decodes with msgspec for speed; the rows must be the json module's,
    # every number with its type (int, or Decimal with the digits sent).
    content = _dumps({"QueryResponse": {"Invoice": objects}}).encode()
    expected = json.loads(content, parse_float=Decimal)["QueryResponse"]["Invoice"]
    rows, texts = page_rows(content, "Invoice")
    assert rows == expected
    assert _types(rows) == _types(expected)
    # Beside each row, its text as sent: what the mirror stores as raw.
    assert [json.loads(text, parse_float=Decimal) for text in texts] == rows


@given(
    objects=st.lists(st.dictionaries(st.text(), json_values, max_size=3) | json_values, max_size=4)
)
def test_what_is_not_an_object_in_a_page_is_left_out_of_rows_and_texts_alike(
    objects: list[object],
) -> None:
    content = _dumps({"QueryResponse": {"Invoice": objects}}).encode()
    rows, texts = page_rows(content, "Invoice")
    assert rows == [
        row
        for row in json.loads(content, parse_float=Decimal)["QueryResponse"]["Invoice"]
        if isinstance(row, dict)
    ]
    assert [json.loads(text, parse_float=Decimal) for text in texts] == rows


def test_a_page_msgspec_refuses_is_still_decoded_as_the_json_module_does() -> None:
    content = b'{"QueryResponse":{"Invoice":[{"Id":"1","Memo":"\\ud800"}]}}'
    assert page_rows(content, "Invoice")[0] == [{"Id": "1", "Memo": "\ud800"}]


def _dumps(value: object) -> str:
    """JSON with each Decimal written as a number, the way QuickBooks writes amounts."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(map(_dumps, value)) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value)


def _types(value: object) -> object:
    if isinstance(value, dict):
        return {key: _types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_types(item) for item in value]
    return type(value)
