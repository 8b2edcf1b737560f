"""What the main pages and the CSV exports cost on a big company, against their own SQL.

    uv run python bench/pages.py [--scale 20] [--repeat 5]

Starts its own qbo_sandbox, PostgreSQL and Redis (throw-away; nothing under var/ or in
DATABASE_URL is touched), imports a demo company of ``--scale`` (and one a hundredth its
size, for a small export), gives its partner warehouse counts, then, signed in as staff
through Django's test client (server time: view, SQL and template, no network):

- each main list page: its server time (median of ``--repeat``) over its main SQL, the
  slowest of its queries re-executed alone through a cursor with the same SQL and
  parameters (median of ``--repeat``). Target: at most 3×, the page's own work on top of
  the one query it cannot avoid.
- the open-invoices and payments CSV exports, read to the end: rows/s, export time over the
  main SQL (target for open invoices: at most 2×), and the peak memory an export adds,
  measured in a fresh process for the small company's rows (a thousand at ``--scale 265``)
  and for every row (target: flat, within 20 MB, because the export streams).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (  # noqa: E402
    Result,
    median_seconds,
    print_table,
    with_sandbox,
)

if TYPE_CHECKING:
    from django.test import Client

    from accounts.models import Partner
    from qbo_sandbox.testing import SandboxProcess

STAFF_EMAIL = "bench-staff@example.com"
ADMIN_EMAIL = "bench-pages-admin@example.com"
# (label, URL name, who looks): the main list pages of the navigation. The conflicts
# queue is for admins only; staff see every other page with every partner's rows.
PAGES = [
    ("Dashboard", "dashboard", STAFF_EMAIL),
    ("Open invoices", "billing:invoices", STAFF_EMAIL),
    ("Payments", "billing:payments", STAFF_EMAIL),
    ("Discrepancies", "inventory:discrepancies", STAFF_EMAIL),
    ("Depletion", "inventory:depletion", STAFF_EMAIL),
    ("Catalog (SKUs and their items)", "inventory:catalog", STAFF_EMAIL),
    ("Mapping conflicts", "inventory:conflicts", ADMIN_EMAIL),
    ("Connections", "sync:connections", STAFF_EMAIL),
]
# The stock-and-money-flow pages (issue 13): each must answer in under a second of server
# time on the ~100,000-invoice company; (label, URL name, query string, who looks). Their
# ratio to the main SQL is printed for the record: they sum in SQL and have no one "main"
# query. Each page's CSV is timed too.
FLOW_PAGES = [
    ("Sell-through, 12 months", "inventory:sell_through", "", STAFF_EMAIL),
    ("Sell-through, by week", "inventory:sell_through", "group=week", STAFF_EMAIL),
    ("Sell-through CSV", "inventory:sell_through", "format=csv", STAFF_EMAIL),
    ("Suppliers (Une Femme vendor)", "inventory:suppliers", "", ADMIN_EMAIL),
    # This month so far (the default), and the whole history: every document's lines.
    ("Stock ledger, this month", "inventory:stock_ledger", "", STAFF_EMAIL),
    ("Stock ledger, all history", "inventory:stock_ledger", "start=2000-01-01", STAFF_EMAIL),
    ("Stock ledger CSV", "inventory:stock_ledger", "start=2000-01-01&format=csv", STAFF_EMAIL),
    # The partner scorecard (issue 16): every figure of every partner, each its page's own.
    ("Partner scorecard", "partners", "", ADMIN_EMAIL),
]
FLOW_TARGET_SECONDS = 1.0
# (label, URL name, target for export time ÷ main SQL; None: for the record only)
EXPORTS = [
    ("Open-invoices CSV", "billing:invoices", 2.0),
    ("Payments CSV", "billing:payments", None),
]
MEMORY_TARGET_MB = 20.0


# ---------------------------------------------------------------- the data


def prepare_catalog() -> None:
    """Une Femme's demo SKUs, before any import: the sync's matching then maps the demo
    companies' items to them, which is what the discrepancy and depletion pages read."""
    from inventory.catalog.services import catalog_demo_load

    catalog_demo_load()


