# Sourced by the README's commands: sets the array `uv` to a working uv, installing it with
# pip when it is missing (a fresh machine has only Python 3.11 and pip).
python="${PYTHON:-python3}"
if command -v uv >/dev/null 2>&1; then
    uv=(uv)
else
    # pip may put the uv script in a directory that is not on PATH (~/.local/bin), so run
    # it as a module instead.
    uv=("$python" -m uv)
    if ! "${uv[@]}" --version >/dev/null 2>&1; then
        echo "Installing uv with pip..." >&2
        if ! "$python" -m pip install --quiet uv && ! "$python" -m pip install --quiet --user uv; then
            echo "Could not install uv with '$python -m pip install uv'." >&2
            echo "Install uv (https://docs.astral.sh/uv/) and run this again." >&2
            exit 1
        fi
    fi
fi
