"""allowances.books and the program figures: qualifying bottles net of returns, the
program's dates, SKUs and channel, units, the rate and the cap (docs/reports.md,
"Depletion allowances")."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Partner, User
from allowances import selectors
from allowances.books import ProgramTerms, qualifying
from inventory.channels.models import Channel, ChannelOverride
from sync.models import QBOConnection
from tests.inventory.reports.test_placements import account, sale

from .conftest import NOV, November

D = Decimal


def figures(program_rows: list[selectors.PartnerMonth]) -> dict[date, tuple[int, Decimal, Decimal]]:
    return {r.month: (r.accounts, r.bottles, r.due) for r in program_rows}


@pytest.mark.django_db
def test_the_books_net_returns_and_keep_to_the_programs_dates_and_skus(
    november: November, sam: User
) -> None:
    # Bistro Lune 60 − 12 = 48, Cellar Door 30 (its voided 100 and its brut left out);
    # Quiet Bar's October rosé is before the program. 78 bottles = 6.5 nine-litre cases.
    rows = selectors.program_months(november.program, sam)
    assert figures(rows) == {NOV: (2, D(78), D("156.00"))}
    assert rows[0].units == D("6.5")


@pytest.mark.django_db
def test_a_bottle_rate_a_cap_and_a_channel(
    november: November, sam: User, books_a: QBOConnection, ada: User
) -> None:
    program = november.program
    program.unit, program.rate = program.Unit.BOTTLE, D("0.50")
    program.save()
    terms = ProgramTerms.of(program)
    due = {k[1]: v.due for k, v in qualifying(terms, connection_ids=[books_a.pk]).items()}
    assert due == {
        november.accounts["Bistro Lune"]: D("24.00"),
        november.accounts["Cellar Door"]: D("15.00"),
    }
    program.account_cap = D("20.00")
    program.save()
    entries = qualifying(ProgramTerms.of(program), connection_ids=[books_a.pk])
    assert {k[1]: (v.due, v.capped) for k, v in entries.items()} == {
        november.accounts["Bistro Lune"]: (D("20.00"), True),
        november.accounts["Cellar Door"]: (D("15.00"), False),
    }
    # On-premise only: Cellar Door is a shop, Bistro Lune (no type, no rule) is "other".
    ChannelOverride.objects.create(
        connection=books_a, customer_qbo_id=november.accounts["Cellar Door"],
        channel=Channel.OFF_PREMISE, set_by=ada,
    )  # fmt: skip
    program.channel = Channel.ON_PREMISE
    program.save()
    assert qualifying(ProgramTerms.of(program), connection_ids=[books_a.pk]) == {}
    ChannelOverride.objects.create(
        connection=books_a, customer_qbo_id=november.accounts["Bistro Lune"],
        channel=Channel.ON_PREMISE, set_by=ada,
    )  # fmt: skip
    entries = qualifying(ProgramTerms.of(program), connection_ids=[books_a.pk])
    assert [k[1] for k in entries] == [november.accounts["Bistro Lune"]]


@pytest.mark.django_db
def test_more_returns_than_sales_earn_nothing_not_less(
    november: November, sam: User, books_a: QBOConnection
) -> None:
    sale(
        "credit_memo", november.rose_item, november.accounts["Cellar Door"], 40, date(2026, 11, 25)
    )
    assert figures(selectors.program_months(november.program, sam)) == {NOV: (1, D(48), D("96.00"))}


@pytest.mark.django_db
def test_a_partner_user_sees_only_its_partner_and_programs_that_name_it(
    november: November, alice: User, bob: User, partner_b: Partner, books_b: QBOConnection
) -> None:
    november.program.partners.add(partner_b)
    from tests.inventory.reports.test_placements import mapped_item

    item = mapped_item(books_b, "UF-ROSE-750")
    sale("invoice", item, account(books_b, "Chez B"), 24, date(2026, 11, 5))
    assert {r.partner.pk for r in selectors.program_months(november.program, bob)} == {partner_b.pk}
    assert {r.partner.pk for r in selectors.program_months(november.program, alice)} == {
        november.program.partners.get(slug="bubbles-brine").pk
    }
    november.program.partners.remove(partner_b)
    assert list(selectors.programs_for(bob)) == []


@pytest.mark.django_db
def test_the_query_count_does_not_grow_with_accounts(
    november: November, sam: User, books_a: QBOConnection
) -> None:
    def count() -> int:
        with CaptureQueriesContext(db_connection) as queries:
            selectors.program_months(november.program, sam)
        return len(queries)

    few = count()
    for n in range(30):
        sale("invoice", november.rose_item, account(books_a, f"Shop {n}"), 6, date(2026, 12, 2))
    assert count() == few
