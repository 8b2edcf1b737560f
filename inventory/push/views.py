"""Pushes into partners' QuickBooks: the jobs list and job page (everyone, scoped to what
they may see: a distributor sees what Une Femme wrote into its own books), and the admin
steps (draft, approve, discard, retry). Nothing here calls QuickBooks: approving queues
a Celery job (``inventory.tasks.push_job_run``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import AuthedRequest, role_required
from accounts.models import Partner
from accounts.roles import ADMINS, EVERYONE
from common.htmx import wants_fragment
from common.tables import Column, Table, csv_response
from inventory.catalog.models import CatalogSKU
from inventory.mapping.models import MappingConflict
from inventory.reports.selectors import OUT_OF_TOLERANCE
from sync.models import QBOConnection

from . import selectors, services
from .forms import ROW_ID_DIGITS, JobFilterForm, PartnerPickForm, qbo_id, row_id
from .models import PushJob

# Refresh the job page's progress this often while a job is queued or running.
POLL_SECONDS = 2


JOBS = Table(
    [
        Column("number", "Job", sort="pk", attr="pk", link=lambda j: j.get_absolute_url()),
        Column("partner", "Partner", sort="connection__partner__name",
               attr="connection__partner__name"),
        Column("kind", "Kind", sort="kind", attr="get_kind_display"),
        Column("status", "Status", sort="status", attr="get_status_display"),
        Column("items", "Items", sort="item_count", attr="item_count", kind="number"),
        Column("written", "Written", sort="written_count", attr="written_count", kind="number"),
        Column("failed", "Failed", sort="failed_count", attr="failed_count", kind="number"),
        Column("created_by", "Drafted by", sort="created_by__email", attr="created_by__email"),
        Column("created_at", "Drafted", sort="created_at", kind="datetime"),
        Column("finished_at", "Finished", sort="finished_at", kind="datetime"),
    ],
    default_sort="-number",
)  # fmt: skip


@role_required(*EVERYONE)
@require_GET
def push_jobs(request: AuthedRequest) -> HttpResponseBase:
    form = JobFilterForm(request.GET, user=request.user)
    form.is_valid()  # a filter that does not parse is shown and left out
    table = JOBS.bind(request, selectors.push_jobs(user=request.user, **form.filters()))
    if table.is_csv:
        return csv_response(table, f"quickbooks-pushes-{timezone.localdate():%Y-%m-%d}.csv")
    template = "inventory/push/jobs.html"
    if wants_fragment(request):
        template += "#push-job-table"
    filtered = any(form.filters().values())
    return render(request, template, {"form": form, "table": table, "filtered": filtered})


@role_required(*EVERYONE)
@require_GET
def push_job(request: AuthedRequest, pk: int) -> HttpResponse:
    job = selectors.get_job_for_user(request, pk)
    items = list(job.items.select_related("catalog_sku").order_by("pk"))
    context = {
        "job": job,
        "items": items,
        "progress": selectors.job_progress(job),
        "value": selectors.job_value(job, items),
        "poll_seconds": POLL_SECONDS,
        "can_decide": request.user.is_admin,
    }
    if wants_fragment(request):
        response = render(request, "inventory/push/job.html#job-progress", context)
        if not job.is_active:
            response.status_code = 286  # htmx: stop polling, the job is over
        return response
    return render(request, "inventory/push/job.html", context)


def _decision(request: AuthedRequest, pk: int, action: Any, success: str) -> HttpResponse:
    job = selectors.get_job_for_user(request, pk)
    try:
        action(job_id=job.pk, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, success)
    return redirect("inventory:push_job", pk=job.pk)


@role_required(*ADMINS)
@require_POST
def push_job_approve(request: AuthedRequest, pk: int) -> HttpResponse:
    return _decision(
        request, pk, services.push_job_approve, "Approved. The job is queued; progress shows below."
    )


@role_required(*ADMINS)
@require_POST
def push_job_discard(request: AuthedRequest, pk: int) -> HttpResponse:
    return _decision(request, pk, services.push_job_discard, "Discarded. Nothing was written.")


@role_required(*ADMINS)
@require_POST
def push_job_retry(request: AuthedRequest, pk: int) -> HttpResponse:
    return _decision(request, pk, services.push_job_retry, "Queued again; progress shows below.")


# ------------------------------------------------------------------ drafting


@dataclass
class _Pick:
    """A drafting page's request: the partner picked (GET to look, POST to draft), its
    live connection, and the SKUs named (pks from the form, codes from a link)."""

    form: PartnerPickForm
    partner: Partner | None
    connection: QBOConnection | None
    named: set[str]

    @classmethod
    def read(cls, request: AuthedRequest) -> _Pick:
        data = request.POST if request.method == "POST" else request.GET
        # A first visit (a GET with no query) shows the picker without errors; a POST is
        # always checked, so an empty one says that the partner is missing.
        form = PartnerPickForm(data if request.method == "POST" else data or None)
        partner = form.cleaned_data["partner"] if form.is_valid() else None
        connection = selectors.live_connection(partner.pk) if partner else None
        return cls(form, partner, connection, set(data.getlist("sku")))

    def names(self, sku: CatalogSKU) -> bool:
        return sku.code in self.named or str(sku.pk) in self.named

    def context(self, **extra: Any) -> dict[str, Any]:
        field = self.form.fields["partner"]
        assert isinstance(field, forms.ModelChoiceField)
        return {
            "form": self.form,
            "partner": self.partner,
            "connection": self.connection,
            "nobody_connected": not field.queryset.exists(),  # type: ignore[union-attr]
            **extra,
        }


def _draft(
    request: AuthedRequest, pick: _Pick, make: Callable[..., PushJob]
) -> HttpResponse | None:
    """On a POST for a picked partner: the draft made by ``make`` (a push service), and a
    redirect to it; or its refusal as a message, and None (the form shows again)."""
    if request.method != "POST" or pick.partner is None:
        return None
    named = request.POST.getlist("sku")
    ids = [sku_id for raw in named if (sku_id := row_id(raw)) is not None]
    if len(ids) != len(named):
        messages.error(
            request,
            "Nothing was started. The SKU list was not understood: each ticked SKU is sent as "
            f"its id, a whole number of at most {ROW_ID_DIGITS} digits.",
        )
        return None
    try:
        job = make(user=request.user, partner_id=pick.partner.pk, sku_ids=ids)
    except ValidationError as exc:
        messages.error(request, "Nothing was started. " + " ".join(exc.messages))
        return None
    messages.info(request, "Draft ready: check it, then approve it to write to QuickBooks.")
    return redirect("inventory:push_job", pk=job.pk)


def _item_choices(request: AuthedRequest) -> dict[int, str] | None:
    """The items chosen on the stock form (``item-<SKU id>``: a QuickBooks id) for the SKUs
    it names; None, with a message, when one is not understood."""
    choices = {}
    for name in request.POST:
        if not name.startswith("item-"):
            continue
        sku_id = row_id(name.removeprefix("item-"))
        values = request.POST.getlist(name)
        chosen = qbo_id(values[0]) if len(values) == 1 else None
        if values == [selectors.SPLIT]:
            chosen = selectors.SPLIT
        if sku_id is None or chosen is None:
            messages.error(
                request,
                "Nothing was started. The item chosen for a SKU was not understood: choose "
                "one of the QuickBooks items listed for it.",
            )
            return None
        choices[sku_id] = chosen
    return choices


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def push_stock_new(request: AuthedRequest) -> HttpResponse:
    """Pick a partner, then the SKUs whose warehouse quantity QuickBooks should take, and
    for a SKU with several items, which item takes it."""
    pick = _Pick.read(request)
    choices = _item_choices(request) if request.method == "POST" else {}
    if choices is not None:
        make = partial(services.push_stock_draft, item_choices=choices)
        if drafted := _draft(request, pick, make):
            return drafted
    candidates = (
        selectors.stock_candidates(user=request.user, connection=pick.connection)
        if pick.connection
        else []
    )
    for candidate in candidates:
        # Offer every pushable SKU; tick those named (by a link, or a refused POST), else
        # those out of tolerance.
        candidate.checked = candidate.pushable and (
            pick.names(candidate.sku) if pick.named else candidate.status in OUT_OF_TOLERANCE
        )
        # A refused POST shows again with the items it chose; nothing is chosen otherwise.
        candidate.chosen = (choices or {}).get(candidate.sku.pk, "")
    context = pick.context(
        candidates=candidates,
        choices_needed=sum(1 for c in candidates if c.needs_choice),
    )
    return render(request, "inventory/push/stock_new.html", context)


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def push_items_new(request: AuthedRequest) -> HttpResponse:
    """Pick a partner, then the catalog SKUs to create as items in its QuickBooks. From the
    conflicts queue the link names the conflict and its SKU."""
    pick = _Pick.read(request)
    data = request.POST if request.method == "POST" else request.GET
    named = str(data.get("conflict", ""))
    conflict_id = row_id(named) if named else None
    conflict = None
    if pick.connection is not None and conflict_id is not None:
        conflict = MappingConflict.objects.filter(
            pk=conflict_id, connection=pick.connection
        ).first()
    if request.method == "POST" and named and conflict_id is None:
        # A draft without the conflict it was meant to settle is not what was asked for.
        messages.error(
            request,
            "Nothing was started. The conflict to settle was not understood: it is sent as "
            f"its id, a whole number of at most {ROW_ID_DIGITS} digits.",
        )
    else:
        # The service checks the conflict is this partner's and open: a draft must not
        # quietly drop a conflict it was asked to settle.
        make = partial(services.push_items_draft, conflict_id=conflict_id)
        if drafted := _draft(request, pick, make):
            return drafted
    candidates = selectors.item_candidates(connection=pick.connection) if pick.connection else []
    for candidate in candidates:
        candidate.checked = candidate.pushable and pick.names(candidate.sku)
    context = pick.context(
        candidates=candidates,
        conflict=conflict,
        catalog_empty=not CatalogSKU.objects.filter(active=True).exists(),
    )
    return render(request, "inventory/push/items_new.html", context)
