#!/usr/bin/env bash
# Run the whole product on a machine that has only Python 3.11 and pip (`make run`): get
# uv, install the locked dependencies, then hand over to devtools.run. Arguments are passed
# on, e.g. `bash devtools/bootstrap.sh --port 8001`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source devtools/uv.sh

# --frozen: install exactly what uv.lock says, never re-resolve on a newcomer's machine.
"${uv[@]}" sync --frozen
# exec, so that Ctrl-C and SIGTERM reach the runner, which stops everything it started.
exec "${uv[@]}" run --frozen python -m devtools.run "$@"
