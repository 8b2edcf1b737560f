"""Load: signed-in people of every role browsing every page and export at once, while
syncs and a push run (issue 14).

    uv run --frozen python bench/load.py [--scale 265] [--users 50] [--seconds 180]
                                         [--json out.json]

Starts a whole unefemme on servers of its own (bench/_stack.py: PostgreSQL, Redis,
qbo_sandbox, gunicorn, a Celery worker and beat), then builds the data set the page
benchmark measures (bench/pages.py): a demo company of ``--scale`` imported through the
real sync (265 is the ~100,000-invoice company) and one a hundredth its size, Une Femme's
catalog mapped onto them, two weeks of warehouse counts, ``--history-days`` of daily
history, a year's allowance program with a claim, and a reconciliation with differences.

Then ``--users`` people sign in over HTTP with accounts of their own (partner users of
each partner, staff and admins) and browse for ``--seconds`` with Locust
(bench/locustfile.py), pausing ``--wait`` seconds between pages. Every page is found by
walking the URLconf as the access tests do (tests/urlwalk.py): every page of ours a role
may open, with the real objects tests/access_objects.py registers for pages that take
parameters (the big company's own invoices and customers where it matters), and every
page that answers ``?format=csv`` with its export, so a new page is load-tested without
editing this file. Meanwhile the sandbox's activity generator changes both companies'
books, which webhooks and polls every ``--sync-interval`` seconds carry into the mirror,
and an approved push job creates ``--push-items`` items in the big company.

Reported per page (URL name, whatever the object): p50, p95 and p99 of the time to the
answer (for an export, to its first byte; the whole download is printed beside it, for
the record), and errors: any answer other than the page's own (a 5xx, a redirect to sign
in, a cut download, a refused connection). Pass: no error anywhere and every page's p95
under one second; the exit status says which.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import import_demo  # noqa: E402
import pages  # noqa: E402
from _harness import Result, connect_demo_company, new_catalog_skus, print_table  # noqa: E402
from _stack import BENCH, REPO_ROOT, Program, Stack  # noqa: E402

if TYPE_CHECKING:
    from accounts.models import Partner, User
    from sync.models import QBOConnection
    from tests.access_objects import Kwargs, Side

TARGET_SECONDS = 1.0
PASSWORD = "load-test-password"
# Shares of the people: partner users (split over the partners), admins, and staff the rest.
PARTNER_SHARE, ADMIN_SHARE = 0.4, 0.2
INTUIT_PER_MINUTE = 500


# ---------------------------------------------------------------- the people and their pages


@dataclass
class Target:
    """One URL a person opens: its URL name (the line it is reported on), its path, the
    status it answers them, and whether it is a CSV export (read to the end)."""

    name: str
    path: str
    expect: int = 200
    export: bool = False
    # For an object only the person who made it may open (an admin's upload): their email.
    only: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "expect": self.expect, "export": self.export}


@dataclass
class Account:
    email: str
    role: str
    partner_id: int | None
    urls: list[Target] = field(default_factory=list)


@dataclass
class Walk:
    """What the URLconf walk found: each role's (and each partner's) targets, and the
    URLs left out, with why."""

    groups: dict[tuple[str, int | None], list[Target]]
    skipped: dict[str, str]

    @property
    def names(self) -> list[str]:
        return sorted({t.name for targets in self.groups.values() for t in targets})


def _load_side(tag: str, connection: QBOConnection, user: User, admin: User) -> Side:
    """One partner's world for tests/access_objects.py's object makers, built on a company
    the sync imported: a SKU its items map to (the one most sold) and its customer with
    the most invoices (whose name the makers put in claims and channel rules)."""
    from django.db.models import Count

    from billing.models import QBOCustomer, QBOInvoice, QBOInvoiceLine
    from inventory.mapping.models import SKUMapping
    from tests import access_objects

    mapped = dict(
        SKUMapping.objects.filter(connection=connection).values_list(
            "item_qbo_id", "catalog_sku__code"
        )
    )
    sold = (
        QBOInvoiceLine.objects.filter(invoice__connection=connection, item_qbo_id__in=list(mapped))
        .values("item_qbo_id")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("item_qbo_id", flat=True)
        .first()
    )
    assert sold is not None, f"no invoice of {connection} sells a mapped item"
    names = QBOCustomer.objects.filter(connection=connection).values("display_name")
    unique = names.annotate(n=Count("pk")).filter(n=1).values_list("display_name", flat=True)
    busiest = (
        QBOInvoice.objects.filter(connection=connection, customer_name__in=unique)
        .values("customer_name")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("customer_name", flat=True)
        .first()
    )
    assert busiest is not None, f"{connection} has no customer with invoices"
    side_class = _side_class()
    side = side_class(tag, connection.partner, user, admin, connection, mapped[sold], busiest)
    # The claim maker claims against the partner's own program, made with the world.
    access_objects._program_build(side, name=side.program_name)
    return side


def _side_class() -> Callable[..., Side]:
    from tests.access_objects import Side

    @dataclass(frozen=True)
    class LoadSide(Side):
        """A side whose customer is one of the imported company's own."""

        real_customer: str = ""

        @property
        def customer(self) -> str:
            return self.real_customer

    return LoadSide


