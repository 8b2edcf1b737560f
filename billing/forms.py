"""Filter forms of the billing pages (GET forms: they shape a read, they change nothing).

A filter that does not parse is reported next to its field and left out; the other
filters still apply, so a typo in one date never empties or hides the page.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms

from common.forms import PartnerFilterForm

from .selectors import AGING_BUCKETS

# How the open-invoices page shows what is open: each document (the default), or a row per
# customer with its net balance in each aging bucket (QuickBooks' A/R aging summary).
BY_CUSTOMER = "customer"

DATE_WIDGET = forms.DateInput(attrs={"type": "date"})


class _DateRangeFilterForm(PartnerFilterForm):
    # The form's (start, end) date fields: an end before the start is reported on the end.
    date_range: tuple[str, str]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = self.date_range
        first: date | None = cleaned.get(start)
        last: date | None = cleaned.get(end)
        if first and last and first > last:
            self.add_error(end, f"Must be on or after {first:%Y-%m-%d}.")
        return cleaned


class InvoiceFilterForm(_DateRangeFilterForm):
    customer = forms.CharField(required=False, max_length=255, strip=True)
    bucket = forms.ChoiceField(
        required=False,
        label="Aging",
        choices=[("", "All ages"), *((b.key, b.label) for b in AGING_BUCKETS)],
    )
    kind = forms.ChoiceField(
        required=False,
        label="Type",
        choices=[("", "Invoices and credits"), ("invoices", "Invoices"), ("credits", "Credits")],
    )
    due_from = forms.DateField(required=False, label="Due from", widget=DATE_WIDGET)
    due_to = forms.DateField(required=False, label="Due to", widget=DATE_WIDGET)
    group = forms.ChoiceField(
        required=False,
        label="Show",
        choices=[("", "Each document"), (BY_CUSTOMER, "Totals by customer")],
    )
    date_range = ("due_from", "due_to")

    def filters(self) -> dict[str, Any]:
        data = getattr(self, "cleaned_data", {})
        return {
            **super().filters(),
            "customer": data.get("customer") or "",
            "bucket": data.get("bucket") or "",
            "due_from": data.get("due_from"),
            "due_to": data.get("due_to"),
            "kind": data.get("kind") or "",
        }

    def by_customer(self) -> bool:
        """Whether the page shows a row per customer rather than per document. Not a
        filter: the same rows are read either way."""
        return getattr(self, "cleaned_data", {}).get("group") == BY_CUSTOMER


class PaymentFilterForm(_DateRangeFilterForm):
    date_from = forms.DateField(required=False, label="Paid from", widget=DATE_WIDGET)
    date_to = forms.DateField(required=False, label="Paid to", widget=DATE_WIDGET)
    date_range = ("date_from", "date_to")

    def filters(self) -> dict[str, Any]:
        data = getattr(self, "cleaned_data", {})
        return {
            **super().filters(),
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
        }
