"""A program's allowance and a claim's check on a seeded qbo_sandbox company, against
figures computed here, independently, from the documents its API lists: the sales forms,
the customers and their CustomerType names."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

import pytest

from accounts.models import Partner, User
from allowances import selectors, services
from allowances.models import AllowanceProgram, ClaimLine
from inventory.catalog.models import CatalogSKU
from inventory.catalog.services import catalog_demo_load
from inventory.channels.models import Channel
from inventory.mapping.models import SKUMapping
from sync import services as sync
from sync.models import SyncRun
from tests.sync.books import Books, connection_for
from tests.sync.conftest import (  # noqa: F401 (fixtures, found by pytest by name)
    pointed_at,
    sandbox_server,
)

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

D = Decimal
V = ClaimLine.Verdict
SIGNS = {"Invoice": 1, "SalesReceipt": 1, "CreditMemo": -1, "RefundReceipt": -1}
# The channel of the sandbox's four type names, written out here (not the app's table).
ON_PREMISE_TYPES = {"Restaurant", "Bar"}
RATE = D("13.50")


@pytest.fixture
def sandbox(sandbox_server: SandboxProcess) -> Iterator[SandboxProcess]:  # noqa: F811
    with pointed_at(sandbox_server):
        yield sandbox_server


def cents(value: Fraction) -> Decimal:
    return (D(value.numerator) / D(value.denominator)).quantize(D("0.01"), ROUND_HALF_UP)


def month_of(day: date) -> date:
    return day.replace(day=1)


def net_bottles(
    books: Books, items: dict[str, tuple[str, int]], start: date, end: date
) -> dict[tuple[str, str, date], Decimal]:
    """(customer id, SKU code, month) → net bottles from ``start`` to ``end``."""
    net: dict[tuple[str, str, date], Decimal] = defaultdict(Decimal)
    for entity, sign in SIGNS.items():
        for document in books.all(entity):
            customer = str(document.get("CustomerRef", {}).get("value", ""))
            day = date.fromisoformat(document["TxnDate"])
            if not customer or not start <= day <= end:
                continue
            for line in document.get("Line", []):
                detail = line.get("SalesItemLineDetail")
                if line.get("DetailType") != "SalesItemLineDetail" or detail.get("Qty") is None:
                    continue
                item = str(detail.get("ItemRef", {}).get("value", ""))
                if item in items:
                    code, per_unit = items[item]
                    net[(customer, code, month_of(day))] += sign * D(str(detail["Qty"])) * per_unit
    return net


@pytest.mark.django_db(transaction=True)
def test_a_programs_allowance_and_a_claims_check_equal_an_independent_count(
    sandbox: SandboxProcess, partner_a: Partner, sam: User, ada: User, alice: User
) -> None:
    catalog_demo_load()
    realm = sandbox.new_company(seed="demo", scale=1.0)
    books = Books(sandbox, realm)
    connection = connection_for(sandbox, partner_a, realm, company_name="Seeded books")
    run = sync.connection_sync(connection_id=connection.pk, trigger="test")
    assert run is not None and run.status == SyncRun.Status.SUCCEEDED, run and run.error
    from inventory.channels.services import customer_types_refresh

    customer_types_refresh(connection_id=connection.pk)
    items = {
        m.item_qbo_id: (m.catalog_sku.code, m.bottles_per_unit)
        for m in SKUMapping.objects.filter(connection=connection).select_related("catalog_sku")
    }
    codes = sorted({code for code, _ in items.values()})
    assert len(codes) >= 2
    covered, left_out = codes[:-1], codes[-1]
    formats = dict(CatalogSKU.objects.values_list("code", "format_ml"))
    # A program over the months two thirds into the history, mid-month to mid-month.
    days = sorted(date.fromisoformat(i["TxnDate"]) for i in books.all("Invoice"))
    middle = days[2 * len(days) // 3]
    start, end = middle.replace(day=10), middle.replace(day=10) + timedelta(days=75)
    program = AllowanceProgram.objects.create(
        name="Seeded on-premise push", start=start, end=end, rate=RATE,
        unit=AllowanceProgram.Unit.CASE_9L, channel=Channel.ON_PREMISE, created_by=ada,
    )  # fmt: skip
    program.partners.set([partner_a])
    program.skus.set(CatalogSKU.objects.filter(code__in=covered))

    # --- The independent count ---------------------------------------------------------
    types = {
        str(t["Id"]): t["Name"]
        for t in books.query("SELECT * FROM CustomerType").get("CustomerType", [])
    }
    customers = books.all("Customer")
    names = {str(c["Id"]): c["DisplayName"] for c in customers}
    on_premise = {
        str(c["Id"])
        for c in customers
        if types.get(str(c.get("CustomerTypeRef", {}).get("value", ""))) in ON_PREMISE_TYPES
    }
    assert on_premise
    within = net_bottles(books, items, start, end)
    expected: dict[date, tuple[int, Decimal, Decimal]] = {}
    per_account: dict[tuple[str, date], Fraction] = defaultdict(Fraction)
    bottles_of: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    for (customer, code, month), bottles in within.items():
        if code in covered and customer in on_premise and bottles > 0:
            per_account[(customer, month)] += Fraction(bottles) * formats[code] / 9000
            bottles_of[(customer, month)] += bottles
    for (customer, month), cases in per_account.items():
        accounts, bottles, due = expected.get(month, (0, D(0), D(0)))
        expected[month] = (
            accounts + 1,
            bottles + bottles_of[(customer, month)],
            due + cents(cases * Fraction(RATE)),
        )
    got = {r.month: (r.accounts, r.bottles, r.due) for r in selectors.program_months(program, sam)}
    assert got == expected
    assert len(expected) >= 2  # the period spans months with qualifying depletion
    # The channel restriction is doing something: off-premise accounts bought these too.
    assert any(
        code in covered and customer not in on_premise and bottles > 0
        for (customer, code, _), bottles in within.items()
    )

    # --- A claim: honest, inflated, outside the program, never bought --------------------
    month = max(expected, key=lambda m: expected[m][0])
    whole = net_bottles(
        books, items, month, (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    )
    window = (
        max(start, month),
        min(end, (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)),
    )
    inside = net_bottles(books, items, *window)
    buyers = sorted(
        (customer, code, bottles)
        for (customer, code, m), bottles in inside.items()
        if m == month and code in covered and customer in on_premise and bottles > 0
        and whole[(customer, code, m)] == bottles
    )  # fmt: skip
    assert len(buyers) >= 2
    (honest, honest_code, honest_bottles), (inflated, inflated_code, inflated_bottles) = buyers[:2]
    outside = next(
        (customer, bottles)
        for (customer, code, m), bottles in whole.items()
        if m == month and code == left_out and bottles > 0
    )
    bought_this_sku = {
        c for (c, code, m), b in whole.items() if m == month and code == honest_code and b > 0
    }
    never = next(c for c in sorted(names) if c not in bought_this_sku)

    def amount(code: str, bottles: Decimal) -> Decimal:
        return cents(Fraction(bottles) * formats[code] / 9000 * Fraction(RATE))

    text = "period,sku,account,bottles,amount\n" + "".join(
        f'{month:%Y-%m},{code},"{names[customer]}",{bottles:f},{amount(code, bottles)}\n'
        for customer, code, bottles in (
            (honest, honest_code, honest_bottles),
            (inflated, inflated_code, inflated_bottles + 12),
            (outside[0], left_out, outside[1]),
            (never, honest_code, D(6)),
        )
    )
    claim = services.claim_create(
        user=alice, partner=partner_a, program=program, content=text.encode()
    )
    lines = list(claim.lines.all())
    assert [line.verdict for line in lines] == [
        V.MATCHED,
        V.OVER_CLAIMED,
        V.OVER_CLAIMED,
        V.UNSUPPORTED,
    ]
    assert lines[0].supported == lines[0].amount == amount(honest_code, honest_bottles)
    assert lines[1].supported == amount(inflated_code, inflated_bottles)
    assert lines[1].difference == amount(inflated_code, inflated_bottles + 12) - amount(
        inflated_code, inflated_bottles
    )
    assert lines[2].supported == lines[3].supported == 0
    assert claim.claimed == sum(line.amount or 0 for line in lines)
    assert claim.claimed == claim.supported + sum(line.difference for line in lines)