def _real_objects(side: Side) -> dict[str, Callable[[], list[Kwargs]]]:
    """Objects of the imported company itself for the pages whose cost grows with it (the
    makers' own objects are new and small): a few of its invoices, the largest first, and
    the customers with the most open invoices (the longest account and statement)."""
    from django.db.models import Count

    from billing.models import QBOInvoice
    from inventory.mapping.models import MappingConflict

    books = side.books

    def invoices() -> list[Kwargs]:
        largest = (
            QBOInvoice.objects.filter(connection=books)
            .annotate(n=Count("lines"))
            .order_by("-n", "pk")
            .values_list("pk", flat=True)[:3]
        )
        recent = QBOInvoice.objects.filter(connection=books).order_by("-txn_date", "-pk")
        return [{"pk": pk} for pk in [*largest, *recent.values_list("pk", flat=True)[:2]]]

    def customers() -> list[Kwargs]:
        open_most = (
            QBOInvoice.objects.filter(connection=books, balance__gt=0)
            .values("customer_qbo_id")
            .annotate(n=Count("pk"))
            .order_by("-n", "customer_qbo_id")
            .values_list("customer_qbo_id", flat=True)[:3]
        )
        return [{"connection_id": books.pk, "customer_qbo_id": c} for c in open_most]

    def conflicts() -> list[Kwargs]:
        found = MappingConflict.objects.filter(connection=books).values_list("pk", flat=True)[:1]
        return [{"pk": pk} for pk in found]

    return {
        "billing:invoice": invoices,
        "billing:receivables_customer": customers,
        "billing:statement": customers,
        "inventory:conflict_choose": conflicts,
        "inventory:conflict_ignore": conflicts,
        "inventory:conflict_unmap": conflicts,
    }


