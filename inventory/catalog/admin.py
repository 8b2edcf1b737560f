"""The catalog in the Django admin (admins only, like the whole admin site).

SKUs are edited here one at a time; bulk changes go through the CSV import, whose applied
imports are listed read-only as the audit trail. The mirrored QuickBooks items are not
here: they are written only by the sync.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import CatalogImport, CatalogSKU


@admin.register(CatalogSKU)
class CatalogSKUAdmin(admin.ModelAdmin[CatalogSKU]):
    list_display = ["code", "wine", "vintage_label", "format_ml", "bottles_per_case", "active"]
    list_filter = ["active", "format_ml", "bottles_per_case"]
    search_fields = ["code", "wine"]
    fields = ["code", "wine", "vintage", "format_ml", "bottles_per_case", "active",
              "created_at", "updated_at"]  # fmt: skip
    readonly_fields = ["created_at", "updated_at"]

    @admin.display(description="vintage", ordering="vintage")
    def vintage_label(self, obj: CatalogSKU) -> str:
        return obj.vintage_label


@admin.register(CatalogImport)
class CatalogImportAdmin(admin.ModelAdmin[CatalogImport]):
    # An import is applied only through its preview page (inventory.catalog); here it is
    # a record to read, never to edit. The file itself is not shown: it can be 2 MB.
    list_display = ["uploaded_at", "uploaded_by", "filename", "status", "applied_at",
                    "created_count", "updated_count", "unchanged_count", "error_count"]  # fmt: skip
    list_filter = ["status"]
    search_fields = ["filename", "uploaded_by__email", "sha256"]
    list_select_related = ["uploaded_by"]
    exclude = ["content"]
    date_hierarchy = "uploaded_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# The warehouse feed's admin lives in its own module; importing it registers it.
