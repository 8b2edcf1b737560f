"""The allowances pages' forms: shapes and simple rules; the services check who may act."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms

from accounts.models import Partner, User
from common.forms import PartnerFilterForm
from common.textinput import text_problem
from inventory.catalog.models import CatalogSKU
from inventory.channels.models import Channel

from .claims import MAX_BYTES, TOO_LARGE
from .models import AllowanceProgram, Claim

EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
CLAIM_HEADER = "period,sku,account,cases,amount"


def _clean_text(form: forms.BaseForm, name: str, label: str) -> str:
    value: str = form.cleaned_data.get(name) or ""
    if problem := text_problem(value, label):
        raise forms.ValidationError(problem)
    return value.strip()


class ProgramForm(forms.ModelForm[AllowanceProgram]):
    partners = forms.ModelMultipleChoiceField(
        queryset=Partner.objects.order_by("name"), widget=forms.CheckboxSelectMultiple
    )
    skus = forms.ModelMultipleChoiceField(
        queryset=CatalogSKU.objects.order_by("code"),
        widget=forms.CheckboxSelectMultiple,
        label="SKUs",
    )

    class Meta:
        model = AllowanceProgram
        fields = [
            "name",
            "partners",
            "skus",
            "start",
            "end",
            "rate",
            "unit",
            "channel",
            "account_cap",
        ]
        labels = {"rate": "Rate ($)", "unit": "Per", "account_cap": "Cap per account and month ($)"}
        help_texts = {
            "channel": "Leave empty to pay on every channel.",
            "account_cap": "Leave empty for no cap.",
        }
        widgets = {
            "start": forms.DateInput(attrs={"type": "date"}),
            "end": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        channel = self.fields["channel"]
        assert isinstance(channel, forms.ChoiceField)
        channel.choices = [("", "Every channel"), *Channel.choices]
        if self.instance.pk:
            self.initial["partners"] = list(self.instance.partners.all())
            self.initial["skus"] = list(self.instance.skus.all())

    def clean_name(self) -> str:
        return _clean_text(self, "name", "The name")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        for name in ("start", "end"):
            day = data.get(name)
            if day is not None and not EARLIEST <= day <= LATEST:
                self.add_error(name, f"Choose a day from {EARLIEST:%Y} to {LATEST:%Y}.")
        if start and end and end < start:
            self.add_error("end", "The program cannot end before it starts.")
        return data


class ClaimForm(forms.Form):
    """A claim: a CSV file, or its lines typed in."""

    program = forms.ModelChoiceField(queryset=AllowanceProgram.objects.none())
    partner = forms.ModelChoiceField(queryset=Partner.objects.none())
    reference = forms.CharField(
        label="Your claim's reference", max_length=100, required=False,
        help_text="The distributor's own number for the claim, if it has one.",
    )  # fmt: skip
    file = forms.FileField(
        label="CSV file",
        required=False,
        help_text="Columns: period (YYYY-MM), sku, account, bottles or cases, amount.",
    )
    lines = forms.CharField(
        label="…or type the lines",
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 6,
                "placeholder": f"{CLAIM_HEADER}\n2026-11,UF-ROSE-750,Bistro Lune,4,96.00",
            }
        ),
        help_text=f"The same columns, a header first, e.g. {CLAIM_HEADER}.",
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        program = self.fields["program"]
        assert isinstance(program, forms.ModelChoiceField)
        program.queryset = AllowanceProgram.objects.visible_to(user).order_by("-start", "name")
        if user.sees_all_partners:
            partner = self.fields["partner"]
            assert isinstance(partner, forms.ModelChoiceField)
            partner.queryset = Partner.objects.order_by("name")
        else:
            # A partner user claims for its own partner only: not a field it could change.
            del self.fields["partner"]
        self.filename = ""

    def clean_reference(self) -> str:
        return _clean_text(self, "reference", "The reference")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload, typed = data.get("file"), (data.get("lines") or "").strip()
        if upload and typed:
            raise forms.ValidationError("Upload a file or type the lines, not both.")
        if upload:
            if (upload.size or 0) > MAX_BYTES:
                raise forms.ValidationError(TOO_LARGE)
            self.filename = upload.name or "claim.csv"
            data["content"] = upload.read()
        elif typed:
            self.filename = "typed lines"
            data["content"] = typed.encode("utf-8", "surrogatepass")
        else:
            raise forms.ValidationError("Upload the claim's CSV file or type its lines.")
        partner = data.get("partner") if self.user.sees_all_partners else self.user.partner
        program = data.get("program")
        if (
            partner is not None
            and program is not None
            and not program.partners.filter(pk=partner.pk).exists()
        ):
            self.add_error("program", f"{program} does not cover {partner}.")
        data["partner"] = partner
        return data


class ClaimsFilterForm(PartnerFilterForm):
    """The claims list's filters: the partner (Une Femme's people), the status and the
    program. A value that does not parse is shown with its message and ignored."""

    status = forms.ChoiceField(
        choices=[("", "Every status"), *Claim.Status.choices], required=False
    )
    program = forms.ModelChoiceField(
        queryset=AllowanceProgram.objects.none(), required=False, empty_label="Every program"
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        program = self.fields["program"]
        assert isinstance(program, forms.ModelChoiceField)
        program.queryset = AllowanceProgram.objects.visible_to(user).order_by("-start", "name")

    def filters(self) -> dict[str, Any]:
        data = getattr(self, "cleaned_data", {})
        program = data.get("program")
        return super().filters() | {
            "status": data.get("status") or "",
            "program_id": program.pk if program else None,
        }


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=2000
    )
    lines = forms.TypedMultipleChoiceField(coerce=int, required=False, choices=())

    def __init__(self, *args: Any, line_ids: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        lines = self.fields["lines"]
        assert isinstance(lines, forms.TypedMultipleChoiceField)
        lines.choices = [(pk, pk) for pk in line_ids]

    def clean_note(self) -> str:
        return _clean_text(self, "note", "The note")