def walk_pages(sides: list[Side], people: dict[str, User], others: dict[str, User]) -> Walk:
    """Every page of ours each role may open (each partner's users with their own
    partner's objects; staff and admins, ``people``, with every side's), plus the export of
    every page that has one, found by asking each page for ``?format=csv``.

    Objects of no partner (an admin's upload) may be their maker's alone: each is asked
    for as another person of the role (``others``), and one refused to them is opened by
    its maker only."""
    from django.test import Client
    from django.urls import reverse

    from accounts.roles import Role
    from tests.access_objects import OBJECT_URLS, ObjectURL
    from tests.test_access_by_url import PAGE_ANSWERS
    from tests.urlwalk import walk

    groups: dict[tuple[str, int | None], list[Target]] = defaultdict(list)
    skipped: dict[str, str] = {}
    # Who looks, each with a signed-in test client to find the exports: a partner's own
    # user (with that partner's objects), staff and admins (with every side's).
    lookers: list[tuple[str, list[Side], User]] = [
        *((str(Role.PARTNER), [side], side.user) for side in sides),
        *((role, sides, user) for role, user in people.items()),
    ]
    real = {side.tag: _real_objects(side) for side in sides}
    made: dict[tuple[Any, str], list[Kwargs]] = {}  # the objects of each maker and side
    exports: dict[str, bool] = {}  # per route: one answer is enough

    def objects(name: str, entry: ObjectURL, side: Side) -> list[Kwargs]:
        """The side's objects for URL ``name``: the imported company's own where
        ``_real_objects`` has them, else the one the access tests' maker makes."""
        real_maker = real[side.tag].get(name)
        key = (real_maker or entry.make, side.tag)
        if key not in made:
            made[key] = (real_maker() if real_maker else []) or [entry.make(side)]
        return made[key]

    for url in walk():
        if not url.is_ours or getattr(url.view, "login_required", True) is False:
            continue  # the admin's, allauth's, and the public ones (sign-in, webhooks)
        name = url.name or url.route
        allowed = {str(r) for r in getattr(url.view, "allowed_roles", ())}
        entry = OBJECT_URLS.get(name) if url.params else None
        expect = PAGE_ANSWERS[name].status if name in PAGE_ANSWERS else 200
        if url.params:
            if entry is None:
                skipped[name] = "no real object for it in tests/access_objects.py OBJECT_URLS"
                continue
            expect = entry.answer.status
        if expect == 405:
            skipped[name] = "takes POSTs only"
            continue
        if expect >= 400:
            skipped[name] = f"answers {expect} to a plain GET by design"
            continue
        for role, looks_at, user in lookers:
            if role not in allowed:
                continue
            if entry is None:
                paths = [url.path]
            else:
                paths = [
                    reverse(name, kwargs=kwargs)
                    for side in looks_at
                    for kwargs in objects(name, entry, side)
                ]
            group = groups[(role, user.partner_id)]
            for path in paths:
                group.append(Target(name, path, expect))
                if entry is not None and not entry.partner_scoped and role in others:
                    refused = _status(others[role], path) != expect
                    group[-1].only = sides[0].admin.email if refused else None
                if expect != 200:
                    continue
                if url.route not in exports:
                    client = Client()
                    client.force_login(user)
                    exports[url.route] = _is_export(client, path, url.route)
                if not exports[url.route]:
                    continue
                if url.route.endswith(".csv"):
                    group[-1].export = True
                else:
                    group.append(Target(f"{name} (csv)", f"{path}?format=csv", 200, True))
    return Walk(dict(groups), skipped)


def _status(user: User, path: str) -> int:
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.get(path)
    response.close()
    return int(response.status_code)


def _is_export(client: Any, path: str, route: str) -> bool:
    """Whether the page at ``path`` exports CSV: at its own path (``…/export.csv``) or with
    ``?format=csv``. An export's headers come before its rows, so the probe reads none."""
    response = client.get(path if route.endswith(".csv") else f"{path}?format=csv")
    found = str(response.get("Content-Type", "")).startswith("text/csv")
    response.close()
    return found


def accounts_build(users: int, partners: list[Partner]) -> list[Account]:
    """``users`` people with passwords, so each Locust user signs in as someone of its own:
    partner users spread over ``partners``, admins, and staff."""
    from accounts.roles import Role
    from accounts.services import user_create

    partner_count = max(len(partners), round(users * PARTNER_SHARE))
    admin_count = max(1, round(users * ADMIN_SHARE))
    staff_count = max(1, users - partner_count - admin_count)
    made = []
    for n in range(partner_count):
        partner = partners[n % len(partners)]
        email = f"load-partner-{n + 1:03d}@example.test"
        user_create(email=email, password=PASSWORD, role=Role.PARTNER, partner=partner)
        made.append(Account(email, str(Role.PARTNER), partner.pk))
    for role, count in ((Role.STAFF, staff_count), (Role.ADMIN, admin_count)):
        for n in range(count):
            email = f"load-{role}-{n + 1:03d}@example.test"
            user_create(email=email, password=PASSWORD, role=role)
            made.append(Account(email, str(role), None))
    return made


