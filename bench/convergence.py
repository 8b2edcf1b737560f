"""The mirror converges to QuickBooks exactly, through faults, kills and restarts.

    uv run python bench/convergence.py [--companies 3] [--scale 4] [--chaos-seconds 300]
                                       [--seed 7] [--push-items 60] [--json out.json]

Issue 14's convergence run, on a whole stack of real processes (bench/_stack.py):

1. three companies connected; their imports, scheduled polls (every 10 s), webhook-
   triggered polls (the sandbox signs and sends them, some duplicated, delayed and
   reordered) and an approved push job run, while the sandbox's activity generator changes
   the books and every API request risks 10 % 5xx, 5 % 429, 2 % dropped connections (half
   before the server commits, half after: the client cannot tell which) and 1 % answers
   slower than the client's timeout;
2. meanwhile the worker is killed -9 three times at random moments (and a new one
   started), Redis is restarted once (its AOF keeps the queue), and PostgreSQL is crashed
   (immediate shutdown: WAL recovery on start) just as the push job's task starts;
3. then the faults stop, the books stop changing, and the run waits for a quiet poll.

Passes when, for every company and entity, the mirror's set of (Id, SyncToken, amounts,
quantities) — the document's and each line's — equals the one read independently over the
sandbox's API; every pushed item exists exactly once in QuickBooks; no sync run or push
job is left running; the run log counted 429s and retries; every change the mirror holds
has a version, no change has two, and the quiet poll wrote none. Prints the figures and
exits non-zero on a failure. QuickBooks' time runs 10× faster here (``--time-scale 10``:
a 429's Retry-After of 60 s lasts 6), and the client's read timeout is 3 s under a 6 s
lease (production: 30 s under 120 s), so a run of minutes lives through what would take
an hour. tests/system/test_convergence.py runs it small in `make test`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Result, connect_demo_company, new_catalog_skus, print_table  # noqa: E402
from _stack import Stack  # noqa: E402

if TYPE_CHECKING:
    from sync.models import QBOConnection

POLL_SECONDS = 10
TIME_SCALE = 10
# The shares of API requests that fail, as the issue asks: 1 % of the drops before the
# server commits and 1 % after.
FAULTS = {
    "fault_5xx": 0.10,
    "fault_429": 0.05,
    "fault_drop_before": 0.01,
    "fault_drop": 0.01,
    "fault_slow": 0.01,
}
WEBHOOK_FAULTS = {"webhook_duplicate": 0.2, "webhook_delay": 0.2, "webhook_reorder": 0.2}
QUIET = dict.fromkeys([*FAULTS, *WEBHOOK_FAULTS], 0.0)


@dataclass
class Report:
    companies: int
    scale: float
    chaos_seconds: float
    seed: int
    events: list[str] = field(default_factory=list)
    # Figures
    requests_seen_by_sandbox: int = 0
    faults_injected: dict[str, Any] = field(default_factory=dict)
    run_requests: int = 0
    run_throttled: int = 0
    run_retries: int = 0
    runs: dict[str, int] = field(default_factory=dict)
    push_status: str = ""
    push_requests: int = 0
    push_items: int = 0
    converge_seconds: float | None = None
    total_seconds: float = 0.0
    rows_compared: int = 0
    versions: int = 0
    quiet_poll_versions: int | None = None
    worker_exits: list[str] = field(default_factory=list)
    # Checks: each a list of what went wrong (empty: passed)
    mirror_differences: list[str] = field(default_factory=list)
    push_problems: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    version_problems: list[str] = field(default_factory=list)
    log_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.mirror_differences
            or self.push_problems
            or self.stuck
            or self.version_problems
            or self.log_problems
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--companies", type=int, default=3)
    parser.add_argument("--scale", type=float, default=4.0, help="demo company scale")
    parser.add_argument("--chaos-seconds", type=float, default=300.0)
    parser.add_argument("--converge-timeout", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--push-items", type=int, default=60)
    parser.add_argument("--activity-per-minute", type=float, default=90.0)
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--workdir", type=Path, help="servers' data and logs (default: temp)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="unefemme-convergence-"))
    report = run(args, workdir)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps({**asdict(report), "ok": report.ok}, indent=2))
    print(f"\nlogs: {workdir / 'logs'}")
    return 0 if report.ok else 1


def run(args: argparse.Namespace, workdir: Path) -> Report:
    report = Report(args.companies, args.scale, args.chaos_seconds, args.seed)
    rng = random.Random(args.seed)
    sandbox_args = ["--time-scale", str(TIME_SCALE), "--slow-seconds", "50"]
    sandbox_args += ["--fault-seed", str(args.seed)]
    environment = {"STACK_QBO_READ_TIMEOUT": "3", "STACK_QBO_BACKOFF_CAP": "6"}
    started = time.monotonic()
    with Stack(workdir, sandbox_args=sandbox_args, environment=environment) as stack:
        stack.sandbox_config(**FAULTS, **WEBHOOK_FAULTS, fault_seed=args.seed)
        connections = _connect(stack, args)
        skus = [sku.pk for sku in new_catalog_skus("C", "Convergence Cuvée", args.push_items)]
        activity = stack.activity(
            [c.realm_id for c in connections], per_minute=args.activity_per_minute, seed=args.seed
        )
        job_id = _chaos(stack, report, rng, connections, skus, args.chaos_seconds)
        activity.stop()
        faults = stack.sandbox.control("GET", "/_sandbox/faults") if stack.sandbox else {}
        status = stack.sandbox.control("GET", "/_sandbox/status") if stack.sandbox else {}
        report.faults_injected = faults
        report.requests_seen_by_sandbox = sum(status["stats"]["requests"].values())
        # Quiet from here: no faults, no more changes to the books.
        stack.sandbox_config(**QUIET)
        quiet_at = time.monotonic()
        report.events.append(f"{quiet_at - started:6.1f} s  faults off, activity stopped")
        report.converge_seconds = _converge(stack, report, connections, job_id, args)
        if report.converge_seconds is not None:
            report.events.append(
                f"{time.monotonic() - started:6.1f} s  converged "
                f"({report.converge_seconds:.1f} s after the faults stopped)"
            )
        _check(stack, report, connections, job_id, skus)
        report.worker_exits = list(stack.worker_exits)
    report.total_seconds = time.monotonic() - started
    return report


def _connect(stack: Stack, args: argparse.Namespace) -> list[QBOConnection]:
    from django.utils import timezone

    from sync.models import QBOConnection

    assert stack.sandbox is not None
    connections = []
    for _ in range(args.companies):
        connection, _company = connect_demo_company(stack.sandbox, scale=args.scale)
        connections.append(connection)
    # Due now, and every POLL_SECONDS after: beat's tick (every 3 s here) enqueues them.
    QBOConnection.objects.filter(pk__in=[c.pk for c in connections]).update(
        sync_interval=timedelta(seconds=POLL_SECONDS), next_sync_at=timezone.now()
    )
    return connections


def _chaos(
    stack: Stack,
    report: Report,
    rng: random.Random,
    connections: list[QBOConnection],
    skus: list[int],
    seconds: float,
) -> int | None:
    """The faulty stretch: returns the push job's id (None if none could be approved)."""
    from django.db import close_old_connections

    begin = time.monotonic()
    # Three kills of the worker and one Redis restart at random moments at least 4 s apart
    # (so each recovery is its own event), inside the window; PostgreSQL crashes as the
    # push job's task starts (``_push_into_an_outage``).
    events = ["kill worker"] * 3 + ["restart redis"]
    rng.shuffle(events)
    while True:
        moments = sorted(rng.uniform(5, max(6.0, seconds - 5)) for _ in events)
        if all(b - a >= 4 for a, b in zip(moments, moments[1:], strict=False)):
            break
    plan = list(zip(moments, events, strict=True))
    job_id: int | None = None
    while (now := time.monotonic() - begin) < seconds or plan:
        if plan and now >= plan[0][0]:
            _, event = plan.pop(0)
            report.events.append(f"{now:6.1f} s  {event}: {_act(stack, event)}")
            close_old_connections()
        if job_id is None and _imported(connections[0]):
            job_id = _push_into_an_outage(stack, report, connections[0], skus, now)
            close_old_connections()
        time.sleep(0.5)
    return job_id


