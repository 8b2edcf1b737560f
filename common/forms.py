"""Filter forms shared by the list pages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms

from accounts.models import Partner

if TYPE_CHECKING:
    from accounts.models import User


class PartnerFilterForm(forms.Form):
    """A GET filter form with the partner filter for people who see every partner.

    Partner users see only their own rows anyway, so they are neither offered the field nor
    able to widen their scope with it (a ``?partner=`` they send is not a field, so it is
    ignored). Subclasses add their fields and extend ``filters()``.
    """

    partner = forms.ModelChoiceField(
        queryset=Partner.objects.none(), required=False, empty_label="All partners"
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if user.sees_all_partners:
            field = self.fields["partner"]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = Partner.objects.visible_to(user).order_by("name")
        else:
            del self.fields["partner"]

    def filters(self) -> dict[str, Any]:
        """The selector keyword arguments of the fields that parsed (call after
        ``is_valid()``); a field that did not parse is left out, the others still apply."""
        partner = getattr(self, "cleaned_data", {}).get("partner")
        return {"partner_id": partner.pk if partner else None}