def assign(accounts: list[Account], found: Walk) -> None:
    """Each account's pages: its group's list (its role's, and for partner users their
    partner's), one URL of every page first and the other objects after, each part
    started at a different place for each account of the group, so the group together
    opens every page within its first round, however short the run."""
    members: dict[tuple[str, int | None], list[Account]] = defaultdict(list)
    for account in accounts:
        members[(account.role, account.partner_id)].append(account)
    # How many groups open each page: the pages of fewest groups (admins' own) come first,
    # so a short run still opens each of them, with nobody else to.
    seen_by: dict[str, int] = defaultdict(int)
    for targets in found.groups.values():
        for name in {t.name for t in targets}:
            seen_by[name] += 1
    for key, group in members.items():
        shared = [t for t in found.groups.get(key, []) if t.only is None]
        firsts: dict[str, Target] = {}
        for target in shared:
            firsts.setdefault(target.name, target)
        primary = sorted(firsts.values(), key=lambda t: seen_by[t.name])
        rest = [t for t in shared if firsts[t.name] is not t]
        for index, account in enumerate(group):
            # Their own objects first: nobody else opens them. Then every n-th page of the
            # group's n people, the rarest first, then the others.
            own = [t for t in found.groups.get(key, []) if t.only == account.email]
            mine = primary[index :: len(group)]
            others = [t for t in primary if t not in mine]
            account.urls = (
                own + mine + _rotated(others, index, len(group)) + _rotated(rest, index, len(group))
            )


def _rotated(targets: list[Target], index: int, of: int) -> list[Target]:
    start = index * len(targets) // of
    return targets[start:] + targets[:start]


# ---------------------------------------------------------------- the data


@dataclass
class Data:
    big: QBOConnection
    small: QBOConnection
    invoices: int
    build_seconds: dict[str, float]


def build(stack: Stack, scale: float, history_days: int) -> Data:
    from django.utils import timezone

    from billing.models import QBOInvoice
    from history.services import history_backfill, snapshot_day
    from sync.models import QBOConnection

    assert stack.sandbox is not None
    took: dict[str, float] = {}

    def step(label: str, action: Callable[[], Any]) -> Any:
        print(f"  {label}...", flush=True)
        started = time.monotonic()
        result = action()
        took[label] = round(time.monotonic() - started, 1)
        return result

    sandbox = stack.sandbox
    pages.prepare_catalog()

    def imported(size: float) -> import_demo.ImportRun:
        connection, company = connect_demo_company(sandbox, scale=size)
        # The stack's beat polls it only once the load starts (syncs_start), not during
        # the import or the build after it.
        later = QBOConnection.objects.filter(pk=connection.pk)
        later.update(next_sync_at=timezone.now() + timedelta(days=1))
        done = import_demo.import_company(sandbox, connection, company)
        assert done.status == "succeeded", done
        later.update(next_sync_at=timezone.now() + timedelta(days=1))
        return done

    big = step(f"import a company of scale {scale:g}", lambda: imported(scale))
    small = step(f"import a company of scale {scale / 100:g}", lambda: imported(scale / 100))
    pages.prepare_people_and_counts(big.connection.partner)
    today = timezone.localdate()

    def history() -> None:
        snapshot_day(today)
        if history_days > 1:
            history_backfill(
                start=today - timedelta(days=history_days - 1), end=today - timedelta(days=1)
            )

    step(f"{history_days} days of history", history)
    # The allowance program, claim and reconciliation differences pages.py measures, left
    # behind by its own figures (run once; their single-request times are not this run's).
    step("allowance program and claim", lambda: _allowances(big.connection))
    step("reconciliation", lambda: pages.reconciliation_results(big.connection, 1))
    invoices = QBOInvoice.objects.count()
    return Data(big.connection, small.connection, invoices, took)


