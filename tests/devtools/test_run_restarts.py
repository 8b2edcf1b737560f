"""What `make run` survives without anyone touching it: the worker, beat, Redis or PostgreSQL
killed with SIGKILL. The runner restarts what died (the servers on their own port and data
directory); everything else keeps its process and reconnects by itself.

One real `python -m devtools.run` serves the whole module, a start being most of the cost;
each test first waits for it to be healthy again, so each starts from a whole product.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import psutil
import pytest
import redis
from celery import Celery

from devtools import run as run_module
from devtools.embedded import EmbeddedServer, EmbeddedServerError, free_port
from devtools.run import Output, Runner, WatchedServer
from tests.devtools.test_run_command import CHECKS, Run, _get

# A task beat also sends (every five minutes), idempotent, that reads PostgreSQL under an
# advisory lock: its success shows a worker takes tasks and reaches the database.
DB_TASK = "notifications.tasks.notifications_scan"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    run = Run(tmp_path_factory.mktemp("restarts"))
    try:
        run.wait_for("the sign-in page", 180, lambda: _login_status(run) == 200)
        yield run
    finally:
        run.stop()


def _login_status(run: Run) -> int:
    return _get(f"{run.base}/accounts/login/")[0]


def _healthy(run: Run) -> bool:
    status, body = run.health()
    return status == 200 and all(body.get(name) is True for name in CHECKS)


# How each program is told apart among the runner's children.
_WORDS = {"web": ("runserver",), "worker": ("celery", "worker"), "beat": ("celery", "beat")}


def _find(run: Run, name: str) -> psutil.Process | None:
    for child in run.psutil.children():
        try:
            cmdline = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        if all(word in cmdline for word in _WORDS[name]):
            return child
    return None


def _program(run: Run, name: str) -> psutil.Process:
    """The runner's child running `name` (web, worker or beat); fails if there is none."""
    found = _find(run, name)
    if found is None:
        pytest.fail(f"no {name} among the runner's children; output:\n{run.output()[-5000:]}")
    return found


def _pids(run: Run) -> dict[str, int]:
    return {name: _program(run, name).pid for name in ("web", "worker", "beat")}


def _url(run: Run, server: str) -> str:
    found = re.search(rf"{server} is running at (\S+) ", run.output())
    assert found, run.output()[-5000:]
    return found.group(1)


def _server_pid(run: Run, pidfile: str) -> int:
    return int((run.var / pidfile).read_text().split("\n", 1)[0])


def _send(run: Run, name: str, queue: str | None = None) -> str:
    """Enqueue task `name` through the run's own Redis, as the web would; returns its id."""
    app = Celery(broker=_url(run, "Redis"))
    try:
        task_id: str = app.send_task(name, queue=queue).id
        return task_id
    finally:
        app.close()


def _wait_done(run: Run, name: str, task_id: str, timeout: float = 60) -> None:
    line = f"{name}[{task_id}] succeeded"
    run.wait_for(f"{name}[{task_id}] to succeed", timeout, lambda: line in run.output())


def _kill_group(process: psutil.Process) -> None:
    """SIGKILL a program and everything it forked (the runner starts each in its own
    session, so its pid is its group's)."""
    os.killpg(process.pid, signal.SIGKILL)


def _replaced(run: Run, name: str, old: int) -> Callable[[], bool]:
    return lambda: (new := _find(run, name)) is not None and new.pid != old


def _all_live(pids: dict[str, int]) -> None:
    for name, pid in pids.items():
        try:
            alive = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            alive = False
        assert alive, f"{name} (pid {pid}) was restarted; it should have reconnected"


def test_a_killed_worker_is_restarted_and_takes_tasks_again(run: Run) -> None:
    run.wait_for("/healthz to report everything up", 90, lambda: _healthy(run))
    others = {name: pid for name, pid in _pids(run).items() if name != "worker"}
    worker = _program(run, "worker")

    _kill_group(worker)
    run.wait_for("a new worker", 30, _replaced(run, "worker", worker.pid))
    assert "worker was killed by SIGKILL; restarting in" in run.output()
    run.wait_for("/healthz to see the new worker", 90, lambda: _healthy(run))

    task_id = _send(run, DB_TASK)
    _wait_done(run, DB_TASK, task_id)
    assert {name: pid for name, pid in _pids(run).items() if name != "worker"} == others


