"""The allowances pages (docs/reports.md, "Depletion allowances" and "Claims").

- Programs: everyone reads the programs that cover what they see; admins define them.
- A program's page: per partner × month, what the books say is due beside what was claimed
  and approved, each month's evidence one click away (and as CSV).
- Claims: a partner's users (or an admin for them) upload or type a claim, see each line
  checked, and send it; admins approve lines or reject it; approved lines export for
  payment. Staff read everything and act on nothing (403). A partner user reaches only its
  own partner's programs, figures and claims (404 otherwise).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.http import Http404, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import AuthedRequest, role_required
from accounts.models import Partner
from accounts.roles import ADMINS, EVERYONE, Role
from accounts.selectors import audit_trail_for
from common.htmx import wants_fragment
from common.tables import Column, Table, csv_response

from . import selectors, services
from .forms import ClaimForm, ClaimsFilterForm, DecisionForm, ProgramForm
from .models import AllowanceProgram, Claim
from .selectors import EvidenceLine, PartnerMonth

CLAIMANTS = (Role.PARTNER, Role.ADMIN)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _evidence_url(row: PartnerMonth) -> str:
    return reverse(
        "allowances:evidence", args=[row.program_id, row.partner.pk, f"{row.month:%Y-%m}"]
    )


PROGRAMS = Table(
    [
        Column("name", "Program", sort="name", link=lambda p: p.get_absolute_url()),
        Column("start", "From", sort="start", kind="date"),
        Column("end", "To", sort="end", kind="date"),
        Column("rate", "Rate", attr="rate_text", sort="rate"),
        Column(
            "channel",
            "Channel",
            attr="get_channel_display",
            sort="channel",
            csv=lambda p: p.get_channel_display() or "Every channel",
        ),
        Column(
            "partner",
            # One column named as every list's is; a program of several partners lists those
            # the reader may see (a partner user: only its own, never the others it names).
            "Partner",
            attr="partner_names",
        ),
        Column("skus", "SKUs", attr="sku_codes"),
    ],  # fmt: skip
    default_sort="-start",
)


@role_required(*EVERYONE)
@require_GET
def programs(request: AuthedRequest) -> HttpResponseBase:
    found = list(selectors.programs_for(request.user))
    for program in found:
        shown = selectors.program_partners(program, request.user)
        program.partner_names = ", ".join(p.name for p in shown)  # type: ignore[attr-defined]
        program.sku_codes = ", ".join(s.code for s in program.skus.all())  # type: ignore[attr-defined]
    table = PROGRAMS.bind(request, found)
    if table.is_csv:
        return csv_response(table, "allowance-programs.csv")
    template = "allowances/programs.html"
    if wants_fragment(request):
        template += "#programs-table"
    return render(request, template, {"table": table})


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def program_edit(request: AuthedRequest, pk: int | None = None) -> HttpResponseBase:
    program = get_object_or_404(AllowanceProgram, pk=pk) if pk is not None else None
    form = ProgramForm(request.POST or None, instance=program)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.program_save(
                user=request.user,
                values=form.cleaned_data,
                partners=form.cleaned_data["partners"],
                skus=form.cleaned_data["skus"],
                program_id=program.pk if program else None,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{saved.name} is saved.")
            return redirect(saved)
    return render(request, "allowances/program_form.html", {"form": form, "program": program})


def _months_table() -> Table:
    return Table(
        [
            Column(
                "partner",
                "Partner",
                attr="partner__name",
                sort=lambda r: (r.partner.name.casefold(), r.month),
            ),
            Column(
                "month",
                "Month",
                attr="month_name",
                sort=lambda r: (r.month, r.partner.name.casefold()),
                csv=lambda r: f"{r.month:%Y-%m}",
                link=_evidence_url,
                nowrap=True,
            ),
            Column("accounts", "Accounts", sort="accounts", kind="number"),
            Column("bottles", "Bottles", sort="bottles", kind="qty"),
            Column("units", "Units", sort="units", kind="qty"),
            Column("due", "Allowance due", sort="due", kind="money", currency="USD"),
            Column("claimed", "Claimed", sort="claimed", kind="money", currency="USD"),
            Column("approved", "Approved", sort="approved", kind="money", currency="USD"),
        ],  # fmt: skip
        default_sort="partner",
        per_page=100,
    )


MONTHS = _months_table()


@role_required(*EVERYONE)
@require_GET
def program(request: AuthedRequest, pk: int) -> HttpResponseBase:
    found = selectors.get_program_for_user(request.user, pk)
    rows = selectors.program_months(found, request.user)
    hide = [] if request.user.sees_all_partners else ["partner"]
    table = MONTHS.bind(request, rows, hide=hide)
    if table.is_csv:
        return csv_response(table, f"allowance-{found.pk}.csv")
    context = {
        "program": found,
        "partners": selectors.program_partners(found, request.user),
        "table": table,
        "totals": {
            "due": sum(r.due for r in rows),
            "claimed": sum(r.claimed for r in rows),
            "approved": sum(r.approved for r in rows),
            "units": sum(r.units for r in rows),
        },
        "audit": audit_trail_for(target_type="allowances.allowanceprogram", target_id=found.pk)
        if request.user.sees_all_partners
        else [],
    }
    template = "allowances/program.html"
    if wants_fragment(request):
        template += "#program-months"
    return render(request, template, context)


EVIDENCE = Table(
    [
        Column("day", "Date", sort=lambda e: (e.day, e.doc_number), kind="date"),
        Column("kind", "Form", sort="kind"),
        Column("doc_number", "Number", sort="doc_number", nowrap=True),
        Column("account", "Account", sort=lambda e: (e.account.casefold(), e.day)),
        Column("channel", "Channel", sort="channel"),
        Column("sku", "SKU", sort="sku", nowrap=True),
        Column("description", "Line"),
        Column("qty", "Quantity", sort="qty", kind="qty"),
        Column("bottles", "Bottles", sort="bottles", kind="qty"),
        Column("amount", "Amount", sort="amount", kind="money", currency="USD"),
    ],
    default_sort="day",
    per_page=200,
)


def _month(text: str) -> date:
    match = _MONTH.match(text)
    if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 2000:
        raise Http404("No such month.")
    return date(int(match[1]), int(match[2]), 1)


@role_required(*EVERYONE)
@require_GET
def evidence(request: AuthedRequest, pk: int, partner_id: int, month: str) -> HttpResponseBase:
    found = selectors.get_program_for_user(request.user, pk)
    partner = get_object_or_404(
        Partner.objects.visible_to(request.user).filter(allowance_programs=found), pk=partner_id
    )
    first = _month(month)
    lines: list[EvidenceLine] = selectors.evidence(found, partner, first)
    table = EVIDENCE.bind(request, lines)
    if table.is_csv:
        return csv_response(table, f"allowance-{found.pk}-{partner.slug}-{month}-evidence.csv")
    months = {
        r.month: r
        for r in selectors.program_months(found, request.user, partner_id=partner.pk, month=first)
    }
    context = {
        "program": found,
        "partner": partner,
        "month": first,
        "table": table,
        "figures": months.get(first),
        "bottles": sum((e.bottles for e in lines), start=0),
    }
    template = "allowances/evidence.html"
    if wants_fragment(request):
        template += "#evidence-lines"
    return render(request, template, context)


CLAIMS = Table(
    [
        Column(
            # A claim's number is a name, not a quantity: "1909", never "1,909".
            "id",
            "Claim",
            attr="pk",
            sort="pk",
            link=lambda c: c.get_absolute_url(),
        ),
        Column("partner", "Partner", attr="partner__name", sort="partner__name"),
        Column("program", "Program", attr="program__name", sort="program__name"),
        Column("reference", "Reference", sort="reference"),
        Column("status", "Status", attr="get_status_display", sort="status"),
        Column("created_at", "Sent", sort="created_at", kind="datetime"),
        Column("lines", "Lines", attr="line_count", sort="line_count", kind="number"),
        Column("claimed", "Claimed", sort="claimed", kind="money", currency="USD"),
        Column("supported", "Books support", sort="supported", kind="money", currency="USD"),
        Column("approved", "Approved", sort="approved", kind="money", currency="USD"),
    ],  # fmt: skip
    default_sort="-id",
)


@role_required(*EVERYONE)
@require_GET
def claims(request: AuthedRequest) -> HttpResponseBase:
    form = ClaimsFilterForm(request.GET, user=request.user)
    form.is_valid()  # a filter that does not parse is shown with its message and ignored
    hide = [] if request.user.sees_all_partners else ["partner"]
    found = selectors.claims_for(request.user, **form.filters())
    table = CLAIMS.bind(request, found, hide=hide)
    if table.is_csv:
        return csv_response(table, "claims.csv")
    template = "allowances/claims.html"
    if wants_fragment(request):
        template += "#claims-table"
    can_claim = request.user.role in CLAIMANTS
    context = {"table": table, "can_claim": can_claim, "form": form}
    return render(request, template, context)


@role_required(*CLAIMANTS)
@require_http_methods(["GET", "POST"])
def claim_new(request: AuthedRequest) -> HttpResponseBase:
    initial = {"program": request.GET.get("program", "")[:12]}
    form = ClaimForm(
        request.POST or None, request.FILES or None, user=request.user, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = services.claim_create(
                user=request.user,
                partner=data["partner"],
                program=data["program"],
                content=data["content"],
                filename=form.filename,
                reference=data["reference"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect(created)
    return render(request, "allowances/claim_new.html", {"form": form})


LINES = Table(
    [
        Column("line", "Line", sort="line", kind="number"),
        Column("period", "Period", attr="period_text", sort="period_text", nowrap=True),
        Column("sku", "SKU", attr="sku_text", sort="sku_text", nowrap=True),
        Column("account", "Account", attr="account_text", sort="account_text"),
        Column("quantity", "Claimed quantity", attr="quantity_text"),
        Column("bottles", "Bottles", sort="bottles", kind="qty"),
        Column(
            "books", "Books show (bottles)", attr="books_bottles", sort="books_bottles", kind="qty"
        ),
        Column("amount", "Claimed", sort="amount", kind="money", currency="USD"),
        Column("supported", "Books support", sort="supported", kind="money", currency="USD"),
        Column("difference", "Difference", kind="money", currency="USD"),
        Column("verdict", "Result", attr="get_verdict_display", sort="verdict"),
        Column("reason", "Why", attr="reason"),
        Column("approved", "Approved", sort="approved", kind="money", currency="USD"),
    ],  # fmt: skip
    default_sort="line",
    per_page=500,
)


@role_required(*EVERYONE)
@require_GET
def claim(request: AuthedRequest, pk: int) -> HttpResponseBase:
    found = selectors.get_claim_for_user(request.user, pk)
    table = LINES.bind(
        request, selectors.claim_lines(found), hide=[] if found.is_decided else ["approved"]
    )
    if table.is_csv:
        return csv_response(table, f"claim-{found.pk}.csv")
    user = request.user
    may_send = user.role == Role.ADMIN or (
        user.role == Role.PARTNER and user.partner_id == found.partner_id
    )
    deciding = user.role == Role.ADMIN and found.status == Claim.Status.SUBMITTED
    context = {
        "claim": found,
        "table": table,
        "totals": selectors.verdict_totals(found),
        "can_send": may_send and found.status == Claim.Status.DRAFT,
        "deciding": deciding,
        "payable": list(selectors.claim_lines(found).filter(supported__gt=0)) if deciding else [],
        "audit": audit_trail_for(target_type="allowances.claim", target_id=found.pk),
    }
    template = "allowances/claim.html"
    if wants_fragment(request):
        template += "#claim-lines"
    return render(request, template, context)


@role_required(*CLAIMANTS)
@require_POST
def claim_submit(request: AuthedRequest, pk: int) -> HttpResponseBase:
    found = selectors.get_claim_for_user(request.user, pk)
    try:
        services.claim_submit(user=request.user, claim_id=found.pk)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Claim {found.pk} is sent for a decision.")
    return redirect(found)


@role_required(*CLAIMANTS)
@require_POST
def claim_discard(request: AuthedRequest, pk: int) -> HttpResponseBase:
    found = selectors.get_claim_for_user(request.user, pk)
    try:
        services.claim_discard(user=request.user, claim_id=found.pk)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(found)
    messages.success(request, f"Draft claim {pk} is discarded.")
    return redirect("allowances:claims")


@role_required(*ADMINS)
@require_POST
def claim_decide(request: AuthedRequest, pk: int) -> HttpResponseBase:
    found = selectors.get_claim_for_user(request.user, pk)
    line_ids = list(found.lines.values_list("pk", flat=True))
    form = DecisionForm(request.POST, line_ids=line_ids)
    if not form.is_valid():
        problems = [f"{e}" for errors in form.errors.values() for e in errors]
        messages.error(request, " ".join(problems))
        return redirect(found)
    try:
        decided = services.claim_decide(
            user=request.user,
            claim_id=found.pk,
            approve=form.cleaned_data["decision"] == "approve",
            line_ids=form.cleaned_data["lines"],
            note=form.cleaned_data["note"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"Claim {decided.pk}: {decided.get_status_display().lower()}, ${decided.approved:,}.",
        )
    return redirect(found)


PAYMENTS = Table(
    [
        Column(
            "claim",
            "Claim",
            attr="claim_id",
            sort="claim_id",
            link=lambda line: reverse("allowances:claim", args=[line.claim_id]),
        ),
        Column("partner", "Partner", attr="claim__partner__name", sort="claim__partner__name"),
        Column("program", "Program", attr="claim__program__name", sort="claim__program__name"),
        Column("reference", "Reference", attr="claim__reference"),
        Column("line", "Line", sort="line", kind="number"),
        Column(
            "period",
            "Period",
            attr="period",
            kind="date",
            csv=lambda line: f"{line.period:%Y-%m}" if line.period else "",
        ),
        Column("sku", "SKU", attr="sku_text", nowrap=True),
        Column("account", "Account", attr="account_text"),
        Column("claimed", "Claimed", attr="amount", kind="money", currency="USD"),
        Column("approved", "Approved", sort="approved", kind="money", currency="USD"),
        Column(
            "decided",
            "Decided",
            attr="claim__decided_at",
            sort="claim__decided_at",
            kind="datetime",
        ),
        Column(
            "by", "By", attr="claim__decided_by", csv=lambda line: str(line.claim.decided_by or "")
        ),
    ],  # fmt: skip
    default_sort="decided",
    per_page=200,
)


@role_required(*EVERYONE)
@require_GET
def payments(request: AuthedRequest) -> HttpResponseBase:
    lines = selectors.approved_lines(request.user)
    # One claim's lines (the link from a decided claim); anything but a claim number is
    # ignored, as every list page ignores a filter it cannot read.
    claim_id = request.GET.get("claim", "").strip()
    if not (claim_id.isascii() and claim_id.isdigit() and len(claim_id) <= 12):
        claim_id = ""
    if claim_id:
        lines = lines.filter(claim_id=int(claim_id))
    hide = [] if request.user.sees_all_partners else ["partner"]
    table = PAYMENTS.bind(request, lines, hide=hide)
    if table.is_csv:
        return csv_response(table, "approved-allowances.csv")
    total = lines.aggregate(total=Sum("approved"))["total"] or Decimal("0")
    template = "allowances/payments.html"
    if wants_fragment(request):
        template += "#payments-table"
    return render(request, template, {"table": table, "total": total, "claim_id": claim_id})
