"""Claims: reading the CSV (line-numbered errors, refusals of unreadable text, no input a
crash), checking each line against the books (matched / over-claimed / unsupported, with
the difference in dollars), sending, deciding and who may do each."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import AuditEvent, Partner, User
from allowances import services
from allowances.claims import read_claim
from allowances.models import Claim, ClaimLine
from tests.inventory.reports.test_placements import sale

from .conftest import November

D = Decimal
V = ClaimLine.Verdict
HEADER = "period,sku,account,bottles,cases,amount\n"
# One honest line, one inflated, one outside the program (the brut is not in it), one for
# an account that never bought.
FOUR = (
    HEADER
    + "2026-11,UF-ROSE-750,Bistro Lune,48,,96.00\n"
    + "2026-11,uf-rose-750,  cellar door ,,3,72.00\n"
    + "2026-11,UF-BRUT-750,Quiet Bar,12,,24.00\n"
    + "2026-11,UF-ROSE-750,Never Bought,12,,24.00\n"
)


def claim_of(text: str, november: November, user: User, partner: Partner) -> Claim:
    return services.claim_create(
        user=user, partner=partner, program=november.program, content=text.encode()
    )


def verdicts(claim: Claim) -> list[tuple[int, str, Decimal | None, Decimal]]:
    return [(line.line, line.verdict, line.amount, line.supported) for line in claim.lines.all()]


@pytest.mark.django_db
def test_each_kind_of_line_is_classified_and_the_totals_reconcile(
    november: November, alice: User, partner_a: Partner
) -> None:
    claim = claim_of(FOUR, november, alice, partner_a)
    assert verdicts(claim) == [
        (2, V.MATCHED, D("96.00"), D("96.00")),
        # 3 cases = 36 bottles; the books show 30, worth $60.00.
        (3, V.OVER_CLAIMED, D("72.00"), D("60.00")),
        (4, V.OVER_CLAIMED, D("24.00"), D("0")),
        (5, V.UNSUPPORTED, D("24.00"), D("0")),
    ]
    reasons = {line.line: line.reason for line in claim.lines.all()}
    assert "books show: 30" in reasons[3]
    assert "not one of the program's SKUs" in reasons[4]
    assert "no depletion" in reasons[5]
    assert (claim.claimed, claim.supported, claim.difference) == (
        D("216.00"),
        D("156.00"),
        D("60.00"),
    )
    assert claim.claimed == claim.supported + sum(line.difference for line in claim.lines.all())
    assert claim.status == Claim.Status.DRAFT and claim.error_count == 0


@pytest.mark.django_db
def test_what_the_books_show_is_drawn_on_once_and_the_amount_is_held_to_the_rate(
    november: November, alice: User, partner_a: Partner
) -> None:
    text = (
        HEADER
        + "2026-11,UF-ROSE-750,Bistro Lune,40,,80.00\n"  # 40 of 48
        + "2026-11,UF-ROSE-750,Bistro Lune,20,,40.00\n"  # only 8 left: $16.00
        + "2026-11,UF-ROSE-750,Cellar Door,30,,90.00\n"  # 30 bottles earn $60.00
        + "2026-10,UF-ROSE-750,Quiet Bar,6,,12.00\n"  # bought, but before the program
        + "2026-11,UF-ROSE-750,Nobody At All,6,,12.00\n"  # no such customer
    )
    claim = claim_of(text, november, alice, partner_a)
    assert verdicts(claim) == [
        (2, V.MATCHED, D("80.00"), D("80.00")),
        (3, V.OVER_CLAIMED, D("40.00"), D("16.00")),
        (4, V.OVER_CLAIMED, D("90.00"), D("60.00")),
        (5, V.OVER_CLAIMED, D("12.00"), D("0")),
        (6, V.UNSUPPORTED, D("12.00"), D("0")),
    ]
    assert "outside the program's period" in claim.lines.get(line=5).reason
    assert "No customer named" in claim.lines.get(line=6).reason


@pytest.mark.django_db
def test_the_cap_holds_each_account_and_month_across_lines(
    november: November, alice: User, partner_a: Partner
) -> None:
    november.program.account_cap = D("50.00")
    november.program.save()
    text = (
        HEADER
        + "2026-11,UF-ROSE-750,Bistro Lune,24,,48.00\n2026-11,UF-ROSE-750,Bistro Lune,24,,48.00\n"
    )
    claim = claim_of(text, november, alice, partner_a)
    assert verdicts(claim) == [
        (2, V.MATCHED, D("48.00"), D("48.00")),
        (3, V.OVER_CLAIMED, D("48.00"), D("2.00")),
    ]


@pytest.mark.django_db
def test_bad_lines_are_kept_with_their_line_numbers_and_block_sending(
    november: November, alice: User, partner_a: Partner
) -> None:
    text = (
        HEADER
        + "2026-11,UF-ROSE-750,Bistro Lune,48,,96.00\n"
        + "\n"
        + "2026-13,UF-ROSE-750,Bistro Lune,48,,96.00\n"
        + "2026-11,NOPE,Bistro Lune,48,,96.00\n"
        + "2026-11,UF-ROSE-750,Bistro Lune,48,2,96.00\n"
        + "2026-11,UF-ROSE-750,Bistro Lune,4.5,,96.00\n"
        + "2026-11,UF-ROSE-750,,48,,-3\n"
        + "2026-11,UF-ROSE-750,Bistro Lune,48,,1e999\n"
    )
    claim = claim_of(text, november, alice, partner_a)
    errors = {line.line: line.reason for line in claim.lines.filter(verdict=V.ERROR)}
    assert set(errors) == {4, 5, 6, 7, 8, 9}
    assert "not a month" in errors[4]
    assert "not a SKU" in errors[5]
    assert "not both" in errors[6]
    assert "decimal places" in errors[7]
    assert "account is missing" in errors[8] and "above zero" in errors[8]
    assert "too large" in errors[9] or "not a number" in errors[9]
    assert claim.error_count == 6
    with pytest.raises(ValidationError, match="6 line"):
        services.claim_submit(user=alice, claim_id=claim.pk)
    claim.refresh_from_db()
    assert claim.status == Claim.Status.DRAFT


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\xff\xfe\x00bad", "not UTF-8"),
        (b"sku,account\nx,y\n", "must name the columns"),
        (HEADER.encode(), "no lines"),
        (b'period,sku,account,bottles,amount\n"2026-11,x', "cannot be read"),
    ],
)
def test_an_unreadable_claim_is_refused_whole(content: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        read_claim(content)


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.binary(max_size=400)
    | st.text(max_size=300).map(lambda t: (HEADER + t).encode("utf-8", "surrogatepass"))
)
def test_no_text_crashes_the_reader(november: November, content: bytes) -> None:
    try:
        lines = read_claim(content)
    except ValidationError:
        return
    for line in lines:
        assert line.errors or (line.period and line.sku and line.bottles and line.amount)


@pytest.mark.django_db
def test_sending_then_approving_part_and_the_trail(
    november: November, alice: User, ada: User, sam: User, partner_a: Partner
) -> None:
    claim = claim_of(FOUR, november, alice, partner_a)
    with pytest.raises(PermissionDenied):
        services.claim_submit(user=sam, claim_id=claim.pk)
    services.claim_submit(user=alice, claim_id=claim.pk)
    with pytest.raises(PermissionDenied):
        services.claim_decide(user=alice, claim_id=claim.pk, approve=True, line_ids=[], note="")
    with pytest.raises(PermissionDenied):
        services.claim_decide(user=sam, claim_id=claim.pk, approve=True, line_ids=[], note="")
    lines = {line.line: line for line in claim.lines.all()}
    with pytest.raises(ValidationError, match="nothing the books support"):
        services.claim_decide(
            user=ada, claim_id=claim.pk, approve=True, line_ids=[lines[5].pk], note=""
        )
    decided = services.claim_decide(
        user=ada, claim_id=claim.pk, approve=True, line_ids=[lines[2].pk, lines[3].pk],
        note="Cellar Door paid on the books' 30 bottles.",
    )  # fmt: skip
    assert decided.status == Claim.Status.PARTLY_APPROVED
    assert decided.approved == D("156.00")
    assert [(line.line, line.approved) for line in decided.lines.all()] == [
        (2, D("96.00")), (3, D("60.00")), (4, D("0")), (5, D("0")),
    ]  # fmt: skip
    with pytest.raises(ValidationError, match="already decided"):
        services.claim_decide(user=ada, claim_id=claim.pk, approve=False, line_ids=[], note="x")
    trail = list(
        AuditEvent.objects.filter(target_type="allowances.claim", target_id=str(claim.pk))
        .order_by("pk")
        .values_list("action", "actor__email")
    )
    assert trail == [
        ("claim.upload", alice.email), ("claim.submit", alice.email), ("claim.approve", ada.email),
    ]  # fmt: skip


@pytest.mark.django_db
def test_rejecting_needs_a_note(
    november: November, alice: User, ada: User, partner_a: Partner
) -> None:
    claim = claim_of(FOUR, november, alice, partner_a)
    services.claim_submit(user=alice, claim_id=claim.pk)
    with pytest.raises(ValidationError, match="Say why"):
        services.claim_decide(user=ada, claim_id=claim.pk, approve=False, line_ids=[], note=" ")
    rejected = services.claim_decide(
        user=ada, claim_id=claim.pk, approve=False, line_ids=[], note="Wrong program."
    )
    assert (rejected.status, rejected.approved) == (Claim.Status.REJECTED, D("0"))


@pytest.mark.django_db
def test_a_partner_user_claims_only_for_its_own_partner(
    november: November, bob: User, ada: User, partner_a: Partner, partner_b: Partner
) -> None:
    with pytest.raises(PermissionDenied):
        claim_of(FOUR, november, bob, partner_a)
    # B is not in the program: even an admin cannot claim on it for B.
    with pytest.raises(ValidationError, match="does not cover"):
        claim_of(FOUR, november, ada, partner_b)
    assert not Claim.objects.exists()


@pytest.mark.django_db
def test_sending_checks_again_against_the_books_as_they_are(
    november: November, alice: User, partner_a: Partner
) -> None:
    claim = claim_of(
        HEADER + "2026-11,UF-ROSE-750,Quiet Bar,6,,12.00\n", november, alice, partner_a
    )
    assert claim.lines.get().verdict == V.UNSUPPORTED
    # The sale reaches the mirror after the upload: sending reads it.
    sale("invoice", november.rose_item, november.accounts["Quiet Bar"], 6, date(2026, 11, 28))
    services.claim_submit(user=alice, claim_id=claim.pk)
    assert claim.lines.get().verdict == V.MATCHED
