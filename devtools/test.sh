#!/usr/bin/env bash
# The whole test suite (`make test`): lint, formatting, types, Django's checks, migrations,
# then pytest. Stops at the first failure with a non-zero exit.
#
# PostgreSQL and Redis: the ones in DATABASE_URL / REDIS_URL when set, else throw-away
# embedded servers for this run only (var/ is never touched). Extra arguments go to pytest,
# e.g. `bash devtools/test.sh -k sign_in`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source devtools/uv.sh
run() { "${uv[@]}" run --frozen "$@"; }

step() { printf '\n==> %s\n' "$*"; }

# First, so a machine without Chromium learns what to install before any wait.
step "Chromium (browser tests)"
"$python" -m devtools.chromium

step "uv sync (from uv.lock)"
"${uv[@]}" sync --frozen

step "ruff check"
run ruff check .
step "ruff format --check"
run ruff format --check .

export DJANGO_SETTINGS_MODULE=unefemme.settings_test
# Everything below runs against real servers started once for the whole run.
run python -m devtools.with_services -- bash -euo pipefail -c '
    printf "\n==> mypy (strict, django-stubs)\n"
    mypy .
    printf "\n==> manage.py check\n"
    python manage.py check --fail-level WARNING
    printf "\n==> makemigrations --check\n"
    python manage.py makemigrations --check --dry-run
    printf "\n==> pytest\n"
    pytest "$@"
' test.sh "$@"
