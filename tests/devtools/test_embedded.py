from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
import redis

from devtools.embedded import EmbeddedServer, EmbeddedServerError, start_postgres, start_redis


def _gone(pid: int, timeout: float = 10.0) -> bool:
    # Daemons are reparented to init, which may leave a zombie behind; that counts as gone.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def stop_later() -> Iterator[list[EmbeddedServer]]:
    servers: list[EmbeddedServer] = []
    yield servers
    for server in servers:
        server.stop()


def test_both_servers_start_answer_and_stop(
    tmp_path: Path, stop_later: list[EmbeddedServer]
) -> None:
    # The data directories don't exist yet, nor do their parents.
    pg = start_postgres(tmp_path / "var" / "postgres")
    rd = start_redis(tmp_path / "var" / "redis")
    stop_later += [pg, rd]

    assert pg.url == f"postgresql://postgres@127.0.0.1:{pg.port}/unefemme"
    assert rd.url == f"redis://127.0.0.1:{rd.port}/0"
    with psycopg.connect(pg.url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("unefemme",)
    client = redis.Redis.from_url(rd.url)
    assert client.ping()
    client.close()

    pg.stop()
    rd.stop()
    assert _gone(pg.pid)
    assert _gone(rd.pid)
    # Stopping twice is harmless.
    pg.stop()
    rd.stop()


def test_postgres_data_survives_a_restart(tmp_path: Path, stop_later: list[EmbeddedServer]) -> None:
    pg = start_postgres(tmp_path / "pg", dbname="other")
    stop_later.append(pg)
    with psycopg.connect(pg.url) as conn:
        conn.execute("CREATE TABLE kept (value text)")
        conn.execute("INSERT INTO kept VALUES ('still here')")
    pg.stop()

    again = start_postgres(tmp_path / "pg", dbname="other")
    stop_later.append(again)
    with psycopg.connect(again.url) as conn:
        assert conn.execute("SELECT value FROM kept").fetchall() == [("still here",)]


def test_redis_data_survives_a_restart(tmp_path: Path, stop_later: list[EmbeddedServer]) -> None:
    rd = start_redis(tmp_path / "redis")
    stop_later.append(rd)
    client = redis.Redis.from_url(rd.url)
    client.set("kept", "still here")
    client.close()
    rd.stop()

    again = start_redis(tmp_path / "redis")
    stop_later.append(again)
    client = redis.Redis.from_url(again.url)
    assert client.get("kept") == b"still here"
    client.close()


def test_a_second_start_reuses_the_running_servers(
    tmp_path: Path, stop_later: list[EmbeddedServer]
) -> None:
    pg = start_postgres(tmp_path / "pg")
    rd = start_redis(tmp_path / "redis")
    stop_later += [pg, rd]

    pg_again = start_postgres(tmp_path / "pg")
    rd_again = start_redis(tmp_path / "redis", port=rd.port)

    assert (pg_again.pid, pg_again.port) == (pg.pid, pg.port)
    assert (rd_again.pid, rd_again.port) == (rd.pid, rd.port)


def test_asking_a_running_server_for_another_port_fails(
    tmp_path: Path, stop_later: list[EmbeddedServer]
) -> None:
    rd = start_redis(tmp_path / "redis")
    stop_later.append(rd)

    with pytest.raises(EmbeddedServerError, match=f"already running on port {rd.port}"):
        start_redis(tmp_path / "redis", port=rd.port + 1)


def test_redis_is_configured_not_to_lose_broker_keys(
    tmp_path: Path, stop_later: list[EmbeddedServer]
) -> None:
    rd = start_redis(tmp_path / "redis")
    stop_later.append(rd)
    client = redis.Redis.from_url(rd.url, decode_responses=True)

    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    assert client.config_get("bind") == {"bind": "127.0.0.1"}
    client.close()


def test_postgres_recovers_from_a_crash_with_a_stale_pid_file(
    tmp_path: Path, stop_later: list[EmbeddedServer]
) -> None:
    pg = start_postgres(tmp_path / "pg")
    stop_later.append(pg)
    with psycopg.connect(pg.url) as conn:
        conn.execute("CREATE TABLE kept (value text)")
        conn.execute("INSERT INTO kept VALUES ('committed')")

    postmaster = psutil.Process(pg.pid)
    backends = postmaster.children()
    os.kill(pg.pid, signal.SIGKILL)
    # Backends exit once they notice the postmaster died; a new postmaster refuses to start
    # while they still hold the old shared memory.
    assert all(_gone(p.pid) for p in [postmaster, *backends])
    assert (tmp_path / "pg" / "postmaster.pid").exists()

    again = start_postgres(tmp_path / "pg")
    stop_later.append(again)
    assert again.pid != pg.pid
    with psycopg.connect(again.url) as conn:
        assert conn.execute("SELECT value FROM kept").fetchall() == [("committed",)]


def test_postgres_start_failure_shows_the_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(EmbeddedServerError) as failure:
            start_postgres(tmp_path / "pg", port=port)

    message = str(failure.value)
    assert message.startswith("PostgreSQL failed to start; ")
    assert f"last lines of {tmp_path / 'pg' / 'log'}" in message
    assert "could not bind" in message


def test_postgres_starts_from_a_directory_too_deep_for_a_unix_socket(
    tmp_path: Path, stop_later: list[EmbeddedServer]
) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 5, "postgres")
    pg = start_postgres(deep)
    stop_later.append(pg)
    with psycopg.connect(pg.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
