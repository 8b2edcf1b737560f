"""The mapping-conflicts queue (admins only): open conflicts with their candidates side by
side, and the decisions on them (choose, ignore, remove a changed item's mapping). The
rules live in ``inventory.mapping``; these views bind a form, call one service and
redirect back to the queue."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import AuthedRequest, role_required
from accounts.models import Partner
from accounts.roles import ADMINS
from common.htmx import wants_fragment
from common.textinput import text_problem

from . import mapping
from .mapping_models import MappingConflict, MappingDecision, SKUMapping
from .models import CatalogSKU

QUEUE_LIMIT = 50
RECENT_DECISIONS = 20


class QueueFilterForm(forms.Form):
    partner = forms.ModelChoiceField(
        queryset=Partner.objects.order_by("name"),
        required=False,
        empty_label="All partners",
        label="Partner",
        to_field_name="slug",
    )
    kind = forms.ChoiceField(
        choices=[("", "All kinds"), *MappingConflict.Kind.choices],
        required=False,
        label="Kind",
    )


class ChooseForm(forms.Form):
    sku_code = forms.CharField(max_length=64, label="Catalog SKU")
    item_qbo_id = forms.CharField(max_length=32, required=False, label="QuickBooks item")
    unit = forms.ChoiceField(
        choices=[("", "As the name says"), *SKUMapping.Unit.choices],
        required=False,
        label="Counted in",
        # Django's message repeats the value sent, control characters and all.
        error_messages={"invalid_choice": "Choose bottle or case, or leave it to the name."},
    )
    bottles_per_unit = forms.IntegerField(
        min_value=1, max_value=1000, required=False, label="Bottles per case"
    )

    # The queue's buttons send codes and ids as they are; a control character means the
    # request was damaged or made up, and echoing it back in "is not a catalog SKU" would
    # only carry the damage into the page.
    def clean_sku_code(self) -> str:
        return _refuse_control_characters(self.cleaned_data["sku_code"], "The SKU code")

    def clean_item_qbo_id(self) -> str:
        return _refuse_control_characters(self.cleaned_data["item_qbo_id"], "The item id")


def _refuse_control_characters(value: str, name: str) -> str:
    if problem := text_problem(value, name):
        raise forms.ValidationError(problem)
    return value


def get_conflict_for_user(request: AuthedRequest, pk: int) -> MappingConflict:
    try:
        conflict: MappingConflict = MappingConflict.objects.visible_to(request.user).get(pk=pk)
    except MappingConflict.DoesNotExist:
        raise Http404("No such conflict.") from None
    return conflict


@role_required(*ADMINS)
@require_GET
def conflicts(request: AuthedRequest) -> HttpResponse:
    form = QueueFilterForm(request.GET or None)
    queue = (
        MappingConflict.objects.open()
        .visible_to(request.user)
        .select_related("connection__partner")
        .order_by("connection__partner__name", "detected_at", "pk")
    )
    if form.is_valid():
        if partner := form.cleaned_data["partner"]:
            queue = queue.filter(connection__partner=partner)
        if kind := form.cleaned_data["kind"]:
            queue = queue.filter(kind=kind)
    total = queue.count()
    context: dict[str, Any] = {
        "form": form,
        "conflicts": [_for_display(c) for c in queue[:QUEUE_LIMIT]],
        "total": total,
        "skus": list(CatalogSKU.objects.filter(active=True).order_by("code")),
        "units": SKUMapping.Unit.choices,
        "query": request.GET,
    }
    template = "inventory/conflicts.html"
    if wants_fragment(request):
        return render(request, template + "#conflict-list", context)
    context["decisions"] = list(
        MappingDecision.objects.visible_to(request.user)
        .select_related("actor", "connection__partner", "conflict")
        .order_by("-created_at", "-pk")[:RECENT_DECISIONS]
    )
    return render(request, template, context)


def _for_display(conflict: MappingConflict) -> MappingConflict:
    # The snapshot is JSON; the page shows its times as times (in the viewer's zone).
    rows = conflict.candidates.get("items", [])
    conflict.item_rows = [  # type: ignore[attr-defined]
        {**row, "updated": parse_datetime(row["updated_at"]) if row.get("updated_at") else None}
        for row in rows
    ]
    conflict.sku_rows = conflict.candidates.get("skus", [])  # type: ignore[attr-defined]
    conflict.mapped = conflict.candidates.get("mapping")  # type: ignore[attr-defined]
    return conflict


def _back(request: AuthedRequest, conflict: MappingConflict | None = None) -> HttpResponse:
    url = reverse("inventory:conflicts")
    return redirect(f"{url}#conflict-{conflict.pk}" if conflict else url)


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def conflict_choose(request: AuthedRequest, pk: int) -> HttpResponse:
    conflict = get_conflict_for_user(request, pk)
    if request.method == "GET":
        # A GET changes nothing: it shows the conflict in the queue, whose buttons POST.
        return _back(request, conflict)
    form = ChooseForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(
            f"{form.fields[f].label}: {' '.join(str(m) for m in e)}" for f, e in form.errors.items()
        )
        messages.error(request, f"Nothing was changed. {errors}")
        return _back(request)
    data = form.cleaned_data
    try:
        chosen = mapping.conflict_choose(
            conflict_id=conflict.pk,
            user=request.user,
            sku_code=data["sku_code"],
            item_qbo_id=data["item_qbo_id"] or None,
            unit=data["unit"] or None,
            bottles_per_unit=data["bottles_per_unit"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Mapped “{chosen.item_name}” to {chosen.catalog_sku.code}. Decision recorded."
        )
    return _back(request)


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def conflict_ignore(request: AuthedRequest, pk: int) -> HttpResponse:
    conflict = get_conflict_for_user(request, pk)
    if request.method == "GET":
        # A GET changes nothing: it shows the conflict in the queue, whose buttons POST.
        return _back(request, conflict)
    try:
        mapping.conflict_ignore(conflict_id=conflict.pk, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Ignored. It will not be raised again unless QuickBooks changes.")
    return _back(request)


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def conflict_unmap(request: AuthedRequest, pk: int) -> HttpResponse:
    conflict = get_conflict_for_user(request, pk)
    if request.method == "GET":
        # A GET changes nothing: it shows the conflict in the queue, whose buttons POST.
        return _back(request, conflict)
    try:
        mapping.conflict_unmap(conflict_id=conflict.pk, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Mapping removed. Decision recorded.")
    return _back(request)
