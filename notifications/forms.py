from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import User

from .models import Delivery, Kind


class PreferencesForm(forms.Form):
    """One choice per kind the person's role is told of (notifications/models.py
    PREFERENCE_KINDS); the fields are built for the person."""

    def __init__(self, *args: Any, user: User, initial_choices: dict[str, str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        for kind, delivery in initial_choices.items():
            self.fields[kind] = forms.ChoiceField(
                label=Kind(kind).label,
                choices=Delivery.choices,
                initial=delivery,
                widget=forms.RadioSelect,
            )

    def choices(self) -> dict[str, str]:
        return {name: str(value) for name, value in self.cleaned_data.items()}
