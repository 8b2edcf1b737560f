"""unefemme settings: one module, every value from the environment.

Each variable is listed, with its default, in README.md ("Configuration"). Development
defaults exist only while DEBUG is on; with DEBUG off a missing or development-default
secret stops start-up with a message naming the variable (see ``env_secret``).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    """Parse a boolean, refusing anything ambiguous rather than guessing."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}.") from exc


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_required(name: str, hint: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(f"{name} is not set. {hint}")
    return value


# Development values for secrets. They are public (they are in this file), so with DEBUG
# off they are refused exactly like a missing value.
DEV_SECRETS = {
    "SECRET_KEY": "django-insecure-unefemme-development-only",
    # A valid Fernet key that is only good for a laptop.
    "FIELD_ENCRYPTION_KEYS": "YqPHwaDetoSWFHBiDHxpsyeDl1XSd8zdVDiCgF0pCRo=",
    "QBO_WEBHOOK_VERIFIER_TOKEN": "unefemme-development-verifier-token",
    "QBO_CLIENT_SECRET": "sandbox-client-secret",
}


def env_secret(name: str) -> str:
    """A secret: required with DEBUG off, and never one of the development defaults."""
    value = os.environ.get(name, "").strip()
    if DEBUG:
        return value or DEV_SECRETS[name]
    if not value:
        raise ImproperlyConfigured(f"{name} is not set; it is required when DEBUG is off.")
    if value == DEV_SECRETS[name]:
        raise ImproperlyConfigured(
            f"{name} is set to the public development default; set a real secret."
        )
    return value


# --- Core -------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is not set; it is required when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# True only for the local demo started by `make run`: the sign-in page then lists the
# demo logins.
DEMO = env_bool("UNEFEMME_DEMO", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "template_partials",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "common",
    "accounts",
    "sync",
    "inventory",
    "billing",
    # Compares the mirror with QuickBooks' own reports; reads billing, inventory and sync.
    "reconciliation",
    # Daily snapshots of receivables and stock, the trends page; reads billing and inventory.
    "history",
    # Invitations and the first-run page; reads accounts, sync and inventory.
    "onboarding",
    # E-mail notifications, the daily digest and the sent-messages log; reads the others.
    "notifications",
    # Depletion allowance programs and distributors' claims; reads billing and inventory.
    "allowances",
    # Last: it reads every app above (the dashboard, /healthz, demo_setup); none reads it.
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from the WSGI app (compressed, with far-future caching for the
    # hashed names), before anything that needs a session or a user.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # TRACE answers 405 everywhere (Intuit: "TRACE disabled").
    "accounts.middleware.NoTraceMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Default deny, step 1: every view needs a signed-in user unless marked
    # @login_not_required (sign-in pages, /healthz).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Staff and admins must have finished two-factor before anything else runs.
    "accounts.middleware.StaffMFAMiddleware",
    # Default deny, step 2: our views must declare which roles may use them.
    "accounts.middleware.RoleRequiredMiddleware",
    "accounts.middleware.UserTimezoneMiddleware",
    "accounts.middleware.NoStoreMiddleware",
]

ROOT_URLCONF = "unefemme.urls"
WSGI_APPLICATION = "unefemme.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.navigation",
            ],
        },
    },
]

# --- Data stores ------------------------------------------------------------------------

_SERVICES_HINT = (
    "`make run` starts an embedded server under var/ and sets it for you; "
    "see README.md to point unefemme at your own."
)
DATABASE_URL = env_required("DATABASE_URL", _SERVICES_HINT)
REDIS_URL = env_required("REDIS_URL", _SERVICES_HINT)

DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
}
if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgresql://...).")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "unefemme",
        # Fail fast instead of hanging a request when Redis is unreachable.
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}
# The longest an expensive figure (the accounts report's rows) is kept in the cache. It is
# recomputed as soon as the mirror or the catalog it reads changes (common.generations);
# this is only the safety net. 0 keeps nothing.
FIGURES_CACHE_SECONDS = env_int("FIGURES_CACHE_SECONDS", 600)
# How old a figure may be when a busy company's syncs keep changing it: its readers get the
# last one computed while the worker computes the current one (common.generations). 0: every
# reader after a change computes it. Only the accounts report and the sell-through and
# depletion reports' grouped lines use this: they count accounts and bottles, not money.
FIGURES_STALE_SECONDS = env_int("FIGURES_STALE_SECONDS", 30)

# --- Authentication ---------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "account_login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_SESSION_REMEMBER = None
# allauth's defaults (10 failures a minute per IP, 5 per 5 minutes per account) are the
# lockout we want; they are counted in the Redis cache so they hold across processes.
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/300s/key"}

MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "unefemme"
# Staff and admins must enrol in TOTP and pass it on every sign-in. On by default whenever
# DEBUG is off; the local demo turns it off so a newcomer can click straight in.
REQUIRE_STAFF_MFA = env_bool("REQUIRE_STAFF_MFA", not DEBUG)

