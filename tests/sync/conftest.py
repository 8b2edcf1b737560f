"""Fixtures for the sync engine's tests: a qbo_sandbox over HTTP and real Celery workers.

One sandbox serves the package (``sandbox_server``); every test makes its own company with
``sandbox_server.new_company(...)`` so tests never see each other's books or tokens. While
this package runs, Django's settings (and the environment that workers inherit) point
the QuickBooks client at it.

Workers: ``celery_worker_process`` is overridden here by one whose environment reaches the
sandbox. It is package-scoped, so it stops before other packages' tests run (the health
tests freeze "the" worker and expect no other to answer). Tests that kill or flood a worker
start their own on a queue of their own (``start_worker``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.test.utils import override_settings

from sync.clients import qbo
from tests.conftest import ARTIFACTS, REPO_ROOT, _wait_for_worker, _worker_env

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

WORKER_SETTINGS = "tests.sync.worker_settings"


@pytest.fixture(scope="package")
def sandbox_server() -> Iterator[SandboxProcess]:
    from qbo_sandbox.testing import start_sandbox

    # Strict rotation: every refresh hands out a new refresh token and kills the old one.
    # Intuit only does that after a token's first 24 hours (docs/qbo-api.md §10), which no
    # test lives through; strict mode makes every refresh in this package prove that
    # unefemme stores the token it is given.
    process = start_sandbox(
        "--seed",
        "empty",
        "--rotate-every-refresh",
        "--client-id",
        settings.QBO_CLIENT_ID,
        "--client-secret",
        settings.QBO_CLIENT_SECRET,
    )
    yield process
    process.stop()


@pytest.fixture
def strict_rotation(sandbox_server: SandboxProcess) -> Iterator[SandboxProcess]:
    """Strict rotation for this test whatever mode ``sandbox_server`` was started in, for a
    test whose point only holds when the refresh token changes on every refresh."""
    before = sandbox_server.control("GET", "/_sandbox/config")["rotate_every_refresh"]
    sandbox_server.control("POST", "/_sandbox/config", {"rotate_every_refresh": True})
    yield sandbox_server
    sandbox_server.control("POST", "/_sandbox/config", {"rotate_every_refresh": before})


def sandbox_settings(process: SandboxProcess) -> dict[str, str]:
    return {
        "QBO_ENVIRONMENT": process.discovery_url,
        "QBO_API_URL": process.api_url,
        "QBO_CLIENT_ID": process.client_id,
        "QBO_CLIENT_SECRET": process.client_secret,
    }


@contextmanager
def pointed_at(process: SandboxProcess) -> Iterator[SandboxProcess]:
    """The QBO client pointed at ``process`` inside the block, as this package's autouse
    fixture points the sync tests: for a test elsewhere that talks to a sandbox."""
    with override_settings(**sandbox_settings(process)):
        qbo.forget_discovery()
        yield process
    qbo.forget_discovery()


@pytest.fixture(scope="package", autouse=True)
def _sync_points_at_the_sandbox(sandbox_server: SandboxProcess) -> Iterator[None]:
    values = sandbox_settings(sandbox_server)
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)  # for the workers started below
    override = override_settings(**values)
    override.enable()
    qbo.forget_discovery()
    yield
    override.disable()
    qbo.forget_discovery()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    hostname: str
    queue: str
    log_path: Any

    def kill(self) -> None:
        """kill -9 the whole worker: the main process and every pool child."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_worker(
    *, queue: str = "celery", concurrency: int = 2, pool: str = "prefork", name: str = "sync"
) -> Worker:
    """A real ``celery worker`` on this run's test database, reaching the sandbox."""
    from unefemme.celery import app

    env = _worker_env(settings.DATABASES["default"]["NAME"])
    env["DJANGO_SETTINGS_MODULE"] = WORKER_SETTINGS
    hostname = f"{name}-{os.getpid()}-{os.urandom(3).hex()}@{socket.gethostname()}"
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"celery-{hostname.split('@')[0]}.log"
    command = [sys.executable, "-m", "celery", "-A", "unefemme", "worker", "--loglevel", "INFO",
               "--concurrency", str(concurrency), "--pool", pool, "--hostname", hostname,
               "--queues", queue, "--without-gossip", "--without-mingle"]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    worker = Worker(process=process, hostname=hostname, queue=queue, log_path=log_path)
    try:
        _wait_for_worker(app, process, hostname, log_path)
    except BaseException:
        worker.stop()
        raise
    return worker


@pytest.fixture(scope="package")
def celery_worker_process(
    django_db_setup: Any, django_db_blocker: Any, _sync_points_at_the_sandbox: None
) -> Iterator[subprocess.Popen[bytes]]:
    worker = start_worker(concurrency=4)
    yield worker.process
    worker.stop()


@pytest.fixture(scope="package")
def fast_sandbox() -> Iterator[SandboxProcess]:
    """A second sandbox whose Intuit minute lasts one real second (``--time-scale 60``).

    Its throttle windows, Retry-After and token lifetimes shrink with it, so 429s and
    their waits take seconds. Tests change its limits and faults with /_sandbox/config and
    put them back afterwards (``fast_config``).
    """
    from qbo_sandbox.testing import start_sandbox

    process = start_sandbox(
        "--seed",
        "empty",
        "--time-scale",
        "60",
        "--client-id",
        settings.QBO_CLIENT_ID,
        "--client-secret",
        settings.QBO_CLIENT_SECRET,
    )
    yield process
    process.stop()


@pytest.fixture
def on_fast_sandbox(fast_sandbox: SandboxProcess, settings: Any) -> Iterator[SandboxProcess]:
    """Point this test's sync client at ``fast_sandbox``; restore its config afterwards."""
    for name, value in sandbox_settings(fast_sandbox).items():
        setattr(settings, name, value)
    defaults = fast_sandbox.control("GET", "/_sandbox/config")
    yield fast_sandbox
    fast_sandbox.control("POST", "/_sandbox/config", defaults)


@dataclass
class SilentServer:
    """A TCP server that accepts connections and never answers a byte."""

    url: str
    connections: list[socket.socket]


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # kept open, never read, never written

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    yield SilentServer(url=f"http://127.0.0.1:{port}", connections=held)
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    listener.close()
