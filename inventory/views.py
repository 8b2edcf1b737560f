"""The inventory app's pages live in one module per screen: ``views_discrepancies``,
``views_depletion``, ``views_catalog``, ``views_mapping``, ``views_push`` and
``warehouse_views``."""

from __future__ import annotations