SESSION_COOKIE_AGE = int(timedelta(hours=12).total_seconds())
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# --- Security headers (production) -------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Scripts and styles only from our own static files: no inline script or style anywhere
# (htmx's injected indicator style is switched off in base.html; app.css has those rules).
# data: images are allauth's TOTP QR code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
    }
}
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)

# --- Reverse proxies ---------------------------------------------------------------------
# Headers a client can set are trusted only when the deployment says a proxy of its own
# sets them; otherwise anyone could claim to be https, or to come from any address.
#
# How many proxies of ours append to X-Forwarded-For. The client address is then the entry
# that many places from the right (accounts.clientip); with 0 it is REMOTE_ADDR. Every
# per-IP limit (allauth's sign-in lockout among them) counts by that address, so behind a
# proxy one person's failed sign-ins do not lock out everyone else.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT cannot be negative.")
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
# The header a TLS-terminating proxy sets to "https" (e.g. X-Forwarded-Proto); unset, no
# header is taken as proof of https.
_PROXY_SSL_HEADER = env_str("SECURE_PROXY_SSL_HEADER").strip()
if _PROXY_SSL_HEADER:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https")

# --- Internationalisation ---------------------------------------------------------------

LANGUAGE_CODE = "en-us"
# The default zone for users who have not picked their own (User.time_zone).
TIME_ZONE = env_str("TIME_ZONE", "America/Los_Angeles")
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# `manage.py collectstatic` gathers the files here for WhiteNoise to serve.
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Content-hashed, pre-compressed copies: a deploy changes the URL of what changed, so
    # browsers may cache every file for a year.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- E-mail -----------------------------------------------------------------------------

# Every message goes through notifications' recording backend, which hands it to the real
# one (the EMAIL_BACKEND variable: SMTP in production, the console in development and the
# local demo) and keeps the last SENT_MESSAGES_KEEP for admins to read on
# /notifications/sent/.
EMAIL_BACKEND = "notifications.backends.RecordingEmailBackend"
EMAIL_DELIVERY_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG or DEMO
    else "django.core.mail.backends.smtp.EmailBackend",
)
SENT_MESSAGES_KEEP = env_int("SENT_MESSAGES_KEEP", 100)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "unefemme <noreply@localhost>")
# Where the app is reached, for the links in e-mails (no request to build them from).
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# --- Notifications (notifications/services.py) --------------------------------------------

# A sync is reported to staff once it has been failing this long (since the first failed
# run after its last success): a single failure is retried by the next poll.
NOTIFY_SYNC_FAILING_AFTER = timedelta(minutes=env_int("NOTIFY_SYNC_FAILING_AFTER_MINUTES", 60))
# A partner's warehouse feed is reported as out of date once its latest snapshot is older.
NOTIFY_WAREHOUSE_STALE_DAYS = env_int("NOTIFY_WAREHOUSE_STALE_DAYS", 7)
# At most one mapping-conflicts e-mail per admin per this interval.
NOTIFY_CONFLICT_BATCH = timedelta(hours=1)
# A person's digest goes out on the first hourly run after this time of their own day.
DIGEST_LOCAL_HOUR = 7

# --- Retention (sync/services.py retention_prune, nightly) --------------------------------

# How long the mirror's history keeps a version (docs/architecture.md, "The mirror's
# history"): past a year, so last year's invoices can still be explained at year end.
MIRROR_VERSION_RETENTION_DAYS = env_int("MIRROR_VERSION_RETENTION_DAYS", 400)
# How long finished sync runs are kept (~288 a day per connection). A running run and
# each connection's latest successful one are kept whatever their age.
SYNC_RUN_RETENTION_DAYS = env_int("SYNC_RUN_RETENTION_DAYS", 30)

# --- QuickBooks Online (Intuit) ----------------------------------------------------------

QBO_CLIENT_ID = env_str("QBO_CLIENT_ID", "sandbox-client-id" if DEBUG else "")
if not DEBUG and not QBO_CLIENT_ID:
    raise ImproperlyConfigured("QBO_CLIENT_ID is not set; it is required when DEBUG is off.")
QBO_CLIENT_SECRET = env_secret("QBO_CLIENT_SECRET")
QBO_REDIRECT_URI = env_str("QBO_REDIRECT_URI", "http://127.0.0.1:8000/sync/qbo/callback/")
# "production", "sandbox", or the URL of an OpenID discovery document (our qbo_sandbox).
QBO_ENVIRONMENT = env_str("QBO_ENVIRONMENT", "sandbox")
# The Accounting API base; derived from QBO_ENVIRONMENT unless set.
QBO_API_URL = env_str("QBO_API_URL") or {
    "production": "https://quickbooks.api.intuit.com/v3",
    "sandbox": "https://sandbox-quickbooks.api.intuit.com/v3",
}.get(QBO_ENVIRONMENT, "")
if not QBO_API_URL:
    raise ImproperlyConfigured(
        "QBO_API_URL is not set; it is required when QBO_ENVIRONMENT is a discovery URL."
    )