def _act(stack: Stack, event: str) -> str:
    if event == "kill worker":
        killed, took = stack.restart_worker()
        return f"{killed} killed -9, a new one answering after {took:.1f} s"
    if event == "restart redis":
        return f"down {stack.restart_redis():.1f} s"
    return f"crashed and back after {stack.restart_postgres():.1f} s"


def _imported(connection: QBOConnection) -> bool:
    from django.db import DatabaseError

    from sync.models import SyncRun

    try:
        return SyncRun.objects.filter(
            connection=connection, kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.SUCCEEDED
        ).exists()
    except DatabaseError:  # a restart in progress: ask again on the next turn
        return False


def _push_into_an_outage(
    stack: Stack, report: Report, connection: QBOConnection, skus: list[int], now: float
) -> int:
    """An admin approves the push job, and PostgreSQL crashes as its task starts: the
    moment that once left an approved job waiting 15 minutes for beat's resume sweep
    (inventory/tasks.py). Deterministic: the worker is stopped while the job is approved,
    so its task waits in Redis, and the new worker takes it while PostgreSQL is down."""
    from accounts.models import User
    from accounts.roles import Role
    from accounts.services import user_create
    from inventory.push import services as push

    admin = User.objects.filter(email="convergence-admin@example.com").first()
    if admin is None:
        admin = user_create(email="convergence-admin@example.com", password=None, role=Role.ADMIN)
    with stack.supervision_paused():
        stack.kill_worker()
        job = push.push_items_draft(user=admin, partner_id=connection.partner_id, sku_ids=skus)
        push.push_job_approve(job_id=job.pk, user=admin)
        took = time.monotonic()
        stack.crash_postgres()
        stack.start_worker()
        time.sleep(2)  # the worker takes the task and meets no database
        stack.start_postgres()
    report.events.append(
        f"{now:6.1f} s  push job {job.pk} approved ({len(skus)} new items) with the worker "
        f"down; PostgreSQL crashed, a new worker took the task, PostgreSQL back after "
        f"{time.monotonic() - took:.1f} s"
    )
    return job.pk


