"""One sync at a time per realm: a Redis lease, fenced in PostgreSQL.

The Redis lock (``SET NX PX`` with a random value, renewed by its holder before every
request) is what keeps two workers from syncing one realm at once, across every worker
process and machine. A lease alone is not enough (Kleppmann, "How to do distributed
locking"): a holder paused past its lease (GC, SIGSTOP, a slow disk) wakes up believing it
still holds the lock. So every acquisition also takes a fencing token, an increment of
``QBOConnection.sync_fence`` in PostgreSQL, and every transaction that writes mirror rows
and the cursor first checks, under a share lock on the connection row, that the fence is
still its own. A stale holder's write is refused (``LeaseLost``) and rolled back; the
database, not Redis, has the last word.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.db import connection as db_connection

from . import conf
from .models import QBOConnection

logger = logging.getLogger(__name__)

KEY_PREFIX = "unefemme:qbo"


class LeaseLost(Exception):
    """This worker no longer holds the realm's sync lease; its work must not be written."""


@cache
def _client(url: str) -> redis.Redis:
    # redis-py's pool notices a fork and reconnects, so one client per process is safe
    # under Celery's prefork pool. Short timeouts: a stuck Redis must fail a sync, not
    # hang it.
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def redis_client() -> redis.Redis:
    return _client(settings.REDIS_URL)


# Compare-and-renew / compare-and-delete: only the holder (same random value) may extend
# or release the lease, so a stale holder cannot release its successor's lock.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _lock_key(realm_id: str) -> str:
    return f"{KEY_PREFIX}:sync-lock:{realm_id}"


def _rerun_key(realm_id: str) -> str:
    return f"{KEY_PREFIX}:sync-rerun:{realm_id}"


@dataclass
class Lease:
    """A Redis lease on ``key``: one holder at a time, renewed by the holder, lapsing by
    itself if the holder dies."""

    key: str
    value: str
    ttl_ms: int
    released: bool = field(default=False, repr=False)

    def renew(self) -> None:
        """Extend the lease; raises ``LeaseLost`` when it was released, or expired and
        someone else took it (or nobody did: a lease that lapsed once is never silently
        re-taken)."""
        if self.released or not redis_client().eval(_RENEW, 1, self.key, self.value, self.ttl_ms):
            raise LeaseLost(f"the lease {self.key} expired or was released")

    def release(self) -> bool:
        """Give the key back; True when this lease still held it until now."""
        if self.released:
            return False
        self.released = True
        held = bool(redis_client().eval(_RELEASE, 1, self.key, self.value))
        if held and isinstance(self, RealmLease):
            # Released in time: nothing for the next holder to evict.
            redis_client().delete(_holder_key(self.realm_id))
        return held


def _take(key: str, ttl_ms: int) -> str | None:
    """Set ``key`` to a fresh random value unless it is held; the value, or None."""
    value = secrets.token_hex(16)
    return value if redis_client().set(key, value, nx=True, px=ttl_ms) else None


def lease_acquire(key: str, *, ttl_ms: int) -> Lease | None:
    value = _take(key, ttl_ms)
    return None if value is None else Lease(key=key, value=value, ttl_ms=ttl_ms)


@dataclass(kw_only=True)
class RealmLease(Lease):
    """A held sync lease on one realm, with the fencing token that goes with it."""

    realm_id: str
    connection_id: int
    fence: int = 0

    def check_fence(self, *, synchronous_commit: bool | None = None) -> None:
        """Inside a transaction: refuse to write unless this lease's fence is current.

        ``FOR SHARE`` makes a successor's fence increment wait for this transaction to
        commit (or this check wait for the successor's increment, and then fail), so
        between this check and COMMIT no newer holder can have started.
        ``synchronous_commit=False`` also lets this transaction commit without waiting for
        the WAL flush (the import's pages: see sync.services._mirror_write); None leaves
        the server's setting as it is.
        """
        with db_connection.cursor() as cursor:
            # A holder frozen inside this transaction (a paused VM, a stopped process) would
            # keep its locks, and with them a successor waiting, for as long as it stays
            # frozen. The database ends such a transaction once it has been idle, or one
            # statement has run, for as long as the lease lasts: by the time the lease
            # lapses, its locks are gone too (and the holder learns on waking that it may
            # not write: see sync.services._run). One statement sets the timeouts and reads
            # the fence: an import checks it once per page, and each round trip counts.
            timeout = str(self.ttl_ms)
            cursor.execute(
                "SELECT sync_fence FROM sync_qboconnection,"
                " set_config('idle_in_transaction_session_timeout', %s, true) idle_timeout,"
                " set_config('statement_timeout', %s, true) statement_timeout,"
                " set_config('synchronous_commit',"
                " COALESCE(%s, current_setting('synchronous_commit')), true) commit_mode"
                " WHERE id = %s FOR SHARE OF sync_qboconnection",
                [
                    timeout,
                    timeout,
                    None if synchronous_commit is None else ("on" if synchronous_commit else "off"),
                    self.connection_id,
                ],
            )
            row = cursor.fetchone()
        if row is None or row[0] != self.fence:
            raise LeaseLost(
                f"realm {self.realm_id}: fence {self.fence} superseded by {row and row[0]}"
            )

    def superseded(self) -> bool:
        """Whether a newer holder has taken the realm's fence (read outside any lock)."""
        fence = (
            QBOConnection.objects.filter(pk=self.connection_id)
            .values_list("sync_fence", flat=True)
            .first()
        )
        return fence != self.fence


