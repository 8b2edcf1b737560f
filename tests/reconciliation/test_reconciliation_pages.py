"""The reconciliation pages: the overview, one connection's differences and their CSV,
"Run now" and its progress, each partner's connections kept to itself on every URL; the
failing check on the dashboard and in /healthz's detail; query counts flat in the rows."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Partner, User
from reconciliation import services
from reconciliation.models import Difference, ReconciliationRun
from sync.models import QBOConnection
from tests.billing.factories import ConnectionFactory
from tests.conftest import signed_in
from tests.test_query_counts import cost, flat

D = Decimal
INDEX = reverse("reconciliation:index")
HUNDRED, NINETY = D("100.00"), D("90.00")


def page(connection: QBOConnection) -> str:
    return reverse("reconciliation:connection", args=[connection.pk])


def finished_run(connection: QBOConnection, **fields: Any) -> ReconciliationRun:
    now = timezone.now()
    values: dict[str, Any] = {
        "status": ReconciliationRun.Status.SUCCEEDED,
        "started_at": now,
        "finished_at": now,
        "report_date": timezone.localdate(),
    }
    run: ReconciliationRun = ReconciliationRun.objects.create(
        connection=connection, **{**values, **fields}
    )
    return run


def difference(
    connection: QBOConnection,
    run: ReconciliationRun,
    n: int,
    *,
    kind: str = "receivables",
    age: timedelta = timedelta(0),
    ours: Decimal = HUNDRED,
    theirs: Decimal = NINETY,
) -> Difference:
    return Difference.objects.create(
        connection=connection, kind=kind, qbo_id=str(1000 + n), name=f"Name {n}",
        bucket="total" if kind == "receivables" else "", ours=ours, theirs=theirs,
        first_seen=timezone.now() - age, last_run=run,
    )  # fmt: skip


@pytest.fixture
def books_a(partner_a: Partner) -> QBOConnection:
    connection: QBOConnection = ConnectionFactory(partner=partner_a, company_name="Books A")
    return connection


@pytest.fixture
def books_b(partner_b: Partner) -> QBOConnection:
    connection: QBOConnection = ConnectionFactory(partner=partner_b, company_name="Books B")
    return connection


pytestmark = pytest.mark.django_db


# --- The overview --------------------------------------------------------------------------


def test_the_overview_lists_the_connections_each_reader_may_see(
    alice: User, sam: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    run = finished_run(books_b)
    difference(books_b, run, 1, age=timedelta(hours=1))
    difference(books_b, run, 2)

    mine = signed_in(alice).get(INDEX).content.decode()
    assert "Books A" in mine and "Books B" not in mine
    assert "Never run" in mine and "Run now" in mine  # the empty state

    every = signed_in(sam).get(INDEX)
    rows = {r.pk: r for r in every.context["rows"]}
    assert set(rows) == {books_a.pk, books_b.pk}
    assert (rows[books_b.pk].difference_count, rows[books_b.pk].failing_count) == (2, 1)
    assert rows[books_b.pk].run_status == "succeeded"
    assert (rows[books_a.pk].difference_count, rows[books_a.pk].run_status) == (0, None)


# --- One connection ------------------------------------------------------------------------


def test_a_connection_never_run_offers_run_now(alice: User, books_a: QBOConnection) -> None:
    text = signed_in(alice).get(page(books_a)).content.decode()
    assert "never been reconciled" in text and "Run now" in text


def test_no_differences_says_it_agrees_and_as_of_when(alice: User, books_a: QBOConnection) -> None:
    run = finished_run(books_a)
    text = signed_in(alice).get(page(books_a)).content.decode()
    assert "agrees with QuickBooks" in text
    assert f"{timezone.localtime(run.finished_at):%b %-d, %Y}" in text


def test_every_difference_is_listed_with_both_figures_and_filtered_by_kind(
    sam: User, books_a: QBOConnection
) -> None:
    run = finished_run(books_a)
    difference(books_a, run, 1, ours=D("120.50"), theirs=D("100.25"))
    difference(books_a, run, 2, kind="stock", ours=D("7"), theirs=D("12"))
    client = signed_in(sam)

    text = client.get(page(books_a)).content.decode()
    for needle in ("Name 1", "$120.50", "$100.25", "$20.25", "Name 2", ">7<", ">12<", "−5"):
        assert needle in text, needle

    stock = client.get(page(books_a), {"kind": "stock"}).content.decode()
    assert "Name 2" in stock and "Name 1" not in stock
    fragment = client.get(page(books_a), {"kind": "receivables"}, headers={"HX-Request": "true"})
    body = fragment.content.decode()
    assert "Name 1" in body and "Name 2" not in body and "<html" not in body
    # A kind that does not parse is left out, as any filter that does not parse.
    assert client.get(page(books_a), {"kind": "\x00nonsense"}).status_code == 200


@pytest.mark.parametrize("kind", ["", "receivables", "stock"])
def test_the_csv_carries_the_pages_totals(kind: str, sam: User, books_a: QBOConnection) -> None:
    run = finished_run(books_a)
    for n in range(60):  # more than one page of the table
        difference(books_a, run, n, kind="stock" if n % 3 == 0 else "receivables",
                   ours=D(n) + D("0.37"), theirs=D(2 * n))  # fmt: skip
    client = signed_in(sam)
    params = {"kind": kind} if kind else {}

    totals = {t["kind"]: t for t in client.get(page(books_a), params).context["totals"]}
    response = client.get(page(books_a), {**params, "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.getvalue().decode("utf-8-sig"))))

    for label, key in (("Receivables", "receivables"), ("Stock", "stock")):
        mine = [r for r in rows if r["Kind"] == label]
        assert len(mine) == totals[key]["count"]
        for column, figure in (("Ours", "ours"), ("QuickBooks", "theirs"), ("Difference", "delta")):
            assert sum((D(r[column]) for r in mine), D(0)) == totals[key][figure], (key, column)
    assert len(rows) == sum(t["count"] for t in totals.values()) > 0


@pytest.mark.parametrize(
    "query",
    [
        {"kind": "stock\x00"}, {"kind": "x" * 5000}, {"sort": "-nonsense"}, {"sort": "delta"},
        {"page": "99999999999999999999"}, {"page": "-1"}, {"page": "\uff11"},
        {"format": "xlsx"}, {"kind": ["stock", "receivables"]},
    ],
)  # fmt: skip
def test_the_page_takes_any_query_string(
    query: dict[str, Any], alice: User, books_a: QBOConnection
) -> None:
    # tests/test_no_5xx_lists.py fuzzes pages without parameters; this one has one.
    difference(books_a, finished_run(books_a), 1)
    client = signed_in(alice)
    for headers in ({}, {"HX-Request": "true"}):
        assert client.get(page(books_a), query, headers=headers).status_code == 200


# --- Run now and its progress ----------------------------------------------------------------


def test_run_now_queues_one_run_and_the_page_polls_it_until_done(
    alice: User, books_a: QBOConnection, django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    published: list[tuple[Any, ...]] = []
    monkeypatch.setattr(services, "publish_quietly", lambda task, *args: published.append(args))
    client = signed_in(alice)
    url = reverse("reconciliation:run", args=[books_a.pk])

    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(url, headers={"HX-Request": "true"})
        again = client.post(url, headers={"HX-Request": "true"})  # pressed twice

    run = ReconciliationRun.objects.get(connection=books_a)
    assert published == [(books_a.pk, run.pk, "manual")]
    assert run.status == ReconciliationRun.Status.QUEUED and run.requested_by == alice
    for response in (answer, again):
        assert response.status_code == 200
        assert 'hx-trigger="every 1s"' in response.content.decode()

    status = reverse("reconciliation:status", args=[books_a.pk])
    assert client.get(status, headers={"HX-Request": "true"}).status_code == 200
    ReconciliationRun.objects.filter(pk=run.pk).update(
        status=ReconciliationRun.Status.SUCCEEDED, finished_at=timezone.now()
    )
    done = client.get(status, headers={"HX-Request": "true"})
    assert done.status_code == 286  # htmx stops polling, and swaps in the result
    assert "hx-trigger" not in done.content.decode() and "Show the result" in done.content.decode()

    # Without htmx the button is a plain form: it redirects back to the page.
    plain = client.post(url)
    assert plain.status_code == 302 and plain["Location"] == page(books_a)


def test_a_page_opened_while_a_run_is_under_way_polls_it(
    alice: User, books_a: QBOConnection
) -> None:
    ReconciliationRun.objects.create(
        connection=books_a, status=ReconciliationRun.Status.RUNNING, started_at=timezone.now()
    )
    text = signed_in(alice).get(page(books_a)).content.decode()
    assert 'hx-trigger="every 1s"' in text and "Comparing with QuickBooks" in text
    # One lost long ago (its worker killed) is not waited for.
    ReconciliationRun.objects.update(created_at=timezone.now() - timedelta(hours=1))
    text = signed_in(alice).get(page(books_a)).content.decode()
    assert 'hx-trigger="every 1s"' not in text and "never finished" in text


def test_run_now_on_a_connection_needing_reconnect_says_why(
    alice: User, books_a: QBOConnection
) -> None:
    QBOConnection.objects.filter(pk=books_a.pk).update(status=QBOConnection.Status.NEEDS_RECONNECT)
    url = reverse("reconciliation:run", args=[books_a.pk])
    response = signed_in(alice).post(url, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Reconnect it first" in response.content.decode()
    assert not ReconciliationRun.objects.exists()


# --- Partner isolation on every URL ------------------------------------------------------------


def test_a_partner_user_gets_404_for_another_partners_connection_on_every_url(
    alice: User, bob: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    run = finished_run(books_b)
    difference(books_b, run, 1)
    client = signed_in(alice)
    for name in ("reconciliation:connection", "reconciliation:status"):
        url = reverse(name, args=[books_b.pk])
        assert client.get(url).status_code == 404, name
        assert client.get(url, headers={"HX-Request": "true"}).status_code == 404, name
    assert client.get(page(books_b), {"format": "csv"}).status_code == 404
    run_url = reverse("reconciliation:run", args=[books_b.pk])
    assert client.post(run_url).status_code == 404
    assert client.post(run_url, headers={"HX-Request": "true"}).status_code == 404
    assert ReconciliationRun.objects.filter(connection=books_b).count() == 1
    # Bob, whose connection it is, sees it.
    assert signed_in(bob).get(page(books_b)).status_code == 200


# --- The failing check -----------------------------------------------------------------------


def _tile(html: str) -> str:
    match = re.search(r'<a class="tile"[^>]*data-tile="reconciliation">(.*?)</a>', html, re.S)
    assert match, "no reconciliation tile"
    return match.group(0)


def test_a_difference_older_than_one_sync_interval_fails_the_dashboard_check(
    alice: User, sam: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    run = finished_run(books_a)
    # Just found (younger than the connection's 5-minute interval): not failing yet.
    difference(books_a, run, 1, age=timedelta(minutes=4))
    tile = _tile(signed_in(sam).get(reverse("dashboard")).content.decode())
    assert 'data-check="ok"' in tile and reverse("reconciliation:index") in tile

    difference(books_a, run, 2, age=timedelta(minutes=6))
    for who in (sam, alice):
        tile = _tile(signed_in(who).get(reverse("dashboard")).content.decode())
        assert 'data-check="failing"' in tile and ">1<" in tile, who
    # Bob's partner has no failing difference: his check passes.
    # A longer interval on the connection makes the same difference not failing yet.
    QBOConnection.objects.filter(pk=books_a.pk).update(sync_interval=timedelta(minutes=30))
    assert 'data-check="ok"' in _tile(signed_in(sam).get(reverse("dashboard")).content.decode())


def test_a_disconnected_companys_differences_fail_no_check(
    sam: User, books_a: QBOConnection
) -> None:
    difference(books_a, finished_run(books_a), 1, age=timedelta(hours=2))
    QBOConnection.objects.filter(pk=books_a.pk).update(status=QBOConnection.Status.DISCONNECTED)
    assert 'data-check="ok"' in _tile(signed_in(sam).get(reverse("dashboard")).content.decode())
    # Still listed on its page: what it last disagreed on is history worth keeping.
    assert "Name 1" in signed_in(sam).get(page(books_a)).content.decode()


def test_a_partner_users_check_counts_only_its_own_connections(
    bob: User, books_a: QBOConnection, books_b: QBOConnection
) -> None:
    run = finished_run(books_a)
    difference(books_a, run, 1, age=timedelta(hours=2))
    assert 'data-check="ok"' in _tile(signed_in(bob).get(reverse("dashboard")).content.decode())


@pytest.mark.django_db(transaction=True)
def test_healthz_carries_the_check_in_its_detail_and_keeps_its_status(
    client: Client, celery_worker_process: subprocess.Popen[bytes], partner_a: Partner
) -> None:
    connection: QBOConnection = ConnectionFactory(partner=partner_a)
    quiet = client.get(reverse("healthz"))
    body = json.loads(quiet.content)
    assert quiet.status_code == 200 and body["ok"] is True
    assert body["detail"]["reconciliation"] == {
        "ok": True, "failing_differences": 0, "connections": {},
    }  # fmt: skip

    run = finished_run(connection)
    difference(connection, run, 1, age=timedelta(hours=1))
    difference(connection, run, 2, age=timedelta(hours=1))
    difference(connection, run, 3)  # too young to fail
    failing = client.get(reverse("healthz"))
    body = json.loads(failing.content)
    assert failing.status_code == 200 and body["ok"] is True
    assert body["detail"]["reconciliation"] == {
        "ok": False, "failing_differences": 2, "connections": {str(connection.pk): 2},
    }  # fmt: skip
    # Nothing of the partner's books: /healthz answers anyone.
    assert "Name 1" not in failing.content.decode()


# --- Query counts --------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "sam"])
@pytest.mark.parametrize("what", ["index", "page", "csv", "fragment"])
def test_the_pages_cost_the_same_at_n_and_10n_differences(
    who: str, what: str, cast: dict[str, User], books_a: QBOConnection, books_b: QBOConnection
) -> None:
    runs = {c.pk: finished_run(c) for c in (books_a, books_b)}

    def grow(rows: range) -> None:
        for connection in (books_a, books_b):
            for n in rows:
                difference(connection, runs[connection.pk], n,
                           kind="stock" if n % 2 else "receivables",
                           age=timedelta(hours=n % 3))  # fmt: skip

    client = signed_in(cast[who])
    if what == "index":
        flat(grow, lambda: cost(client, INDEX))
    elif what == "page":
        flat(grow, lambda: cost(client, page(books_a)))
    elif what == "csv":
        flat(grow, lambda: cost(client, page(books_a), {"format": "csv"}))
    else:
        flat(grow, lambda: cost(client, page(books_a), headers={"HX-Request": "true"}))
