"""The warehouse feed's writes: previews of uploaded files, confirmations, API tokens and
the API's pushes.

Two ways in, one set of rules:

- a CSV file uploaded by an admin (``warehouse_upload_create`` → preview →
  ``warehouse_upload_confirm``); the preview reports every bad row with its line number,
  and a file with any bad row cannot be confirmed: it is applied whole, in one
  transaction, or not at all, so re-uploading a corrected file never finds part of it
  already recorded;
- JSON pushed by the warehouse system with a partner's API token
  (``warehouse_api_submit``); any bad line refuses the whole request (422), so the
  sender can fix and resend it under the same Idempotency-Key.

Both build a *plan* (what each row would do: new / replace / unchanged / error) with
``inventory.warehouse.plan.plan_rows``, then ``_apply`` writes the plan with its audit rows.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Partner
from common.db import copy_rows
from common.textinput import (
    printable,
)

from .models import (
    WarehouseApiRequest,
    WarehouseSnapshot,
    WarehouseSnapshotChange,
    WarehouseSource,
    WarehouseToken,
    WarehouseUpload,
    WarehouseUploadRow,
)
from .plan import (
    MAX_LINES_NAMED,
    Plan,
    RawRow,
    RowError,
    RowPlan,
    api_rows,
    cell_text,
    csv_rows,
    plan_rows,
    upload_plan,
)

if TYPE_CHECKING:
    from accounts.models import User


MAX_UPLOAD_BYTES = 5 * 1024 * 1024
TOO_LARGE = f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it."
TOKEN_PREFIX = "ufwh_"
TOKEN_PREFIX_SHOWN = 12  # "ufwh_" and 7 random characters: enough to tell tokens apart


# --- Checking values ----------------------------------------------------------------------


# --- Planning -----------------------------------------------------------------------------


# --- Writing ------------------------------------------------------------------------------


def _apply(
    plan: Plan,
    *,
    source: WarehouseSource,
    batch_id: uuid.UUID,
    user: User | None = None,
    token: WarehouseToken | None = None,
) -> None:
    """Write the plan's new and replaced rows, with an audit row each. The caller holds
    the transaction (and planned with ``lock=True`` so replaced rows cannot move)."""
    now = timezone.now()
    new_rows = [p for p in plan.rows if p.outcome == "new"]
    replaced = [p for p in plan.rows if p.outcome == "replace"]

    # A concurrent insert of the same (partner, SKU, day) makes this raise IntegrityError,
    # which rolls everything back; callers turn that into "retry".
    fresh = []
    for p in new_rows:
        assert p.as_of is not None and p.bottles is not None  # an error row is never "new"
        fresh.append(
            WarehouseSnapshot(
                partner=p.partner,
                sku=p.sku,
                as_of=p.as_of,
                bottles=p.bottles,
                source=source,
                batch_id=batch_id,
                created_by=user,
                token=token,
                created_at=now,
                updated_at=now,
            )
        )
    created = WarehouseSnapshot.objects.bulk_create(fresh)
    updated = []
    for p in replaced:
        snapshot = p.existing
        assert snapshot is not None and p.bottles is not None
        snapshot.bottles = p.bottles
        snapshot.source = source
        snapshot.batch_id = batch_id
        snapshot.created_by = user
        snapshot.token = token
        snapshot.updated_at = now
        updated.append(snapshot)
    WarehouseSnapshot.objects.bulk_update(
        updated, ["bottles", "source", "batch_id", "created_by", "token", "updated_at"]
    )
    # (snapshot, action, bottles before): a created row had none.
    create, replace = WarehouseSnapshotChange.Action.CREATE, WarehouseSnapshotChange.Action.REPLACE
    changes = [(s, create, None) for s in created] + [
        (s, replace, p.previous) for p, s in zip(replaced, updated, strict=True)
    ]
    audit = [
        WarehouseSnapshotChange(
            snapshot=snapshot,
            action=action,
            bottles_before=before,
            bottles_after=snapshot.bottles,
            source=source,
            batch_id=batch_id,
            actor=user,
            token=token,
            created_at=now,
        )
        for snapshot, action, before in changes
    ]
    WarehouseSnapshotChange.objects.bulk_create(audit)


# --- CSV upload ---------------------------------------------------------------------------


@transaction.atomic
def warehouse_upload_create(*, user: User, filename: str, content: bytes) -> WarehouseUpload:
    """Keep an uploaded CSV and its preview. Nothing is applied until it is confirmed."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise ValidationError(TOO_LARGE)
    plan = plan_rows(csv_rows(content))  # refuses an unreadable file before it is stored
    upload = WarehouseUpload.objects.create(
        filename=filename[:255],
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=user,
    )
    _store_preview(upload, plan)
    return upload


@transaction.atomic
def warehouse_upload_preview_refresh(*, upload_id: int) -> WarehouseUpload:
    """Plan a pending upload again and keep the result as its preview (for uploads kept
    before previews were stored; a confirmation refreshes its own)."""
    upload = WarehouseUpload.objects.select_for_update().get(pk=upload_id)
    if upload.status == WarehouseUpload.Status.PENDING:
        _store_preview(upload, upload_plan(upload))
    return upload