def prepare_people_and_counts(partner: Partner) -> None:
    """The signed-in people, and two weeks of warehouse counts of every SKU for
    ``partner`` (the discrepancies page compares them with QuickBooks' quantities)."""
    from django.utils import timezone

    from accounts.models import Partner, User
    from accounts.roles import Role
    from inventory.catalog.models import CatalogSKU
    from inventory.warehouse.models import WarehouseSnapshot, WarehouseSource

    User.objects.create_user(email=STAFF_EMAIL, role=Role.STAFF)
    User.objects.create_user(email=ADMIN_EMAIL, role=Role.ADMIN)
    # A partner without a company: an export filtered to it has no rows (warm-up).
    Partner.objects.get_or_create(slug="bench-empty", defaults={"name": "Bench (no company)"})
    today = timezone.localdate()
    WarehouseSnapshot.objects.bulk_create(
        WarehouseSnapshot(
            partner=partner,
            sku=sku,
            as_of=today - timedelta(days=day),
            bottles=120 + 12 * (n % 5) - day,
            source=WarehouseSource.CSV,
        )
        for n, sku in enumerate(CatalogSKU.objects.order_by("code"))
        for day in range(14)
    )


# ---------------------------------------------------------------- the main SQL


@dataclass(frozen=True)
class Query:
    sql: str
    params: Any


class QueryLog:
    """A database execute wrapper keeping every statement with its parameters (Django's
    CaptureQueriesContext keeps only the SQL with the parameters filled in)."""

    def __init__(self) -> None:
        self.queries: list[Query] = []

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not many:
            self.queries.append(Query(sql, params))
        return execute(sql, params, many, context)


def main_sql(queries: list[Query], repeat: int) -> tuple[float, int]:
    """The median time of the slowest of ``queries``, each re-executed alone through a
    plain cursor, rows fetched; and how many distinct reads there were.

    Each distinct read is re-executed rather than timed where it ran: an export reads
    through a server-side cursor, whose execute returns before the rows are fetched, so
    only a re-execution with every row fetched shows its real cost.
    """
    from django.db import connection

    reads: dict[str, Query] = {}
    for query in queries:
        # A UNION of ordered parts starts with "(" (Django parenthesises each SELECT).
        if query.sql.lstrip("( \n").split(None, 1)[0].upper() in ("SELECT", "WITH"):
            reads.setdefault(query.sql, query)

    def execute(query: Query) -> None:
        with connection.cursor() as cursor:
            cursor.execute(query.sql, query.params)
            cursor.fetchall()

    def timed(query: Query) -> float:
        started = time.perf_counter()
        execute(query)
        return time.perf_counter() - started

    if not reads:
        return 0.0, 0
    slowest = max(reads.values(), key=timed)
    seconds, _ = median_seconds(lambda: execute(slowest), repeat)
    return seconds, len(reads)


def _client(email: str) -> Client:
    from django.test import Client

    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(email=email))
    return client


