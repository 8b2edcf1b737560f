"""Every write of the allowances app: programs (admins), claims (a partner's users or an
admin for them) and the decision on a claim (admins). Each is audited
(``accounts.services.audit_record``) in the transaction that makes it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Partner, User
from accounts.roles import Role
from accounts.services import audit_record
from sync.models import QBOConnection

from .books import ZERO, ProgramTerms
from .claims import Line, check_lines, read_claim
from .models import AllowanceProgram, Claim, ClaimLine

PROGRAM_FIELDS = ("name", "start", "end", "rate", "unit", "channel", "account_cap")


def _shown(value: Any) -> Any:
    return value if isinstance(value, (str, int, Decimal)) or value is None else str(value)


@transaction.atomic
def program_save(
    *,
    user: User,
    values: Mapping[str, Any],
    partners: Iterable[Partner],
    skus: Iterable[Any],
    program_id: int | None = None,
) -> AllowanceProgram:
    """Create a program (``program_id`` None) or change one; the form has checked the
    values. The program is read again, locked: a bound ModelForm has already written the
    new values onto its own instance, and the audit needs the old ones."""
    if user.role != Role.ADMIN:
        raise PermissionDenied("Only admins define allowance programs.")
    creating = program_id is None
    if program_id is None:
        program = AllowanceProgram(created_by=user)
    else:
        program = AllowanceProgram.objects.select_for_update().get(pk=program_id)
    before = {name: _shown(getattr(program, name, None)) for name in PROGRAM_FIELDS}
    before_partners = sorted(p.name for p in program.partners.all()) if not creating else []
    before_skus = sorted(s.code for s in program.skus.all()) if not creating else []
    for name in PROGRAM_FIELDS:
        setattr(program, name, values[name])
    program.full_clean()
    program.save()
    program.partners.set(list(partners))
    program.skus.set(list(skus))
    changes = {
        name: (before[name], _shown(getattr(program, name)))
        for name in PROGRAM_FIELDS
        if creating or before[name] != _shown(getattr(program, name))
    }
    after_partners = sorted(p.name for p in program.partners.all())
    after_skus = sorted(s.code for s in program.skus.all())
    if after_partners != before_partners:
        changes["partners"] = (before_partners, after_partners)
    if after_skus != before_skus:
        changes["skus"] = (before_skus, after_skus)
    audit_record(
        actor=user,
        action="program.create" if creating else "program.update",
        target=program,
        changes=changes,
    )
    return program


def _may_claim(user: User, partner: Partner) -> None:
    if user.role == Role.ADMIN or (user.role == Role.PARTNER and user.partner_id == partner.pk):
        return
    raise PermissionDenied("Only the partner's users or an admin may send its claims.")


def _connections(partner: Partner) -> list[int]:
    return list(QBOConnection.objects.filter(partner=partner).values_list("pk", flat=True))


def _checked(claim: Claim, content: bytes) -> list[Line]:
    lines = read_claim(content)
    check_lines(
        lines, terms=ProgramTerms.of(claim.program), connection_ids=_connections(claim.partner)
    )
    return lines


def _store_lines(claim: Claim, lines: list[Line]) -> None:
    ClaimLine.objects.filter(claim=claim).delete()
    ClaimLine.objects.bulk_create(
        ClaimLine(
            claim=claim,
            line=line.line,
            period_text=line.written.get("period", "")[:100],
            sku_text=line.written.get("sku", "")[:100],
            account_text=line.written.get("account", "")[:255],
            quantity_text=line.quantity_text[:100],
            amount_text=line.written.get("amount", "")[:100],
            period=line.period,
            sku=line.sku,
            connection_id=line.connection_id,
            customer_qbo_id=line.customer_qbo_id,
            bottles=line.bottles,
            amount=line.amount,
            books_bottles=line.books_bottles,
            supported=line.supported,
            verdict=line.verdict,
            reason=line.reason,
        )
        for line in lines
    )
    claim.line_count = len(lines)
    claim.error_count = sum(1 for line in lines if line.verdict == ClaimLine.Verdict.ERROR)
    claim.claimed = sum((line.amount or ZERO for line in lines), ZERO)
    claim.supported = sum((line.supported for line in lines), ZERO)


@transaction.atomic
def claim_create(
    *,
    user: User,
    partner: Partner,
    program: AllowanceProgram,
    content: bytes,
    filename: str = "",
    reference: str = "",
) -> Claim:
    """Keep a claim as a draft, each line checked. A text that cannot be read at all is
    refused (ValidationError) and nothing is kept; bad lines are kept with their errors."""
    _may_claim(user, partner)
    if not program.partners.filter(pk=partner.pk).exists():
        raise ValidationError(f"{program} does not cover {partner}.")
    claim = Claim(
        partner=partner,
        program=program,
        reference=reference,
        filename=filename[:255],
        content=content,
        created_by=user,
    )
    lines = _checked(claim, content)  # before saving: an unreadable text keeps nothing
    claim.save()
    _store_lines(claim, lines)
    claim.save()
    audit_record(
        actor=user,
        action="claim.upload",
        target=claim,
        changes={"lines": (None, claim.line_count), "claimed": (None, claim.claimed)},
    )
    return claim


def _locked(claim_id: int) -> Claim:
    claim: Claim = (
        Claim.objects.select_for_update().select_related("program", "partner").get(pk=claim_id)
    )
    return claim


@transaction.atomic
def claim_submit(*, user: User, claim_id: int) -> Claim:
    """Send a draft for a decision, checked again against the books as they are now."""
    claim = _locked(claim_id)
    _may_claim(user, claim.partner)
    if claim.status != Claim.Status.DRAFT:
        raise ValidationError("This claim was already sent.")
    _store_lines(claim, _checked(claim, bytes(claim.content)))
    if claim.error_count:
        claim.save()
        raise ValidationError(
            f"{claim.error_count} line(s) have errors; correct the file and upload it again."
        )
    claim.status = Claim.Status.SUBMITTED
    claim.submitted_by, claim.submitted_at = user, timezone.now()
    claim.save()
    audit_record(
        actor=user,
        action="claim.submit",
        target=claim,
        changes={
            "status": (Claim.Status.DRAFT, claim.status),
            "supported": (None, claim.supported),
        },
    )
    return claim


@transaction.atomic
def claim_discard(*, user: User, claim_id: int) -> None:
    claim = _locked(claim_id)
    _may_claim(user, claim.partner)
    if claim.status != Claim.Status.DRAFT:
        raise ValidationError("Only a draft can be discarded; this claim was sent.")
    audit_record(actor=user, action="claim.discard", target=claim, changes={})
    claim.delete()


@transaction.atomic
def claim_decide(
    *, user: User, claim_id: int, approve: bool, line_ids: Iterable[int], note: str
) -> Claim:
    """Approve the chosen lines (each at its supported amount) or reject the claim."""
    if user.role != Role.ADMIN:
        raise PermissionDenied("Only admins decide on claims.")
    claim = _locked(claim_id)
    if claim.status != Claim.Status.SUBMITTED:
        raise ValidationError(
            "This claim was already decided."
            if claim.is_decided
            else "This claim was not sent yet."
        )
    note = note.strip()
    lines = list(claim.lines.all())
    if approve:
        chosen = set(line_ids)
        unknown = chosen - {line.pk for line in lines}
        if unknown:
            raise ValidationError("A chosen line is not part of this claim.")
        payable = [line for line in lines if line.pk in chosen]
        unpaid = [line for line in payable if line.supported <= 0]
        if unpaid:
            raise ValidationError(
                f"Line {unpaid[0].line} has nothing the books support; it cannot be approved."
            )
        if not payable:
            raise ValidationError("Choose the lines to approve, or reject the claim.")
        for line in lines:
            line.approved = line.supported if line.pk in chosen else ZERO
        everything = all(line.approved == line.amount for line in lines)
        claim.status = Claim.Status.APPROVED if everything else Claim.Status.PARTLY_APPROVED
    else:
        if not note:
            raise ValidationError("Say why the claim is rejected: the distributor will read it.")
        for line in lines:
            line.approved = ZERO
        claim.status = Claim.Status.REJECTED
    ClaimLine.objects.bulk_update(lines, ["approved"])
    claim.approved = sum((line.approved or ZERO for line in lines), ZERO)
    claim.decided_by, claim.decided_at, claim.note = user, timezone.now(), note
    claim.save()
    audit_record(
        actor=user,
        action="claim.approve" if approve else "claim.reject",
        target=claim,
        changes={
            "status": (Claim.Status.SUBMITTED, claim.status),
            "approved": (ZERO, claim.approved),
            "lines approved": (None, [line.line for line in lines if line.approved]),
            "note": ("", note),
        },
    )
    return claim