QBO_WEBHOOK_VERIFIER_TOKEN = env_secret("QBO_WEBHOOK_VERIFIER_TOKEN")
# Comma-separated Fernet keys for OAuth tokens at rest, newest first. Kept apart from
# SECRET_KEY so that rotating one never touches the other.
FIELD_ENCRYPTION_KEYS = [k.strip() for k in env_secret("FIELD_ENCRYPTION_KEYS").split(",")]

# --- Une Femme in partners' books -------------------------------------------------------

# How Une Femme is recognised among a partner's QuickBooks vendors, whose bills are what
# the partner bought from us (sell-in; inventory/purchasing/services.py). Facts about Une
# Femme, not about a deployment, so they are not read from the environment.
#
# Names a vendor's display or company name may contain, as whole words, compared without
# case or accents: "Une Femme Wines" and "UNE FÉMME" match, "Prune Femmes" does not.
UNE_FEMME_VENDOR_NAMES = ("Une Femme",)
# E-mail domains of ours: a vendor whose e-mail is at one of them (or a subdomain) is us,
# whatever the partner named it. Tried only when no vendor's name matches.
UNE_FEMME_EMAIL_DOMAINS = ("unefemmewines.com",)

# How many days an invitation link works (onboarding); resending starts them again.
INVITATION_DAYS = env_int("INVITATION_DAYS", 7)

# --- Celery -----------------------------------------------------------------------------

# Redis redelivers a message that is not acknowledged within this many seconds. With
# acks_late that covers every task still running, so it must exceed the longest hard time
# limit below, and no countdown/ETA may exceed it (celery#2599). One value, used in all
# three places Celery reads it.
CELERY_VISIBILITY_TIMEOUT = 3600
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "socket_connect_timeout": 5,
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS: dict[str, Any] = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT
}
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = int(timedelta(days=1).total_seconds())
CELERY_TASK_ACKS_LATE = True
# A worker child killed mid-task (OOM, kill -9) puts the message back instead of acking
# it; every task is idempotent so a second run is safe.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Defaults for every task; individual tasks set tighter limits.
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "tick": {"task": "sync.tasks.tick", "schedule": 60.0},
    "push-jobs-resume": {"task": "inventory.tasks.push_jobs_resume", "schedule": 300.0},
    # Once a night, while the realms' rate limits are quiet: two report requests per live
    # connection (reconciliation/services.py).
    "reconciliation-nightly": {
        "task": "reconciliation.tasks.reconciliation_nightly",
        "schedule": crontab(hour=2, minute=41),
    },
    # Just after midnight (beat keeps TIME_ZONE, the business day): the day that has just
    # ended, its documents in (history/services.py).
    "history-snapshot": {
        "task": "history.tasks.history_snapshot",
        "schedule": crontab(hour=0, minute=25),
    },
    # A company's first import (or a night beat missed) leaves the recent history short of
    # its books; this rebuilds it within minutes, and is two queries when nothing is due.
    "history-catch-up": {
        "task": "history.tasks.history_catch_up",
        "schedule": 2 * 60,
    },
    # Turns the other apps' state into notifications; idempotent, so a missed or doubled
    # run only moves an e-mail by a few minutes (notifications/services.py).
    "notifications-scan": {"task": "notifications.tasks.notifications_scan", "schedule": 5 * 60},
    # Hourly, since 07:00 comes at a different hour in each person's time zone; the
    # DigestSent row keeps it to one a day.
    "notifications-digest": {
        "task": "notifications.tasks.digests_send",
        "schedule": crontab(minute=5),
    },
    # CDC does not carry CustomerType: the names channels are read from are re-read each
    # night, one query request per live connection (inventory/channels/services.py).
    "customer-types-nightly": {
        "task": "inventory.tasks.customer_types_nightly",
        "schedule": crontab(hour=2, minute=11),
    },
    # Versions and sync runs past their retention, in batches (sync/services.py).
    "retention-prune": {
        "task": "sync.tasks.retention_prune",
        "schedule": crontab(hour=3, minute=47),
    },
    "cleanup-sessions": {
        "task": "accounts.tasks.clear_expired_sessions",
        "schedule": crontab(hour=3, minute=17),
    },
}

# --- Logging ----------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"one_line_client_errors": {"()": "common.logging.OneLineClientErrors"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["one_line_client_errors"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # python-quickbooks and intuit-oauth put whole response bodies (tokens, books) in
        # their debug output; never let that reach a log.
        "quickbooks": {"level": "WARNING"},
        "intuitlib": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}