def _read(client: Client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    if response.streaming:
        return b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return bytes(response.content)


def _logged(client: Client, url: str) -> list[Query]:
    from django.db import connection

    log = QueryLog()
    with connection.execute_wrapper(log):
        _read(client, url)
    return log.queries


# ---------------------------------------------------------------- pages


def page_results(repeat: int) -> list[Result]:
    """Figure 4: each main page's server time over its main SQL."""
    from django.urls import reverse

    results = []
    for label, name, email in PAGES:
        client, url = _client(email), reverse(name)
        _read(client, url)  # warm-up: templates compiled, connection open
        seconds, body = median_seconds(partial(_read, client, url), repeat)
        queries = _logged(client, url)
        sql, reads = main_sql(queries, repeat)
        results.append(
            Result.check(
                f"Page server time ÷ main SQL: {label}",
                seconds / sql if sql else 0.0,
                "×",
                at_most=3.0,
                record=f"{seconds * 1000:,.0f} ms vs {sql * 1000:,.1f} ms (slowest of "
                f"{reads} reads, {len(queries)} queries); {len(body) / 1024:,.0f} KiB",
            )
        )
    return results


def _page_result(label: str, url: str, email: str, repeat: int) -> Result:
    """One page's server time (median of ``repeat``) against one second, its query count
    and slowest read for the record."""
    client = _client(email)
    _read(client, url)  # warm-up
    seconds, body = median_seconds(partial(_read, client, url), repeat)
    queries = _logged(client, url)
    sql, reads = main_sql(queries, repeat)
    return Result.check(
        f"Page server time: {label}",
        seconds,
        "s",
        at_most=FLOW_TARGET_SECONDS,
        record=f"{len(queries)} queries, slowest of {reads} reads {sql * 1000:,.1f} ms "
        f"(× {seconds / sql if sql else 0:.1f}); {len(body) / 1024:,.0f} KiB",
    )


def flow_page_results(repeat: int) -> list[Result]:
    """Figure 4b: the stock-and-money-flow pages' server time, against one second."""
    from django.urls import reverse

    return [
        _page_result(label, f"{reverse(name)}?{query}" if query else reverse(name), email, repeat)
        for label, name, query, email in FLOW_PAGES
    ]


# The finance pages (issue 16): each under a second on the big company, like the flow pages.
# The trends page reads the daily history, so the history is backfilled first (13 weeks,
# timed per day for the record, beside the nightly snapshot of one day).
HISTORY_DAYS = 91


def finance_page_results(connection: Any, repeat: int) -> list[Result]:
    """Figure 4d: the daily history's snapshot and backfill, and the finance pages."""
    from django.db.models import Count
    from django.urls import reverse
    from django.utils import timezone

    from billing.models import QBOInvoice
    from history.services import history_backfill, snapshot_day

    today = timezone.localdate()
    started = time.monotonic()
    snapshot_day(today)
    nightly = time.monotonic() - started
    started = time.monotonic()
    history_backfill(start=today - timedelta(days=HISTORY_DAYS), end=today - timedelta(days=1))
    per_day = (time.monotonic() - started) / HISTORY_DAYS
    results = [
        Result.check("Daily history: the nightly snapshot of every partner", nightly, "s"),
        Result.check(
            "Daily history: one day rebuilt from the documents (backfill)",
            per_day,
            "s",
            record=f"{HISTORY_DAYS} days in {per_day * HISTORY_DAYS:,.0f} s",
        ),
    ]
    # The customer with the most open invoices: the longest account and statement.
    customer = (
        QBOInvoice.objects.filter(connection=connection, balance__gt=0)
        .values("customer_qbo_id")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("customer_qbo_id", "n")
        .first()
    )
    assert customer is not None, "the big company has no open invoice"
    account = reverse("billing:receivables_customer", args=[connection.pk, customer[0]])
    statement = reverse("billing:statement", args=[connection.pk, customer[0]])
    receivables = reverse("billing:receivables")
    trends = reverse("history:trends")
    pages = [
        ("Receivables by customer", receivables),
        ("Receivables by customer, overdue, most days first",
         f"{receivables}?overdue=on&sort=-most_days_overdue"),
        ("Receivables by customer CSV", reverse("billing:receivables_csv")),
        (f"A customer's account ({customer[1]:,} open invoices)", account),
        (f"A customer's statement ({customer[1]:,} open invoices)", statement),
        ("Trends, 13 weeks", trends),
        ("Trends, one partner", f"{trends}?partner={connection.partner_id}"),
        ("Payments, searched by customer and amount",
         f"{reverse('billing:payments')}?customer=a&amount=1,200.00"),
        ("Dashboard with its attention list", reverse("dashboard")),
    ]  # fmt: skip
    return results + [_page_result(label, url, STAFF_EMAIL, repeat) for label, url in pages]


def placements_results(repeat: int) -> list[Result]:
    """Figure 4e: accounts and placements per partner × SKU (inventory.reports.placements),
    the one statement the accounts pages and the dashboard's tiles read, against the second
    those pages must answer in: last month, and the twelve months before it; then the pages
    themselves."""
    from django.urls import reverse
    from django.utils import timezone

    from accounts.models import User
    from inventory.reports.placements import placements

    user = User.objects.get(email=STAFF_EMAIL)
    this_month = timezone.localdate().replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    results, reports = [], []
    for label, start in (("last month", last_month), ("12 months", _months_back(this_month, 12))):
        end = this_month - timedelta(days=1)
        seconds, report = median_seconds(
            partial(placements, user=user, start=start, end=end), repeat
        )
        reports.append(report)
        accounts = [a for row in report.rows for a in row.accounts]
        results.append(
            Result.check(
                f"Accounts and placements, {label}, every partner",
                seconds,
                "s",
                at_most=FLOW_TARGET_SECONDS,
                record=f"{len(report.rows)} partner × SKU rows, {len(accounts):,} accounts: "
                f"{sum(a.buying for a in accounts):,} buying, {sum(a.new for a in accounts):,} "
                f"new, {sum(a.lost for a in accounts):,} lost",
            )
        )
    # The pages that read it, as staff: this month (the default), last month, the dashboard
    # whose tiles count this month's, and the drill-down of last month's busiest row.
    page = reverse("inventory:placements")
    assert reports[0].rows, "no account bought anything last month"
    busiest = max(reports[0].rows, key=lambda row: row.buying_count)
    drill = reverse("inventory:placements_row", args=[busiest.partner_id, busiest.sku])
    pages = [
        ("Accounts, this month", page),
        ("Accounts, last month", f"{page}?month={last_month:%Y-%m}"),
        ("Accounts CSV, last month", f"{page}?month={last_month:%Y-%m}&format=csv"),
        (f"Accounts of {busiest.sku}, last month", f"{drill}?month={last_month:%Y-%m}"),
    ]
    return results + [_page_result(label, url, STAFF_EMAIL, repeat) for label, url in pages]


def allowance_results(connection: Any, repeat: int) -> list[Result]:
    """Figure 4f: depletion allowances on the big company (allowances.books): a year-long
    on-premise program over every SKU its items map to, what the books say it owes, a claim
    of every qualifying account-month of last month checked against the books, and the pages
    that show them, each against one second."""
    from django.urls import reverse
    from django.utils import timezone

    from accounts.models import User
    from allowances import books, selectors, services
    from allowances.models import AllowanceProgram
    from billing.models import QBOCustomer
    from inventory.catalog.models import CatalogSKU
    from inventory.channels.models import Channel
    from inventory.channels.services import customer_types_refresh
    from inventory.mapping.models import SKUMapping

    customer_types_refresh(connection_id=connection.pk)
    staff = User.objects.get(email=STAFF_EMAIL)
    admin = User.objects.get(email=ADMIN_EMAIL)
    this_month = timezone.localdate().replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    program = AllowanceProgram.objects.create(
        name="Bench on-premise year", start=_months_back(this_month, 12),
        end=this_month - timedelta(days=1), rate=Decimal("12.00"),
        unit=AllowanceProgram.Unit.CASE_9L, channel=Channel.ON_PREMISE, created_by=admin,
    )  # fmt: skip
    program.partners.set([connection.partner])
    skus = SKUMapping.objects.filter(connection=connection).values("catalog_sku")
    program.skus.set(CatalogSKU.objects.filter(pk__in=skus))
    seconds, months = median_seconds(partial(selectors.program_months, program, staff), repeat)
    results = [
        Result.check(
            "Allowance due per month, a year, on-premise",
            seconds,
            "s",
            at_most=FLOW_TARGET_SECONDS,
            record=f"{sum(m.accounts for m in months):,} account-months, "
            f"${sum(m.due for m in months):,} due over {len(months)} months",
        )
    ]
    # A claim of every qualifying account × SKU of last month, as its distributor would
    # send it: the books' bottles and the rate's amount.
    terms = books.ProgramTerms.of(program)
    found = books.qualifying(
        terms, connection_ids=[connection.pk], start=last_month, end=this_month - timedelta(days=1)
    )
    names = dict(
        QBOCustomer.objects.filter(connection=connection).values_list("qbo_id", "display_name")
    )
    codes = dict(CatalogSKU.objects.values_list("pk", "code"))
    lines = [
        f'{last_month:%Y-%m},{codes[sku]},"{names[entry.customer_qbo_id]}",'
        f"{bottles.normalize():f},{terms.allowance({sku: bottles})}"
        for entry in found.values()
        for sku, bottles in entry.bottles.items()
    ]
    assert lines, "no on-premise account bought anything last month"
    content = ("period,sku,account,bottles,amount\n" + "\n".join(lines) + "\n").encode()
    started = time.perf_counter()
    claim = services.claim_create(
        user=admin, partner=connection.partner, program=program, content=content
    )
    checked = time.perf_counter() - started
    results.append(
        Result.check(
            f"Claim of {len(lines):,} lines read and checked",
            checked,
            "s",
            at_most=FLOW_TARGET_SECONDS,
            record=f"{claim.lines.filter(verdict='matched').count():,} matched; "
            f"claimed ${claim.claimed:,}, supported ${claim.supported:,}",
        )
    )
    services.claim_submit(user=admin, claim_id=claim.pk)
    payable = list(claim.lines.filter(supported__gt=0).values_list("pk", flat=True))
    services.claim_decide(user=admin, claim_id=claim.pk, approve=True, line_ids=payable, note="")
    busiest = max(months, key=lambda m: m.accounts)
    evidence = reverse(
        "allowances:evidence", args=[program.pk, connection.partner.pk, f"{busiest.month:%Y-%m}"]
    )
    pages = [
        ("Allowance program, 12 months", program.get_absolute_url()),
        (f"Allowance evidence, {busiest.month:%b %Y}", evidence),
        (f"Allowance evidence CSV, {busiest.month:%b %Y}", f"{evidence}?format=csv"),
        ("Claims", reverse("allowances:claims")),
        (f"A claim of {len(lines):,} lines", claim.get_absolute_url()),
        ("Approved for payment CSV", f"{reverse('allowances:payments')}?format=csv"),
        ("Accounts, last month, on-premise",
         f"{reverse('inventory:placements')}?month={last_month:%Y-%m}&channel=on_premise"),
        ("Channels of every account", reverse("inventory:channels")),
    ]  # fmt: skip
    return results + [_page_result(label, url, ADMIN_EMAIL, repeat) for label, url in pages]


def _months_back(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def reconciliation_results(connection: Any, repeat: int) -> list[Result]:
    """Figure 4c: reconciliation of the big company. The run (both reports from the
    sandbox, our aging and stock, the differences written) is timed for the record; then
    a thousand open invoices are corrupted in the mirror, a second run records the
    differences, and its pages must answer in under a second like the other new pages."""
    from django.db.models import F
    from django.urls import reverse

    from billing.models import QBOInvoice
    from reconciliation.services import reconciliation_run

    def timed_run() -> tuple[float, Any]:
        started = time.monotonic()
        run = reconciliation_run(connection_id=connection.pk, trigger="bench")
        return time.monotonic() - started, run

    results = []
    for label, corrupt in (("agreeing", False), ("1,000 invoices corrupted", True)):
        if corrupt:
            ids = list(
                QBOInvoice.objects.filter(connection=connection, balance__gt=0)
                .order_by("pk")
                .values_list("pk", flat=True)[:1000]
            )
            QBOInvoice.objects.filter(pk__in=ids).update(balance=F("balance") + 1)
        seconds, run = timed_run()
        results.append(
            Result.check(
                f"Reconciliation run, {label}",
                seconds,
                "s",
                record=f"{run.status}: {run.customers_compared:,} customers, "
                f"{run.items_compared:,} items, {run.differences:,} differences, "
                f"{run.api_requests} requests",
            )
        )
    client = _client(STAFF_EMAIL)
    detail = reverse("reconciliation:connection", args=[connection.pk])
    for label, url in (
        ("Reconciliation, every company", reverse("reconciliation:index")),
        ("Reconciliation, one company's differences", detail),
        ("Reconciliation, differences CSV", f"{detail}?format=csv"),
    ):
        _read(client, url)  # warm-up
        seconds, body = median_seconds(partial(_read, client, url), repeat)
        queries = _logged(client, url)
        results.append(
            Result.check(
                f"Page server time: {label}",
                seconds,
                "s",
                at_most=FLOW_TARGET_SECONDS,
                record=f"{len(queries)} queries; {len(body) / 1024:,.0f} KiB",
            )
        )
    return results


# ---------------------------------------------------------------- exports


def export_results(small_partner: Partner, repeat: int) -> list[Result]:
    """Figure 5: the CSV exports, timed in this process, their memory in fresh ones."""
    from django.db import connection
    from django.urls import reverse

    from accounts.models import Partner

    client = _client(STAFF_EMAIL)
    empty = Partner.objects.get(slug="bench-empty")
    results = []
    for label, name, target in EXPORTS:
        url = f"{reverse(name)}?format=csv"
        warm_up = f"{url}&partner={empty.pk}"  # the same code path with no rows
        _read(client, warm_up)
        # An export is a handful of statements: logging them costs nothing measurable, so
        # the timed runs are the logged ones (a big export is slow enough to run once less).
        log = QueryLog()
        with connection.execute_wrapper(log):
            seconds, body = median_seconds(partial(_read, client, url), repeat)
        rows = body.count(b"\n") - 1
        sql, reads = main_sql(log.queries, repeat)
        small = _peak_memory(f"{url}&partner={small_partner.pk}", warm_up)
        full = _peak_memory(url, warm_up)
        results += [
            Result.check(
                f"{label} rows/s",
                rows / seconds,
                "rows/s",
                record=f"{rows:,} rows in {seconds:.2f} s; {len(body) / 2**20:,.1f} MiB",
            ),
            Result.check(
                f"{label}: export time ÷ main SQL",
                seconds / sql if sql else 0.0,
                "×",
                at_most=target,
                record=f"{seconds:.2f} s vs {sql:.3f} s (slowest of {reads} reads)",
            ),
            Result.check(
                f"{label}: peak memory growth, full − 1% company",
                full["growth_mb"] - small["growth_mb"],
                "MB",
                at_most=MEMORY_TARGET_MB,
                record=f"{small['rows']:,} rows +{small['growth_mb']:.1f} MB, "
                f"{full['rows']:,} rows +{full['growth_mb']:.1f} MB (peak RSS over RSS "
                "just before)",
            ),
        ]
    return results


def _peak_memory(url: str, warm_up: str) -> dict[str, Any]:
    """Run one export in a fresh process (same database, via the environment) and return
    its row count and how far its peak RSS rose above the RSS it had just before."""
    # The child reads DATABASE_URL / REDIS_URL / DJANGO_SETTINGS_MODULE from the
    # environment this process set up, so it talks to the same throw-away servers.
    done = subprocess.run(
        [sys.executable, __file__, "--export-child", url, "--warm-up", warm_up],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
        timeout=600,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _export_child(url: str, warm_up: str) -> None:
    """The child's side of ``_peak_memory``: prints one JSON line."""
    import django

    django.setup()
    client = _client(STAFF_EMAIL)
    # The same code path with no rows first: what is imported and cached on a first
    # request is not what an export of many rows costs.
    _read(client, warm_up)
    # Linux keeps the process's peak RSS (VmHWM); writing 5 to clear_refs resets it to the
    # current RSS, so the peak read afterwards is the export's own, not start-up's.
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    response = client.get(url)
    rows = -1
    for chunk in response.streaming_content:  # type: ignore[attr-defined]
        rows += chunk.count(b"\n")
    growth = max(0, _status_kib("VmHWM") - before) / 1024
    print(json.dumps({"rows": rows, "growth_mb": growth}))


def _status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


# ---------------------------------------------------------------- standalone


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=20.0, help="the big company's scale")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the median counts")
    parser.add_argument("--export-child", help=argparse.SUPPRESS)
    parser.add_argument("--warm-up", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        _export_child(args.export_child, args.warm_up)
        return 0
    return with_sandbox(0, lambda sandbox: run(sandbox, args.scale, args.repeat))


def run(sandbox: SandboxProcess, scale: float, repeat: int) -> int:
    from import_demo import connect_and_import

    prepare_catalog()
    big = connect_and_import(sandbox, scale)
    small = connect_and_import(sandbox, scale / 100)
    prepare_people_and_counts(big.connection.partner)
    results = (
        page_results(repeat)
        + flow_page_results(repeat)
        + finance_page_results(big.connection, repeat)
        + placements_results(repeat)
        + allowance_results(big.connection, repeat)
        + reconciliation_results(big.connection, repeat)
        + export_results(small.connection.partner, repeat)
    )
    print_table(results, title=f"pages and exports on a company of scale {scale:g}")
    return 0 if all(r.ok is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
