"""Fixtures the report tests share: partner A's and partner B's QuickBooks companies, the
same ones the billing tests use (modules that need other companies define their own)."""

from __future__ import annotations

from tests.billing.conftest import books_a, books_b  # noqa: F401 (fixtures, found by name)
