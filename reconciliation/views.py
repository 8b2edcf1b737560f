"""Reconciliation pages: every connection's last run, one connection's differences (with
its CSV), "Run now" and the run's progress.

Who may do what: everyone sees the connections they may see (partner users their own);
everyone may press "Run now" on a connection they may see. A run is two report requests,
well inside the realm's limits, and a partner who has just fixed something in QuickBooks
is the person most keen to see it agree; pressing twice starts one run.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from accounts.access import AuthedRequest, role_required
from accounts.roles import EVERYONE, Role
from common.htmx import wants_fragment
from common.tables import Column, Table, csv_response
from sync.models import QBOConnection

from . import selectors, services
from .models import Difference, ReconciliationRun

KIND_LABELS = dict(Difference.Kind.choices)

DIFFERENCES = Table(
    [
        Column("kind", "Kind", sort="kind", csv=lambda d: KIND_LABELS[d.kind],
               attr="get_kind_display"),
        Column("qbo_id", "QuickBooks id", sort="qbo_id"),
        Column("name", "Customer or item", sort="name"),
        Column("bucket", "Figure", sort="bucket", attr="bucket_label"),
        Column("ours", "Ours", sort="ours", kind="number"),
        Column("theirs", "QuickBooks", sort="theirs", kind="number"),
        Column("delta", "Difference", sort="delta", kind="number"),
        Column("first_seen", "First seen", sort="first_seen", kind="datetime"),
    ],
    default_sort="-first_seen",
    tie_break=("kind", "qbo_id", "bucket"),
)  # fmt: skip


@role_required(*EVERYONE)
@require_GET
def index(request: AuthedRequest) -> HttpResponse:
    rows = list(selectors.connection_overview(user=request.user))
    return render(
        request,
        "reconciliation/index.html",
        {"rows": rows, "show_partner": request.user.role != Role.PARTNER},
    )


@role_required(*EVERYONE)
@require_GET
def connection_page(request: AuthedRequest, pk: int) -> HttpResponseBase:
    connection = selectors.get_connection_for_user(user=request.user, pk=pk)
    kind = request.GET.get("kind", "")
    if kind not in selectors.KINDS:
        kind = ""  # an unknown kind is left out, as a filter that does not parse
    rows = selectors.differences(connection=connection, kind=kind)
    run = selectors.latest_run(connection=connection)
    table = DIFFERENCES.bind(request, rows)
    if table.is_csv:
        return csv_response(table, f"reconciliation-{connection.realm_id}.csv")
    context = {
        "connection": connection,
        "kind": kind,
        "kinds": Difference.Kind.choices,
        "table": table,
        "totals": [
            {"kind": key, "label": KIND_LABELS[key], **figures}
            for key, figures in selectors.difference_totals(rows).items()
        ],
        "run": run,
        # A run still under way when the page is opened (or reloaded) is polled too.
        "polling": _polling(run),
        "last_success": selectors.last_succeeded_run(connection=connection),
    }
    template = "reconciliation/connection.html"
    if wants_fragment(request):
        template += "#difference-table"
    return render(request, template, context)


@role_required(*EVERYONE)
@require_POST
def run_now(request: AuthedRequest, pk: int) -> HttpResponse:
    connection = selectors.get_connection_for_user(user=request.user, pk=pk)
    try:
        services.reconciliation_request(connection=connection, user=request.user)
    except ValidationError as exc:
        if wants_fragment(request):
            return render(
                request,
                "reconciliation/connection.html#run-status",
                {"connection": connection, "run": None, "refused": " ".join(exc.messages)},
            )
        messages.error(request, " ".join(exc.messages))
        return redirect("reconciliation:connection", pk=connection.pk)
    if wants_fragment(request):
        return _status(request, connection)
    messages.success(request, "A reconciliation has been queued; it starts within moments.")
    return redirect("reconciliation:connection", pk=connection.pk)


@role_required(*EVERYONE)
@require_GET
def run_status(request: AuthedRequest, pk: int) -> HttpResponse:
    """The latest run's status; the page polls it while the run is queued or running."""
    connection = selectors.get_connection_for_user(user=request.user, pk=pk)
    return _status(request, connection)


def _status(request: AuthedRequest, connection: QBOConnection) -> HttpResponse:
    run = selectors.latest_run(connection=connection)
    response = render(
        request,
        "reconciliation/connection.html#run-status",
        # swapped: the fragment replaces the page's, whose table is from before the run.
        {"connection": connection, "run": run, "polling": _polling(run), "swapped": True},
    )
    if wants_fragment(request) and not _polling(run):
        # 286 makes htmx stop polling; the final state is still swapped in.
        return HttpResponseStopPolling(response.content)
    return response


def _polling(run: ReconciliationRun | None) -> bool:
    return run is not None and not run.is_finished and not run.is_stale
