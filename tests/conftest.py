"""The shared cast and the real services every test suite stands on.

People: partners A and B, "alice" (partner user of A), "bob" (partner user of B),
"sam" (staff) and "ada" (admin). A signed-in test client for each.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from accounts.models import Partner, User
from accounts.roles import Role
from tests.factories import PartnerFactory, UserFactory

REPO_ROOT = Path(__file__).resolve().parent.parent

# Property-based tests (Hypothesis). `make test` runs the "suite" profile: a fixed seed
# (derandomize) and a bounded number of examples, so a run is repeatable and its time is
# known. `HYPOTHESIS_PROFILE=long` (make fuzz) searches much further with fresh random
# examples. No example database: a run leaves nothing behind in the checkout.
# function_scoped_fixture: our @given tests take the database and the cast as fixtures on
# purpose, and each example checks what it wrote itself (counts before and after).
_HYPOTHESIS_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
hypothesis_settings.register_profile(
    "suite", max_examples=40, derandomize=True, print_blob=True, **_HYPOTHESIS_COMMON
)
hypothesis_settings.register_profile("long", max_examples=1000, **_HYPOTHESIS_COMMON)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    # The cache is the real Redis (rate limits and locks live there): start each test
    # from an empty one so a lockout in one test cannot leak into the next.
    cache.clear()
    yield


@pytest.fixture
def partner_a(db: None) -> Partner:
    return PartnerFactory(name="Bubbles & Brine Distributing", slug="bubbles-brine")


@pytest.fixture
def partner_b(db: None) -> Partner:
    return PartnerFactory(name="Côte Ouest Wine Co.", slug="cote-ouest")


@pytest.fixture
def alice(partner_a: Partner) -> User:
    return UserFactory(email="alice@bubbles.test", role=Role.PARTNER, partner=partner_a)


@pytest.fixture
def bob(partner_b: Partner) -> User:
    return UserFactory(email="bob@cote-ouest.test", role=Role.PARTNER, partner=partner_b)


@pytest.fixture
def sam(db: None) -> User:
    return UserFactory(email="sam@unefemme.test", role=Role.STAFF)


@pytest.fixture
def ada(db: None) -> User:
    return UserFactory(email="ada@unefemme.test", role=Role.ADMIN)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@contextmanager
def rolled_back(client: Client) -> Iterator[None]:
    """For one example of a property test: whatever it writes is undone, and no message an
    earlier example left in the client's cookie is read back, so each example starts from
    the same state."""
    client.cookies.pop("messages", None)
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def stop_process_group(process: subprocess.Popen[bytes], *, grace: float = 20) -> None:
    """SIGTERM to a process started with ``start_new_session=True`` and its children, and
    SIGKILL if they are not gone within ``grace`` seconds."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def cast(alice: User, bob: User, sam: User, ada: User) -> dict[str, User]:
    return {"alice": alice, "bob": bob, "sam": sam, "ada": ada}


def _worker_env(database_name: str) -> dict[str, str]:
    """The environment of a real worker process pointed at this run's test database."""
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "unefemme.settings_test"
    env["DATABASE_URL"] = (
        f"postgresql://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/"
        f"{database_name}"
    )
    return env


ARTIFACTS = REPO_ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def celery_worker_process(
    django_db_setup: Any, django_db_blocker: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery worker` process on the embedded Redis and the test database.

    Module-scoped: every worker of the run consumes the same queue, so a worker left
    running after its tests would take tasks meant for another package's worker (the sync
    tests point theirs at their own qbo_sandbox) and fail them. Its log goes to
    test-artifacts/ so a CI failure can be read afterwards.
    """
    from unefemme.celery import app

    env = _worker_env(settings.DATABASES["default"]["NAME"])
    hostname = f"pytest-{os.getpid()}@{socket.gethostname()}"
    ARTIFACTS.mkdir(exist_ok=True)
    # One log per worker started (one per module that asks for one).
    log_path = ARTIFACTS / f"celery-worker-{os.getpid()}-{uuid.uuid4().hex[:6]}.log"
    command = [sys.executable, "-m", "celery", "-A", "unefemme", "worker", "--loglevel", "INFO",
               "--concurrency", "1", "--hostname", hostname, "--without-gossip",
               "--without-mingle"]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            _wait_for_worker(app, process, hostname, log_path)
            yield process
        finally:
            stop_process_group(process)


def _wait_for_worker(
    app: Any, process: subprocess.Popen[bytes], hostname: str, log_path: Path
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited early; see {log_path}")
        if app.control.ping(destination=[hostname], timeout=0.5):
            return
    raise RuntimeError(f"celery worker did not answer a ping within 60 s; see {log_path}")
