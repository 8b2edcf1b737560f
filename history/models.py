"""Daily history: what the figures were at the end of each day, per partner (and in total)
and per partner × SKU, so that trends and month-over-month comparisons read one small
table instead of rebuilding the past from the mirror (docs/reports.md, "Daily history").

Rows are written only by ``history.services`` (the nightly job and the backfill command),
a whole day at a time; nothing edits them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from django.db import models

from accounts.access import PartnerScopedQuerySet


def _money() -> models.DecimalField[Decimal, Decimal]:
    return models.DecimalField(max_digits=18, decimal_places=2, default=Decimal("0.00"))


def _bottles() -> models.DecimalField[Decimal, Decimal]:
    # Bottles are whole in practice, but a line's quantity × bottles per unit need not be
    # (QuickBooks allows fractional quantities), and the ledger keeps four places.
    return models.DecimalField(max_digits=18, decimal_places=4, default=Decimal("0"))


# The aging buckets' keys (billing.selectors.AGING_BUCKETS) and the columns holding them.
BUCKET_FIELDS = {
    "current": "current",
    "1-30": "overdue_1_30",
    "31-60": "overdue_31_60",
    "61-90": "overdue_61_90",
    "90+": "overdue_over_90",
}


class PartnerDayQuerySet(PartnerScopedQuerySet):
    # ``visible_to`` filters a partner user's rows on ``partner = their partner``, which
    # the total rows (partner NULL) never match: a partner user cannot read the total, nor
    # another partner's rows. Staff and admins see every row, the totals included.
    partner_lookup = "partner"

    def totals(self) -> PartnerDayQuerySet:
        return self.filter(partner__isnull=True)

    def partners(self) -> PartnerDayQuerySet:
        return self.filter(partner__isnull=False)


class PartnerDay(models.Model):
    """One partner's receivables and cash at the end of ``day``; with ``partner`` NULL,
    the same figures added up over every partner (the total row, one per day).

    Money is as ``billing.selectors`` counts it: the buckets are net amounts (credits
    netted), ``owed`` the open invoices, ``overdue`` those past due, ``credits`` (zero or
    negative) open credit memos and unapplied payments, ``unapplied`` the unapplied part
    of payments (positive), ``cash_received`` the payments dated that day, and
    ``credit_sales`` the net credit sales over the ``DSO_DAYS`` days ending that day."""

    day = models.DateField()
    partner = models.ForeignKey(
        "accounts.Partner",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        # The unique (day, partner) index starts with the day; the trends read one
        # partner's days through this one.
        db_index=True,
    )
    current = _money()
    overdue_1_30 = _money()
    overdue_31_60 = _money()
    overdue_61_90 = _money()
    overdue_over_90 = _money()
    owed = _money()
    overdue = _money()
    credits = _money()
    unapplied = _money()
    cash_received = _money()
    credit_sales = _money()
    taken_at = models.DateTimeField()

    objects: ClassVar[PartnerDayQuerySet] = PartnerDayQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints = [
            # NULLS NOT DISTINCT (PostgreSQL 15+): one total row per day, as one row per
            # partner and day; plain UNIQUE would let any number of NULL-partner rows in.
            models.UniqueConstraint(
                fields=["day", "partner"],
                name="history_partner_day_unique",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id or 'total'} on {self.day:%Y-%m-%d}"

    @property
    def receivables(self) -> Decimal:
        """Net receivables: what customers owe once their credits are used (the
        open-invoices page's total), the buckets' sum."""
        return self.owed + self.credits

    @property
    def is_total(self) -> bool:
        return self.partner_id is None


class StockDayQuerySet(PartnerScopedQuerySet):
    partner_lookup = "partner"


class StockDay(models.Model):
    """One partner's stock of one SKU at the end of ``day``: ``on_hand`` the bottles
    QuickBooks held (the stock ledger's quantity on that day) and ``depletion`` the net
    depletion over the ``DEPLETION_DAYS`` days ending that day (the depletion page's)."""

    day = models.DateField()
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="+")
    sku = models.ForeignKey("inventory.CatalogSKU", on_delete=models.CASCADE, related_name="+")
    on_hand = _bottles()
    depletion = _bottles()
    taken_at = models.DateTimeField()

    objects: ClassVar[StockDayQuerySet] = StockDayQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "partner", "sku"], name="history_stock_day_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} × {self.sku_id} on {self.day:%Y-%m-%d}"
