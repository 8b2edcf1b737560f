"""A whole unefemme on servers of its own, for the runs that prove it under faults, storms
and load (bench/convergence.py, bench/webhook_storm.py, bench/load.py, and their short
versions in tests/system/).

Every part is a real, separate process that a run can kill -9 or restart: PostgreSQL and
Redis (embedded, in the run's own directory, so restarting them touches nothing else),
qbo_sandbox (webhooks signed and sent to this stack's web), gunicorn, Celery workers and
beat. ``Stack.start`` also points the calling process's Django at the same database and
Redis, so the run sets up partners and reads the mirror with the ORM.

    with Stack(Path(tmp), sandbox_args=["--fault-seed", "7"]) as stack:
        connection, _ = connect_demo_company(stack.sandbox)
        stack.kill_worker(); stack.start_worker()
        stack.restart_redis(); stack.restart_postgres()
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devtools.embedded import EmbeddedServer
    from qbo_sandbox.testing import SandboxProcess

BENCH = Path(__file__).resolve().parent
REPO_ROOT = BENCH.parent
for _path in (str(REPO_ROOT), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from _harness import CLIENT_ID, CLIENT_SECRET  # noqa: E402

SETTINGS = "stack_settings"  # bench/stack_settings.py
VERIFIER = "stack-webhook-verifier-token"
WEBHOOK_PATH = "/sync/qbo/webhooks/"


@dataclass
class Program:
    """One long-running process of the stack, in a session of its own (so a kill reaches
    its children too: a Celery worker's pool, gunicorn's workers), logging to a file."""

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self, env: dict[str, str]) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in wait_gone
        self.process = subprocess.Popen(
            self.argv, cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """kill -9 the process and everything it started."""
        self._signal(signal.SIGKILL)
        self.wait_gone(10)

    def stop(self, grace: float = 15) -> None:
        self._signal(signal.SIGTERM)
        if not self.wait_gone(grace):
            self.kill()

    def _signal(self, signum: int) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)

    def wait_gone(self, timeout: float) -> bool:
        if self.process is None:
            return True
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        if self._log is not None:
            self._log.close()
            self._log = None
        return True

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


class Stack:
    """PostgreSQL, Redis, qbo_sandbox, web, workers and beat, started in that order."""

    def __init__(
        self,
        workdir: Path,
        *,
        sandbox_args: Sequence[str] = (),
        web_workers: int = 2,
        web_threads: int = 4,
        worker_concurrency: int = 2,
        beat: bool = True,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir.resolve()
        self.logs = self.workdir / "logs"
        self.sandbox_args = list(sandbox_args)
        self.web_workers = web_workers
        self.web_threads = web_threads
        self.worker_concurrency = worker_concurrency
        self.with_beat = beat
        self.extra_environment = environment or {}
        self.postgres: EmbeddedServer | None = None
        self.redis: EmbeddedServer | None = None
        self.sandbox: SandboxProcess | None = None
        self.env: dict[str, str] = {}
        self.web_port = 0
        self.web: Program | None = None
        self.workers: list[Program] = []
        self.beat: Program | None = None
        # Workers that exited without being told to, each restarted by ``_supervise``
        # as production's process manager (or `make run`) would.
        self.worker_exits: list[str] = []
        self.others: list[Program] = []  # started for a run (the activity generator)
        self._workers_lock = threading.RLock()
        self._stopping = threading.Event()

    # ------------------------------------------------------------ start and stop

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def __enter__(self) -> Stack:
        # A run stopped with SIGTERM (a test's timeout) still stops every server it started:
        # Python's default for SIGTERM ends the process without running ``__exit__``.
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        ):
            signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        from devtools.embedded import free_port, start_postgres, start_redis
        from qbo_sandbox.testing import start_sandbox

        self.logs.mkdir(parents=True, exist_ok=True)
        self.postgres = start_postgres(self.workdir / "postgres")
        self.redis = start_redis(self.workdir / "redis")
        self.web_port = free_port()
        self.sandbox = start_sandbox(
            "--seed", "empty", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
            "--webhook-url", self.base_url + WEBHOOK_PATH, "--webhook-verifier", VERIFIER,
            *self.sandbox_args,
        )  # fmt: skip
        self.env = self._environment()
        # This process too: the run connects companies and reads the mirror with the ORM.
        os.environ.update(self.env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self.web = Program("web", self._gunicorn(), self.logs / "web.log")
        self.web.start(self.env)
        self.start_worker()
        if self.with_beat:
            self.beat = Program("beat", self._beat(), self.logs / "beat.log")
            self.beat.start(self.env)
        self._wait_for_web()
        threading.Thread(target=self._supervise, name="supervise", daemon=True).start()

    def _supervise(self) -> None:
        """Restart the worker when none is alive, as a process manager does: a Celery
        worker can exit on its own (kombu's Redis transport raises an "unrecoverable"
        AttributeError when Redis goes away while the worker holds a task's message)."""
        while not self._stopping.wait(1.0):
            with self._workers_lock:
                if self._stopping.is_set() or any(w.alive for w in self.workers):
                    continue
                last = self.workers[-1] if self.workers else None
                if last is not None and last.process is not None:
                    reason = last.tail(200)
                    unrecoverable = [x for x in reason.splitlines() if "Unrecoverable" in x]
                    self.worker_exits.append(
                        f"{last.name} exited ({last.process.returncode}): "
                        + (unrecoverable[-1].strip() if unrecoverable else "see its log")
                    )
                try:
                    self.start_worker()
                except Exception as exc:  # noqa: BLE001 - try again next second
                    self.worker_exits.append(f"a restart failed: {exc}")

    @contextmanager
    def supervision_paused(self) -> Iterator[None]:
        """No automatic worker restart inside the block (a run that stops the worker on
        purpose and starts one itself)."""
        with self._workers_lock:
            yield

    def _environment(self) -> dict[str, str]:
        assert self.postgres is not None and self.redis is not None and self.sandbox is not None
        env = dict(os.environ)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": SETTINGS,
                "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(BENCH)]),
                "PYTHONUNBUFFERED": "1",
                "DATABASE_URL": self.postgres.url,
                "REDIS_URL": self.redis.url,
                "QBO_ENVIRONMENT": self.sandbox.discovery_url,
                "QBO_API_URL": self.sandbox.api_url,
                "QBO_CLIENT_ID": CLIENT_ID,
                "QBO_CLIENT_SECRET": CLIENT_SECRET,
                "QBO_WEBHOOK_VERIFIER_TOKEN": VERIFIER,
                "OAUTHLIB_INSECURE_TRANSPORT": "1",
                "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
                "REQUIRE_STAFF_MFA": "false",
                "LOG_LEVEL": "INFO",
            }
        )
        env.update(self.extra_environment)
        return env

    def _gunicorn(self) -> list[str]:
        return [
            sys.executable, "-m", "gunicorn", "unefemme.wsgi",
            "--bind", f"127.0.0.1:{self.web_port}",
            "--workers", str(self.web_workers), "--threads", str(self.web_threads),
            "--worker-class", "gthread", "--timeout", "60", "--graceful-timeout", "5",
            # Each stack's own: gunicorn's default control socket is one path per user.
            "--no-control-socket",
        ]  # fmt: skip

    def _beat(self) -> list[str]:
        schedule = self.workdir / "celerybeat-schedule"
        return [sys.executable, "-m", "celery", "-A", "unefemme", "beat", "--loglevel", "INFO",
                "--schedule", str(schedule)]  # fmt: skip

    def stop(self) -> None:
        """Everything that runs, whatever state it is in: programs first, then servers."""
        self._stopping.set()
        for program in [*self.others, *self.workers, *(p for p in (self.beat, self.web) if p)]:
            if program.alive:
                program.stop()
        if self.sandbox is not None:
            self.sandbox.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not be set up yet
            pass
        for server in (self.redis, self.postgres):
            if server is not None:
                server.stop()

    # ------------------------------------------------------------ workers

    def start_worker(self) -> Program:
        """A new Celery worker (prefork), waited for until it answers a ping."""
        with self._workers_lock:
            return self._start_worker()

    def _start_worker(self) -> Program:
        hostname = f"stack-{len(self.workers) + 1}-{os.urandom(2).hex()}@{socket.gethostname()}"
        argv = [sys.executable, "-m", "celery", "-A", "unefemme", "worker", "--loglevel", "INFO",
                "--concurrency", str(self.worker_concurrency), "--hostname", hostname,
                "--without-gossip", "--without-mingle"]  # fmt: skip
        program = Program(hostname.split("@")[0], argv, self.logs / f"{hostname.split('@')[0]}.log")
        program.start(self.env)
        self.workers.append(program)
        self._wait_for_worker(program, hostname)
        return program

    def kill_worker(self) -> int:
        """kill -9 every live worker (main process and pool); returns how many. Hold
        ``supervision_paused`` around it, or the supervisor starts the next one."""
        killed = 0
        with self._workers_lock:
            for program in self.workers:
                if program.alive:
                    program.kill()
                    killed += 1
        return killed

    def restart_worker(self) -> tuple[int, float]:
        """kill -9 the worker and start a new one: (how many were killed, seconds until the
        new one answered)."""
        with self._workers_lock:
            killed = self.kill_worker()
            started = time.monotonic()
            self.start_worker()
            return killed, time.monotonic() - started

    def _wait_for_worker(self, program: Program, hostname: str) -> None:
        from unefemme.celery import app

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if not program.alive:
                raise RuntimeError(f"worker {hostname} exited:\n{program.tail()}")
            try:
                if app.control.ping(destination=[hostname], timeout=0.5):
                    return
            except Exception:  # noqa: BLE001 - Redis restarting: ask again
                time.sleep(0.5)
        raise RuntimeError(f"worker {hostname} did not answer a ping in 90 s:\n{program.tail()}")

    def _wait_for_web(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.web is not None
            if not self.web.alive:
                raise RuntimeError(f"gunicorn exited:\n{self.web.tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/accounts/login/", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("the web did not answer in 60 s")

    # ------------------------------------------------------------ servers

    def restart_redis(self) -> float:
        """Stop Redis (SIGTERM: it writes its AOF out first) and start it again on the same
        port and data; returns the seconds it was down. Queued tasks survive in the AOF."""
        from devtools.embedded import start_redis

        assert self.redis is not None
        started = time.monotonic()
        port = self.redis.port
        self.redis.stop()
        self.redis = start_redis(self.workdir / "redis", port=port)
        return time.monotonic() - started

    def restart_postgres(self) -> float:
        """Crash PostgreSQL and start it again on the same port (``crash_postgres``, then
        ``start_postgres``); returns the seconds it was down."""
        started = time.monotonic()
        self.crash_postgres()
        self.start_postgres()
        return time.monotonic() - started

    def crash_postgres(self) -> None:
        """Immediate shutdown: no checkpoint, every connection cut, as a power loss would
        leave it; on its next start it recovers from its WAL."""
        import psutil
        from django.db import connections

        assert self.postgres is not None
        try:
            postmaster = psutil.Process(self.postgres.pid)
            postmaster.send_signal(signal.SIGQUIT)
            postmaster.wait(30)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            postmaster.kill()
        connections.close_all()

    def start_postgres(self) -> None:
        """Start the crashed PostgreSQL again, on its port and data."""
        from devtools.embedded import start_postgres

        assert self.postgres is not None
        self.postgres = start_postgres(self.workdir / "postgres", port=self.postgres.port)

    # ------------------------------------------------------------ helpers for runs

    def activity(self, realms: Sequence[str], *, per_minute: float, seed: int) -> Program:
        """qbo_sandbox's activity generator changing these companies' books through the
        public API (riding out the faults the sandbox injects, as any app must)."""
        assert self.sandbox is not None
        argv = [sys.executable, "-m", "qbo_sandbox", "activity", "--base-url",
                self.sandbox.base_url, "--per-minute", str(per_minute), "--seed", str(seed),
                "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET]  # fmt: skip
        for realm in realms:
            argv += ["--realm", realm]
        program = Program("activity", argv, self.logs / "activity.log")
        program.start(self.env)
        self.others.append(program)
        return program

    def sandbox_config(self, **changes: Any) -> dict[str, Any]:
        assert self.sandbox is not None
        found: dict[str, Any] = self.sandbox.control("POST", "/_sandbox/config", changes)
        return found
