"""Shapes of the invitation forms; the services decide the rules (duplicates, role and
partner), and the views put their ValidationErrors on these forms' fields."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import Partner
from accounts.roles import Role


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail", max_length=254)
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.PARTNER)
    partner = forms.ModelChoiceField(
        queryset=Partner.objects.all(),
        required=False,
        label="Partner",
        help_text="For a partner user: the distributor they work for. Empty for staff and admins.",
    )


class AcceptForm(forms.Form):
    full_name = forms.CharField(label="Your name", max_length=200, required=False)
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        return data