def _allowances(connection: QBOConnection) -> None:
    try:
        pages.allowance_results(connection, 1)
    except AssertionError as error:
        # A small company may have no on-premise account buying last month: the program
        # pages still load, with the makers' programs only.
        print(f"  (no year's program: {error})", flush=True)


# ---------------------------------------------------------------- syncs and a push


@dataclass
class Background:
    push_job_id: int
    push_items: int
    started_at: datetime


def push_draft(big: QBOConnection, items: int) -> int:
    """A draft job creating ``items`` new catalog SKUs as items in the big company."""
    from accounts.models import User
    from inventory.push import services as push

    admin = User.objects.get(email=pages.ADMIN_EMAIL)
    skus = new_catalog_skus("L", "Load Cuvée", items)
    job = push.push_items_draft(user=admin, partner_id=big.partner_id, sku_ids=[s.pk for s in skus])
    return job.pk


def push_approve(job_id: int) -> None:
    from accounts.models import User
    from inventory.push import services as push

    push.push_job_approve(job_id=job_id, user=User.objects.get(email=pages.ADMIN_EMAIL))


def syncs_start(interval: float) -> None:
    """Every connection polled every ``interval`` seconds from now (beat's tick, every 3 s
    in a stack, enqueues what is due)."""
    from django.utils import timezone

    from sync.models import QBOConnection

    QBOConnection.objects.update(
        sync_interval=timedelta(seconds=interval), next_sync_at=timezone.now()
    )


def background_results(background: Background, wait: float) -> list[Result]:
    """The push's outcome (waited for up to ``wait`` seconds after the load) and the syncs
    that ran while the people browsed."""
    from django.db.models import Count

    from inventory.push.models import PushJob
    from sync.models import SyncRun

    finished = {PushJob.Status.DONE, PushJob.Status.DONE_WITH_FAILURES, PushJob.Status.FAILED}
    deadline = time.monotonic() + wait
    job = PushJob.objects.get(pk=background.push_job_id)
    while job.status not in finished and time.monotonic() < deadline:
        time.sleep(1)
        job.refresh_from_db()
    outcomes = dict(job.items.values_list("status").annotate(n=Count("pk")))
    took = (
        (job.finished_at - job.approved_at).total_seconds()
        if job.finished_at and job.approved_at
        else None
    )
    runs = SyncRun.objects.filter(started_at__gte=background.started_at).exclude(
        kind=SyncRun.Kind.PUSH
    )
    by_status = dict(runs.values_list("status").annotate(n=Count("pk")))
    succeeded = by_status.get(SyncRun.Status.SUCCEEDED, 0)
    failed = by_status.get(SyncRun.Status.FAILED, 0)
    return [
        Result(
            f"Push job of {background.push_items} items, approved during the load",
            took,
            "s",
            "done, every item written",
            job.status == PushJob.Status.DONE and outcomes == {"written": background.push_items},
            f"{job.get_status_display()}: {outcomes}, {job.api_requests} requests",
        ),
        Result(
            "Sync runs while the people browsed, failed",
            float(failed),
            "runs",
            "≤ 0 runs",
            failed == 0 and succeeded > 0,
            f"{succeeded} succeeded, {failed} failed, "
            f"{by_status.get(SyncRun.Status.SKIPPED, 0)} skipped (another held the realm)",
        ),
    ]


