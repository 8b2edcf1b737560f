"""Import pages are decoded by the client itself (sync.clients.qbo.accounting.page_objects):
what the mirror keeps of a number must be exactly the digits QuickBooks sent, and an answer
that is not a page is a clear error."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from common.mirror import money, qty
from sync.clients.qbo.accounting import page_objects

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
    [row] = page_objects(content.encode(), "Invoice")
    assert money(row["TotalAmt"]) == total
    assert qty(row["Qty"]) == count


def test_a_number_longer_than_a_float_holds_is_decoded_exactly() -> None:
    content = b'{"QueryResponse":{"Invoice":[{"Id":"1","TotalAmt":12345678901234567.89}]}}'
    [row] = page_objects(content, "Invoice")
    assert row["TotalAmt"] == Decimal("12345678901234567.89")
    assert isinstance(row["TotalAmt"], Decimal)


@given(content=st.binary(max_size=200))
def test_an_answer_that_is_not_a_page_gives_no_rows_or_a_clear_error(content: bytes) -> None:
    from sync.clients.qbo import QBOError

    try:
        rows = page_objects(content, "Invoice")
    except QBOError:
        return
    assert isinstance(rows, list)
