"""What every browser test stands on: real Chromium driving the real app, QuickBooks and Celery.

- **Chromium** is Debian's (``/usr/bin/chromium``; ``make test`` installs it through
  ``devtools.chromium`` when it may, else names it and stops). Playwright's own
  browser download cannot work here (the network reaches only package registries), so
  ``browser_type_launch_args`` points Playwright at that binary.
- **Playwright is package-scoped** (pytest-playwright makes it session-scoped). While its
  sync API is alive the main thread has a running asyncio loop, and Django then refuses ORM
  calls (``SynchronousOnlyOperation``) in every later test of the session. Stopping it when
  this package ends keeps that out of the other packages; inside the package
  ``DJANGO_ALLOW_ASYNC_UNSAFE`` lets the tests and pytest-django's flush use the ORM, which
  is safe: the loop is Playwright's and never runs Django code.
- **live_app**: pytest-django's live server (tests need
  ``@pytest.mark.django_db(transaction=True)``: the server's threads and the worker must see
  what the test writes), then a qbo_sandbox started after it, because it is given the live
  server's callback and webhook URLs; Django's settings and a real Celery worker pointed at
  that sandbox. No beat runs: nothing syncs on a schedule unless a test says so.
- **Pages** open relative to the live server (``page.goto("/sync/connections/")``);
  ``sign_in`` uses the real sign-in form, ``screenshot`` saves full-page PNGs to
  test-artifacts/screenshots/ (git-ignored; CI keeps test-artifacts/).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.test.utils import override_settings
from django.urls import reverse
from playwright.sync_api import Browser, BrowserType, Page, Playwright, expect, sync_playwright

from devtools import chromium
from sync.clients import qbo
from tests.conftest import ARTIFACTS
from tests.sync.conftest import Worker, sandbox_settings, start_worker

if TYPE_CHECKING:
    from pytest_django.live_server_helper import LiveServer

    from qbo_sandbox.testing import SandboxProcess
    from tests.browser.demo_books import DemoBooks

CHROMIUM = str(chromium.CHROMIUM)
# --no-sandbox: CI runs as root. The rest keep a headless Chromium from calling home
# (updates, sync, field trials, QUIC probes) on a network that only reaches registries.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ARTIFACTS / "screenshots"
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"

# Playwright's assertions retry for 5 s by default; a busy 2-core machine (Chromium, the
# live server, the sandbox, a worker and PostgreSQL on two CPUs) can need longer. Still
# bounded, so a broken page fails instead of hanging.
expect.set_options(timeout=15_000)


@contextmanager
def environ(**values: str | None) -> Iterator[None]:
    """Set (or, with None, remove) environment variables; put them back afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --- Playwright and Chromium ----------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Run straight through pytest on a machine without Chromium, every browser test would
    # fail in its setup with Playwright's "executable doesn't exist"; say it once instead.
    browser_tests = [i for i in items if i.nodeid.startswith("tests/browser/")]
    if browser_tests and not chromium.CHROMIUM.exists():
        pytest.exit(chromium.missing_message(), returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's options (``--headed``, ``--slowmo``) on Debian's Chromium."""
    headed = browser_type_launch_args.get("headless") is False
    # A browser channel (--browser-channel) names another binary; ours is fixed.
    options = {k: v for k, v in browser_type_launch_args.items() if k != "channel"}
    return {
        **options,
        "executable_path": CHROMIUM,
        "args": [arg for arg in CHROMIUM_ARGS if not (headed and arg == "--headless")],
        "headless": not headed,
    }


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with environ(**{ASYNC_UNSAFE: "true"}):
        driver = sync_playwright().start()
        try:
            yield driver
        finally:
            driver.stop()


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    if browser_name != "chromium":
        pytest.skip("only Debian's Chromium is installed here")
    return playwright.chromium


@pytest.fixture(scope="package")
def launch_browser(
    browser_type_launch_args: dict[str, Any], browser_type: BrowserType
) -> Callable[..., Browser]:
    def launch(**kwargs: Any) -> Browser:
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="package")
def browser(launch_browser: Callable[..., Browser]) -> Iterator[Browser]:
    launched = launch_browser()
    yield launched
    launched.close()


@pytest.fixture(scope="package")
def browser_context_args(live_server: LiveServer) -> dict[str, Any]:
    # Every page opens relative to the live server; a desktop-sized window so full-page
    # screenshots show the layout people use.
    return {"base_url": live_server.url, "viewport": {"width": 1280, "height": 900}}


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
    """Poll ``condition`` until it is truthy (its value is returned), or fail saying
    ``what`` did not happen within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.25)


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, email: str, password: str) -> None:
    """Sign in through the real form: the one on screen (say, after being sent to sign in
    on the way to a page, which then opens), else the sign-in page's."""
    button = page.get_by_role("button", name="Sign in", exact=True)
    if not button.count():
        page.goto(reverse("account_login"))
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    button.click()
    # The header names whoever is signed in; a refused password leaves the form on screen.
    expect(page.get_by_role("banner")).to_contain_text(email)


