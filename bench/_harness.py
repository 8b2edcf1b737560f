"""What the benchmarks share: a throw-away qbo_sandbox, PostgreSQL and Redis, and a demo
company connected to a partner the way the OAuth callback would leave it.

Nothing under var/ or in DATABASE_URL / REDIS_URL is touched: like the test suite, the
benchmarks run on servers started for the run (unefemme.settings_test starts them when
those are unset).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess
    from sync.models import QBOConnection

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

CLIENT_ID, CLIENT_SECRET = "bench-client-id", "bench-client-secret"


def with_sandbox(limit_per_minute: int, body: Callable[[SandboxProcess], int]) -> int:
    """Run ``body`` against a fresh sandbox (empty; ``body`` adds companies), with Django
    configured for it; the sandbox stops afterwards whatever happens."""
    from qbo_sandbox.testing import start_sandbox

    sandbox = start_sandbox(
        "--seed", "empty", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
        "--limit-per-minute", str(limit_per_minute),
    )  # fmt: skip
    try:
        for name in ("DATABASE_URL", "REDIS_URL"):
            os.environ.pop(name, None)
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "unefemme.settings_test",
                "QBO_ENVIRONMENT": sandbox.discovery_url,
                "QBO_API_URL": sandbox.api_url,
                "QBO_CLIENT_ID": CLIENT_ID,
                "QBO_CLIENT_SECRET": CLIENT_SECRET,
                "LOG_LEVEL": "WARNING",
            }
        )
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        return body(sandbox)
    finally:
        sandbox.stop()


def connect_demo_company(
    sandbox: SandboxProcess, *, scale: float = 1.0
) -> tuple[QBOConnection, dict[str, Any]]:
    """A new demo company, connected (tokens minted by the sandbox) to a new partner;
    returns the connection and the sandbox's status entry for the company."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import Partner
    from sync.crypto import Secret
    from sync.models import QBOConnection

    realm = sandbox.new_company(seed="demo", scale=scale)
    status = sandbox.control("GET", "/_sandbox/status")
    company: dict[str, Any] = next(c for c in status["companies"] if c["realm_id"] == realm)
    minted = sandbox.mint_tokens(realm)
    partner = Partner.objects.create(name=f"Bench {realm}", slug=f"bench-{realm}")
    now = timezone.now()
    # A dict: the stubs type the token fields as str, the field takes our Secret.
    tokens: dict[str, Any] = {
        "access_token": Secret(minted["access_token"]),
        "access_token_expires_at": now + timedelta(seconds=int(minted["expires_in"])),
        "refresh_token": Secret(minted["refresh_token"]),
        "refresh_token_expires_at": now
        + timedelta(seconds=int(minted["x_refresh_token_expires_in"])),
    }
    connection = QBOConnection.objects.create(
        partner=partner,
        realm_id=realm,
        company_name=company["name"],
        next_sync_at=now + timedelta(minutes=5),
        **tokens,
    )
    return connection, company