@dataclass
class CPU:
    """Where the machine's CPU went during the load: each part of the stack (a process and
    its children), Locust, and the rest of the machine, which on a shared box is others'."""

    parts: dict[str, list[Any]]  # label: psutil.Process trees
    before: dict[str, dict[tuple[int, float], float]]
    locust_before: float
    machine: Any  # psutil's scputimes
    started: float

    @classmethod
    def start(cls, stack: Stack, activity: Program) -> CPU:
        import psutil

        assert stack.web is not None and stack.postgres is not None and stack.redis is not None
        assert stack.sandbox is not None

        def trees(*pids: int | None) -> list[Any]:
            return [psutil.Process(pid) for pid in pids if pid is not None]

        def pid(program: Program | None) -> int | None:
            return program.process.pid if program and program.process else None

        parts = {
            "web": trees(pid(stack.web)),
            "PostgreSQL": trees(stack.postgres.pid),
            "Celery worker and beat": trees(*map(pid, stack.workers), pid(stack.beat)),
            "qbo_sandbox and its activity": trees(stack.sandbox.process.pid, pid(activity)),
            "Redis": trees(stack.redis.pid),
        }
        before = {label: _seconds(found) for label, found in parts.items()}
        return cls(parts, before, _children_seconds(), psutil.cpu_times(), time.monotonic())

    def results(self, requests: int) -> list[Result]:
        import psutil

        wall = time.monotonic() - self.started
        used = {}
        for label, found in self.parts.items():
            then = self.before[label]
            used[label] = sum(v - then.get(k, 0.0) for k, v in _seconds(found).items())
        # Locust ran as this process's child, waited for: its CPU is in RUSAGE_CHILDREN.
        used["Locust"] = _children_seconds() - self.locust_before
        now = psutil.cpu_times()
        spent = {f: getattr(now, f) - getattr(self.machine, f) for f in now._fields}
        idle = spent["idle"] + spent.get("iowait", 0.0)
        busy = sum(spent.values()) - idle
        used["everything else on the machine"] = max(0.0, busy - sum(used.values()))
        cores = psutil.cpu_count() or 1
        shares = ", ".join(f"{label} {seconds / wall:.2f}" for label, seconds in used.items())
        return [
            Result.check(
                f"CPU per request: {label}",
                used[label] / max(requests, 1) * 1000,
                "ms",
                record=f"{used[label]:,.0f} CPU-s in {wall:,.0f} s: {used[label] / wall:.2f} cores",
            )
            for label in ("web", "PostgreSQL")
        ] + [
            Result.check(
                "Machine CPU busy during the load",
                busy / max(sum(spent.values()), 1e-9) * 100,
                "%",
                record=f"of {cores} cores; in cores: {shares}; load average "
                f"{os.getloadavg()[0]:.1f} at the end",
            )
        ]


def _children_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _seconds(roots: list[Any]) -> dict[tuple[int, float], float]:
    """CPU seconds of every process alive in the trees under ``roots``, by (pid, start
    time): its own (user + system) and its children's that it has waited for. A process
    that ends during the load is then counted in its parent's: PostgreSQL's backends come
    and go with the connections (the web's are recycled every ``DB_CONN_MAX_AGE``), and
    left out they made most of the database's CPU look like "everything else". One that
    began before the load is counted whole when it ends: a slight overcount."""
    found = {}
    for root in roots:
        with contextlib.suppress(Exception):
            for one in [root, *root.children(recursive=True)]:
                with contextlib.suppress(Exception):
                    t = one.cpu_times()
                    found[(one.pid, one.create_time())] = (
                        t.user + t.system + t.children_user + t.children_system
                    )
    return found


# ---------------------------------------------------------------- the run


def run_locust(
    plan: dict[str, Any], workdir: Path, on_started: Callable[[], None]
) -> dict[str, Any]:
    """bench/locustfile.py in a process of its own (see its docstring for why), its output
    passed through; ``on_started`` runs once its people are spawning."""
    plan_path, out_path = workdir / "locust-plan.json", workdir / "locust-stats.json"
    plan_path.write_text(json.dumps(plan))
    argv = [sys.executable, str(BENCH / "locustfile.py"), "--plan", str(plan_path),
            "--out", str(out_path)]  # fmt: skip
    process = subprocess.Popen(argv, cwd=REPO_ROOT)
    try:
        time.sleep(min(10.0, plan["seconds"] / 4))
        on_started()
        process.wait(timeout=plan["seconds"] + 180)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"locust exited {process.returncode}")
    stats: dict[str, Any] = json.loads(out_path.read_text())
    return stats


