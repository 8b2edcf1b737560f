"""The warehouse feed's pages (admins only) and its JSON endpoint (API tokens).

- ``/inventory/warehouse/upload/``: upload a CSV, see what each row would do, confirm (only
  a file without bad rows);
- ``/inventory/warehouse/tokens/``: issue and revoke the warehouse system's API tokens;
- ``POST /inventory/api/warehouse/snapshots/``: the warehouse system's push.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import AuthedRequest, role_required
from accounts.roles import ADMINS
from common.htmx import wants_fragment
from common.tables import Column, Table, csv_response
from common.textinput import text_problem

from . import selectors, services
from .forms import ConfirmForm, TokenIssueForm, UploadForm
from .models import WarehouseToken, WarehouseUpload

logger = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY = 255


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def upload(request: AuthedRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.warehouse_upload_create(
                user=request.user, filename=form.filename, content=form.cleaned_data["file"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect("inventory:warehouse_upload_detail", pk=created.pk)
    recent = selectors.recent_uploads()
    return render(request, "inventory/warehouse/upload.html", {"form": form, "recent": recent})


# A preview pages both lists, so a 50,000-row file is a page of 200 rows, not 12 MB of
# HTML; every problem is in the CSV download (``?problems-format=csv``). Both read the rows
# stored when the file was planned, never the file itself, and show the values as the file
# wrote them.
PREVIEW_PAGE = 200
_AS_WRITTEN = [
    Column("line", "Line", sort="line", kind="number"),
    Column("partner", "Partner", sort="partner"),
    Column("sku", "SKU", sort="sku"),
    Column("as_of", "As of", sort="as_of"),
    Column("quantity", "Quantity", sort="quantity"),
]
PROBLEMS = Table(
    [*_AS_WRITTEN, Column("problems", "Problems", sort="problems")],
    default_sort="line",
    per_page=PREVIEW_PAGE,
    prefix="problems-",
)
ROWS = Table(
    [
        *_AS_WRITTEN,
        Column("bottles", "Bottles", sort="bottles", kind="qty"),
        Column("outcome", "Result", sort="outcome"),
    ],
    default_sort="line",
    per_page=PREVIEW_PAGE,
    prefix="rows-",
)
DETAIL_PAGE = "inventory/warehouse/upload_detail.html"
# The regions a sort or page link of each table swaps (its id, sent as HX-Target).
REGIONS = ("upload-problems", "upload-rows")


@role_required(*ADMINS)
@require_http_methods(["GET"])
def upload_detail(request: AuthedRequest, pk: int) -> HttpResponseBase:
    upload = selectors.get_upload_for_user(request, pk)
    pending = upload.status == WarehouseUpload.Status.PENDING
    rows = ROWS.bind(request, selectors.upload_rows(upload))
    if pending and rows.count == 0:
        # Every kept file has a row, so its preview is missing: kept before previews were
        # stored, or emptied by a crash (the table is unlogged). Plan it once again.
        upload = services.warehouse_upload_preview_refresh(upload_id=upload.pk)
        rows = ROWS.bind(request, selectors.upload_rows(upload))
    problems = PROBLEMS.bind(request, selectors.upload_rows(upload, errors_only=True))
    if problems.is_csv:
        stem = upload.filename.rsplit(".", 1)[0] or "upload"
        return csv_response(problems, f"{stem}-problems.csv")
    counts = upload.summary
    context = {
        "upload": upload,
        "counts": counts,
        "pending": pending,
        "has_errors": bool(counts.get("error")),
        "problems": problems,
        "rows": rows,
        # A file with any bad row is applied whole or not at all, so it offers no button;
        # the service refuses a forced confirmation all the same.
        "can_confirm": pending and not counts.get("error"),
        "confirm_form": ConfirmForm(initial={"sha256": upload.sha256}),
    }
    template = DETAIL_PAGE
    if wants_fragment(request) and request.htmx.target in REGIONS:
        template += f"#{request.htmx.target}"
    return render(request, template, context)


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def upload_confirm(request: AuthedRequest, pk: int) -> HttpResponseBase:
    upload = selectors.get_upload_for_user(request, pk)
    if request.method == "GET":
        # A GET changes nothing: it shows the preview, whose button POSTs here.
        return upload_detail(request, pk)
    form = ConfirmForm(request.POST)
    if not form.is_valid():
        messages.error(request, "This confirmation is not for the file that was previewed.")
        return redirect("inventory:warehouse_upload_detail", pk=upload.pk)
    try:
        result = services.warehouse_upload_confirm(
            upload_id=upload.pk, user=request.user, sha256=form.cleaned_data["sha256"]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("inventory:warehouse_upload_detail", pk=upload.pk)
    if not result.applied:
        messages.warning(
            request,
            "The stock records changed since this preview, so nothing was applied. Review "
            "the updated preview below and confirm again.",
        )
    else:
        counts = result.plan.counts
        messages.success(
            request,
            f"Applied: {counts['new']} new, {counts['replace']} replaced, "
            f"{counts['unchanged']} unchanged.",
        )
    return redirect("inventory:warehouse_upload_detail", pk=upload.pk)


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def tokens(request: AuthedRequest) -> HttpResponse:
    form = TokenIssueForm(request.POST or None)
    issued: tuple[WarehouseToken, str] | None = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.warehouse_token_issue(
                partner=form.cleaned_data["partner"],
                label=form.cleaned_data["label"],
                user=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            # Rendered, not redirected: the secret exists only in this one response.
            form = TokenIssueForm()
    context = {
        "form": form,
        "issued": issued[0] if issued else None,
        "issued_secret": issued[1] if issued else None,
        "tokens": selectors.warehouse_tokens(),
    }
    return render(request, "inventory/warehouse/tokens.html", context)


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def token_revoke(request: AuthedRequest, pk: int) -> HttpResponse:
    existing = selectors.get_token(pk)
    if request.method == "GET":
        # Without JavaScript a link can lead here; the revocation itself needs the POST.
        return render(request, "inventory/warehouse/token_revoke.html", {"token": existing})
    try:
        token = services.warehouse_token_revoke(token_id=pk, user=request.user)
    except ValidationError:
        raise Http404("No such token.") from None
    messages.success(request, f"Token {token.prefix}… for {token.partner} is revoked.")
    return redirect("inventory:warehouse_tokens")


def _json_error(status: int, message: str) -> JsonResponse:
    return JsonResponse(
        {"errors": [{"line": None, "field": None, "message": message}]}, status=status
    )


@csrf_exempt
@login_not_required
@require_POST
def api_snapshots(request: HttpRequest) -> JsonResponse:
    """The warehouse system's push of one day's snapshots for its partner.

    There is no session and no CSRF token, hence the exemptions: the Bearer token is the
    authentication, and it decides the partner written to.
    """
    token = services.warehouse_token_authenticate(
        authorization=request.headers.get("Authorization")
    )
    if token is None:
        refused = _json_error(
            401, "A valid, unrevoked API token is required (Authorization: Bearer …)."
        )
        refused["WWW-Authenticate"] = 'Bearer realm="unefemme-warehouse"'
        return refused
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return _json_error(400, "The Idempotency-Key header is required.")
    if len(key) > MAX_IDEMPOTENCY_KEY:
        return _json_error(400, f"The Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY}.")
    if problem := text_problem(key, "The Idempotency-Key"):
        return _json_error(400, problem)
    try:
        body = request.body
    except RequestDataTooBig:
        return _json_error(413, "The body is too large; send at most 1000 lines per request.")
    result = services.warehouse_api_submit(token=token, idempotency_key=key, body=body)
    logger.info(
        "warehouse api: partner=%s token=%s key=%s status=%s replayed=%s",
        token.partner.slug, token.prefix, key, result.status, result.replayed,
    )  # fmt: skip
    response = JsonResponse(result.payload, status=result.status)
    if result.replayed:
        response["Idempotent-Replayed"] = "true"
    return response
