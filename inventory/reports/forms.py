"""The report pages' filter forms: GET forms that shape a read. A filter that does not parse
is reported next to its field and left out; the others still apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms

from common.forms import PartnerFilterForm
from inventory.mapping.models import SKUMapping

from . import selectors
from .selectors import (
    DEFAULT_THRESHOLD,
    DEFAULT_WINDOW,
    WINDOW_CHOICES,
)

if TYPE_CHECKING:
    from accounts.models import User


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
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )

    def __init__(self, data: Any, *, user: User) -> None:
        super().__init__(data, user=user)
        # Only the SKUs this user has mappings for: another partner's assortment is its
        # own business.
        codes = (
            SKUMapping.objects.visible_to(user)
            .order_by("catalog_sku__code")
            .values_list("catalog_sku__code", flat=True)
            .distinct()
        )
        sku_field = self.fields["sku"]
        assert isinstance(sku_field, forms.ChoiceField)
        sku_field.choices = [("", "All SKUs"), *((code, code) for code in codes)]

    def filters(self) -> dict[str, Any]:
        """The selector's keyword arguments from the fields that parsed (call after
        ``is_valid()``); defaults for the rest."""
        data = getattr(self, "cleaned_data", {})
        return {
            **super().filters(),
            "sku": data.get("sku") or "",
            "window_days": data.get("window") or DEFAULT_WINDOW,
            "threshold_days": data.get("threshold") or DEFAULT_THRESHOLD,
        }