def _store_preview(upload: WarehouseUpload, plan: Plan) -> None:
    """Keep what ``plan`` says each row would do, replacing any earlier preview, in the
    caller's transaction. The preview pages read these rows: planning a big file again on
    every view took 9-10 s for 20,000 rows."""
    WarehouseUploadRow.objects.filter(upload=upload).delete()

    def texts(row: RowPlan) -> Iterable[str]:
        raw = row.raw
        values = (
            cell_text(raw.partner),
            cell_text(raw.sku),
            cell_text(raw.as_of),
            row.quantity_text,
            row.error_text,
        )
        # Only a damaged row can hold what PostgreSQL cannot store (its values are in its
        # messages too); marking every row's text would cost a 50,000-row file 0.3 s.
        return map(printable, values) if raw.damaged else values

    copy_rows(
        WarehouseUploadRow,
        ("upload", "line", "bottles", "previous", "outcome",
         "partner", "sku", "as_of", "quantity", "problems"),
        ((upload.pk, r.line, r.bottles, r.previous, r.outcome, *texts(r)) for r in plan.rows),
    )  # fmt: skip
    upload.plan_fingerprint = plan.fingerprint()
    upload.summary = plan.counts
    upload.save(update_fields=["plan_fingerprint", "summary"])


def error_rows_message(plan: Plan) -> str:
    """Why a file with bad rows is refused, naming the first few lines."""
    lines = [str(r.line) for r in plan.error_rows]
    named = ", ".join(lines[:MAX_LINES_NAMED]) + (", …" if len(lines) > MAX_LINES_NAMED else "")
    if len(lines) == 1:
        which = f"1 row of this file has an error (line {named})"
    else:
        which = f"{len(lines)} rows of this file have errors (lines {named})"
    return f"{which}, so nothing was recorded. Correct the file and upload it again."


@dataclass
class ConfirmResult:
    applied: bool
    plan: Plan


def warehouse_upload_confirm(*, upload_id: int, user: User, sha256: str) -> ConfirmResult:
    """Apply a previewed upload: every row in one transaction, or nothing.

    A file with any bad row is refused (ValidationError), whatever the preview showed. If
    what the rows would do has changed since the preview (another upload or the API wrote
    the same days meanwhile), nothing is applied and the new plan is returned for a fresh
    preview. Either way the stored preview is brought up to date first, so the page the
    admin is sent back to shows why.
    """
    try:
        result = _upload_confirm(upload_id=upload_id, user=user, sha256=sha256)
    except IntegrityError:
        raise ValidationError(
            "Another write for the same partner, SKU and day landed at the same moment. "
            "Nothing was applied; confirm again."
        ) from None
    if result.plan.has_errors:
        # Raised only now, after the refreshed preview was committed.
        raise ValidationError(error_rows_message(result.plan))
    return result


@transaction.atomic
def _upload_confirm(*, upload_id: int, user: User, sha256: str) -> ConfirmResult:
    try:
        upload = WarehouseUpload.objects.select_for_update().get(pk=upload_id)
    except WarehouseUpload.DoesNotExist:
        raise ValidationError("This upload no longer exists.") from None
    if upload.status == WarehouseUpload.Status.APPLIED:
        raise ValidationError("This file has already been applied.")
    content = bytes(upload.content)
    if sha256 != upload.sha256 or hashlib.sha256(content).hexdigest() != upload.sha256:
        raise ValidationError("This confirmation is not for the file that was previewed.")
    plan = upload_plan(upload, lock=True)
    # Checked before the fingerprint: a bad row refuses the file even when the preview
    # showed none (a SKU deactivated since), and a stale preview must not slip one through.
    if plan.has_errors or plan.fingerprint() != upload.plan_fingerprint:
        _store_preview(upload, plan)
        return ConfirmResult(applied=False, plan=plan)
    _apply(plan, source=WarehouseSource.CSV, batch_id=upload.batch_id, user=user)
    upload.status = WarehouseUpload.Status.APPLIED
    upload.applied_at = timezone.now()
    upload.applied_by = user
    upload.summary = plan.counts
    upload.save(update_fields=["status", "applied_at", "applied_by", "summary"])
    return ConfirmResult(applied=True, plan=plan)


# --- API tokens ---------------------------------------------------------------------------


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def warehouse_token_issue(
    *, partner: Partner, label: str, user: User | None
) -> tuple[WarehouseToken, str]:
    """A new token for ``partner``. The secret is returned once and never stored."""
    label = label.strip()
    if not label:
        raise ValidationError("Say what the token is for.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = WarehouseToken.objects.create(
        partner=partner,
        label=label,
        prefix=secret[:TOKEN_PREFIX_SHOWN],
        token_hash=_token_hash(secret),
        created_by=user,
    )
    return token, secret