def page_results(stats: dict[str, Any], names: list[str]) -> list[Result]:
    """One line per page (its GETs) against the target, one per export's whole download
    for the record, and the errors of every request."""
    lines = {(line["type"], line["name"]): line for line in stats["lines"]}
    results = []
    for name in ["sign-in", *names]:
        for kind in ("POST", "GET", "CSV") if name == "sign-in" else ("GET", "CSV"):
            line = lines.get((kind, name))
            if line is None:
                if kind == "GET":
                    results.append(Result(f"{name}: never requested", None, "s", "requested"))
                continue
            p50, p95, p99 = (line[f"p{p}_ms"] / 1000 for p in (50, 95, 99))
            record = (
                f"p50 {p50 * 1000:,.0f} ms, p99 {p99 * 1000:,.0f} ms, max "
                f"{line['max_ms'] / 1000:,.1f} s; {line['requests']:,} requests, "
                f"{line['failures']} errors"
            )
            if kind == "CSV":
                results.append(
                    Result.check(
                        f"p95 {name}: whole download",
                        p95,
                        "s",
                        record=f"{record}; {line['mean_bytes'] / 1024:,.0f} KiB on average",
                    )  # fmt: skip
                )
                continue
            label = f"p95 {name}" + (f" ({kind})" if name == "sign-in" else "")
            ok = p95 <= TARGET_SECONDS and line["failures"] == 0
            results.append(Result(label, p95, "s", "≤ 1.00 s, 0 errors", ok, record))
    results.append(
        Result.check(
            "Errors, every request",
            float(stats["failures"]),
            "requests",
            at_most=0,
            record=f"{stats['requests']:,} requests by {stats['users']} people in "
            f"{stats['seconds']:.0f} s",
        )
    )
    return results


