"""The stock ledger's filter form (``inventory.reports.ledger_views``): a GET form that
shapes a read. A field that does not parse is reported next to itself and its default is
used, so one typo never empties the page."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from django import forms

from common.forms import PartnerFilterForm

from . import stock_ledger
from .forms import offer_mapped_skus

if TYPE_CHECKING:
    from accounts.models import User

DATE_FORMATS = ["%Y-%m-%d"]
# QuickBooks Online has no books from before 2000, and a bound keeps the day before
# ``start`` and the day after a count inside what a date can hold.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
BOTTLES, CASES = "bottles", "cases"
UNITS = ((BOTTLES, "Bottles"), (CASES, "9-litre cases"))


class StockLedgerFilterForm(PartnerFilterForm):
    sku = forms.ChoiceField(required=False, label="SKU")
    start = forms.DateField(
        required=False, input_formats=DATE_FORMATS, label="From",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )  # fmt: skip
    end = forms.DateField(
        required=False, input_formats=DATE_FORMATS, label="To",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )  # fmt: skip
    # The table shows one unit at a time; the export has both.
    unit = forms.ChoiceField(required=False, label="Show in", choices=UNITS)

    def __init__(self, data: Any, *, user: User, today: date) -> None:
        super().__init__(data, user=user)
        self.default_start, self.default_end = stock_ledger.default_period(today)
        offer_mapped_skus(self, user)

    def _bounded(self, name: str) -> date | None:
        value: date | None = self.cleaned_data.get(name)
        if value is not None and not EARLIEST <= value <= LATEST:
            raise forms.ValidationError(
                f"Choose a day from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}."
            )
        return value

    def clean_start(self) -> date | None:
        return self._bounded("start")

    def clean_end(self) -> date | None:
        return self._bounded("end")

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "The last day must not be before the first.")
            data.pop("end", None)
            data.pop("start", None)
        return data

    def filters(self) -> dict[str, Any]:
        """The selector's keyword arguments from the fields that parsed (call after
        ``is_valid()``); defaults for the rest."""
        data = getattr(self, "cleaned_data", {})
        start = data.get("start") or self.default_start
        end = data.get("end") or self.default_end
        if start > end:  # one default against one chosen day: keep the chosen one
            if data.get("start"):
                end = start
            else:
                start = end
        return {**super().filters(), "sku": data.get("sku") or "", "start": start, "end": end}

    def shown_unit(self) -> str:
        return getattr(self, "cleaned_data", {}).get("unit") or BOTTLES