def realm_lock_acquire(*, realm_id: str, connection_id: int) -> RealmLease | None:
    """Take the realm's sync lease and a fresh fencing token, or None when it is busy."""
    key = _lock_key(realm_id)
    ttl_ms = int(conf.seconds("SYNC_LOCK_TTL") * 1000)
    value = _take(key, ttl_ms)
    if value is None:
        return None
    lease = RealmLease(
        key=key, value=value, ttl_ms=ttl_ms, realm_id=realm_id, connection_id=connection_id
    )
    try:
        with db_connection.cursor() as cursor:
            _evict_lapsed_holder(cursor, realm_id)
            # Autocommit UPDATE ... RETURNING: the new fence is visible to everyone at once,
            # which is what makes any older holder's next write fail.
            cursor.execute(
                "UPDATE sync_qboconnection SET sync_fence = sync_fence + 1 WHERE id = %s"
                " RETURNING sync_fence",
                [connection_id],
            )
            row = cursor.fetchone()
            if row is None:
                raise QBOConnection.DoesNotExist(f"no connection {connection_id}")
            lease.fence = int(row[0])
            cursor.execute(
                "SELECT pid::text || ':' || backend_start::text FROM pg_stat_activity"
                " WHERE pid = pg_backend_pid()"
            )
            identity = cursor.fetchone()
        if identity is not None:
            redis_client().set(_holder_key(realm_id), identity[0], ex=86400)
    except BaseException:
        lease.release()
        raise
    return lease


def _holder_key(realm_id: str) -> str:
    return f"{KEY_PREFIX}:sync-holder:{realm_id}"


def _evict_lapsed_holder(cursor: Any, realm_id: str) -> None:
    """End the database session of a holder whose lease lapsed while it was inside a
    transaction, before taking the fence.

    The transaction timeouts ``check_fence`` sets end a stopped holder's transaction when
    it stands idle, but not one stopped in the middle of sending a COPY: PostgreSQL waits
    for the rest of the data and no server timeout interrupts that wait. That session
    would hold its locks, and with them this successor, for as long as the holder stays
    stopped. Its lease lapsed, so it may not write anyway; ending its session is what
    fencing means here. Only that exact session (pid and start time, recorded when it
    took the lease) is ended, and only while it is inside a transaction.
    """
    identity = redis_client().getdel(_holder_key(realm_id))
    if not identity:
        return
    pid, _, started = (identity.decode() if isinstance(identity, bytes) else identity).partition(
        ":"
    )
    if not pid.isdigit():
        return
    cursor.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE pid = %s AND pid <> pg_backend_pid() AND backend_start::text = %s"
        " AND xact_start IS NOT NULL",
        [int(pid), started],
    )
    if any(row[0] for row in cursor.fetchall()):
        logger.warning(
            "realm %s: ended the database session of a sync whose lease lapsed mid-transaction",
            realm_id,
        )


def lease_held(key: str) -> bool:
    return bool(redis_client().exists(key))


def realm_lock_held(*, realm_id: str) -> bool:
    return bool(redis_client().exists(_lock_key(realm_id)))


def realm_rerun_request(*, realm_id: str) -> None:
    """Ask the current holder for one more poll (a webhook arrived while it was busy)."""
    redis_client().set(_rerun_key(realm_id), "1", ex=3600)


def realm_rerun_take(*, realm_id: str) -> bool:
    return redis_client().getdel(_rerun_key(realm_id)) is not None