def _converge(
    stack: Stack,
    report: Report,
    connections: list[QBOConnection],
    job_id: int | None,
    args: argparse.Namespace,
) -> float | None:
    """Seconds from now until the mirror equals QuickBooks for every company, with the push
    job finished and a poll that began after the quiet: None if that never happens."""
    from django.utils import timezone

    from inventory.push.models import PushJob
    from sync.models import SyncRun

    quiet_at, begin = timezone.now(), time.monotonic()
    while time.monotonic() - begin < args.converge_timeout:
        time.sleep(2)
        if job_id is not None and PushJob.objects.get(pk=job_id).status in PushJob.ACTIVE:
            continue
        polled = all(
            SyncRun.objects.filter(
                connection=c, started_at__gte=quiet_at, status=SyncRun.Status.SUCCEEDED
            ).exists()
            for c in connections
        )
        if polled and not _differences(stack, connections, limit=1)[0]:
            return time.monotonic() - begin
    return None


# ---------------------------------------------------------------- the comparison


def _differences(
    stack: Stack, connections: list[QBOConnection], *, limit: int = 20
) -> tuple[list[str], int]:
    """What differs between each company's mirror and its books read over the API, and
    how many rows were compared."""
    from common import mirror
    from tests.sync.books import Books

    assert stack.sandbox is not None
    found: list[str] = []
    compared = 0
    for connection in connections:
        books = Books(stack.sandbox, connection.realm_id)
        for spec in mirror.specs():
            upstream = {_key(spec, row) for row in books.all(spec.entity)}
            mirrored = _mirrored(spec, connection)
            compared += len(mirrored)
            for missing in sorted(upstream - mirrored)[:limit]:
                found.append(f"{connection.realm_id} {spec.entity}: QuickBooks has {missing}")
            for extra in sorted(mirrored - upstream)[:limit]:
                found.append(f"{connection.realm_id} {spec.entity}: the mirror has {extra}")
    return found, compared


def _decimals(model: Any) -> list[str]:
    """A model's amount and quantity columns (every DecimalField)."""
    return [
        f.attname for f in model._meta.concrete_fields if f.get_internal_type() == "DecimalField"
    ]


def _numbers(values: dict[str, Any], columns: list[str]) -> tuple[Decimal | None, ...]:
    return tuple(values.get(column) for column in columns)


