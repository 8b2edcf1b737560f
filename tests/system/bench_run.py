"""How the system tests run a bench/ script: in a subprocess, since each starts a whole
unefemme of its own (bench/_stack.py: PostgreSQL, Redis, qbo_sandbox, gunicorn, a worker
and beat) and this process's Django is set up for the test database, which such a run must
not touch. The script writes its figures as JSON (``--json``), which the test reads; its
output goes to test-artifacts/ so a CI failure can be read afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import ARTIFACTS, REPO_ROOT


@dataclass(frozen=True)
class BenchRun:
    found: dict[str, Any]  # the script's JSON
    returncode: int
    log: Path

    def tail(self, lines: int = 60) -> str:
        return tail(self.log, lines)


def run_bench(script: str, args: list[str], tmp_path: Path, *, timeout: float) -> BenchRun:
    """``bench/<script> <args> --json …``, waited for; fails the test with the run's last
    lines if it overruns ``timeout`` or exits before writing its figures."""
    out = tmp_path / f"{Path(script).stem}.json"
    env = dict(os.environ)
    # The stack chooses its own settings and servers; nothing of the test run's may leak in.
    for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / f"{Path(script).stem}-{os.getpid()}.log"
    command = [sys.executable, f"bench/{script}", *args, "--json", str(out)]
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # SIGTERM lets the run stop the servers it started; SIGKILL would orphan them.
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
            raise AssertionError(
                f"bench/{script} did not finish in {timeout:.0f} s:\n{tail(log)}"
            ) from None
    assert out.exists(), f"bench/{script} exited {returncode} before its figures:\n{tail(log)}"
    return BenchRun(json.loads(out.read_text()), returncode, log)


def tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
