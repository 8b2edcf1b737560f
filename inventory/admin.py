"""The Django admin of the inventory app: each feature registers its own models."""

from __future__ import annotations

from .catalog import admin as catalog_admin
from .warehouse import admin as warehouse_admin

__all__ = ["catalog_admin", "warehouse_admin"]