def _multiset(items: Iterable[tuple[Any, ...]]) -> frozenset[Any]:
    """Lines in any order, repeats counted (amounts may be None: no sorting)."""
    return frozenset(Counter(items).items())


def _key(spec: Any, row: dict[str, Any]) -> tuple[Any, ...]:
    """A document as QuickBooks has it: Id, SyncToken, its amounts and quantities mapped
    as the mirror maps them, and its lines' (in any order)."""
    lines: frozenset[Any] = frozenset()
    if spec.children is not None:
        columns = _decimals(spec.child_model)
        lines = _multiset(_numbers(line, columns) for line in spec.children(row))
    numbers = _numbers(spec.fields(row), _decimals(spec.model))
    return (str(row["Id"]), str(row["SyncToken"]), numbers, lines)


def _mirrored(spec: Any, connection: QBOConnection) -> set[tuple[Any, ...]]:
    """The same keys, as the mirror holds them."""
    columns = _decimals(spec.model)
    rows = list(spec.model.objects.filter(connection=connection).values("pk", "qbo_id",
                "sync_token", *columns))  # fmt: skip
    lines: dict[Any, list[Any]] = {}
    if spec.child_model is not None:
        child_columns = _decimals(spec.child_model)
        parent = spec.child_model._meta.get_field(spec.child_parent).attname
        for child in spec.child_model.objects.filter(
            **{f"{spec.child_parent}__connection": connection}
        ).values(parent, *child_columns):
            lines.setdefault(child[parent], []).append(_numbers(child, child_columns))
    return {
        (
            row["qbo_id"],
            row["sync_token"],
            _numbers(row, columns),
            _multiset(lines.get(row["pk"], [])),
        )
        for row in rows
    }


def _check(
    stack: Stack,
    report: Report,
    connections: list[QBOConnection],
    job_id: int | None,
    skus: list[int],
) -> None:
    from django.db.models import Count, Sum

    from common import mirror
    from common.models import MirrorVersion
    from inventory.catalog.models import CatalogSKU
    from inventory.push.models import PushJob
    from sync.models import SyncRun
    from tests.sync.books import Books

    assert stack.sandbox is not None
    if report.converge_seconds is None:
        report.mirror_differences, report.rows_compared = _differences(stack, connections)
        report.mirror_differences.insert(0, "did not converge within --converge-timeout")
    else:
        report.rows_compared = _differences(stack, connections)[1]

    # The push job: finished, and each item in QuickBooks once.
    if job_id is None:
        report.push_problems.append("no push job was approved")
    else:
        job = PushJob.objects.get(pk=job_id)
        report.push_status, report.push_requests = str(job.status), job.api_requests
        if job.status != PushJob.Status.DONE:
            report.push_problems.append(f"push job {job.pk} ended {job.status}")
        codes = set(CatalogSKU.objects.filter(pk__in=skus).values_list("code", flat=True))
        items = Books(stack.sandbox, connections[0].realm_id).all("Item")
        counted = Counter(str(i.get("Sku") or "") for i in items if i.get("Sku") in codes)
        report.push_items = sum(counted.values())
        for code in sorted(codes):
            if counted[code] != 1:
                report.push_problems.append(f"{code}: {counted[code]} items in QuickBooks")

    # Nothing left running.
    for run in SyncRun.objects.filter(status=SyncRun.Status.RUNNING):
        report.stuck.append(f"sync run {run.pk} ({run.kind}) still running")
    for job in PushJob.objects.filter(status__in=PushJob.ACTIVE):
        report.stuck.append(f"push job {job.pk} still {job.status}")

    # The run log: the requests, 429s and retries the syncs met.
    runs = SyncRun.objects.filter(connection__in=connections)
    totals = runs.aggregate(r=Sum("api_requests"), t=Sum("throttled"), x=Sum("retries"))
    report.run_requests, report.run_throttled = totals["r"] or 0, totals["t"] or 0
    report.run_retries = totals["x"] or 0
    report.runs = {
        f"{kind} {status}": n
        for kind, status, n in runs.values_list("kind", "status")
        .annotate(n=Count("pk"))
        .order_by("kind", "status")
    }
    # The run log cannot be matched with the sandbox's counters one for one: the activity
    # generator's requests meet the same faults, and a run killed -9 keeps only the counts
    # it had saved. tests/sync/test_ratelimit.py matches them exactly, without those two.
    if report.run_retries == 0:
        report.log_problems.append("no retry in the run log under 18 % failed requests")
    if report.run_retries < report.run_throttled:
        report.log_problems.append("fewer retries than 429s in the run log")

    # Versions: every state the mirror holds was recorded once; a quiet poll records none.
    versions = MirrorVersion.objects.filter(connection__in=connections)
    report.versions = versions.count()
    recorded = set(versions.values_list("connection_id", "entity", "qbo_id", "sync_token"))
    for connection in connections:
        for spec in mirror.specs():
            model: Any = spec.model
            held = model.objects.filter(connection=connection).values_list("qbo_id", "sync_token")
            for qbo_id, token in held:
                if (connection.pk, spec.entity, qbo_id, token) not in recorded:
                    report.version_problems.append(
                        f"{connection.realm_id} {spec.entity} {qbo_id} v{token}: no version"
                    )
    doubled = [
        key
        for key, n in Counter(
            versions.values_list("connection_id", "entity", "qbo_id", "sync_token", "kind")
        ).items()
        if n > 1
    ]
    report.version_problems += [f"recorded twice: {key}" for key in doubled[:20]]
    report.quiet_poll_versions = _quiet_poll(connections)
    if report.quiet_poll_versions != 0:
        report.version_problems.append(f"a quiet poll wrote {report.quiet_poll_versions}")


