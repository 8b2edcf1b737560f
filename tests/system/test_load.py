"""The load run's short version (bench/load.py): 40 signed-in people of every role browse
every page and export of a small company for 20 seconds while syncs and a push run, and
no request may fail.

bench/load.py starts a whole unefemme of its own (bench/_stack.py: PostgreSQL, Redis,
qbo_sandbox, gunicorn, a worker and beat), so it runs in a subprocess: this process's
Django is set up for the test database, which the run must not touch. It therefore takes
no ``db`` fixture. The timings are the full run's business (``--scale 265``, targets on
p95); here the figures only have to exist, and the errors be none.
"""

from __future__ import annotations

from pathlib import Path

from tests.system.bench_run import run_bench

USERS, SECONDS = 40, 20


def test_forty_people_browse_every_page_for_twenty_seconds_without_an_error(
    tmp_path: Path,
) -> None:
    run = run_bench(
        "load.py",
        ["--scale", "1", "--users", str(USERS), "--seconds", str(SECONDS), "--wait", "0.5,1.5",
         "--spawn-rate", "20", "--history-days", "3", "--push-items", "10",
         "--sync-interval", "5"],
        tmp_path, timeout=240,
    )  # fmt: skip
    found = run.found
    stats = found["locust"]

    assert stats["failures"] == 0, (stats["errors"], run.tail())
    assert found["accounts"] == {"admin": 8, "partner": 16, "staff": 16}
    # Every page was opened, exports included: a run requesting nothing cannot pass.
    requested = {line["name"] for line in stats["lines"] if line["requests"] > 0}
    assert set(found["pages"]) <= requested, sorted(set(found["pages"]) - requested)
    assert {"dashboard", "billing:invoices", "billing:invoices (csv)", "billing:invoice"} <= (
        requested
    )
    # People signed in over HTTP, each of them, and browsed the rest of the time.
    sign_ins = next(x for x in stats["lines"] if (x["type"], x["name"]) == ("POST", "sign-in"))
    assert sign_ins["requests"] == USERS
    assert stats["requests"] > USERS * 5
    # Syncs and the push ran meanwhile, and did their work.
    background = {r["figure"]: r for r in found["results"] if not r["figure"].startswith("p95")}
    push = next(r for f, r in background.items() if f.startswith("Push job"))
    assert push["verdict"] == "ok", push
    syncs = background["Sync runs while the people browsed, failed"]
    assert syncs["verdict"] == "ok", syncs
