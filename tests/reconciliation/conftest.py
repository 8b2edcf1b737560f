"""A qbo_sandbox over HTTP for the reconciliation tests, as tests/billing/test_credits.py
starts one: each test makes its own company, so tests never see each other's books."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from django.conf import settings as django_settings

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess


@pytest.fixture(scope="package")
def sandbox_process() -> Iterator[SandboxProcess]:
    from qbo_sandbox.testing import start_sandbox

    process = start_sandbox(
        "--seed", "empty",
        "--client-id", django_settings.QBO_CLIENT_ID,
        "--client-secret", django_settings.QBO_CLIENT_SECRET,
    )  # fmt: skip
    yield process
    process.stop()


@pytest.fixture
def on_sandbox(sandbox_process: SandboxProcess) -> Iterator[SandboxProcess]:
    """The QuickBooks client pointed at ``sandbox_process`` for this test; its switches
    (faults) are put back afterwards."""
    from tests.sync.conftest import pointed_at

    defaults = sandbox_process.control("GET", "/_sandbox/config")
    with pointed_at(sandbox_process):
        yield sandbox_process
    sandbox_process.control("POST", "/_sandbox/config", defaults)
