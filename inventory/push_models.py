"""Kept only because migration 0006 names ``inventory.push_models.new_request_id`` as a
field default; migrations are history and are not edited. The code is in
``inventory.push.models``."""

from __future__ import annotations

from .push.models import new_request_id

__all__ = ["new_request_id"]
