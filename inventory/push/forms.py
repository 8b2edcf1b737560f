"""The push pages' forms: the jobs list's filters, and the drafting pages' partner picker and
the row ids they send. They check shape; the services (``inventory.push.services``) check
the rules.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms

from accounts.models import Partner
from common.forms import PartnerFilterForm
from sync.models import QBOConnection

from .models import PushJob


class JobFilterForm(PartnerFilterForm):
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *PushJob.Status.choices], label="Status"
    )
    kind = forms.ChoiceField(
        required=False, choices=[("", "Both kinds"), *PushJob.Kind.choices], label="Kind"
    )

    def filters(self) -> dict[str, Any]:
        data = getattr(self, "cleaned_data", {})
        return {**super().filters(), "status": data.get("status"), "kind": data.get("kind")}


class PartnerPickForm(forms.Form):
    partner = forms.ModelChoiceField(
        # Partners with a live connection: there is nothing to write to otherwise.
        queryset=Partner.objects.filter(connections__in=QBOConnection.objects.live())
        .distinct()
        .order_by("name"),
        to_field_name="slug",
        empty_label="Choose a partner…",
        label="Partner",
    )


# Row ids as the forms send them: ASCII digits, never more than PostgreSQL's bigint holds.
# int() alone is no check: it raises on "²" (which str.isdigit() accepts) and on more than
# 4300 digits, and it reads " 12 ", "1_2" and "١٢" as 12.
ROW_ID_DIGITS = 18


_ROW_ID = re.compile(rf"[0-9]{{1,{ROW_ID_DIGITS}}}")


def row_id(raw: str) -> int | None:
    """``raw`` as a row id, or None when it is not one."""
    return int(raw) if _ROW_ID.fullmatch(raw) else None


# A QuickBooks id as the push form sends it (the item chosen for a SKU): digits, as
# QuickBooks' ids are, and no longer than the column that keeps it.
_QBO_ID = re.compile(r"[0-9]{1,32}")


def qbo_id(raw: str) -> str | None:
    """``raw`` as a QuickBooks id, or None when it is not one."""
    return raw if _QBO_ID.fullmatch(raw) else None
