"""Clients for external systems: one module per system, the only code that calls it."""

from __future__ import annotations
