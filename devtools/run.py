"""Run the whole product locally in the foreground: `python -m devtools.run` (what `make run` does).

Starts PostgreSQL and Redis under var/ unless DATABASE_URL / REDIS_URL point elsewhere,
migrates, creates the demo accounts, then runs web, worker and beat with their output
interleaved, restarts any that die (the servers too, if it started them), and on Ctrl-C or
SIGTERM stops everything it started.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

import psutil

from devtools.embedded import (
    EmbeddedServer,
    EmbeddedServerError,
    free_port,
    start_postgres,
    start_redis,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
LOGIN_PATH = "/accounts/login/"
# How long children get to exit after SIGTERM before they are killed.
STOP_GRACE = 10.0
MAX_RESTART_DELAY = 30.0
# A program that stayed up this long is healthy again: its next crash restarts it after 1 s.
STABLE_AFTER = 60.0
# How long a dead server's process may stay a zombie before we start it again regardless.
REAP_WAIT = 5.0
# The local demo: settings use development secrets and skip staff two-factor, and the
# sign-in page lists the demo logins. Anything already set in the environment wins.
DEMO_ENVIRONMENT = {"DEBUG": "true", "REQUIRE_STAFF_MFA": "false", "UNEFEMME_DEMO": "true"}
_COLOURS = ["36", "35", "33", "32", "34", "31"]


@dataclass(frozen=True)
class Program:
    name: str
    argv: list[str]


@dataclass(frozen=True)
class DemoQuickBooks:
    """qbo_sandbox standing in for Intuit when no Intuit credentials are configured."""

    port: int
    state: Path
    redirect_uri: str
    webhook_url: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """What the app needs to talk to it, exactly as it would to Intuit."""
        return {
            "QBO_ENVIRONMENT": f"{self.base_url}/.well-known/openid_configuration",
            "QBO_API_URL": f"{self.base_url}/v3",
            "QBO_CLIENT_ID": DEMO_CLIENT_ID,
            "QBO_CLIENT_SECRET": DEMO_CLIENT_SECRET,
            "QBO_REDIRECT_URI": self.redirect_uri,
            "QBO_WEBHOOK_VERIFIER_TOKEN": DEMO_VERIFIER_TOKEN,
            # The clients refuse plain http unless told this is deliberate.
            "OAUTHLIB_INSECURE_TRANSPORT": "1",
        }

    def programs(self, python: str) -> list[Program]:
        sandbox = [python, "-m", "qbo_sandbox"]
        return [
            Program(
                "qbo",
                [
                    *sandbox,
                    "serve",
                    "--port",
                    str(self.port),
                    "--state",
                    str(self.state),
                    "--seed",
                    "demo",
                    "--client-id",
                    DEMO_CLIENT_ID,
                    "--client-secret",
                    DEMO_CLIENT_SECRET,
                    "--redirect-uri",
                    self.redirect_uri,
                    "--webhook-url",
                    self.webhook_url,
                    "--webhook-verifier",
                    DEMO_VERIFIER_TOKEN,
                ],
            ),  # fmt: skip
            # A slow, steady stream of new invoices, payments and stock receipts, so the demo
            # lives and webhooks flow. It is a different app from unefemme, as a partner's
            # own bookkeeping would be.
            Program(
                "activity",
                [*sandbox, "activity", "--base-url", self.base_url, "--per-minute", "6"],
            ),
        ]


# The demo app registered with qbo_sandbox. Public values: they only ever open the local
# stand-in, and settings accept them only with DEBUG on.
DEMO_CLIENT_ID = "sandbox-client-id"
DEMO_CLIENT_SECRET = "sandbox-client-secret"
DEMO_VERIFIER_TOKEN = "unefemme-development-verifier-token"
DEMO_QBO_PORT = 8700


def programs(*, host: str, port: int, var: Path, qbo: DemoQuickBooks | None) -> list[Program]:
    """The long-running programs, in start order."""
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "unefemme"]
    # The QBO stand-in goes first, so that the app finds its QuickBooks already answering.
    return [
        *(qbo.programs(python) if qbo else []),
        Program("web", [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"]),
        Program(
            "worker",
            [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"]
            + ["--hostname", "worker@%h"],
        ),
        Program(
            "beat",
            [*celery, "beat", "--loglevel", "INFO", "--schedule", str(var / "celerybeat-schedule")],
        ),
    ]


def demo_quickbooks(
    env: dict[str, str], *, host: str, port: int, var: Path
) -> DemoQuickBooks | None:
    """qbo_sandbox when no Intuit app is configured (QBO_CLIENT_ID unset), else None."""
    if env.get("QBO_CLIENT_ID"):
        return None
    return DemoQuickBooks(
        port=DEMO_QBO_PORT if _port_is_free(DEMO_QBO_PORT) else free_port(),
        state=var / "qbo_sandbox.sqlite3",
        redirect_uri=f"http://{host}:{port}/sync/qbo/callback/",
        webhook_url=f"http://{host}:{port}/sync/qbo/webhooks/",
    )


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


class Output:
    """Writes whole lines from several threads, each prefixed with its program's label."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._colour = stream.isatty()
        self._colours: dict[str, str] = {}

    def line(self, label: str, text: str) -> None:
        with self._lock:
            prefix = f"{label:<8}| "
            if self._colour:
                colour = _COLOURS[len(self._colours) % len(_COLOURS)]
                prefix = f"\033[{self._colours.setdefault(label, colour)}m{prefix}\033[0m"
            self._write([prefix + text])

    def block(self, lines: list[str]) -> None:
        with self._lock:
            self._write(lines)

    def _write(self, lines: list[str]) -> None:
        self._stream.write("".join(f"{line}\n" for line in lines))
        self._stream.flush()


