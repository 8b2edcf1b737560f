"""The suppliers page's form: an admin's choice of Une Femme's vendor for one connection.
It checks shape; ``inventory.purchasing.services`` checks that the vendor is the
connection's."""

from __future__ import annotations

from django import forms

from common.textinput import text_problem

# The select's "Find automatically": never a QuickBooks id, which are digits.
AUTOMATIC = "auto"


class VendorChoiceForm(forms.Form):
    # Required: a POST without a choice (a damaged or made-up request) must change
    # nothing, not silently mean "automatic".
    vendor = forms.CharField(
        max_length=32,
        label="Une Femme is",
        error_messages={"required": "Choose a vendor, or Find automatically."},
    )

    def clean_vendor(self) -> str:
        value: str = self.cleaned_data["vendor"].strip()
        if problem := text_problem(value, "The vendor"):
            raise forms.ValidationError(problem)
        if not value:
            raise forms.ValidationError("Choose a vendor, or Find automatically.")
        return value

    @property
    def automatic(self) -> bool:
        return bool(self.cleaned_data["vendor"] == AUTOMATIC)
