"""The people of the load test (bench/load.py): each signs in over HTTP with its own account
and browses the pages and exports its role may see, pausing between pages as a person does.

    python bench/locustfile.py --plan PLAN.json --out STATS.json

bench/load.py builds the plan (the web's address, the accounts and each one's URLs, how
many users for how long) and starts this file in a process of its own, which runs Locust
as a library (``Environment`` and a local runner, headless) and writes every page's
figures as JSON.

A process of its own because importing locust monkey-patches the standard library with
gevent (sockets, threads, ``subprocess``, ``select``), and the run's own process holds
psycopg connections, a Django set up for the stack and the stack's child processes, none
of which were made for cooperative green threads. Here nothing but Locust, requests and
the standard library is imported, and locust first, before anything takes a socket.
"""

from __future__ import annotations

# None of these takes a socket or starts a thread: locust's import, below them, patches the
# standard library before anything does.
import argparse
import itertools
import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import locust
from locust import HttpUser, between, task
from locust.env import Environment

LOGIN_PATH = "/accounts/login/"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# The request type of an export's full download (its GET line is the time to the first
# byte, when the browser starts saving the file); kept apart so the targets read the GETs.
DOWNLOAD = "CSV"
CHUNK = 64 * 1024

# Filled from the plan before the runner starts: every user takes the next account, and
# an address of its own (10.77.0.1, 10.77.0.2, ...).
_accounts: Iterator[tuple[int, dict[str, Any]]] = iter(())


class Person(HttpUser):
    """One signed-in person: the pages of their account, in its order, round and round."""

    wait_time = between(1, 5)

    def on_start(self) -> None:
        number, account = next(_accounts)
        # The stack's web trusts one proxy (TRUSTED_PROXY_COUNT=1), as a deployment behind
        # its TLS proxy does: each person is at an address of their own, which the proxy
        # appends. From one address, allauth's 30 sign-ins a minute per address would turn
        # most of a crowd signing in at once away with 429 (README.md, TRUSTED_PROXY_COUNT).
        self.client.headers["X-Forwarded-For"] = f"10.77.{number // 250}.{number % 250 + 1}"
        # One connection per request, as that proxy opens them to gunicorn (nginx speaks
        # HTTP/1.0 to its upstreams by default). Kept alive, a connection idle for
        # gunicorn's 2 s keep-alive while its person reads a page is closed under the next
        # request, a reset no browser behind a proxy would see.
        self.client.headers["Connection"] = "close"
        self.pages = itertools.cycle(account["urls"])
        self.sign_in(account["email"], account["password"])

    def sign_in(self, email: str, password: str) -> None:
        """allauth's form, as a browser fills it: the CSRF cookie and field from the GET,
        then the POST, which answers with a redirect and a session cookie."""
        with self.client.get(LOGIN_PATH, name="sign-in", catch_response=True) as page:
            match = CSRF_FIELD.search(page.text or "")
            if page.status_code != 200 or match is None:
                page.failure(f"sign-in form: {page.status_code}, CSRF field found: {bool(match)}")
                return
            page.success()
        form = {"csrfmiddlewaretoken": match[1], "login": email, "password": password}
        headers = {"Referer": f"{self.host}{LOGIN_PATH}"}
        with self.client.post(
            LOGIN_PATH, data=form, headers=headers, name="sign-in", allow_redirects=False,
            catch_response=True,
        ) as done:  # fmt: skip
            if done.status_code != 302 or "sessionid" not in self.client.cookies:
                done.failure(f"signing in {email}: {done.status_code}, no session")
            else:
                done.success()

    @task
    def browse(self) -> None:
        self.open(next(self.pages))

    def open(self, target: dict[str, Any]) -> None:
        """One page, never following a redirect: a page that sends a signed-in person back
        to the sign-in form (a lost session) answers 302 where 200 was expected, an error."""
        name, expected, export = target["name"], target["expect"], target["export"]
        started = time.perf_counter()
        with self.client.get(
            target["path"], name=name, allow_redirects=False, stream=export, catch_response=True,
            timeout=(10, 120),
        ) as response:  # fmt: skip
            if response.status_code != expected:
                got = response.status_code or repr(response.error)  # 0: no answer at all
                response.failure(f"{got}, expected {expected}")
                return
            if not export:
                response.success()
                return
            # The export streams: the GET's time is to its headers; read it all, as the
            # browser saves it, and record the whole download on its own line.
            kind = response.headers.get("Content-Type", "")
            size = 0
            try:
                for chunk in response.iter_content(CHUNK):
                    size += len(chunk)
            except Exception as error:  # noqa: BLE001 - a cut download is the export's error
                response.failure(f"download cut after {size:,} bytes: {error!r}")
                return
            if not kind.startswith("text/csv"):
                response.failure(f"an export answered {kind!r}")
                return
            response.success()
        self.environment.events.request.fire(
            request_type=DOWNLOAD, name=name, response_time=(time.perf_counter() - started) * 1000,
            response_length=size, exception=None, context={}, response=None,
        )  # fmt: skip


def run(plan: dict[str, Any]) -> dict[str, Any]:
    """Spawn ``plan["users"]`` people, let them browse for ``plan["seconds"]``, and return
    every (type, name) line's figures and the errors."""
    global _accounts
    _accounts = itertools.cycle(enumerate(plan["accounts"]))
    Person.wait_time = between(*plan["wait"])
    environment = Environment(user_classes=[Person], host=plan["base_url"])
    runner = environment.create_local_runner()
    started = time.monotonic()
    runner.start(plan["users"], spawn_rate=plan["spawn_rate"])
    # time.sleep is gevent's here (patched): the people browse while this one waits.
    report_every = min(30.0, max(5.0, plan["seconds"] / 6))
    while (left := plan["seconds"] - (time.monotonic() - started)) > 0:
        time.sleep(min(left, report_every))
        _progress(environment, started)
    runner.quit()
    runner.greenlet.join()
    stats = environment.stats
    lines = []
    for (name, method), entry in sorted(stats.entries.items(), key=lambda kv: kv[0]):
        lines.append(
            {
                "type": method,
                "name": name,
                "requests": entry.num_requests,
                "failures": entry.num_failures,
                "p50_ms": entry.get_response_time_percentile(0.50),
                "p95_ms": entry.get_response_time_percentile(0.95),
                "p99_ms": entry.get_response_time_percentile(0.99),
                "max_ms": entry.max_response_time,
                "mean_ms": entry.avg_response_time,
                "mean_bytes": entry.avg_content_length,
            }
        )
    errors = [
        {"type": e.method, "name": e.name, "error": str(e.error), "count": e.occurrences}
        for e in stats.errors.values()
    ]
    return {
        "seconds": round(time.monotonic() - started, 1),
        "users": plan["users"],
        "requests": stats.total.num_requests,
        "failures": stats.total.num_failures,
        "lines": lines,
        "errors": errors,
    }


def _progress(environment: Environment, started: float) -> None:
    total = environment.stats.total
    users = environment.runner.user_count if environment.runner else 0
    print(
        f"  [{time.monotonic() - started:5.0f} s] {users} people, {total.num_requests:,} "
        f"requests, {total.num_failures:,} failed, {total.current_rps:.1f} requests/s",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    found = run(json.loads(args.plan.read_text()))
    args.out.write_text(json.dumps(found, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    print(f"locust {locust.__version__}", flush=True)
    sys.exit(main())
