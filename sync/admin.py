"""Read-only admin views of connections, sync runs and webhook events.

Everything here is written by the sync machinery; an edit in the admin would bypass the
services (and their locks, cursors and token handling), so nothing can be added, changed
or deleted. OAuth tokens are never shown: the token fields are excluded from every form
and list, and the connection's ``__str__`` holds none.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import QBOConnection, SyncCursor, SyncRun, WebhookEvent

TOKEN_FIELDS = ("access_token", "refresh_token")


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SyncCursorInline(admin.TabularInline):  # type: ignore[type-arg]
    model = SyncCursor
    fields = ("entity", "import_done", "imported_count", "total_count", "changed_since")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(QBOConnection)
class QBOConnectionAdmin(ReadOnlyAdmin):
    list_display = ["partner", "company_name", "realm_id", "status", "last_synced_at"]
    list_filter = ["status"]
    search_fields = ["partner__name", "company_name", "realm_id"]
    list_select_related = ["partner"]
    exclude = TOKEN_FIELDS
    inlines = [SyncCursorInline]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Built from the model so a field added later appears, while the tokens never do.
        return tuple(
            f.name
            for f in QBOConnection._meta.concrete_fields
            if f.name not in TOKEN_FIELDS and f.name != "id"
        )


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "connection", "kind", "trigger", "status", "started_at", "finished_at",
        "api_requests", "throttled", "intuit_tid",
    ]  # fmt: skip
    list_filter = ["kind", "status", "trigger"]
    search_fields = ["connection__partner__name", "connection__realm_id", "intuit_tid"]
    list_select_related = ["connection__partner"]
    date_hierarchy = "started_at"


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at", "realm_id", "entity", "entity_id", "operation", "occurred_at", "status",
    ]  # fmt: skip
    list_filter = ["status", "entity", "operation"]
    search_fields = ["event_id", "realm_id", "entity_id"]
    date_hierarchy = "received_at"
