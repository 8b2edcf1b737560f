"""The mapping-conflicts queue (admins only): open conflicts with their candidates side by
side, and the decisions on them (choose, ignore, remove a changed item's mapping). The
rules live in ``inventory.mapping``; these views bind a form, call one service and
redirect back to the queue."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import AuthedRequest, role_required
from accounts.roles import ADMINS
from common.htmx import wants_fragment

from . import selectors
from . import services as mapping
from .forms import ChooseForm, QueueFilterForm
from .models import MappingConflict, SKUMapping


@role_required(*ADMINS)
@require_GET
def conflicts(request: AuthedRequest) -> HttpResponse:
    form = QueueFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    queue = selectors.conflict_queue(
        user=request.user, partner=filters.get("partner"), kind=filters.get("kind") or ""
    )
    context: dict[str, Any] = {
        "form": form,
        "conflicts": [_for_display(c) for c in queue[: selectors.QUEUE_LIMIT]],
        "total": queue.count(),
        "skus": selectors.active_skus(),
        "units": SKUMapping.Unit.choices,
        "query": request.GET,
    }
    template = "inventory/mapping/conflicts.html"
    if wants_fragment(request):
        return render(request, template + "#conflict-list", context)
    context["decisions"] = selectors.recent_decisions(user=request.user)
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
    # Whose books: the partner, then its QuickBooks company unless that is named like the
    # partner (as it usually is), which would print the same name twice.
    connection = conflict.connection
    company = connection.company_name or connection.realm_id
    same = company.strip().casefold() == connection.partner.name.strip().casefold()
    conflict.company = "" if same else company  # type: ignore[attr-defined]
    return conflict


def _back(request: AuthedRequest, conflict: MappingConflict | None = None) -> HttpResponse:
    url = reverse("inventory:conflicts")
    return redirect(f"{url}#conflict-{conflict.pk}" if conflict else url)


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def conflict_choose(request: AuthedRequest, pk: int) -> HttpResponse:
    conflict = selectors.get_conflict_for_user(request, pk)
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
    conflict = selectors.get_conflict_for_user(request, pk)
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
    conflict = selectors.get_conflict_for_user(request, pk)
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
