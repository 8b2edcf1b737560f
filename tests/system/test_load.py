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

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ARTIFACTS, REPO_ROOT

USERS, SECONDS = 40, 20


def test_forty_people_browse_every_page_for_twenty_seconds_without_an_error(
    tmp_path: Path,
) -> None:
    out = tmp_path / "load.json"
    env = dict(os.environ)
    # The stack chooses its own settings and servers; nothing of the test run's may leak in.
    for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / f"load-{os.getpid()}.log"
    with open(log, "wb") as output:
        done = subprocess.run(
            [sys.executable, "bench/load.py", "--scale", "1", "--users", str(USERS),
             "--seconds", str(SECONDS), "--wait", "0.5,1.5", "--spawn-rate", "20",
             "--history-days", "3", "--push-items", "10", "--sync-interval", "5",
             "--json", str(out)],
            cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, timeout=240,
        )  # fmt: skip
    assert out.exists(), f"bench/load.py exited {done.returncode} before its figures:\n{_tail(log)}"
    found = json.loads(out.read_text())
    stats = found["locust"]

    assert stats["failures"] == 0, (stats["errors"], _tail(log))
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


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
