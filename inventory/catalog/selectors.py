"""Reads of the catalog: the SKU list and its export, and the imports kept as audit records."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from uuid import UUID

from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.access import AuthedRequest

from .models import CatalogImport, CatalogSKU
from .services import COLUMNS, SKUValues, display

if TYPE_CHECKING:
    pass


def catalog_csv_rows(skus: Iterable[CatalogSKU]) -> Iterable[list[str]]:
    """The catalog in the import's format (header first): export, edit, import."""
    yield list(COLUMNS)
    for sku in skus:
        values = SKUValues.of(sku).as_dict()
        yield [display(name, values[name]) for name in COLUMNS]


RECENT_IMPORTS = 10


def get_catalog_import_for_user(request: AuthedRequest, token: UUID) -> CatalogImport:
    """The signed-in admin's own upload; anyone else's, or an unknown id, is a 404."""
    try:
        return CatalogImport.objects.get(token=token, uploaded_by=request.user)
    except CatalogImport.DoesNotExist:
        raise Http404("No such catalog import.") from None


def catalog_skus(*, query: str = "", active: bool | None = None) -> QuerySet[CatalogSKU]:
    """SKUs whose code or wine contains ``query``, active or not (None: both), by code."""
    skus = CatalogSKU.objects.all()
    if query := query.strip():
        skus = skus.filter(Q(code__icontains=query) | Q(wine__icontains=query))
    if active is not None:
        skus = skus.filter(active=active)
    return skus.order_by("code")


def recent_imports() -> QuerySet[CatalogImport]:
    applied = CatalogImport.objects.filter(status=CatalogImport.Status.APPLIED)
    return applied.select_related("uploaded_by")[:RECENT_IMPORTS]
