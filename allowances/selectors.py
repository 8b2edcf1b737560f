"""Reads of the allowances app, each scoped to the reader: a partner user sees only the
programs that name its partner, only its partner's figures, claims and evidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection as db
from django.db.models import Count, Prefetch, QuerySet, Sum
from django.shortcuts import get_object_or_404

from accounts.models import Partner, User
from billing.models import QBOCustomer
from inventory.catalog.models import CatalogSKU
from inventory.channels.selectors import account_channels
from inventory.mapping.models import SKUMapping
from inventory.reports.placements import SALES_ITEM, SALES_SOURCES
from sync.models import QBOConnection

from . import books
from .books import ZERO, ProgramTerms
from .models import AllowanceProgram, Claim, ClaimLine

DECIDED = (Claim.Status.APPROVED, Claim.Status.PARTLY_APPROVED, Claim.Status.REJECTED)
SENT = (Claim.Status.SUBMITTED, *DECIDED)


def programs_for(user: User) -> QuerySet[AllowanceProgram]:
    return (
        AllowanceProgram.objects.visible_to(user)
        .prefetch_related(
            Prefetch("partners", queryset=Partner.objects.order_by("name")),
            Prefetch("skus", queryset=CatalogSKU.objects.order_by("code")),
        )
        .order_by("-start", "name")
    )


def get_program_for_user(user: User, pk: int) -> AllowanceProgram:
    return get_object_or_404(programs_for(user), pk=pk)


def program_partners(program: AllowanceProgram, user: User) -> list[Partner]:
    """The program's partners the reader may see, by name."""
    return sorted(
        (p for p in program.partners.all() if user.sees_all_partners or p.pk == user.partner_id),
        key=lambda p: p.name.casefold(),
    )


def _connections_by_partner(partner_ids: list[int]) -> dict[int, int]:
    """Each connection of the partners → its partner."""
    return dict(
        QBOConnection.objects.filter(partner_id__in=partner_ids).values_list("pk", "partner_id")
    )


@dataclass
class PartnerMonth:
    """A program's figures for one partner and month."""

    program_id: int
    partner: Partner
    month: date
    accounts: int = 0
    bottles: Decimal = ZERO
    units: Decimal = ZERO
    due: Decimal = ZERO
    capped: int = 0  # accounts held to the cap
    claimed: Decimal = ZERO
    approved: Decimal = ZERO

    @property
    def month_name(self) -> str:
        return f"{self.month:%B %Y}"


def program_months(
    program: AllowanceProgram,
    user: User,
    *,
    partner_id: int | None = None,
    month: date | None = None,
) -> list[PartnerMonth]:
    """Per partner × month of the program's period (or of ``month`` alone), what the books
    say is due, beside what was claimed (sent claims) and approved; months with none of
    any left out."""
    partners = [
        p for p in program_partners(program, user) if partner_id is None or p.pk == partner_id
    ]
    by_pk = {p.pk: p for p in partners}
    owner = _connections_by_partner(list(by_pk))
    terms = ProgramTerms.of(program)
    rows: dict[tuple[int, date], PartnerMonth] = {}

    def row(partner_pk: int, month: date) -> PartnerMonth:
        key = (partner_pk, month)
        if key not in rows:
            rows[key] = PartnerMonth(program.pk, by_pk[partner_pk], month)
        return rows[key]

    start = end = None
    if month is not None:
        start, end = month, books.month_end(month)
    found = books.qualifying(terms, connection_ids=list(owner), start=start, end=end)
    for entry in found.values():
        r = row(owner[entry.connection_id], entry.month)
        r.accounts += 1
        r.bottles += sum(entry.bottles.values(), ZERO)
        r.units += entry.units
        r.due += entry.due
        r.capped += entry.capped
    claimed = (
        ClaimLine.objects.filter(
            claim__program=program, claim__status__in=SENT, claim__partner_id__in=list(by_pk)
        )
        .exclude(period=None)
        .filter(**({"period": month} if month is not None else {}))
        .values_list("claim__partner_id", "period")
        .annotate(claimed=Sum("amount"), approved=Sum("approved"))
        .order_by()
    )
    for partner_pk, month, amount, approved in claimed:
        r = row(partner_pk, month)
        r.claimed, r.approved = amount or ZERO, approved or ZERO
    return sorted(rows.values(), key=lambda r: (r.partner.name.casefold(), r.month))


@dataclass(frozen=True)
class EvidenceLine:
    kind: str
    doc_number: str
    qbo_id: str
    day: date
    customer_qbo_id: str
    account: str
    channel: str
    item_qbo_id: str
    description: str
    sku: str
    qty: Decimal
    bottles: Decimal
    amount: Decimal


_KINDS = {
    "invoice_id": "Invoice",
    "sales_receipt_id": "Sales receipt",
    "credit_memo_id": "Credit memo",
    "refund_receipt_id": "Refund receipt",
}


