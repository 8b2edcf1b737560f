"""The app started the way README.md's production paragraph says, checked over real HTTP.

The rest of the suite runs ``unefemme.settings_test`` in-process, which turns off the
secure cookies and the https redirect and swaps WhiteNoise's storage for the plain one.
Here the real ``unefemme.settings`` runs in subprocesses instead: ``collectstatic``, then
gunicorn with DEBUG off and freshly generated secrets, on this run's test PostgreSQL and
Redis. The test plays the TLS-terminating proxy of a deployment: it speaks plain HTTP to
gunicorn and says ``X-Forwarded-Proto: https``, as the proxy would after decrypting.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import Morsel, SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from accounts.models import User
from accounts.roles import Role
from devtools.embedded import free_port
from tests.conftest import ARTIFACTS, REPO_ROOT, _worker_env, stop_process_group
from tests.factories import PASSWORD, PartnerFactory, UserFactory

HOST = "127.0.0.1"

# Variables the test settings (or a developer's shell) may have put in os.environ that
# would weaken exactly what this test is about; production must run on its own defaults.
_NOT_INHERITED = (
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_PRELOAD",
    "REQUIRE_STAFF_MFA",
    "UNEFEMME_DEMO",
    "CSRF_TRUSTED_ORIGINS",
    "EMAIL_BACKEND",
)


def production_env(static_root: Path) -> dict[str, str]:
    """The environment of a production process on this run's test database and Redis."""
    env = _worker_env(settings.DATABASES["default"]["NAME"])
    for name in _NOT_INHERITED:
        env.pop(name, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "unefemme.settings",
            "DEBUG": "false",
            # Fresh secrets each run: nothing here may depend on a known value.
            "SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "QBO_CLIENT_ID": secrets.token_urlsafe(16),
            "QBO_CLIENT_SECRET": secrets.token_urlsafe(32),
            "QBO_WEBHOOK_VERIFIER_TOKEN": secrets.token_urlsafe(32),
            "ALLOWED_HOSTS": HOST,
            "STATIC_ROOT": str(static_root),
            # Behind a TLS proxy, as README.md deploys it: the proxy's X-Forwarded-Proto is
            # the proof of https, and it appends the client's address to X-Forwarded-For.
            "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
            "TRUSTED_PROXY_COUNT": "1",
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def directives(self, header: str) -> set[str]:
        """A comma-separated header (Cache-Control, Vary) as a set of lower-case values."""
        return {d.strip().lower() for d in self.headers.get(header, "").split(",") if d.strip()}


@dataclass
class ProxyClient:
    """Plays a browser behind the deployment's TLS proxy.

    The browser speaks https to the proxy, so it sends its Secure cookies; the proxy
    forwards the request to gunicorn over plain HTTP with X-Forwarded-Proto and
    X-Forwarded-For. A stock cookie jar would withhold Secure cookies from an http:// URL,
    hence this small client that keeps the cookies itself.
    """

    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    # The last Set-Cookie seen for each name, with its attributes (Secure, HttpOnly...).
    set_cookies: dict[str, Morsel[str]] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"https://{HOST}:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        *,
        body: str | None = None,
        headers: dict[str, str] | None = None,
        via_proxy: bool = True,
    ) -> Reply:
        sent = dict(headers or {})
        if via_proxy:
            sent["X-Forwarded-Proto"] = "https"
            sent["X-Forwarded-For"] = HOST
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = http.client.HTTPConnection(HOST, self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            reply = Reply(response.status, response.headers, response.read())
        finally:
            connection.close()
        for value in reply.headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(value)
            for name, morsel in jar.items():
                self.set_cookies[name] = morsel
                if morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return reply

    def get(
        self, path: str, *, headers: dict[str, str] | None = None, via_proxy: bool = True
    ) -> Reply:
        return self.request("GET", path, headers=headers, via_proxy=via_proxy)


@dataclass
class Server:
    port: int
    env: dict[str, str]
    log_path: Path


@pytest.fixture
def gunicorn_server(transactional_db: None, tmp_path: Path) -> Iterator[Server]:
    """collectstatic, then gunicorn as README.md's production paragraph runs it.

    It takes ``transactional_db`` so it is stopped before the tables are flushed.
    """
    port = free_port()
    env = production_env(tmp_path / "staticfiles")
    collected = manage(env, "collectstatic", "--noinput")
    assert collected.returncode == 0, collected.stderr

    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"gunicorn-{os.getpid()}-{port}.log"
    # --no-control-socket: gunicorn 25.1+ otherwise opens one fixed socket under $HOME (or
    # $XDG_RUNTIME_DIR), which two test runs at once would fight over.
    command = [sys.executable, "-m", "gunicorn", "unefemme.wsgi", "--bind", f"{HOST}:{port}",
               "--workers", "2", "--graceful-timeout", "10", "--access-logfile", "-",
               "--no-control-socket"]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            _wait_until_it_answers(process, port, log_path)
            yield Server(port=port, env=env, log_path=log_path)
        finally:
            stop_process_group(process)


def _wait_until_it_answers(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited early; see {log_path}")
        try:
            reply = ProxyClient(port).get("/accounts/login/")
        except OSError:
            time.sleep(0.1)
            continue
        if reply.status == 200:
            return
        raise RuntimeError(f"gunicorn answered {reply.status} to the sign-in page; see {log_path}")
    raise RuntimeError(f"gunicorn did not answer within 60 s; see {log_path}")


def _partner_user() -> User:
    partner = PartnerFactory(name="Harbor Point Beverage", slug="harbor-point")
    user: User = UserFactory(email="pat@harbor-point.test", role=Role.PARTNER, partner=partner)
    # The test settings hash with MD5 for speed, which production does not accept; store
    # the password the way production's first hasher would.
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    return user


def _sign_in(client: ProxyClient, user: User) -> None:
    page = client.get("/accounts/login/")
    assert page.status == 200
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, "the sign-in form has no CSRF token"
    form = {"csrfmiddlewaretoken": match[1], "login": user.email, "password": PASSWORD}
    # CSRF over https insists on a same-origin Referer, as a browser sends one.
    reply = client.request(
        "POST",
        "/accounts/login/",
        body=urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": f"{client.origin}/accounts/login/",
        },
    )
    assert reply.status == 302, reply.text
    assert reply.headers["Location"] == "/"


@pytest.mark.django_db(transaction=True)
def test_production_mode_serves_sign_in_dashboard_static_files_and_healthz(
    gunicorn_server: Server, celery_worker_process: subprocess.Popen[bytes]
) -> None:
    # /healthz is ok only when a Celery worker answers a ping on the shared broker, so the
    # suite's real worker runs alongside.
    port = gunicorn_server.port
    user = _partner_user()

    # Plain http that did not come through the proxy is sent to https: SECURE_SSL_REDIRECT.
    plain = ProxyClient(port).get("/accounts/login/", via_proxy=False)
    assert plain.status == 301
    assert plain.headers["Location"] == f"https://{HOST}:{port}/accounts/login/"

    client = ProxyClient(port)
    _sign_in(client, user)
    dashboard = client.get("/")
    assert dashboard.status == 200, dashboard.text
    assert user.email in dashboard.text

    # Security headers of a signed-in page.
    assert dashboard.headers["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )
    policy = {
        d.split()[0]: d.split()[1:]
        for d in dashboard.headers["Content-Security-Policy"].split(";")
        if d.strip()
    }
    assert policy["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in dashboard.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in dashboard.headers["Content-Security-Policy"]
    assert dashboard.headers["X-Frame-Options"] == "DENY"
    assert dashboard.headers["X-Content-Type-Options"] == "nosniff"
    assert dashboard.headers["Referrer-Policy"] == "same-origin"
    assert "no-store" in dashboard.directives("Cache-Control")

    # Cookies: Secure (https only) both, and the session out of reach of scripts.
    session, csrf = client.set_cookies["sessionid"], client.set_cookies["csrftoken"]
    assert session["secure"] is True and session["httponly"] is True
    assert csrf["secure"] is True

    # The stylesheet: a content-hashed name WhiteNoise serves with a year-plus of caching.
    link = re.search(r'<link rel="stylesheet" href="([^"]+)">', dashboard.text)
    assert link, "the dashboard links no stylesheet"
    css_url = link[1]
    assert re.fullmatch(r"/static/css/app\.[0-9a-f]{12}\.css", css_url), css_url
    css = client.get(css_url, headers={"Accept-Encoding": "identity"})
    assert css.status == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert b"{" in css.body
    cache_control = css.directives("Cache-Control")
    assert "public" in cache_control and "immutable" in cache_control
    max_age = next(int(d.split("=")[1]) for d in cache_control if d.startswith("max-age="))
    assert max_age >= 31536000
    assert "accept-encoding" in css.directives("Vary")
    # Pre-compressed at collectstatic time. WhiteNoise makes .br files only when the brotli
    # package is installed, so either encoding is accepted; it must decode to the same file.
    compressed = client.get(css_url, headers={"Accept-Encoding": "gzip, br"})
    assert compressed.status == 200
    encoding = compressed.headers["Content-Encoding"]
    assert encoding in ("gzip", "br")
    if encoding == "gzip":
        assert gzip.decompress(compressed.body) == css.body
    assert len(compressed.body) < len(css.body)

    # The load balancer's probe: every dependency alive.
    health = client.get("/healthz")
    body = json.loads(health.body)
    assert health.status == 200, body
    assert body["database"] is True and body["redis"] is True and body["celery"] is True
    assert body["ok"] is True


def test_the_production_environment_passes_the_deploy_checks(tmp_path: Path) -> None:
    env = production_env(tmp_path / "staticfiles")
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
