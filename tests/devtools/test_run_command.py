from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from devtools.embedded import free_port
from devtools.run import Child, Output, Program, Runner

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKS = ("database", "redis", "celery")


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def _live(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _worker(runner: psutil.Process) -> psutil.Process | None:
    for child in runner.children():
        try:
            cmdline = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        if any("celery" in part for part in cmdline) and "worker" in cmdline:
            return child
    return None


def _ours(proc: psutil.Process, var: Path, port: int) -> bool:
    """Whether a process belongs to this test's run: it names var/ or the web port, or works
    inside var/ (PostgreSQL and Redis chdir into their data directories)."""
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline = " ".join(proc.cmdline())
        cwd = proc.cwd()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return str(var) in cmdline or f"127.0.0.1:{port}" in cmdline or cwd.startswith(str(var))


class Run:
    def __init__(self, tmp_path: Path) -> None:
        self.var = tmp_path / "var"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "run.log"
        # A clean environment: no DATABASE_URL or REDIS_URL, so the runner starts its own.
        env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devtools.run", "--var", str(self.var)]
                + ["--port", str(self.port)],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.psutil = psutil.Process(self.process.pid)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, what: str, timeout: float, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the runner exited early:\n{self.output()}"
            if check():
                return
            time.sleep(0.5)
        pytest.fail(f"timed out waiting for {what}; runner output:\n{self.output()[-5000:]}")

    def health(self) -> tuple[int, dict[str, object]]:
        status, body = _get(f"{self.base}/healthz")
        try:
            return status, json.loads(body)
        except json.JSONDecodeError:
            return status, {}

    def stop(self) -> None:
        """Stop the runner, then kill whatever of this run is left (test_run_restarts.py
        uses it too)."""
        # A failed test must not leave servers behind for the next one.
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        for proc in psutil.process_iter():
            if _ours(proc, self.var, self.port):
                proc.kill()


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    run = Run(tmp_path)
    yield run
    run.stop()


def test_run_serves_the_product_supervises_it_and_cleans_up(run: Run) -> None:
    run.wait_for("the sign-in page", 120, lambda: _get(f"{run.base}/accounts/login/")[0] == 200)

    def healthy() -> bool:
        status, body = run.health()
        return status == 200 and all(body.get(name) is True for name in CHECKS)

    def worker_missed() -> bool:
        status, body = run.health()
        return status == 503 and body.get("celery") is False

    run.wait_for("/healthz to report everything up", 60, healthy)
    assert "login admin " in run.output()
    assert "unefemme is running at" in run.output()

    # With no Intuit app configured, the demo's QuickBooks runs too, seeded with the three
    # distributors, and its activity generator keeps changing their books.
    found = re.search(r"QuickBooks \(qbo_sandbox\): (http://\S+)/", run.output())
    assert found, run.output()[-3000:]
    status, body = _get(f"{found.group(1)}/_sandbox/status")
    assert status == 200
    assert len(json.loads(body)["companies"]) == 3
    run.wait_for("the activity generator", 60, lambda: "activity realm=" in run.output())

    worker = _worker(run.psutil)
    assert worker is not None
    worker.suspend()
    try:
        run.wait_for("/healthz to notice the stopped worker", 60, worker_missed)
    finally:
        worker.resume()
    run.wait_for("/healthz to recover", 60, healthy)

    # A worker that dies is restarted, and what it left behind is cleaned up.
    pool = worker.children()
    worker.kill()
    run.wait_for(
        "a new worker",
        30,
        lambda: (new := _worker(run.psutil)) is not None and new.pid != worker.pid,
    )
    assert "worker was killed by SIGKILL; restarting in 1 s" in run.output()
    assert not any(_live(proc) for proc in pool)

    # Everything the runner started, however deep, must be gone once it has exited.
    descendants = run.psutil.children(recursive=True)
    run.process.send_signal(signal.SIGINT)
    assert run.process.wait(30) == 0, run.output()[-5000:]

    leftovers = [
        proc
        for proc in psutil.process_iter()
        if _ours(proc, run.var, run.port) or (proc in descendants and _live(proc))
    ]
    assert leftovers == [], [proc.cmdline() for proc in leftovers]
    assert "postgres stopped" in run.output()
    assert "redis stopped" in run.output()


def test_a_crashing_program_is_restarted_with_growing_delays(tmp_path: Path) -> None:
    stream = io.StringIO()
    output = Output(stream)
    runner = Runner(host="127.0.0.1", port=free_port(), var=tmp_path, output=output)
    crasher = Program("crasher", [sys.executable, "-c", "print('up'); raise SystemExit(3)"])
    runner.children = [Child(crasher, dict(os.environ), output)]
    runner.children[0].start()
    supervisor = threading.Thread(target=runner.supervise)
    supervisor.start()
    time.sleep(5)
    runner.stopping.set()
    supervisor.join()
    runner.stop_children()

    log = stream.getvalue()
    assert "crasher | up" in log
    for delay in (1, 2, 4):
        assert f"crasher exited with code 3; restarting in {delay} s" in log


def test_the_demo_s_e_mail_links_point_at_its_own_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Servers already given (no embedded PostgreSQL or Redis is started), and an Intuit
    # app configured, so environment() only composes the variables.
    monkeypatch.setenv("DATABASE_URL", "postgres://localhost/none")
    monkeypatch.setenv("REDIS_URL", "redis://localhost:1/0")
    monkeypatch.setenv("QBO_CLIENT_ID", "configured")
    monkeypatch.delenv("SITE_URL", raising=False)
    runner = Runner(host="0.0.0.0", port=8123, var=tmp_path, output=Output(io.StringIO()))
    assert runner.environment()["SITE_URL"] == "http://127.0.0.1:8123"
    monkeypatch.setenv("SITE_URL", "https://unefemme.example")
    assert runner.environment()["SITE_URL"] == "https://unefemme.example"
