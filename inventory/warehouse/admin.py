"""The warehouse feed in the Django admin (admins only, like the whole admin site).

Tokens can be issued here (the full token is shown once, in the confirmation message) and
revoked with an action; they are never deleted, so the audit rows that name them keep
their meaning. Snapshots, their audit trail and uploads are read-only: they are written
only through the upload preview and the API, which check and audit every row.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services as warehouse
from .models import (
    WarehouseSnapshot,
    WarehouseSnapshotChange,
    WarehouseToken,
    WarehouseUpload,
)


class _ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WarehouseToken)
class WarehouseTokenAdmin(admin.ModelAdmin[WarehouseToken]):
    list_display = ["prefix", "partner", "label", "created_at", "created_by", "last_used_at",
                    "revoked_at"]  # fmt: skip
    list_filter = ["partner", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "label", "partner__name"]
    list_select_related = ["partner", "created_by"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("partner", "label")
        return ("partner", "label", "prefix", "created_at", "created_by", "last_used_at",
                "revoked_at", "revoked_by")  # fmt: skip

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Once issued, a token's partner cannot move: it would silently redirect writes.
        return () if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: WarehouseToken, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # Issued by the same service as the tokens page, so both make and check tokens alike.
        token, secret = warehouse.warehouse_token_issue(
            partner=obj.partner,
            label=obj.label,
            user=request.user,  # type: ignore[arg-type]
        )
        # The admin goes on with ``obj`` (its log entry, its redirect): make it that row.
        obj.pk = token.pk
        obj.refresh_from_db()
        messages.warning(
            request,
            f"The new token for {obj.partner} is {secret} — copy it now: it is shown "
            "only this once and cannot be recovered.",
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[WarehouseToken]) -> None:
        for token in queryset:
            warehouse.warehouse_token_revoke(token_id=token.pk, user=request.user)  # type: ignore[arg-type]
        messages.success(request, f"{queryset.count()} token(s) revoked.")


@admin.register(WarehouseSnapshot)
class WarehouseSnapshotAdmin(_ReadOnly):
    list_display = ["as_of", "partner", "sku", "bottles", "source", "updated_at"]
    list_filter = ["source", "partner"]
    search_fields = ["sku__code", "partner__name"]
    list_select_related = ["partner", "sku"]
    date_hierarchy = "as_of"


@admin.register(WarehouseSnapshotChange)
class WarehouseSnapshotChangeAdmin(_ReadOnly):
    list_display = ["created_at", "snapshot", "action", "bottles_before", "bottles_after",
                    "source", "actor", "token"]  # fmt: skip
    list_filter = ["action", "source"]
    list_select_related = ["snapshot", "actor", "token"]


@admin.register(WarehouseUpload)
class WarehouseUploadAdmin(_ReadOnly):
    list_display = ["created_at", "filename", "uploaded_by", "status", "applied_at"]
    list_filter = ["status"]
    exclude = ["content"]