def run(args: argparse.Namespace) -> int:
    started_at = datetime.now(UTC)
    workdir = Path(tempfile.mkdtemp(prefix="unefemme-load-"))
    # The build imports with the sandbox's throttle off (it measures our side, not
    # Intuit's); the load runs with Intuit's limits on, as production's syncs and pushes do.
    # One proxy in front of the web, as in a deployment: each person's address is the one
    # it appends (bench/locustfile.py), so per-address limits count people, not the run.
    stack = Stack(
        workdir, sandbox_args=["--limit-per-minute", "0"], web_workers=args.web_workers,
        web_threads=args.web_threads, environment={"TRUSTED_PROXY_COUNT": "1"},
    )  # fmt: skip
    with contextlib.ExitStack() as cleanup:
        # After the stack stops, whatever happened: the servers' data goes (1.7 GB at scale
        # 265), the logs stay for the reader of a failed run.
        for data_dir in ("postgres", "redis"):
            cleanup.callback(shutil.rmtree, workdir / data_dir, ignore_errors=True)
        cleanup.enter_context(stack)
        print(f"stack up at {stack.base_url} (logs in {stack.logs})", flush=True)
        started = time.monotonic()
        data = build(stack, args.scale, args.history_days)
        job_id = push_draft(data.big, args.push_items)
        accounts = accounts_build(args.users, [data.big.partner, data.small.partner])
        found = _walk(data, accounts)
        assign(accounts, found)
        build_seconds = time.monotonic() - started
        print(
            f"built in {build_seconds:.0f} s: {data.invoices:,} invoices, {len(found.names)} "
            f"pages, {len(accounts)} accounts",
            flush=True,
        )
        for name, why in sorted(found.skipped.items()):
            print(f"  not load-tested: {name}: {why}", flush=True)

        stack.sandbox_config(limit_per_minute=INTUIT_PER_MINUTE)
        activity = stack.activity(
            [data.big.realm_id, data.small.realm_id], per_minute=args.activity, seed=1
        )
        try:
            load_started = datetime.now(UTC)
            syncs_start(args.sync_interval)
            plan = {
                "base_url": stack.base_url,
                "users": args.users,
                "spawn_rate": args.spawn_rate,
                "seconds": args.seconds,
                "wait": list(args.wait),
                "accounts": [
                    {
                        "email": a.email,
                        "password": PASSWORD,
                        "role": a.role,
                        "urls": [t.as_dict() for t in a.urls],
                    }
                    for a in accounts
                ],
            }
            cpu = CPU.start(stack, activity)
            stats = run_locust(plan, workdir, lambda: push_approve(job_id))
            machine = cpu.results(stats["requests"])
            background = Background(job_id, args.push_items, load_started)
            background_found = background_results(background, wait=120)
        finally:
            activity.stop()

    results = page_results(stats, found.names) + background_found + machine
    title = (
        f"load: {args.users} people for {args.seconds:g} s on a company of scale "
        f"{args.scale:g} ({data.invoices:,} invoices in all)"
    )
    print_table(results, title=title)
    ok = all(r.ok is not False for r in results) and all(
        r.value is not None for r in results if r.target
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "scale": args.scale,
                    "invoices": data.invoices,
                    "users": args.users,
                    "seconds": args.seconds,
                    "wait": list(args.wait),
                    "started_at": started_at.isoformat(),
                    "build_seconds": data.build_seconds,
                    "pages": found.names,
                    "not_load_tested": found.skipped,
                    "accounts": {
                        role: sum(1 for a in accounts if a.role == role)
                        for role in sorted({a.role for a in accounts})
                    },
                    "locust": stats,
                    "results": [r.as_dict() for r in results],
                    "ok": ok,
                },
                indent=2,
                ensure_ascii=False,
            )
            + "\n"
        )
        print(f"written to {args.json}")
    return 0 if ok else 1


def _walk(data: Data, accounts: list[Account]) -> Walk:
    from accounts.models import User
    from accounts.roles import Role

    def first(role: str, partner_id: int | None = None) -> User:
        account = next(a for a in accounts if a.role == role and a.partner_id == partner_id)
        user: User = User.objects.get(email=account.email)
        return user

    admin = first(str(Role.ADMIN))
    others = {}  # a second person of each role of Une Femme's, where there is one
    for role in (str(Role.STAFF), str(Role.ADMIN)):
        found = [a.email for a in accounts if a.role == role][1:2]
        if found:
            others[role] = User.objects.get(email=found[0])
    sides = []
    for tag, connection in (("A", data.big), ("B", data.small)):
        user = first(str(Role.PARTNER), connection.partner_id)
        sides.append(_load_side(tag, connection, user, admin))
    people = {str(Role.STAFF): first(str(Role.STAFF)), str(Role.ADMIN): admin}
    return walk_pages(sides, people, others)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=265.0, help="the big company's scale")
    parser.add_argument("--users", type=int, default=50, help="people browsing at once")
    parser.add_argument("--seconds", type=float, default=180.0, help="how long they browse")
    parser.add_argument(
        "--wait",
        type=lambda text: tuple(float(x) for x in text.split(",")),
        default=(1.0, 5.0),
        help="seconds between one person's pages, MIN,MAX (uniform)",
    )
    parser.add_argument("--spawn-rate", type=float, default=10.0, help="people signing in a second")
    parser.add_argument("--history-days", type=int, default=91, help="days of daily history")
    parser.add_argument("--push-items", type=int, default=300, help="items the push job creates")
    parser.add_argument("--sync-interval", type=float, default=20.0, help="seconds between polls")
    parser.add_argument("--activity", type=float, default=60.0, help="sandbox changes a minute")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the figures here, as JSON")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
