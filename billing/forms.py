"""Filter forms of the billing pages (GET forms: they shape a read, they change nothing).

A filter that does not parse is reported next to its field and left out; the other
filters still apply, so a typo in one date never empties or hides the page.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from common.forms import PartnerFilterForm

from .selectors import AGING_BUCKETS

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


class AmountField(forms.Field):
    """An amount of money as people type it: "1,200.00", "1200", "$1,200" or "1 200.5".
    Gives a Decimal to the cent; anything else is reported next to the field."""

    widget = forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "1,200.00"})
    # Digits with optional thousands separators (commas or spaces), then at most two
    # decimals; a leading dollar sign and spaces around are allowed.
    PATTERN = re.compile(r"\$?\s*(\d{1,3}(?:[, ]\d{3})+|\d+)(?:\.(\d{1,2}))?")
    # What numeric(18, 2) holds: 16 digits before the point.
    MAX_DIGITS = 16

    def to_python(self, value: Any) -> Decimal | None:
        text = str(value).strip() if value is not None else ""
        if not text:
            return None
        # ASCII digits only: \d would take other scripts' digits, which Decimal reads.
        match = self.PATTERN.fullmatch(text) if text.isascii() else None
        whole = match.group(1).replace(",", "").replace(" ", "") if match else ""
        if match is None or len(whole.lstrip("0")) > self.MAX_DIGITS:
            raise ValidationError(
                "Enter an amount such as 1200, 1,200.00 or $1,200.", code="invalid"
            )
        return Decimal(f"{whole}.{(match.group(2) or '').ljust(2, '0')}")


class PaymentFilterForm(_DateRangeFilterForm):
    date_from = forms.DateField(required=False, label="Paid from", widget=DATE_WIDGET)
    date_to = forms.DateField(required=False, label="Paid to", widget=DATE_WIDGET)
    customer = forms.CharField(required=False, max_length=255, strip=True)
    reference = forms.CharField(required=False, max_length=100, strip=True)
    amount = AmountField(required=False, label="Amount received")
    date_range = ("date_from", "date_to")

    def filters(self) -> dict[str, Any]:
        data = getattr(self, "cleaned_data", {})
        return {
            **super().filters(),
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "customer": data.get("customer") or "",
            "reference": data.get("reference") or "",
            "amount": data.get("amount"),
        }


class ReceivablesFilterForm(PartnerFilterForm):
    customer = forms.CharField(required=False, max_length=255, strip=True)
    overdue = forms.BooleanField(required=False, label="Overdue only")
    bucket = forms.ChoiceField(
        required=False,
        label="Balance in",
        choices=[("", "Any bucket"), *((b.key, b.label) for b in AGING_BUCKETS)],
    )

    def filters(self) -> dict[str, Any]:
        data = getattr(self, "cleaned_data", {})
        return {
            **super().filters(),
            "customer": data.get("customer") or "",
            "overdue_only": bool(data.get("overdue")),
            "bucket": data.get("bucket") or "",
        }


class StatementForm(forms.Form):
    as_of = forms.DateField(required=False, label="As of", widget=DATE_WIDGET)

    def __init__(self, *args: Any, today: date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_as_of(self) -> date | None:
        as_of: date | None = self.cleaned_data.get("as_of")
        if as_of is not None and as_of > self.today:
            # The mirror holds today's balances: a later date would age them as if no
            # payment could come in until then.
            raise ValidationError(f"Must be on or before today, {self.today:%Y-%m-%d}.")
        return as_of

    def as_of_date(self) -> date:
        """The date asked for when it parsed, today otherwise."""
        return getattr(self, "cleaned_data", {}).get("as_of") or self.today
