"""Start-up refuses a production configuration with missing or development secrets."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.conftest import REPO_ROOT

PRODUCTION_ENV = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "unefemme.example.com",
    "DATABASE_URL": "postgresql://unefemme@db.internal:5432/unefemme",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "SECRET_KEY": "k" * 60 + "-a-real-production-secret-value",
    "FIELD_ENCRYPTION_KEYS": "1ZCLb4ljZC1IpN2h0Y7lEnwKQ8oYLWlEEs5L5h0pDXw=",
    "QBO_CLIENT_ID": "ABcdEF123",
    "QBO_CLIENT_SECRET": "a-real-intuit-secret",
    "QBO_REDIRECT_URI": "https://unefemme.example.com/sync/qbo/callback/",
    "QBO_ENVIRONMENT": "production",
    "QBO_WEBHOOK_VERIFIER_TOKEN": "a-real-verifier-token",
}


def _start(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # Only what a process needs to run: nothing of this test run's own configuration.
    clean = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    clean["DJANGO_SETTINGS_MODULE"] = "unefemme.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *(args or ("check",))],
        cwd=REPO_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_complete_production_configuration_passes_the_deploy_checks() -> None:
    result = _start(PRODUCTION_ENV, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "name",
    [
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEYS",
        "QBO_CLIENT_SECRET",
        "QBO_WEBHOOK_VERIFIER_TOKEN",
        "QBO_CLIENT_ID",
        "ALLOWED_HOSTS",
        "DATABASE_URL",
        "REDIS_URL",
    ],
)
def test_a_missing_setting_stops_start_up_and_names_it(name: str) -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != name}
    result = _start(env)
    assert result.returncode != 0
    assert f"{name} is not set" in result.stderr


@pytest.mark.parametrize(
    "name",
    ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "QBO_CLIENT_SECRET", "QBO_WEBHOOK_VERIFIER_TOKEN"],
)
def test_a_development_default_secret_is_refused_in_production(name: str) -> None:
    from unefemme.settings import DEV_SECRETS

    result = _start({**PRODUCTION_ENV, name: DEV_SECRETS[name]})
    assert result.returncode != 0
    assert name in result.stderr and "development default" in result.stderr


def test_an_ambiguous_boolean_is_refused() -> None:
    result = _start({**PRODUCTION_ENV, "DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG must be true or false" in result.stderr


def test_sqlite_is_refused() -> None:
    result = _start({**PRODUCTION_ENV, "DATABASE_URL": "sqlite:///db.sqlite3"})
    assert result.returncode != 0
    assert "PostgreSQL" in result.stderr


def test_debug_on_runs_with_development_defaults() -> None:
    env = {
        "DEBUG": "true",
        "DATABASE_URL": PRODUCTION_ENV["DATABASE_URL"],
        "REDIS_URL": PRODUCTION_ENV["REDIS_URL"],
    }
    result = _start(
        env,
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; "
        "print(settings.REQUIRE_STAFF_MFA, settings.EMAIL_BACKEND, "
        "settings.EMAIL_DELIVERY_BACKEND)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        "notifications.backends.RecordingEmailBackend",
        "django.core.mail.backends.console.EmailBackend",
    ]


def test_two_factor_is_required_by_default_in_production() -> None:
    result = _start(
        PRODUCTION_ENV,
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.REQUIRE_STAFF_MFA)",
    )
    assert result.stdout.strip() == "True", result.stderr


def _proxy_settings(env: dict[str, str]) -> list[str]:
    result = _start(
        {**PRODUCTION_ENV, **env},
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; "
        "print(getattr(settings, 'SECURE_PROXY_SSL_HEADER', None), settings.TRUSTED_PROXY_COUNT)",
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().rsplit(" ", 1)


def test_no_header_proves_https_unless_a_proxy_is_said_to_set_it() -> None:
    # Before, production trusted X-Forwarded-Proto unconditionally: without a proxy that
    # overwrites it, any client could claim https.
    assert _proxy_settings({}) == ["None", "0"]
    assert _proxy_settings(
        {"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto", "TRUSTED_PROXY_COUNT": "2"}
    ) == ["('HTTP_X_FORWARDED_PROTO', 'https')", "2"]


def test_a_negative_proxy_count_is_refused() -> None:
    result = _start({**PRODUCTION_ENV, "TRUSTED_PROXY_COUNT": "-1"})
    assert result.returncode != 0
    assert "TRUSTED_PROXY_COUNT cannot be negative." in result.stderr


def test_celery_settings_keep_one_visibility_timeout_and_json_only() -> None:
    from unefemme.celery import app

    timeout = settings.CELERY_VISIBILITY_TIMEOUT
    assert app.conf.broker_transport_options["visibility_timeout"] == timeout
    assert app.conf.result_backend_transport_options["visibility_timeout"] == timeout
    assert app.conf.visibility_timeout == timeout
    assert app.conf.task_time_limit < timeout
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == app.conf.result_serializer == "json"
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.task_always_eager is False
