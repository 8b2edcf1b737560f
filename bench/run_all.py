"""Every benchmark under bench/ in one run, printed as one table of headline figures.

    make bench [ARGS="--scale 265 --json bench.json"]
    uv run python bench/run_all.py [--scale 50] [--json PATH] [--skip push,warehouse]

One throw-away qbo_sandbox, PostgreSQL and Redis serve the whole run (bench/_harness.py).
Machines here are noisy, so the figures held to targets are ratios of two things measured
side by side in this run (a page against its own SQL, the import against the throttle's
floor, one poll against another); absolute times are printed for the record only.

What runs, in this order (the table is printed in the order of the figures):

1. a demo company of ``--scale`` is created (the sandbox's seeding pace) and imported with
   the sandbox's throttle off: rows/s, wall and app-side (bench/import_demo.py), and one
   a hundredth its size beside it;
2. the main pages and the CSV exports on them (bench/pages.py);
3. the naive python-quickbooks import of the same invoices (bench/naive_import.py);
4. 100 changes in each company, then one poll of each (bench/cdc_poll.py);
5. with Intuit's 500 requests a minute back on, a second company of the same scale
   imported against the throttle's floor (bench/import_demo.py);
6. pushes of ``--push-items`` items and quantities (bench/push_demo.py);
7. the warehouse file preview (bench/warehouse_preview.py).

The default scale, 50 (about 20,000 invoices and 15,000 payments per big company, a fifth
of the targets' size), keeps the whole run near four minutes on 2 shared cores, well inside
ten even with the machine busy or the import at its old pace; ``--scale 265`` is the
100,000-invoice company of the performance targets (about ten minutes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cdc_poll  # noqa: E402
import import_demo  # noqa: E402
import naive_import  # noqa: E402
import pages  # noqa: E402
import push_demo  # noqa: E402
import sandbox_scale  # noqa: E402
import warehouse_preview  # noqa: E402
from _harness import (  # noqa: E402
    REPO_ROOT,
    Result,
    print_table,
    sandbox_configure,
    with_sandbox,
)

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

T = TypeVar("T")
OPTIONAL = ("cdc", "pages", "naive", "throttled", "push", "warehouse")
# The order of the table: the figures as the performance issue lists them.
FIGURES = (
    "import vs throttle",
    "import rows/s",
    "cdc",
    "pages",
    "exports",
    "push",
    "naive",
    "existing",
)


class Run:
    """What one run collects: the results under their figure, and how long each step took."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.results: dict[str, list[Result]] = {figure: [] for figure in FIGURES}
        self.steps: dict[str, float] = {}

    def step(self, name: str, action: Callable[[], T]) -> T:
        print(f"[{time.monotonic() - self.started:6.0f} s] {name}...", flush=True)
        started = time.monotonic()
        try:
            return action()
        finally:
            self.steps[name] = time.monotonic() - started

    def table(self) -> list[Result]:
        return [result for figure in FIGURES for result in self.results[figure]]


def measure(sandbox: SandboxProcess, args: argparse.Namespace, run: Run) -> None:
    skip = set(args.skip)
    found = run.results
    scale = args.scale

    # The sandbox starts with its throttle off (with_sandbox(0, ...)): figures 2-5 and 7
    # measure our side, not Intuit's limit.
    pages.prepare_catalog()
    big = run.step(f"import a company of scale {scale:g}", lambda: _import(sandbox, scale))
    small = run.step(
        f"import a company of scale {scale / 100:g}", lambda: _import(sandbox, scale / 100)
    )
    found["import rows/s"] += import_demo.speed_results(big)
    found["existing"].append(
        sandbox_scale.seed_result(big.counts.get("Invoice", 0), big.seed_seconds)
    )

    if "pages" not in skip:
        pages.prepare_people_and_counts(big.connection.partner)
        found["pages"] += run.step("pages", lambda: pages.page_results(args.repeat))
        found["pages"] += run.step("flow pages", lambda: pages.flow_page_results(args.repeat))
        found["pages"] += run.step(
            "finance pages", lambda: pages.finance_page_results(big.connection, args.repeat)
        )
        found["pages"] += run.step(
            "accounts and placements", lambda: pages.placements_results(args.repeat)
        )
        found["pages"] += run.step(
            "depletion allowances", lambda: pages.allowance_results(big.connection, args.repeat)
        )
        found["exports"] += run.step(
            "exports", lambda: pages.export_results(small.connection.partner, 3)
        )
    if "naive" not in skip:
        found["naive"] += run.step(
            "naive python-quickbooks import", lambda: naive_import.measure(sandbox, big)
        )
    if "cdc" not in skip:
        found["cdc"] += run.step(
            "changes and polls", lambda: cdc_poll.measure(sandbox, big, small, 100)
        )

    # Intuit's limits back on: the throttled import and the pushes are about them.
    sandbox_configure(sandbox, limit_per_minute=import_demo.INTUIT_PER_MINUTE)
    if "throttled" not in skip:
        throttled = run.step(
            f"import a company of scale {scale:g}, throttle on", lambda: _import(sandbox, scale)
        )
        found["import vs throttle"] += import_demo.floor_results(throttled)
    if "push" not in skip:
        demo = run.step(
            f"push {args.push_items} items and quantities",
            lambda: push_demo.measure(sandbox, args.push_items),
        )
        found["push"] += push_demo.results(demo)
    if "warehouse" not in skip:
        found["existing"] += run.step(
            "warehouse file preview",
            lambda: warehouse_preview.results(args.warehouse_rows, 3),
        )


def _import(sandbox: SandboxProcess, scale: float) -> import_demo.ImportRun:
    imported = import_demo.connect_and_import(sandbox, scale)
    assert imported.status == "succeeded", imported
    return imported


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=50.0, help="the big companies' scale")
    parser.add_argument("--json", type=Path, help="also write the table here, as JSON")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each page (median)")
    parser.add_argument("--push-items", type=int, default=300, help="items pushed, then stocked")
    parser.add_argument("--warehouse-rows", type=int, default=50_000)
    parser.add_argument(
        "--skip",
        type=lambda text: [name for name in text.split(",") if name],
        default=[],
        help=f"comma-separated, any of: {', '.join(OPTIONAL)}",
    )
    args = parser.parse_args()
    if unknown := set(args.skip) - set(OPTIONAL):
        parser.error(f"unknown --skip {', '.join(sorted(unknown))}")

    run = Run()
    started_at = datetime.now(UTC)
    with_sandbox(0, lambda sandbox: measure(sandbox, args, run))
    seconds = time.monotonic() - run.started
    results = run.table()
    print_table(results, title=f"make bench --scale {args.scale:g}: {seconds:.0f} s in all")
    print("steps: " + "; ".join(f"{name} {s:.0f} s" for name, s in run.steps.items()))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "scale": args.scale,
                    "started_at": started_at.isoformat(),
                    "seconds": round(seconds, 1),
                    "commit": _commit(),
                    "steps": {name: round(s, 1) for name, s in run.steps.items()},
                    "results": [result.as_dict() for result in results],
                },
                indent=2,
                ensure_ascii=False,
            )
            + "\n"
        )
        print(f"written to {args.json}")
    return 1 if any(result.ok is False for result in results) else 0


def _commit() -> str:
    """The commit measured, marked when the working tree had changes on top of it."""

    def git(*words: str) -> str:
        done = subprocess.run(["git", *words], cwd=REPO_ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (
        " (with changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    )


if __name__ == "__main__":
    sys.exit(main())
