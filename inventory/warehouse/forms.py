"""The warehouse pages' forms: they check shape (a file within the size limit, a digest of
the right length); the services check the rules.
"""

from __future__ import annotations

from django import forms

from accounts.models import Partner

from . import services


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Columns: partner (slug), sku (catalog code), as_of (YYYY-MM-DD), and "
        "bottles or cases.",
    )

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        # Checked before reading, so a huge upload is refused without being loaded.
        if (upload.size or 0) > services.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(services.TOO_LARGE)
        self.filename = upload.name or "upload.csv"
        content: bytes = upload.read()
        return content


class ConfirmForm(forms.Form):
    sha256 = forms.CharField(max_length=64, min_length=64, widget=forms.HiddenInput)


class TokenIssueForm(forms.Form):
    partner = forms.ModelChoiceField(queryset=Partner.objects.all(), label="Partner")
    label = forms.CharField(
        max_length=100, label="What will use it", help_text="e.g. WMS production"
    )
