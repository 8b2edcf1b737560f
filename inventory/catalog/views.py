"""The catalog pages: the SKU list (staff read), its CSV export, and the CSV import with
its preview (admins only). The rules live in ``inventory.catalog``; these views bind a form,
call one service and render."""

from __future__ import annotations

import csv
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import AuthedRequest, role_required
from accounts.roles import ADMINS, UNE_FEMME
from common.htmx import wants_fragment

from . import selectors, services
from . import services as catalog
from .forms import CatalogFilterForm, CatalogImportConfirmForm, CatalogImportForm
from .models import CatalogImport, CatalogSKU


def _filtered_skus(request: AuthedRequest) -> tuple[CatalogFilterForm, QuerySet[CatalogSKU]]:
    form = CatalogFilterForm(request.GET)
    if not form.is_valid():
        return form, selectors.catalog_skus()
    active = form.cleaned_data["active"]
    return form, selectors.catalog_skus(
        query=form.cleaned_data["q"], active=None if not active else active == "yes"
    )


@role_required(*UNE_FEMME)
@require_GET
def catalog_list(request: AuthedRequest) -> HttpResponse:
    form, skus = _filtered_skus(request)
    template = "inventory/catalog/list.html"
    if wants_fragment(request):
        template += "#catalog-table"
    return render(
        request,
        template,
        {"form": form, "skus": skus, "total": CatalogSKU.objects.count(), "query": request.GET},
    )


@role_required(*UNE_FEMME)
@require_GET
def catalog_export(request: AuthedRequest) -> HttpResponse:
    """The (filtered) catalog in the import's own format, so it can be edited and imported."""
    _, skus = _filtered_skus(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="unefemme-catalog.csv"'
    # The byte-order mark makes Excel read the accents as UTF-8; the import ignores it.
    response.write("\ufeff")
    csv.writer(response).writerows(selectors.catalog_csv_rows(skus))
    return response


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def catalog_import(request: AuthedRequest) -> HttpResponse:
    """Upload a catalog CSV; a readable file is stored and previewed, nothing is applied."""
    form = CatalogImportForm()
    if request.method == "POST":
        form = CatalogImportForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                upload = services.catalog_import_upload(
                    user=request.user, filename=form.filename, content=form.cleaned_data["file"]
                )
            except ValidationError as e:
                form.add_error("file", e)
            else:
                return redirect("inventory:catalog_import_preview", token=upload.token)
    recent = selectors.recent_imports()
    return render(
        request,
        "inventory/catalog/import.html",
        {
            "form": form,
            "recent": recent,
            "columns": services.COLUMNS,
            "limits": {
                "vintage": services.VINTAGE_RANGE,
                "format_ml": services.MAX_FORMAT_ML,
                "bottles_per_case": services.MAX_BOTTLES_PER_CASE,
            },
        },
    )


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def catalog_import_preview(request: AuthedRequest, token: UUID) -> HttpResponse:
    """GET: what the stored file would change. POST: confirm, applying all of it or none."""
    upload = selectors.get_catalog_import_for_user(request, token)
    form = CatalogImportConfirmForm()
    if request.method == "POST":
        form = CatalogImportConfirmForm(request.POST)
        if not form.is_valid():
            form.add_error(None, "The confirmation was incomplete; nothing was changed.")
        else:
            try:
                applied = services.catalog_import_apply(
                    catalog_import=upload, user=request.user, digest=form.cleaned_data["digest"]
                )
            except ValidationError as e:
                form.add_error(None, e)
            else:
                messages.success(
                    request,
                    f"Catalog import applied: {applied.created_count} new, "
                    f"{applied.updated_count} changed, {applied.unchanged_count} unchanged.",
                )
                return redirect("inventory:catalog")
        upload.refresh_from_db()

    try:
        plan = services.catalog_import_plan(content=bytes(upload.content))
    except ValidationError as e:
        # Only when the reading rules became stricter after this file was stored.
        form.add_error(None, e)
        plan = catalog.Plan(errors=[], rows=[])
    is_applied = upload.status == CatalogImport.Status.APPLIED
    expired = not is_applied and services.catalog_import_expired(upload)
    return render(
        request,
        "inventory/catalog/import_preview.html",
        {
            "upload": upload,
            "plan": plan,
            "errors": plan.all_errors,
            "counts": {outcome.value: plan.count(outcome) for outcome in catalog.Outcome},
            "applied": is_applied,
            "expired": expired,
            "can_confirm": not is_applied and not expired and not plan.has_errors and plan.rows,
            "digest": plan.digest,
            "confirm_form": form,
        },
    )