# --- the app, its QuickBooks and its worker -------------------------------------------------


@pytest.fixture(scope="package")
def sandbox(live_server: LiveServer) -> Iterator[SandboxProcess]:
    """A qbo_sandbox with the three demo companies, registered for this live server: its
    consent page sends the browser back to the live server's callback, and its webhooks go
    to the live server, signed with the app's verifier token."""
    from qbo_sandbox.testing import start_sandbox

    process = start_sandbox(
        "--seed", "demo",
        "--client-id", settings.QBO_CLIENT_ID,
        "--client-secret", settings.QBO_CLIENT_SECRET,
        "--redirect-uri", live_server.url + reverse("sync:callback"),
        "--webhook-url", live_server.url + reverse("sync:webhooks"),
        "--webhook-verifier", settings.QBO_WEBHOOK_VERIFIER_TOKEN,
    )  # fmt: skip
    yield process
    process.stop()


@pytest.fixture(scope="package")
def app_settings(live_server: LiveServer, sandbox: SandboxProcess) -> Iterator[dict[str, str]]:
    """Point the app (the live server runs in this process) and the environment that the
    worker inherits at the sandbox."""
    values = {
        **sandbox_settings(sandbox),
        "QBO_REDIRECT_URI": live_server.url + reverse("sync:callback"),
        "QBO_WEBHOOK_VERIFIER_TOKEN": settings.QBO_WEBHOOK_VERIFIER_TOKEN,
    }
    with environ(**values), override_settings(**values):
        # The discovery document is cached per process; read the sandbox's, and forget it
        # again so later packages read theirs.
        qbo.forget_discovery()
        yield values
    qbo.forget_discovery()


@pytest.fixture(scope="package")
def sync_worker(
    django_db_setup: Any, django_db_blocker: Any, app_settings: dict[str, str]
) -> Iterator[Worker]:
    """A real Celery worker on the test database, reaching the sandbox. Package-scoped,
    like the sync tests' worker, so it is gone before the health tests count workers."""
    from unefemme.celery import app

    # The worker copies this process's environment; the ORM switch is for the test
    # process only (its asyncio loop is Playwright's), not for the worker's code.
    with environ(**{ASYNC_UNSAFE: None}):
        worker = start_worker(concurrency=2, name="browser")
    try:
        # Tasks go to the shared default queue: any other worker alive now (the session-wide
        # one of tests/conftest.py, say) would take some of them without reaching the
        # sandbox, and the tests would fail at random. Fail here, saying why, instead.
        replies = app.control.ping(timeout=0.5) or []
        others = sorted({name for reply in replies for name in reply} - {worker.hostname})
        if others:
            raise RuntimeError(f"other Celery workers share the task queue: {others}")
    except BaseException:
        worker.stop()
        raise
    yield worker
    worker.stop()


@pytest.fixture(scope="package")
def celery_worker_process(sync_worker: Worker) -> subprocess.Popen[bytes]:
    # Here "the" worker is the one reaching the sandbox: the session-wide one of
    # tests/conftest.py would take tasks from the same queue without reaching it.
    return sync_worker.process


@dataclass(frozen=True)
class LiveApp:
    url: str
    sandbox: SandboxProcess
    worker: Worker
    settings: dict[str, str]


@pytest.fixture(scope="package")
def live_app(
    live_server: LiveServer,
    sandbox: SandboxProcess,
    app_settings: dict[str, str],
    sync_worker: Worker,
) -> LiveApp:
    """The whole product as people use it: web (live server), QuickBooks (qbo_sandbox with
    its demo companies) and a Celery worker; no beat."""
    return LiveApp(url=live_server.url, sandbox=sandbox, worker=sync_worker, settings=app_settings)


@pytest.fixture
def demo_books(live_app: LiveApp) -> DemoBooks:
    """qbo_sandbox's three demo companies connected to their partners and imported by the
    worker, the demo catalog mapped, warehouse snapshots recorded; a staff member and an
    admin (tests/browser/demo_books.py). Per test: the database is flushed after each."""
    from tests.browser.demo_books import demo_books_synced

    return demo_books_synced(live_app)
