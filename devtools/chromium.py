"""Chromium for the browser tests: found, installed, or named in one line.

``make test`` runs ``python3 -m devtools.chromium`` before anything else. The browser tests
drive Debian's Chromium (Playwright's own browser download cannot reach its servers from
here), so on a machine without it:

- as root with apt-get (CI, a fresh container), it installs Debian's ``chromium`` package;
- otherwise it stops at once with one line saying what to install, instead of letting
  pytest fail every browser test in its setup.

Standard library only: it runs with the system Python, before the project's packages are.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

# Where Debian's package puts it; UNEFEMME_CHROMIUM points elsewhere (another distribution).
CHROMIUM = Path(os.environ.get("UNEFEMME_CHROMIUM", "/usr/bin/chromium"))
PACKAGE = "chromium"
Run = Callable[[list[str]], int]


def _run(argv: list[str]) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.call(argv, env=env, stdout=subprocess.DEVNULL)


def missing_message(path: Path = CHROMIUM) -> str:
    return (
        f"The browser tests need Chromium at {path}: install Debian's package with "
        f"`sudo apt-get install -y {PACKAGE}` (or set UNEFEMME_CHROMIUM to a Chromium), "
        "then run make test again."
    )


def ensure(
    path: Path = CHROMIUM, *, can_install: bool | None = None, run: Run = _run
) -> str | None:
    """None when Chromium is there (installing it if this machine may), else the one line
    saying what to do."""
    if path.exists():
        return None
    if can_install is None:
        can_install = os.geteuid() == 0 and shutil.which("apt-get") is not None
    if not can_install:
        return missing_message(path)
    print(f"Installing Debian's {PACKAGE} for the browser tests (apt-get)...", flush=True)
    if (
        run(["apt-get", "update", "-qq"]) != 0
        or run(["apt-get", "install", "-y", "-qq", PACKAGE]) != 0
    ):
        return f"apt-get could not install {PACKAGE}. " + missing_message(path)
    return None if path.exists() else missing_message(path)


def main() -> int:
    problem = ensure()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
