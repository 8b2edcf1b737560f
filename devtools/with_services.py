"""Run a command with PostgreSQL and Redis available.

``python -m devtools.with_services [--dir DIR] -- CMD ...`` starts embedded servers in DIR
(a fresh temporary directory by default, removed afterwards) for whichever of
DATABASE_URL / REDIS_URL is unset, exports the URLs, runs CMD and stops what it started.
The test command uses it so every check sees real servers without touching var/.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from devtools.embedded import EmbeddedServer, start_missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dir", type=Path, help="where the servers keep their data")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --")

    workdir = args.dir or Path(tempfile.mkdtemp(prefix="unefemme-services-"))
    started: list[EmbeddedServer] = []
    env = dict(os.environ)
    try:
        started = start_missing(workdir, env)
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 130
    finally:
        for server in reversed(started):
            server.stop()
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
