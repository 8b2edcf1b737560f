"""The report pages' filter forms: GET forms that shape a read. A filter that does not parse
is reported next to its field and left out; the others still apply.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from django import forms

from common.forms import PartnerFilterForm
from inventory.channels.models import Channel
from inventory.mapping.models import SKUMapping

from . import placements, selectors, sell_through
from .selectors import (
    DEFAULT_WINDOW,
    WINDOW_CHOICES,
)

if TYPE_CHECKING:
    from accounts.models import User


def offer_mapped_skus(form: forms.Form, user: User) -> None:
    """Give ``form``'s ``sku`` field the SKUs ``user`` has mappings for, after "All SKUs":
    another partner's assortment is its own business."""
    codes = (
        SKUMapping.objects.visible_to(user)
        .order_by("catalog_sku__code")
        .values_list("catalog_sku__code", flat=True)
        .distinct()
    )
    sku_field = form.fields["sku"]
    assert isinstance(sku_field, forms.ChoiceField)
    sku_field.choices = [("", "All SKUs"), *((code, code) for code in codes)]


class DiscrepancyFilterForm(PartnerFilterForm):
    """A GET form: a filter that does not parse is reported next to its field and left
    out, and the other filters still apply."""

    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *selectors.STATUSES])
    sku = forms.CharField(
        required=False, max_length=64, strip=True, label="SKU code",
        widget=forms.TextInput(attrs={"placeholder": "e.g. UF-CAL"}),
    )  # fmt: skip

    def filters(self) -> dict[str, Any]:
        data = getattr(self, "cleaned_data", {})
        return {
            **super().filters(),
            "status": data.get("status") or "",
            "sku_code": data.get("sku") or "",
        }


class DepletionFilterForm(PartnerFilterForm):
    """A GET form: it shapes a read. A field that does not parse is reported next to
    itself and its default is used, so one typo never empties the page."""

    sku = forms.ChoiceField(required=False, label="SKU")
    window = forms.TypedChoiceField(
        required=False,
        coerce=int,
        label="Window",
        choices=[(str(days), f"Last {days} days") for days in WINDOW_CHOICES],
    )
    threshold = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=365,
        label="Warn under (days on hand)",
        help_text="Blank: each partner's own threshold.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )

    def __init__(self, data: Any, *, user: User) -> None:
        super().__init__(data, user=user)
        offer_mapped_skus(self, user)

    def filters(self) -> dict[str, Any]:
        """The selector's keyword arguments from the fields that parsed (call after
        ``is_valid()``); defaults for the rest."""
        data = getattr(self, "cleaned_data", {})
        return {
            **super().filters(),
            "sku": data.get("sku") or "",
            "window_days": data.get("window") or DEFAULT_WINDOW,
            # Blank: each partner's own threshold (its page's setting).
            "threshold_days": data.get("threshold") or None,
        }


MONTH_FORMATS = ["%Y-%m"]
# A bound on the range: ten years of weeks is already 520 columns of chart.
MAX_MONTHS = 120


