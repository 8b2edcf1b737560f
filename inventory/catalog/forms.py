from __future__ import annotations

from django import forms
from django.core.files.uploadedfile import UploadedFile

from .services import MAX_UPLOAD_BYTES


class CatalogFilterForm(forms.Form):
    """The catalog page's filters (GET). Bad values fall back to "all" rather than erroring."""

    ACTIVE_CHOICES = [("", "All"), ("yes", "Active"), ("no", "Inactive")]

    q = forms.CharField(label="Search code or wine", required=False, max_length=100)
    active = forms.ChoiceField(label="Status", choices=ACTIVE_CHOICES, required=False)


class CatalogImportForm(forms.Form):
    file = forms.FileField(
        label="Catalog CSV",
        # An empty file is reported by the import itself, like every other file problem.
        allow_empty_file=True,
        help_text="UTF-8 CSV with the columns code, wine, vintage, format_ml, "
        "bottles_per_case, active. At most 2 MB.",
    )

    def clean_file(self) -> bytes:
        upload: UploadedFile[bytes] = self.cleaned_data["file"]
        # Checked before reading, so a huge upload is refused without being loaded.
        if (upload.size or 0) > MAX_UPLOAD_BYTES:
            size = (upload.size or 0) / (1024 * 1024)
            raise forms.ValidationError(
                f"The file is {size:.1f} MB; the limit is 2.0 MB. Split it into smaller files."
            )
        self.filename = upload.name or ""
        content: bytes = upload.read(MAX_UPLOAD_BYTES + 1)
        return content


class CatalogImportConfirmForm(forms.Form):
    # The fingerprint of the plan shown on the preview page. Editing it can only make the
    # confirmation fail: what is applied is always computed from the stored file.
    digest = forms.RegexField(regex=r"^[0-9a-f]{64}$", widget=forms.HiddenInput)