def _quiet_poll(connections: list[QBOConnection]) -> int | None:
    """Versions written by the next poll of every company, nothing having changed."""
    from django.utils import timezone

    from common.models import MirrorVersion
    from sync.models import SyncRun

    before, since = MirrorVersion.objects.count(), timezone.now()
    deadline = time.monotonic() + 4 * POLL_SECONDS + 30
    while time.monotonic() < deadline:
        if all(
            SyncRun.objects.filter(
                connection=c, started_at__gte=since, status=SyncRun.Status.SUCCEEDED
            ).exists()
            for c in connections
        ):
            return MirrorVersion.objects.count() - before
        time.sleep(1)
    return None


# ---------------------------------------------------------------- the report


def print_report(report: Report) -> None:
    print("\nwhat happened")
    for line in report.events:
        print(f"  {line}")
    faults = report.faults_injected
    injected_5xx = sum(faults.get("5xx", {}).values())
    drops = faults.get("drop_before", 0) + faults.get("drop_after", 0)
    results = [
        Result.check("checks failed", float(_failures(report)), "checks", at_most=0),
        Result.check(
            "time to converge after the faults stopped",
            report.converge_seconds if report.converge_seconds is not None else float("inf"),
            "s",
            record=f"whole run {report.total_seconds:.0f} s",
        ),
        Result.check(
            "API requests the sandbox answered",
            float(report.requests_seen_by_sandbox),
            "requests",
            record=f"{injected_5xx} 5xx, {faults.get('429', 0)} 429, {drops} dropped, "
            f"{faults.get('slow', 0)} past the timeout (activity generator's included)",
        ),
        Result.check(
            "sync runs' requests (run log)",
            float(report.run_requests),
            "requests",
            record=f"{report.run_throttled} 429s, {report.run_retries} retries; runs: "
            + ", ".join(f"{k} {v}" for k, v in report.runs.items()),
        ),
        Result.check(
            "push job",
            float(report.push_items),
            "items",
            record=f"{report.push_items} items in QuickBooks; job {report.push_status}, "
            f"{report.push_requests} requests",
        ),
        Result.check(
            "rows compared with QuickBooks",
            float(report.rows_compared),
            "rows",
            record=f"{report.versions} versions; quiet poll wrote {report.quiet_poll_versions}",
        ),
    ]
    print_table(results, title="convergence under faults, kills and restarts")
    for line in report.worker_exits:
        print(f"\nworker exited by itself and was restarted: {line}")
    for name in ("mirror_differences", "push_problems", "stuck", "version_problems"):
        problems = getattr(report, name)
        if problems:
            print(f"\n{name}:")
            for line in problems[:40]:
                print(f"  {line}")
    for line in report.log_problems:
        print(f"\nlog: {line}")


def _failures(report: Report) -> int:
    return sum(
        bool(p)
        for p in (
            report.mirror_differences,
            report.push_problems,
            report.stuck,
            report.version_problems,
            report.log_problems,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