def test_a_killed_beat_is_restarted_and_ticks_again(run: Run) -> None:
    run.wait_for("/healthz to report everything up", 90, lambda: _healthy(run))
    beat = _program(run, "beat")

    _kill_group(beat)
    run.wait_for("a new beat", 30, _replaced(run, "beat", beat.pid))
    restarted_at = _program(run, "beat").create_time()

    def ticked_since() -> bool:
        tick = run.health()[1].get("beat_last_tick")
        return isinstance(tick, str) and datetime.fromisoformat(tick).timestamp() > restarted_at

    # `tick` runs every minute; the new beat sends it when the last one it recorded is a
    # minute old, so at most a minute after its start.
    run.wait_for("a tick from the new beat", 120, ticked_since)
    after_kill = run.output().split("beat was killed by SIGKILL", 1)[1]
    assert "Sending due task tick (sync.tasks.tick)" in after_kill


def test_a_killed_redis_is_restarted_on_its_port_and_loses_no_task(run: Run) -> None:
    run.wait_for("/healthz to report everything up", 90, lambda: _healthy(run))
    pids = _pids(run)
    url = _url(run, "Redis")
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    old = _server_pid(run, "redis/redis.pid")
    # A task waiting in a queue no worker reads, as one would wait while the worker is busy
    # or down: the AOF must bring it back.
    waiting = _send(run, DB_TASK, queue="restarts-check")
    # With appendfsync everysec a write may wait a second or two behind a slow fsync (a busy
    # disk), and a kill then loses it: that is what everysec promises, so wait it out.
    aof = run.var / "redis" / "appendonly.aof"
    run.wait_for("the task in the AOF", 10, lambda: waiting.encode() in aof.read_bytes())
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        assert client.llen("restarts-check") == 1

        os.kill(old, signal.SIGKILL)
        run.wait_for(
            "the runner to restart Redis",
            30,
            lambda: f"redis is running again at {url} " in run.output(),
        )
        assert f"redis stopped (pid {old} is gone); restarting it on port {port}" in run.output()
        assert _server_pid(run, "redis/redis.pid") != old
        (message,) = client.lrange("restarts-check", 0, -1)
        assert waiting.encode() in message
    finally:
        client.close()

    run.wait_for("/healthz to report everything up again", 60, lambda: _healthy(run))
    task_id = _send(run, DB_TASK)
    _wait_done(run, DB_TASK, task_id)
    _all_live(pids)
    assert _pids(run) == pids


def test_a_killed_postgres_is_restarted_and_every_program_reconnects(run: Run) -> None:
    run.wait_for("/healthz to report everything up", 90, lambda: _healthy(run))
    pids = _pids(run)
    pidfile = run.var / "postgres" / "postmaster.pid"
    old = _server_pid(run, "postgres/postmaster.pid")
    port = int(pidfile.read_text().splitlines()[3])

    # The postmaster only: its backends see it die and exit, as after a crash.
    os.kill(old, signal.SIGKILL)
    run.wait_for(
        "the runner to restart PostgreSQL",
        60,
        lambda: "postgres is running again at " in run.output(),
    )
    assert f"postgres stopped (pid {old} is gone); restarting it on port {port}" in run.output()
    assert int(pidfile.read_text().splitlines()[3]) == port

    run.wait_for("/healthz to report everything up again", 60, lambda: _healthy(run))
    assert _login_status(run) == 200
    # Four tasks for the worker's two pool processes, which keep their connections from
    # before the kill (CONN_MAX_AGE): each must notice its own is dead and open another.
    for task_id in [_send(run, DB_TASK) for _ in range(4)]:
        _wait_done(run, DB_TASK, task_id)
    _all_live(pids)
    assert _pids(run) == pids


def test_a_server_that_will_not_start_again_is_retried_with_growing_delays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(datadir: Path, *, port: int | None = None) -> EmbeddedServer:
        raise EmbeddedServerError("Redis failed to start; the port is taken")

    monkeypatch.setattr(run_module, "start_redis", refuse)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    port = free_port()
    server = EmbeddedServer("redis", f"redis://127.0.0.1:{port}/0", port, tmp_path, gone.pid)
    stream = io.StringIO()
    runner = Runner(host="127.0.0.1", port=free_port(), var=tmp_path, output=Output(stream))
    runner.servers = [WatchedServer(server)]
    supervisor = threading.Thread(target=runner.supervise)
    supervisor.start()
    time.sleep(4.5)
    runner.stopping.set()
    supervisor.join()

    log = stream.getvalue()
    assert f"redis stopped (pid {gone.pid} is gone); restarting it on port {port} in 1 s" in log
    for delay in (2, 4):
        assert f"redis did not start; trying again in {delay} s" in log
