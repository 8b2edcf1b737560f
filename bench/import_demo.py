"""What the initial import of a demo company costs: API requests, 429s, duration.

    uv run python bench/import_demo.py [--scale 1] [--limit-per-minute 500]

Starts its own qbo_sandbox, PostgreSQL and Redis (throw-away, like the test suite; nothing
under var/ or in DATABASE_URL is touched), connects a fresh demo company, imports it with
the real sync engine (in this process, as a worker would) and prints the requests used
against the minimum possible: one COUNT per mirrored entity plus ceil(n / 1000) pages.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="demo volume multiplier")
    parser.add_argument(
        "--limit-per-minute", type=int, default=500, help="the sandbox's per-realm limit"
    )
    args = parser.parse_args()

    from qbo_sandbox.testing import start_sandbox

    client_id, client_secret = "bench-client-id", "bench-client-secret"
    sandbox = start_sandbox(
        "--seed",
        "empty",
        "--client-id",
        client_id,
        "--client-secret",
        client_secret,
        "--limit-per-minute",
        str(args.limit_per_minute),
    )
    try:
        # Throw-away servers (unefemme.settings_test starts them when these are unset).
        for name in ("DATABASE_URL", "REDIS_URL"):
            os.environ.pop(name, None)
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "unefemme.settings_test",
                "QBO_ENVIRONMENT": sandbox.discovery_url,
                "QBO_API_URL": sandbox.api_url,
                "QBO_CLIENT_ID": client_id,
                "QBO_CLIENT_SECRET": client_secret,
                "LOG_LEVEL": "WARNING",
            }
        )
        return run(sandbox, args.scale)
    finally:
        sandbox.stop()


def run(sandbox: SandboxProcess, scale: float) -> int:
    import django

    django.setup()
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from accounts.models import Partner
    from sync import services
    from sync.crypto import Secret
    from sync.models import MIRRORED_ENTITIES, QBOConnection

    call_command("migrate", verbosity=0)
    realm = sandbox.new_company(seed="demo", scale=scale)
    status = sandbox.control("GET", "/_sandbox/status")
    company = next(c for c in status["companies"] if c["realm_id"] == realm)
    counts = {entity: int(company["counts"].get(entity, 0)) for entity in MIRRORED_ENTITIES}
    minted = sandbox.mint_tokens(realm)
    partner = Partner.objects.create(name=f"Bench {realm}", slug=f"bench-{realm}")
    now = timezone.now()
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

    started = time.monotonic()
    run = services.connection_sync(connection_id=connection.pk, trigger="bench")
    duration = time.monotonic() - started
    assert run is not None
    sent = sandbox.control("GET", "/_sandbox/status")["stats"]["requests"].get(realm, 0)

    pages = {entity: math.ceil(n / 1000) for entity, n in counts.items()}
    minimum = len(counts) + sum(pages.values())
    rows = sum(counts.values())
    print(f"demo company {company['name']} (realm {realm}, scale {scale:g})")
    for entity in MIRRORED_ENTITIES:
        print(f"  {entity:<9} {counts[entity]:>7} rows  {pages[entity]:>3} page(s)")
    print(f"import {run.status}: {run.api_requests} API requests "
          f"(sandbox counted {sent}); minimum possible {minimum} "
          f"= {len(counts)} COUNTs + {sum(pages.values())} pages")  # fmt: skip
    print(f"429s met: {run.throttled}")
    print(f"duration: {duration:.2f} s ({rows / duration:,.0f} rows/s)")

    started = time.monotonic()
    poll = services.connection_sync(connection_id=connection.pk, trigger="bench")
    assert poll is not None
    print(
        f"first poll after it: {poll.api_requests} API request(s), "
        f"{time.monotonic() - started:.2f} s, {poll.status}"
    )
    return 0 if run.status == "succeeded" and poll.status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