@transaction.atomic
def warehouse_token_revoke(*, token_id: int, user: User) -> WarehouseToken:
    try:
        token: WarehouseToken = WarehouseToken.objects.select_for_update().get(pk=token_id)
    except WarehouseToken.DoesNotExist:
        raise ValidationError("No such token.") from None
    if token.revoked_at is None:  # revoking twice keeps the first time and person
        token.revoked_at = timezone.now()
        token.revoked_by = user
        token.save(update_fields=["revoked_at", "revoked_by"])
    return token


def warehouse_token_authenticate(*, authorization: str | None) -> WarehouseToken | None:
    """The live token in an ``Authorization: Bearer …`` header, or None."""
    if not authorization:
        return None
    scheme, _, secret = authorization.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret.startswith(TOKEN_PREFIX):
        return None
    # Looked up by its hash: a timing difference could at most reveal a hash, not a token.
    token = (
        WarehouseToken.objects.live()
        .select_related("partner")
        .filter(token_hash=_token_hash(secret))
        .first()
    )
    if token is not None:
        WarehouseToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


# --- JSON API -----------------------------------------------------------------------------


@dataclass
class ApiResult:
    status: int
    payload: dict[str, Any]
    replayed: bool = False


def _error_result(status: int, errors: list[RowError]) -> ApiResult:
    return ApiResult(status=status, payload={"errors": [e.as_json() for e in errors]})


def warehouse_api_submit(*, token: WarehouseToken, idempotency_key: str, body: bytes) -> ApiResult:
    """Apply one pushed day of snapshots for the token's partner, all lines or none.

    The Idempotency-Key is spent only when a request is applied: the same key and body
    then replay the first response, and the same key with another body is a conflict.
    """
    try:
        data = json.loads(body, parse_float=Decimal)  # never a float for a quantity
    except (ValueError, UnicodeDecodeError):
        return _error_result(400, [RowError(None, None, "The body is not valid JSON.")])
    if not isinstance(data, dict):
        return _error_result(400, [RowError(None, None, "The body must be a JSON object.")])
    partner = token.partner
    named = data.get("partner")
    if named is not None and named != partner.slug:
        return _error_result(
            403, [RowError(None, "partner", "This token may only write its own partner's data.")]
        )
    # Whitespace and key order do not make a different request.
    body_sha256 = hashlib.sha256(
        json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()
    previous = _previous_request(partner, idempotency_key, body_sha256)
    if previous is not None:
        return previous

    raw_rows, errors = api_rows(data)
    if raw_rows:
        plan = plan_rows(raw_rows, partner=partner)
        # Every line shares the request's date: a bad one is said once, not per line.
        as_of_messages = sorted({e.message for e in plan.errors if e.field == "as_of"})
        errors += [RowError(None, "as_of", m) for m in as_of_messages]
        errors += [e for e in plan.errors if e.field != "as_of"]
    if errors:
        return _error_result(422, errors)
    try:
        return _api_apply(
            token=token,
            partner=partner,
            raw_rows=raw_rows,
            key=idempotency_key,
            body_sha256=body_sha256,
        )
    except IntegrityError:
        # The same key (or the same day) was applied by a concurrent request that
        # committed first; answer as if this one came second.
        previous = _previous_request(partner, idempotency_key, body_sha256)
        if previous is not None:
            return previous
        return _error_result(
            409, [RowError(None, None, "A concurrent request wrote the same day; retry.")]
        )


def _previous_request(partner: Partner, key: str, body_sha256: str) -> ApiResult | None:
    stored = WarehouseApiRequest.objects.filter(partner=partner, idempotency_key=key).first()
    if stored is None:
        return None
    if stored.body_sha256 != body_sha256:
        return _error_result(
            409,
            [
                RowError(
                    None,
                    None,
                    "This Idempotency-Key was already used with a different "
                    "body. Use a new key for a new request.",
                )
            ],
        )
    return ApiResult(status=stored.response_status, payload=stored.response_body, replayed=True)


@transaction.atomic
def _api_apply(
    *,
    token: WarehouseToken,
    partner: Partner,
    raw_rows: list[RawRow],
    key: str,
    body_sha256: str,
) -> ApiResult:
    # Planned again under row locks, so a replacement is measured against the value it
    # replaces at commit time.
    plan = plan_rows(raw_rows, partner=partner, lock=True)
    if plan.errors:  # a SKU deactivated since the check above
        return _error_result(422, plan.errors)
    batch_id = uuid.uuid4()
    _apply(plan, source=WarehouseSource.API, batch_id=batch_id, token=token)
    payload = {
        "batch_id": str(batch_id),
        "partner": partner.slug,
        "as_of": str(plan.rows[0].as_of),
        "counts": {k: v for k, v in plan.counts.items() if k != "error"},
        "lines": [
            {
                "line": r.line,
                "sku": r.sku.code if r.sku else None,
                "bottles": str(r.bottles),
                "result": r.outcome,
                "previous_bottles": None if r.previous is None else str(r.previous),
            }
            for r in plan.rows
        ],
    }
    # Inserted in the same transaction: the key is spent exactly when the write lands.
    WarehouseApiRequest.objects.create(
        partner=partner,
        idempotency_key=key,
        body_sha256=body_sha256,
        response_status=201,
        response_body=payload,
        token=token,
    )
    return ApiResult(status=201, payload=payload)
