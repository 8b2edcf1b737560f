"""The conflicts queue's forms: its filters, and an admin's choice on a conflict. They check
shape; the services (``inventory.mapping.services``) check the rules.
"""

from __future__ import annotations

from django import forms

from accounts.models import Partner
from common.textinput import text_problem

from .models import MappingConflict, SKUMapping


class QueueFilterForm(forms.Form):
    partner = forms.ModelChoiceField(
        queryset=Partner.objects.order_by("name"),
        required=False,
        empty_label="All partners",
        label="Partner",
        to_field_name="slug",
    )
    kind = forms.ChoiceField(
        choices=[("", "All kinds"), *MappingConflict.Kind.choices],
        required=False,
        label="Kind",
    )


class ChooseForm(forms.Form):
    sku_code = forms.CharField(max_length=64, label="Catalog SKU")
    item_qbo_id = forms.CharField(max_length=32, required=False, label="QuickBooks item")
    unit = forms.ChoiceField(
        choices=[("", "As the name says"), *SKUMapping.Unit.choices],
        required=False,
        label="Counted in",
        # Django's message repeats the value sent, control characters and all.
        error_messages={"invalid_choice": "Choose bottle or case, or leave it to the name."},
    )
    bottles_per_unit = forms.IntegerField(
        min_value=1, max_value=1000, required=False, label="Bottles per case"
    )

    # The queue's buttons send codes and ids as they are; a control character means the
    # request was damaged or made up, and echoing it back in "is not a catalog SKU" would
    # only carry the damage into the page.
    def clean_sku_code(self) -> str:
        return _refuse_control_characters(self.cleaned_data["sku_code"], "The SKU code")

    def clean_item_qbo_id(self) -> str:
        return _refuse_control_characters(self.cleaned_data["item_qbo_id"], "The item id")


def _refuse_control_characters(value: str, name: str) -> str:
    if problem := text_problem(value, name):
        raise forms.ValidationError(problem)
    return value