class SellThroughFilterForm(PartnerFilterForm):
    """A GET form: it shapes a read. A field that does not parse is reported next to
    itself and its default is used, so one typo never empties the page."""

    sku = forms.ChoiceField(required=False, label="SKU")
    start = forms.DateField(
        required=False, input_formats=MONTH_FORMATS, label="From month",
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
    )  # fmt: skip
    end = forms.DateField(
        required=False, input_formats=MONTH_FORMATS, label="To month",
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
    )  # fmt: skip
    group = forms.ChoiceField(required=False, label="Group by", choices=sell_through.GROUPINGS)
    # The table shows one unit at a time: ten measure columns do not fit a laptop's width.
    # The export has both, whichever is shown.
    unit = forms.ChoiceField(required=False, label="Show in", choices=sell_through.UNITS)

    def __init__(self, data: Any, *, user: User, today: date) -> None:
        super().__init__(data, user=user)
        self.default_start, self.default_end = sell_through.default_months(today)
        offer_mapped_skus(self, user)

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                self.add_error("end", "The last month must not be before the first.")
                data.pop("end", None)
                data.pop("start", None)
            elif (end.year - start.year) * 12 + end.month - start.month >= MAX_MONTHS:
                self.add_error("start", f"Choose at most {MAX_MONTHS} months.")
                data.pop("start", None)
        return data

    def filters(self) -> dict[str, Any]:
        """The selector's keyword arguments from the fields that parsed (call after
        ``is_valid()``); defaults for the rest. ``end`` is the last day of its month."""
        data = getattr(self, "cleaned_data", {})
        start = (data.get("start") or self.default_start).replace(day=1)
        end = (data.get("end") or self.default_end).replace(day=1)
        if start > end:  # one default against one chosen month: keep the chosen one
            if data.get("start"):
                end = start
            else:
                start = end
        return {
            **super().filters(),
            "sku": data.get("sku") or "",
            "start": start,
            "end": sell_through.month_end(end),
            "grouping": data.get("group") or sell_through.MONTH,
        }

    def shown_unit(self) -> str:
        """The unit the table shows (call after ``is_valid()``): bottles unless cases
        parsed."""
        return getattr(self, "cleaned_data", {}).get("unit") or sell_through.BOTTLES


_RULES = placements.PlacementRules()
EARLIEST_MONTH = date(2000, 1, 1)


class PlacementsFilterForm(PartnerFilterForm):
    """The accounts page's filters (docs/reports.md, "Accounts and placements"): a SKU, a
    channel, a month, and the two settings that say when an account is new and when it is lost. A
    field that does not parse is reported next to itself and its default is used."""

    sku = forms.ChoiceField(required=False, label="SKU")
    # docs/reports.md, "Channels": keeps one channel's accounts.
    channel = forms.ChoiceField(
        required=False, label="Channel", choices=[("", "Every channel"), *Channel.choices]
    )
    month = forms.DateField(
        required=False, input_formats=MONTH_FORMATS, label="Month",
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
    )  # fmt: skip
    new_months = forms.IntegerField(
        required=False, min_value=1, max_value=60, label="New: none bought in (months)",
        widget=forms.NumberInput(attrs={"placeholder": str(_RULES.new_after_months)}),
    )  # fmt: skip
    lost_days = forms.IntegerField(
        required=False, min_value=1, max_value=730, label="Lost: no reorder in (days)",
        widget=forms.NumberInput(attrs={"placeholder": str(_RULES.lost_after_days)}),
    )  # fmt: skip

    def __init__(self, data: Any, *, user: User, today: date) -> None:
        super().__init__(data, user=user)
        self.today = today
        offer_mapped_skus(self, user)

    def clean_month(self) -> date | None:
        month: date | None = self.cleaned_data.get("month")
        if month and month.replace(day=1) > self.today:
            raise forms.ValidationError("Choose this month or an earlier one.")
        # The figures read back a year and more from the month: a bound keeps that inside
        # what a date can hold (QuickBooks Online has no books from before 2000 anyway).
        if month and month < EARLIEST_MONTH:
            raise forms.ValidationError("Choose a month from January 2000 on.")
        return month

    def period(self) -> tuple[date, date]:
        """The chosen month (this month by default), up to today: an account cannot yet
        have turned lost on a day still to come."""
        month = getattr(self, "cleaned_data", {}).get("month") or self.today
        start = month.replace(day=1)
        return start, min(sell_through.month_end(start), self.today)

    def rules(self) -> placements.PlacementRules:
        data = getattr(self, "cleaned_data", {})
        return placements.PlacementRules(
            new_after_months=data.get("new_months") or _RULES.new_after_months,
            lost_after_days=data.get("lost_days") or _RULES.lost_after_days,
        )

    def filters(self) -> dict[str, Any]:
        """The selector's keyword arguments from the fields that parsed (call after
        ``is_valid()``); defaults for the rest."""
        start, end = self.period()
        data = getattr(self, "cleaned_data", {})
        return {
            **super().filters(),
            "sku": data.get("sku") or "",
            "channel": data.get("channel") or "",
            "start": start,
            "end": end,
            "rules": self.rules(),
        }