class Restarts:
    """When something that died is started again: after 1 s, then after twice the last
    delay up to MAX_RESTART_DELAY, so that one that cannot start does not spin; and after
    1 s again once it had stayed up STABLE_AFTER."""

    def __init__(self) -> None:
        self.started_at = 0.0
        self.delay = 1.0
        self.due_at: float | None = None

    def started(self) -> None:
        self.started_at = time.monotonic()
        self.due_at = None

    def schedule(self, now: float) -> float:
        """Set when the next start is due; returns how long until then."""
        if now - self.started_at >= STABLE_AFTER:
            self.delay = 1.0
        delay = self.delay
        self.due_at = now + delay
        self.delay = min(delay * 2, MAX_RESTART_DELAY)
        return delay


class Child:
    """One program, run in its own session so that signals reach it and its children only."""

    def __init__(self, program: Program, env: dict[str, str], output: Output) -> None:
        self.name = program.name
        self.program = program
        self.env = env
        self.output = output
        self.process: subprocess.Popen[str] | None = None
        self.restarts = Restarts()
        self._reader: threading.Thread | None = None

    def start(self, on_line: Callable[[str], None] | None = None) -> None:
        self.process = subprocess.Popen(
            self.program.argv,
            cwd=REPO_ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self.restarts.started()
        self._reader = threading.Thread(
            target=self._pump, args=(self.process, on_line), name=f"{self.name}-output", daemon=True
        )
        self._reader.start()

    def _pump(self, process: subprocess.Popen[str], on_line: Callable[[str], None] | None) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            text = line.rstrip("\n")
            self.output.line(self.name, text)
            if on_line is not None:
                on_line(text)

    def signal_group(self, signum: int) -> None:
        if self.process is None:
            return
        # The session id is the leader's pid; signalling the group also reaches what the
        # program forked (Celery's pool processes), even after the leader itself died.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def alive(self) -> bool:
        """Whether any process of this child's group still runs (zombies don't count)."""
        if self.process is None:
            return False
        self.process.poll()
        for proc in psutil.process_iter(["status"]):
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            try:
                if os.getpgid(proc.pid) == self.process.pid:
                    return True
            except ProcessLookupError:
                continue
        return False

    def finish_output(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=2)


class WatchedServer:
    """An embedded server this runner started, started again if its process goes away.

    It comes back on the same port and data directory, so the DATABASE_URL and REDIS_URL
    every child was given stay right and no child has to be restarted: each reconnects on
    its own (Django checks a connection before reusing it, Celery retries the broker).
    """

    def __init__(self, server: EmbeddedServer) -> None:
        self.server = server
        self.restarts = Restarts()
        self.restarts.started()
        self._process = _server_process(server.pid)

    def alive(self) -> bool:
        # The servers are daemons, not our children: a dead one may linger as a zombie
        # until init reaps it. psutil compares creation times, so a recycled pid is no
        # false "alive".
        try:
            return bool(
                self._process is not None
                and self._process.is_running()
                and self._process.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.NoSuchProcess:
            return False

    def restart(self) -> None:
        """Start the server again; raises EmbeddedServerError if it does not come up."""
        # PostgreSQL refuses to start while the old postmaster's pid exists, even as a
        # zombie that init has yet to reap (usually within a second or two): give init
        # that time rather than fail the first attempt.
        deadline = time.monotonic() + REAP_WAIT
        while self._process is not None and time.monotonic() < deadline:
            try:
                if not self._process.is_running():
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.1)
        # A failed attempt counts as a start, so that repeated failures back off.
        self.restarts.started()
        start = start_postgres if self.server.name == "postgres" else start_redis
        self.server = start(self.server.datadir, port=self.server.port)
        self._process = _server_process(self.server.pid)


def _server_process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


class StepFailed(Exception):
    pass


class StopRequested(Exception):
    pass


class Runner:
    def __init__(self, *, host: str, port: int, var: Path, output: Output) -> None:
        self.host = host
        self.port = port
        self.var = var
        self.output = output
        self.stopping = threading.Event()
        self.servers: list[WatchedServer] = []
        self.children: list[Child] = []
        self.logins: list[str] = []
        self.stop_signal = ""
        self.qbo: DemoQuickBooks | None = None

    def log(self, text: str) -> None:
        for line in text.splitlines() or [""]:
            self.output.line("run", line)

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        # Only note the request: the main thread may be holding the output lock right now.
        # Repeated signals (a second Ctrl-C, or one forwarded by a wrapper) change nothing;
        # shutdown already kills whatever hasn't exited within STOP_GRACE.
        if not self.stopping.is_set():
            self.stop_signal = signal.Signals(signum).name
            self.stopping.set()

    def run(self) -> int:
        code = 0
        try:
            env = self.environment()
            self.step("migrate", ["manage.py", "migrate", "--noinput"], env)
            self.step("demo", ["manage.py", "demo_setup"], env, on_line=self._collect_login)
            self.children = [
                Child(program, env, self.output)
                for program in programs(host=self.host, port=self.port, var=self.var, qbo=self.qbo)
            ]
            for child in self.children:
                child.start()
            threading.Thread(target=self.announce, name="banner", daemon=True).start()
            self.supervise()
        except (EmbeddedServerError, StepFailed) as exc:
            self.log(str(exc))
            code = 1
        except StopRequested:
            pass
        finally:
            if self.stop_signal:
                self.log(f"{self.stop_signal} received; stopping")
            self.stop_children()
            self.stop_servers()
        return code

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for name, value in DEMO_ENVIRONMENT.items():
            env.setdefault(name, value)
        # Line-buffered output, so that lines from different programs interleave as they
        # happen instead of arriving in blocks.
        env["PYTHONUNBUFFERED"] = "1"
        # Links in the e-mails the demo sends (invitations, notifications) point at this
        # server, whatever port it was given.
        browsable = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        env.setdefault("SITE_URL", f"http://{browsable}:{self.port}")
        self.var.mkdir(parents=True, exist_ok=True)
        if not env.get("DATABASE_URL"):
            server = start_postgres(self.var / "postgres")
            self.servers.append(WatchedServer(server))
            env["DATABASE_URL"] = server.url
            self.log(f"PostgreSQL is running at {server.url} (data in {server.datadir})")
        if self.stopping.is_set():
            raise StopRequested
        if not env.get("REDIS_URL"):
            server = start_redis(self.var / "redis")
            self.servers.append(WatchedServer(server))
            env["REDIS_URL"] = server.url
            self.log(f"Redis is running at {server.url} (data in {server.datadir})")
        if self.stopping.is_set():
            raise StopRequested
        self.qbo = demo_quickbooks(env, host=self.host, port=self.port, var=self.var)
        if self.qbo:
            env.update(self.qbo.environment())
            self.log(f"No Intuit app configured: QuickBooks is qbo_sandbox at {self.qbo.base_url}/")
        return env

    def step(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        """Run a one-off command to completion, or until a stop is requested."""
        child = Child(Program(name, [sys.executable, *args]), env, self.output)
        child.start(on_line)
        assert child.process is not None
        while child.process.poll() is None:
            if self.stopping.wait(0.1):
                child.signal_group(signal.SIGTERM)
                child.process.wait()
                child.finish_output()
                raise StopRequested
        child.finish_output()
        if child.process.returncode != 0:
            raise StepFailed(
                f"`{' '.join(['python', *args])}` failed with exit code {child.process.returncode}"
            )

    def _collect_login(self, line: str) -> None:
        # demo_setup prints `login <role> <email> <password>`; it stays the one source of
        # truth for the demo accounts.
        parts = line.split()
        if len(parts) == 4 and parts[0] == "login":
            self.logins.append(f"  {parts[1]:<10} {parts[2]:<32} {parts[3]}")

    def announce(self) -> None:
        url = f"http://{self.host}:{self.port}/"
        while not self.stopping.wait(0.5):
            if login_page_answers(self.host, self.port):
                rule = "=" * 72
                self.output.block(
                    [
                        "",
                        rule,
                        f"  unefemme is running at {url}",
                        "",
                        "  Demo logins (role, e-mail, password):",
                        *self.logins,
                        *(
                            ["", f"  QuickBooks (qbo_sandbox): {self.qbo.base_url}/"]
                            if self.qbo
                            else []
                        ),
                        "",
                        "  Press Ctrl-C to stop everything.",
                        rule,
                        "",
                    ]
                )
                return

    def supervise(self) -> None:
        while not self.stopping.wait(0.2):
            self.supervise_servers(time.monotonic())
            # Again: starting a server may have taken seconds.
            now = time.monotonic()
            for child in self.children:
                assert child.process is not None
                if child.restarts.due_at is not None:
                    if now >= child.restarts.due_at:
                        self.log(f"restarting {child.name}")
                        child.start()
                    continue
                code = child.process.poll()
                if code is None:
                    continue
                # Whatever the program left behind (a crashed worker's pool processes) goes
                # before a fresh copy starts.
                child.signal_group(signal.SIGKILL)
                child.finish_output()
                delay = child.restarts.schedule(now)
                self.log(f"{child.name} {describe_exit(code)}; restarting in {delay:g} s")

    def supervise_servers(self, now: float) -> None:
        # Inline, not in a thread, to keep one loop: a start takes a second or two
        # (PostgreSQL replays its WAL after a crash), and restarting a child can wait that
        # long; what the children need is down until then anyway.
        for watched in self.servers:
            server = watched.server
            if watched.restarts.due_at is not None:
                if now < watched.restarts.due_at:
                    continue
                self.log(f"restarting {server.name} on port {server.port}")
                try:
                    watched.restart()
                except EmbeddedServerError as exc:
                    # E.g. another program took the port meanwhile, or init has not yet
                    # reaped the old PostgreSQL: try again, backing off.
                    delay = watched.restarts.schedule(time.monotonic())
                    self.log(f"{exc}\n{server.name} did not start; trying again in {delay:g} s")
                    continue
                self.log(
                    f"{server.name} is running again at {watched.server.url} "
                    f"(pid {watched.server.pid})"
                )
                continue
            if watched.alive():
                continue
            delay = watched.restarts.schedule(now)
            self.log(
                f"{server.name} stopped (pid {server.pid} is gone); "
                f"restarting it on port {server.port} in {delay:g} s"
            )

    def stop_children(self) -> None:
        for child in self.children:
            child.signal_group(signal.SIGTERM)
            # A stopped process (SIGSTOP, Ctrl-Z) only acts on SIGTERM once continued.
            child.signal_group(signal.SIGCONT)
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline and any(child.alive() for child in self.children):
            time.sleep(0.1)
        for child in self.children:
            if child.alive():
                self.log(f"{child.name} did not stop within {STOP_GRACE:g} s; killing it")
                child.signal_group(signal.SIGKILL)
        for child in self.children:
            if child.process is not None:
                child.process.wait()
            child.finish_output()

    def stop_servers(self) -> None:
        # Stop what runs from var/ even if an earlier run started it: the next run reuses
        # var/ and starts it again.
        for server in reversed([watched.server for watched in self.servers]):
            try:
                server.stop()
            except EmbeddedServerError as exc:
                self.log(str(exc))
                continue
            self.log(f"{server.name} stopped")


def describe_exit(code: int) -> str:
    # Popen reports death by a signal as the negated signal number.
    if code >= 0:
        return f"exited with code {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"


def login_page_answers(host: str, port: int) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", LOGIN_PATH)
        return conn.getresponse().status in (200, 302)
    except OSError:
        return False
    finally:
        conn.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.run", description="Run unefemme locally with everything it needs."
    )
    parser.add_argument(
        "--var",
        type=Path,
        default=Path(os.environ.get("UNEFEMME_VAR", "var")),
        help="directory for the embedded servers' data and beat's schedule "
        "(default: $UNEFEMME_VAR or var; relative paths are taken from the repository root)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address for the web server")
    parser.add_argument("--port", type=int, default=8000, help="port for the web server")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runner = Runner(
        host=args.host,
        port=args.port,
        var=(REPO_ROOT / args.var).resolve(),
        output=Output(sys.stdout),
    )
    signal.signal(signal.SIGINT, runner.request_stop)
    signal.signal(signal.SIGTERM, runner.request_stop)
    return runner.run()


if __name__ == "__main__":
    sys.exit(main())
