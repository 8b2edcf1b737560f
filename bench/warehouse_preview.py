"""What a big warehouse file costs: upload, preview pages and the problems CSV.

    uv run python bench/warehouse_preview.py [--rows 50000] [--repeat 3]

Starts its own PostgreSQL and Redis (throw-away, like the tests), then, for a file of
``--rows`` rows that all fail, and one whose rows are all good, measures through Django's
test client (so the figure is server time: view, planning, SQL and template, without a
network): the upload POST, the preview's first and last pages, and the CSV of every
problem. Each is also printed as a ratio to the floor measured in the same run, side by
side: reading the same bytes with the csv module and one round trip to PostgreSQL, which no
upload can beat. The targets: every request under 2 s of server time, every
page under 1 MB of HTML.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Result, median_seconds  # noqa: E402

TARGET_SECONDS = 2.0
TARGET_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Measure:
    """One request's median server time (and body size, for pages and CSVs)."""

    name: str
    seconds: float
    size: int

    @property
    def ok(self) -> bool:
        is_page = "CSV" not in self.name and "upload" not in self.name
        return self.seconds < TARGET_SECONDS and (not is_page or self.size < TARGET_BYTES)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the median counts")
    args = parser.parse_args()
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    os.environ.update({"DJANGO_SETTINGS_MODULE": "unefemme.settings_test", "LOG_LEVEL": "ERROR"})
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return run(args.rows, args.repeat)


def run(rows: int, repeat: int) -> int:
    print(f"warehouse file of {rows:,} rows; median of {repeat} runs; server time via test client")
    print(
        f"{'':32}{'seconds':>9}{'× floor':>9}{'bytes':>12}   target: < {TARGET_SECONDS} s, < 1 MB"
    )
    failures = 0
    for label, (floor_seconds, measures) in measure(rows, repeat).items():
        print(f"{label}: floor (csv module + SELECT 1) {floor_seconds:.3f} s")
        for m in measures:
            failures += not m.ok
            shown = f"{m.size:>12,}" if m.size else f"{'':>12}"
            print(
                f"{m.name:32}{m.seconds:>9.3f}{m.seconds / floor_seconds:>8.1f}×{shown}"
                f"   {'ok' if m.ok else 'OVER TARGET'}"
            )
    return 1 if failures else 0


def results(rows: int, repeat: int) -> list[Result]:
    """The headline for bench/run_all.py: each file's slowest request against the 2 s
    budget (and every page under 1 MB)."""
    found = []
    for label, (floor_seconds, measures) in measure(rows, repeat).items():
        slowest = max(measures, key=lambda m: m.seconds)
        found.append(
            Result(
                f"Warehouse file of {rows:,} rows, {label}: slowest request",
                slowest.seconds,
                "s",
                f"< {TARGET_SECONDS:g} s, pages < 1 MB",
                all(m.ok for m in measures),
                f"{slowest.name.strip()}, {slowest.seconds / floor_seconds:.1f}× the floor "
                f"(csv module + SELECT 1, {floor_seconds:.3f} s)",
            )
        )
    return found


def measure(rows: int, repeat: int) -> dict[str, tuple[float, list[Measure]]]:
    """For each file (all rows bad, all rows good): its floor, and each request's time."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connection
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from accounts.models import Partner, User
    from accounts.roles import Role
    from inventory.catalog.models import CatalogSKU

    Partner.objects.create(name="Bench Partner", slug="bench")
    skus = [
        CatalogSKU.objects.create(
            code=f"UF-W{n:04d}-NV-750", wine=f"Bench {n}", format_ml=750, bottles_per_case=12
        )
        for n in range(200)
    ]
    admin = User.objects.create_user(email="bench@example.com", role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    today = timezone.localdate()
    header = "partner,sku,as_of,bottles,cases\n"
    files = {
        # Every row names a SKU that is not in the catalog: one problem per row.
        "all rows bad": header + "".join(f"bench,UF-NOPE-{n},{today},{n},\n" for n in range(rows)),
        # 200 SKUs × as many days as it takes, all distinct: every row would be new.
        "all rows good": header
        + "".join(
            f"bench,{skus[n % 200].code},{today - timedelta(days=n // 200)},{n % 997},\n"
            for n in range(rows)
        ),
    }

    def floor(content: bytes) -> Callable[[], None]:
        def read() -> None:
            list(csv.reader(io.StringIO(content.decode())))
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")

        return read

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # the connection is opened now, not inside a floor
    found: dict[str, tuple[float, list[Measure]]] = {}
    for label, text in files.items():
        content = text.encode()
        floor_seconds, _ = median_seconds(floor(content), repeat)

        def upload(content: bytes = content) -> Any:
            file = SimpleUploadedFile("bench.csv", content, content_type="text/csv")
            return client.post(reverse("inventory:warehouse_upload"), {"file": file})

        upload_seconds, response = median_seconds(upload, repeat)
        assert response.status_code == 302, response.content[:300]
        detail = response["Location"]
        measures = [Measure(f"{label}: upload", upload_seconds, 0)]
        last_page = -(-rows // 200)
        for name, params in (
            ("preview, page 1", {}),
            ("preview, last page of rows", {"rows-page": str(last_page)}),
            ("preview, last page of problems", {"problems-page": str(last_page)}),
            ("problems CSV (every problem)", {"problems-format": "csv"}),
        ):

            def get(params: dict[str, str] = params, detail: str = detail) -> Any:
                page = client.get(detail, params)
                body = (
                    b"".join(page.streaming_content) if page.streaming else page.content  # type: ignore[attr-defined]
                )
                assert page.status_code == 200
                return body

            seconds, body = median_seconds(get, repeat)
            measures.append(Measure(f"  {name}", seconds, len(body)))
        found[label] = (floor_seconds, measures)
    return found


if __name__ == "__main__":
    sys.exit(main())
