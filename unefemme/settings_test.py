"""Settings for the test suite: production settings (DEBUG off) with test-only secrets.

When DATABASE_URL / REDIS_URL are unset, a throw-away PostgreSQL and Redis are started
for this run in a temporary directory and stopped at exit. pytest-django imports this
module before any conftest runs, which is why the servers start here.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_TEST_ENV = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
    "SECRET_KEY": "test-secret-key-not-for-production",
    "FIELD_ENCRYPTION_KEYS": "1ZCLb4ljZC1IpN2h0Y7lEnwKQ8oYLWlEEs5L5h0pDXw=",
    "QBO_CLIENT_ID": "test-client-id",
    "QBO_CLIENT_SECRET": "test-client-secret",
    "QBO_WEBHOOK_VERIFIER_TOKEN": "test-verifier-token",
    "SECURE_SSL_REDIRECT": "false",
}
for _name, _value in _TEST_ENV.items():
    os.environ.setdefault(_name, _value)


def _start_throwaway_services() -> None:
    from devtools.embedded import start_missing

    workdir = Path(tempfile.mkdtemp(prefix="unefemme-test-"))
    servers = start_missing(workdir, os.environ)

    def stop() -> None:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    atexit.register(stop)


if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
    _start_throwaway_services()

from .settings import *  # noqa: E402,F403

# Speed: hashing cost is not what these tests are about.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Django's test set-up puts the locmem backend in EMAIL_BACKEND whatever this says; a test
# of the sent-messages log puts the recording backend back (tests/notifications/), and it
# then delivers to the same outbox.
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
EMAIL_DELIVERY_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# The suite turns two-factor on in the tests that are about it (tests/test_mfa.py).
REQUIRE_STAFF_MFA = False
# Tests run over plain http on testserver.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Nothing is collected for tests: WhiteNoise serves from the apps' static folders, as in
# development (tests/test_production_smoke.py runs the collected, production set-up).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Tests write mirror rows with the ORM, not through the sync's write path that moves the
# figures' counters, so a figure cached before such a write would be read after it: off,
# except in the tests of the cache itself (tests/common/test_generations.py).
FIGURES_CACHE_SECONDS = 0
FIGURES_STALE_SECONDS = 0
