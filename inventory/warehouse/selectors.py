"""Reads of the warehouse feed for its pages: uploads, their stored previews and the API
tokens. Uploads span partners and only admins reach these pages.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from accounts.access import AuthedRequest

from .models import WarehouseToken, WarehouseUpload, WarehouseUploadRow


def get_upload_for_user(request: AuthedRequest, pk: int) -> WarehouseUpload:
    # Uploads span partners and only admins reach these views (the decorator), so any
    # admin may see any upload; the loader exists to 404 cleanly on a missing one.
    try:
        return WarehouseUpload.objects.select_related("uploaded_by", "applied_by").get(pk=pk)
    except WarehouseUpload.DoesNotExist:
        raise Http404("No such upload.") from None


RECENT_UPLOADS = 10


def recent_uploads() -> QuerySet[WarehouseUpload]:
    # Without the files themselves: the list shows names and dates only.
    return WarehouseUpload.objects.select_related("uploaded_by").defer("content")[:RECENT_UPLOADS]


def upload_rows(
    upload: WarehouseUpload, *, errors_only: bool = False
) -> QuerySet[WarehouseUploadRow]:
    """The stored preview of ``upload``: every row, or the rows with problems."""
    rows = WarehouseUploadRow.objects.filter(upload=upload)
    return rows.filter(outcome="error") if errors_only else rows


def warehouse_tokens() -> QuerySet[WarehouseToken]:
    return WarehouseToken.objects.select_related("partner", "created_by", "revoked_by")


def get_token(pk: int) -> WarehouseToken:
    token: WarehouseToken | None = (
        WarehouseToken.objects.select_related("partner").filter(pk=pk).first()
    )
    if token is None:
        raise Http404("No such token.")
    return token
