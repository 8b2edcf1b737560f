"""What the benchmarks share: a throw-away qbo_sandbox, PostgreSQL and Redis, a demo
company connected to a partner the way the OAuth callback would leave it, and the table
every benchmark prints its headline figures in (``Result``, ``print_table``).

Nothing under var/ or in DATABASE_URL / REDIS_URL is touched: like the test suite, the
benchmarks run on servers started for the run (unefemme.settings_test starts them when
those are unset).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess
    from sync.models import QBOConnection

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

CLIENT_ID, CLIENT_SECRET = "bench-client-id", "bench-client-secret"
T = TypeVar("T")


def with_sandbox(limit_per_minute: int, body: Callable[[SandboxProcess], T]) -> T:
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


def new_catalog_skus(letter: str, wine: str, count: int) -> list[Any]:
    """``count`` new catalog SKUs no QuickBooks company has yet (codes ``UF-<letter>0000-
    NV-750``…), for a push job to create as items."""
    from inventory.catalog.models import CatalogSKU

    return [
        CatalogSKU.objects.create(
            code=f"UF-{letter}{n:04d}-NV-750", wine=f"{wine} {n:04d}", format_ml=750,
            bottles_per_case=12,
        )
        for n in range(count)
    ]  # fmt: skip


# ---------------------------------------------------------------- figures and the table


@dataclass(frozen=True)
class Result:
    """One line of the table: a headline figure measured in this run, its target, and the
    absolute figures behind it (machines here are noisy: only the ratios, measured side
    by side in one run, are compared with targets; absolute times are for the record)."""

    figure: str
    value: float | None  # None: not measured this run (``record`` says why)
    unit: str  # "×", "rows/s", "s", "MB", "requests"
    target: str = ""  # "" when the figure is for the record only
    ok: bool | None = None
    record: str = ""

    @classmethod
    def check(
        cls,
        figure: str,
        value: float,
        unit: str,
        *,
        at_most: float | None = None,
        at_least: float | None = None,
        record: str = "",
    ) -> Result:
        """A figure with a target: at most / at least a bound (neither: record only)."""
        if at_most is not None:
            return cls(figure, value, unit, f"≤ {_number(at_most, unit)}", value <= at_most, record)
        if at_least is not None:
            return cls(
                figure, value, unit, f"≥ {_number(at_least, unit)}", value >= at_least, record
            )
        return cls(figure, value, unit, "", None, record)

    @property
    def measured(self) -> str:
        return "—" if self.value is None else _number(self.value, self.unit)

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "not measured"
        if self.ok is None:
            return "record"
        return "ok" if self.ok else "MISSED"

    def as_dict(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "value": self.value,
            "unit": self.unit,
            "measured": self.measured,
            "target": self.target,
            "verdict": self.verdict,
            "record": self.record,
        }


def _number(value: float, unit: str) -> str:
    if unit == "×":
        return f"{value:,.2f}×"
    if unit in ("s", "MB"):
        return f"{value:,.1f} {unit}" if abs(value) >= 10 else f"{value:,.2f} {unit}"
    return f"{value:,.0f} {unit}"


def print_table(results: list[Result], *, title: str = "") -> None:
    """The results as one aligned text table; the record column is last as it is long."""
    header = ("figure", "measured", "target", "verdict", "for the record")
    rows = [(r.figure, r.measured, r.target or "—", r.verdict, r.record) for r in results]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    if title:
        print(f"\n{title}")
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1])]
        cells += [row[2].ljust(widths[2]), row[3].ljust(widths[3]), row[4]]
        print("  ".join(cells).rstrip())


def median_seconds(action: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The median wall time of ``repeat`` runs of ``action``, and its last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def sandbox_configure(sandbox: SandboxProcess, **changes: Any) -> None:
    """Change the running sandbox's knobs, e.g. ``limit_per_minute=0`` lifts Intuit's
    500 requests a minute per realm (0 disables it) and ``limit_per_minute=500`` restores it."""
    sandbox.control("POST", "/_sandbox/config", changes)


def sandbox_stats(sandbox: SandboxProcess, realm_id: str) -> tuple[int, int]:
    """(requests, 429s) the sandbox has answered for ``realm_id`` so far."""
    stats = sandbox.control("GET", "/_sandbox/status")["stats"]
    return int(stats["requests"].get(realm_id, 0)), int(stats["throttled"].get(realm_id, 0))
