"""The channels pages' forms: they check shape; the services (``inventory.channels.services``)
check the rules (a pattern that cannot be used, a duplicate rule)."""

from __future__ import annotations

from typing import Any

from django import forms

from common.forms import PartnerFilterForm
from common.textinput import text_problem

from .matching import MAX_PATTERN
from .models import Channel, ChannelRule
from .selectors import Source

CHANNEL_CHOICES = Channel.choices


class AccountsFilterForm(PartnerFilterForm):
    """The accounts list's filters (GET): a field that does not parse is reported next to
    itself and left out; the others still apply."""

    channel = forms.ChoiceField(
        required=False, label="Channel", choices=[("", "Any channel"), *CHANNEL_CHOICES]
    )
    source = forms.ChoiceField(
        required=False, label="Decided by", choices=[("", "Anything"), *Source.CHOICES]
    )
    q = forms.CharField(required=False, max_length=100, strip=True, label="Account name")

    def clean_q(self) -> str:
        value: str = self.cleaned_data.get("q") or ""
        if problem := text_problem(value, "The name"):
            raise forms.ValidationError(problem)
        return value

    def filters(self) -> dict[str, Any]:
        data = getattr(self, "cleaned_data", {})
        return {
            **super().filters(),
            "channel": data.get("channel") or "",
            "source": data.get("source") or "",
            "q": data.get("q") or "",
        }


class RuleForm(forms.Form):
    kind = forms.ChoiceField(label="When", choices=ChannelRule.Kind.choices)
    value = forms.CharField(
        label="Type name or name pattern",
        max_length=MAX_PATTERN,
        # The service strips and checks it, with a message for each way it can be wrong.
        strip=False,
        help_text=(
            "A customer type's name (any case), or words found in the account's name: "
            "“*” for any characters, “|” between alternatives, e.g. bistro|wine*bar."
        ),
    )
    channel = forms.ChoiceField(label="Channel", choices=CHANNEL_CHOICES)


class OverrideForm(forms.Form):
    channel = forms.ChoiceField(
        required=False,
        label="Channel",
        choices=[("", "As the rules say"), *CHANNEL_CHOICES],
        # Django's message repeats the value sent, control characters and all.
        error_messages={"invalid_choice": "Choose a channel, or none to let the rules decide."},
    )


class MoveForm(forms.Form):
    direction = forms.ChoiceField(
        choices=[("up", "Up"), ("down", "Down")],
        error_messages={"invalid_choice": "Move the rule up or down."},
    )
