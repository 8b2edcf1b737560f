"""The allowances pages: who may do what (admins define programs and decide, partner users
and admins send claims, staff read), each partner's scope (404 for another's claim,
program or evidence), the upload's messages, the exports, and flat query counts."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent, Partner, User
from allowances.models import AllowanceProgram, Claim
from tests.conftest import signed_in
from tests.inventory.reports.test_placements import account, sale

from .conftest import November
from .test_claims import FOUR

D = Decimal


def rows_of(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.django_db
def test_an_admin_defines_a_program_and_staff_may_not(
    ada: User, sam: User, partner_a: Partner, november: November
) -> None:
    url = reverse("allowances:program_new")
    form = {
        "name": "Brut on-premise",
        "partners": [partner_a.pk],
        "skus": [november.brut.pk],
        "start": "2026-11-01",
        "end": "2027-01-31",
        "rate": "1.50",
        "unit": "bottle",
        "channel": "on_premise",
        "account_cap": "",
    }
    assert signed_in(sam).get(url).status_code == 403
    assert signed_in(sam).post(url, form).status_code == 403
    bad = signed_in(ada).post(url, form | {"end": "2026-10-01", "rate": "0"})
    assert bad.status_code == 200
    assert "cannot end before it starts" in bad.content.decode()
    assert not AllowanceProgram.objects.filter(name="Brut on-premise").exists()
    response = signed_in(ada).post(url, form)
    program = AllowanceProgram.objects.get(name="Brut on-premise")
    assert response.status_code == 302 and response["Location"] == program.get_absolute_url()
    assert [s.code for s in program.skus.all()] == ["UF-BRUT-750"]
    event = AuditEvent.objects.get(
        target_type="allowances.allowanceprogram", action="program.create"
    )
    assert event.actor == ada and event.changes["rate"] == [None, "1.50"]
    edit = reverse("allowances:program_edit", args=[program.pk])
    assert signed_in(sam).post(edit, form | {"rate": "9"}).status_code == 403
    signed_in(ada).post(edit, form | {"rate": "2.00"})
    program.refresh_from_db()
    assert program.rate == D("2.00")
    assert AuditEvent.objects.filter(
        action="program.update", changes__rate=["1.50", "2.00"]
    ).exists()


@pytest.mark.django_db
def test_the_program_page_and_its_evidence(
    november: November, sam: User, alice: User, bob: User, partner_a: Partner
) -> None:
    page = signed_in(sam).get(november.program.get_absolute_url())
    assert page.status_code == 200
    assert "$156.00" in page.content.decode()
    exported = rows_of(signed_in(sam).get(november.program.get_absolute_url() + "?format=csv"))
    assert [(r["Month"], r["Allowance due"]) for r in exported] == [("2026-11", "156.00")]
    url = reverse("allowances:evidence", args=[november.program.pk, partner_a.pk, "2026-11"])
    evidence = signed_in(alice).get(url)
    assert evidence.status_code == 200
    lines = rows_of(signed_in(alice).get(url + "?format=csv"))
    # The case invoice, the credit memo and the sales receipt; not the brut, the voided
    # invoice or October's sale.
    assert sorted((r["Form"], r["Bottles"]) for r in lines) == [
        ("Credit memo", "-12"), ("Invoice", "60"), ("Sales receipt", "30"),
    ]  # fmt: skip
    assert sum(D(r["Bottles"]) for r in lines) == D(78)
    # Partner B's user: the program does not name B, so neither it nor A's evidence is there.
    assert signed_in(bob).get(november.program.get_absolute_url()).status_code == 404
    assert signed_in(bob).get(url).status_code == 404
    bad_month = reverse("allowances:evidence", args=[november.program.pk, partner_a.pk, "2026-13"])
    assert signed_in(sam).get(bad_month).status_code == 404


@pytest.mark.django_db
def test_a_partner_user_uploads_sends_and_an_admin_approves_part(
    november: November, alice: User, bob: User, sam: User, ada: User
) -> None:
    new = reverse("allowances:claim_new")
    assert signed_in(sam).get(new).status_code == 403
    empty = signed_in(alice).post(new, {"program": november.program.pk})
    assert "Upload the claim" in empty.content.decode()
    unreadable = signed_in(alice).post(
        new, {"program": november.program.pk, "file": SimpleUploadedFile("c.csv", b"nope\n1\n")}
    )
    assert "must name the columns" in unreadable.content.decode()
    assert not Claim.objects.exists()
    upload = SimpleUploadedFile("claim.csv", FOUR.encode())
    response = signed_in(alice).post(new, {"program": november.program.pk, "file": upload})
    claim = Claim.objects.get()
    assert response.status_code == 302 and response["Location"] == claim.get_absolute_url()
    page = signed_in(alice).get(claim.get_absolute_url()).content.decode()
    assert "Over-claimed" in page and "Unsupported" in page and "Send for approval" in page
    # Nobody else's: bob gets a 404 on the claim and on each of its actions.
    assert signed_in(bob).get(claim.get_absolute_url()).status_code == 404
    submit = reverse("allowances:claim_submit", args=[claim.pk])
    assert signed_in(bob).post(submit).status_code == 404
    assert signed_in(sam).post(submit).status_code == 403
    signed_in(alice).post(submit)
    claim.refresh_from_db()
    assert claim.status == Claim.Status.SUBMITTED
    decide = reverse("allowances:claim_decide", args=[claim.pk])
    lines = {line.line: line.pk for line in claim.lines.all()}
    choice = {"decision": "approve", "lines": [lines[3]], "note": "Only Cellar Door for now."}
    assert signed_in(sam).post(decide, choice).status_code == 403
    assert signed_in(alice).post(decide, choice).status_code == 403
    signed_in(ada).post(decide, choice)
    claim.refresh_from_db()
    assert (claim.status, claim.approved) == (Claim.Status.PARTLY_APPROVED, D("60.00"))
    exported = rows_of(signed_in(sam).get(reverse("allowances:payments") + "?format=csv"))
    assert [(r["Claim"], r["Approved"]) for r in exported] == [(str(claim.pk), "60.00")]
    assert sum(D(r["Approved"]) for r in exported) == claim.approved
    assert rows_of(signed_in(bob).get(reverse("allowances:payments") + "?format=csv")) == []


@pytest.mark.django_db
def test_typed_lines_are_a_claim_too(november: November, ada: User, partner_a: Partner) -> None:
    response = signed_in(ada).post(
        reverse("allowances:claim_new"),
        {"program": november.program.pk, "partner": partner_a.pk, "lines": FOUR},
    )
    claim = Claim.objects.get()
    assert response.status_code == 302
    assert (claim.filename, claim.line_count, claim.created_by) == ("typed lines", 4, ada)


@pytest.mark.django_db
def test_query_counts_stay_flat(
    november: November, alice: User, ada: User, sam: User, partner_a: Partner
) -> None:
    from allowances import services

    def make_claims(n: int) -> None:
        for _ in range(n):
            services.claim_create(
                user=alice, partner=partner_a, program=november.program, content=FOUR.encode()
            )

    def counts() -> list[int]:
        claim = Claim.objects.order_by("-pk").first()
        assert claim is not None
        urls = [
            reverse("allowances:claims"),
            reverse("allowances:programs"),
            november.program.get_absolute_url(),
            claim.get_absolute_url(),
            reverse("allowances:payments"),
            reverse("allowances:evidence", args=[november.program.pk, partner_a.pk, "2026-12"]),
        ]
        urls += [f"{url}?format=csv" for url in urls]
        found = []
        for url in urls:
            with CaptureQueriesContext(db_connection) as queries:
                response = signed_in(sam).get(url)
                assert response.status_code == 200
                if response.streaming:
                    b"".join(response.streaming_content)  # type: ignore[attr-defined]  # read as it streams
            found.append(len(queries))
        return found

    make_claims(2)
    books = partner_a.connections.get()
    sale("invoice", november.rose_item, account(books, "First Bar"), 6, date(2026, 12, 2))
    few = counts()
    make_claims(18)
    for n in range(20):
        sale(
            "invoice",
            november.rose_item,
            account(partner_a.connections.get(), f"Bar {n}"),
            6,
            date(2026, 12, 3),
        )
    assert counts() == few


@pytest.mark.django_db
def test_a_program_of_two_partners_shows_a_partner_user_only_its_own(
    november: November, alice: User, sam: User, partner_b: Partner
) -> None:
    november.program.partners.add(partner_b)
    url = reverse("allowances:programs")
    for fmt in ("", "?format=csv"):
        response = signed_in(alice).get(url + fmt)
        body = (
            b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
            if response.streaming
            else response.content.decode()
        )
        assert "Bubbles" in body and partner_b.name not in body, fmt
    staff = rows_of(signed_in(sam).get(url + "?format=csv"))
    assert staff[0]["Partner"] == f"Bubbles & Brine Distributing, {partner_b.name}"
    page = signed_in(alice).get(november.program.get_absolute_url()).content.decode()
    assert partner_b.name not in page


@pytest.mark.django_db
def test_the_claims_list_filters_by_status_and_program(
    november: November, alice: User, ada: User, sam: User, partner_a: Partner
) -> None:
    from allowances import services

    sent = services.claim_create(
        user=alice, partner=partner_a, program=november.program, content=FOUR.encode()
    )
    services.claim_submit(user=alice, claim_id=sent.pk)
    draft = services.claim_create(
        user=alice, partner=partner_a, program=november.program, content=FOUR.encode()
    )
    url = reverse("allowances:claims")

    def ids(query: str) -> list[str]:
        return [r["Claim"] for r in rows_of(signed_in(sam).get(f"{url}?format=csv&{query}"))]

    assert ids("status=submitted") == [str(sent.pk)]
    assert ids("status=draft") == [str(draft.pk)]
    assert ids(f"program={november.program.pk}") == [str(draft.pk), str(sent.pk)]
    assert ids("status=approved") == []
    page = signed_in(sam).get(f"{url}?status=nonsense").content.decode()
    assert "could not be read" in page and str(draft.pk) in page
