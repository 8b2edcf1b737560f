"""Forms of the partners and people pages. They check shape and uniqueness for messages
next to each field; ``accounts.services`` makes the change and checks it again."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.text import slugify

from .models import Partner, User
from .roles import Role
from .services import PARTNER_FIELDS


class PartnerForm(forms.ModelForm[Partner]):
    class Meta:
        model = Partner
        fields = PARTNER_FIELDS
        labels = {"slug": "Short name (slug)"}
        help_texts = {"slug": "Letters, digits and hyphens; left empty, made from the name."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        for field in self.fields.values():
            if isinstance(field, forms.CharField):
                # NUL and control characters would be a 500 from PostgreSQL, or a damaged
                # name; refuse them with the field's own message.
                field.validators.append(_no_control_characters(str(field.label or "This field")))

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data.get("slug") or ""
        if not slug:
            slug = slugify(self.cleaned_data.get("name") or "")[:80]
            if not slug and self.cleaned_data.get("name"):
                raise forms.ValidationError("Give a slug: the name has no letters to make one.")
        return slug


# C0/C1 controls (TAB aside) and lone surrogates: never part of a name or a phone number.
# The same rule as common.textinput, which accounts, below common, cannot import.
_FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")


def _no_control_characters(label: str) -> Any:
    def check(value: str) -> None:
        if match := _FORBIDDEN.search(value):
            raise forms.ValidationError(
                f"{label} contains a control character (U+{ord(match.group()):04X}); "
                "remove it and send the value again."
            )

    return check


class PeopleFilterForm(forms.Form):
    role = forms.ChoiceField(choices=[("", "All roles"), *Role.choices], required=False)
    partner = forms.ModelChoiceField(
        queryset=Partner.objects.order_by("name"), required=False, empty_label="All partners"
    )
    active = forms.ChoiceField(
        choices=[("", "Everyone"), ("yes", "Active"), ("no", "Deactivated")],
        required=False,
    )

    def filters(self) -> dict[str, Any]:
        data = getattr(self, "cleaned_data", {})
        partner = data.get("partner")
        active = {"yes": True, "no": False}.get(data.get("active") or "")
        return {
            "role": data.get("role") or None,
            "partner_id": partner.pk if partner else None,
            "active": active,
        }


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
    partner = forms.ModelChoiceField(
        queryset=Partner.objects.order_by("name"),
        required=False,
        empty_label="— (Une Femme people have none)",
        help_text="A partner user's distributor; Une Femme staff and admins have none.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("role") == Role.PARTNER and not data.get("partner"):
            self.add_error("partner", "A partner user needs a partner.")
        return data

    @classmethod
    def for_user(cls, user: User) -> RoleForm:
        return cls(initial={"role": user.role, "partner": user.partner_id})