def evidence(program: AllowanceProgram, partner: Partner, month: date) -> list[EvidenceLine]:
    """Every line behind the partner's allowance in ``month``: the sales and returns of the
    program's SKUs within its period, to accounts of its channel, voided documents left
    out; signed (returns negative), by date. The caller has checked the reader may see the
    partner."""
    terms = ProgramTerms.of(program)
    start, end = terms.window(month, books.month_end(month))
    connection_ids = list(
        QBOConnection.objects.filter(partner=partner).values_list("pk", flat=True)
    )
    if start > end or not connection_ids or not terms.sku_formats:
        return []
    parts: list[str] = []
    params: list[Any] = []
    for doc, line, key, sign in SALES_SOURCES:
        parts.append(
            f"""SELECT %s AS kind, d.doc_number, d.qbo_id, d.txn_date, d.connection_id,
                       d.customer_qbo_id, l.item_qbo_id, l.description, {sign} * l.qty AS qty,
                       {sign} * l.amount AS amount, l.position
                  FROM {line._meta.db_table} l JOIN {doc._meta.db_table} d ON d.id = l.{key}
                 WHERE d.connection_id = ANY(%s) AND NOT d.voided AND d.customer_qbo_id <> ''
                   AND l.qty IS NOT NULL AND l.detail_type = %s
                   AND d.txn_date BETWEEN %s AND %s"""
        )
        params += [_KINDS[key], connection_ids, SALES_ITEM, start, end]
    sql = f"""
        SELECT m.kind, m.doc_number, m.qbo_id, m.txn_date, m.connection_id, m.customer_qbo_id,
               COALESCE(c.display_name, m.customer_qbo_id), m.item_qbo_id, m.description,
               k.code, m.qty, m.qty * s.bottles_per_unit, m.amount
          FROM ({" UNION ALL ".join(parts)}) m
          JOIN {SKUMapping._meta.db_table} s
            ON s.connection_id = m.connection_id AND s.item_qbo_id = m.item_qbo_id
          JOIN {CatalogSKU._meta.db_table} k ON k.id = s.catalog_sku_id
          LEFT JOIN {QBOCustomer._meta.db_table} c
            ON c.connection_id = m.connection_id AND c.qbo_id = m.customer_qbo_id
         WHERE s.catalog_sku_id = ANY(%s)
         ORDER BY m.txn_date, m.kind, m.doc_number, m.qbo_id, m.position"""
    params.append(list(terms.sku_formats))
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    channels = account_channels(connection_ids=connection_ids) if fetched else {}
    lines = []
    for (
        kind,
        number,
        qbo_id,
        day,
        conn,
        customer,
        name,
        item,
        text,
        code,
        qty,
        bottles,
        amount,
    ) in fetched:
        channel = channels.get((conn, customer), "other")
        if not terms.channel_ok(channel):
            continue
        lines.append(
            EvidenceLine(
                kind,
                number,
                qbo_id,
                day,
                customer,
                name,
                str(channel),
                item,
                text,
                code,
                Decimal(qty),
                Decimal(bottles),
                Decimal(amount),
            )  # fmt: skip
        )
    return lines


def claims_for(
    user: User, *, partner_id: int | None = None, status: str = "", program_id: int | None = None
) -> QuerySet[Claim]:
    """The claims ``user`` may see; the filters narrow within that, never widen it."""
    claims = Claim.objects.visible_to(user).select_related(
        "partner", "program", "created_by", "decided_by"
    )
    if partner_id is not None:
        claims = claims.filter(partner_id=partner_id)
    if status:
        claims = claims.filter(status=status)
    if program_id is not None:
        claims = claims.filter(program_id=program_id)
    return claims


def get_claim_for_user(user: User, pk: int) -> Claim:
    # Another partner's claim is not there for a partner user: a 404.
    return get_object_or_404(claims_for(user), pk=pk)


def claim_lines(claim: Claim) -> QuerySet[ClaimLine]:
    return claim.lines.select_related("sku").order_by("line")


def verdict_totals(claim: Claim) -> list[dict[str, Any]]:
    """Per verdict: how many lines, claimed, supported and the difference."""
    found = {
        row["verdict"]: row
        for row in claim.lines.values("verdict")
        .annotate(count=Count("pk"), claimed=Sum("amount"), supported=Sum("supported"))
        .order_by()
    }
    totals = []
    for verdict in ClaimLine.Verdict:
        if (row := found.get(verdict.value)) is None:
            continue
        claimed, supported = row["claimed"] or ZERO, row["supported"] or ZERO
        totals.append(
            {
                "verdict": verdict,
                "count": row["count"],
                "claimed": claimed,
                "supported": supported,
                "difference": claimed - supported,
            }
        )
    return totals


def approved_lines(user: User) -> QuerySet[ClaimLine]:
    """Every approved line of a decided claim, for payment: what the reader may see."""
    return (
        ClaimLine.objects.filter(
            claim__in=Claim.objects.visible_to(user).filter(status__in=DECIDED),
            approved__gt=0,
        )
        .select_related("claim__partner", "claim__program", "claim__decided_by", "sku")
        .order_by("claim__decided_at", "claim_id", "line")
    )
