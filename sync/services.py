"""Writes of the sync app: connections, the initial import, CDC polls, scheduling.

How a realm's mirror is kept (docs/qbo-api.md §2-3, docs/reliability.md "CDC cursor"):

- **Import.** Every mirrored entity is read in pages of 1000 by Id (keyset paging, see
  ``QBOClient.query_page``). Each page is upserted and the entity's cursor
  (``import_after_id``) advanced in ONE transaction, so an import killed at any point
  resumes after the last page it stored, and re-reading a page is harmless anyway. The
  CDC watermark for afterwards is the import's START time (minus the overlap): whatever
  changed while the import paged is picked up by the first poll.
- **Poll.** One ``cdc`` request for all entities from the watermark. Upserts, deletions
  and voids of all entities, and the new watermark, are written in ONE transaction: the
  watermark can never get ahead of the rows it covers. It becomes the poll's start time
  minus a two-minute overlap (clock skew, changes committing while we read); upserts
  compare SyncToken and LastUpdatedTime first, so re-reading the overlap writes nothing.
- **Quiet realms.** A poll that applied no change does not write the watermark either;
  the window then grows by one interval per poll and every re-read object compares
  equal. Once the watermark is ``SYNC_CURSOR_REFRESH`` (1 h) old it is moved forward
  anyway, so re-reads stay small and the 30-day look-back is never reached.
- **Caps.** An entity answered with 1000 objects may have more, and which 1000 Intuit
  returns (oldest, newest, any) is not documented: no window CDC can express is then known
  complete. The poll reads that entity whole by query instead, pruning what no longer
  exists (``_reread``), and moves every watermark as usual. See docs/qbo-api.md §3,
  "Open questions".
- **Tombstones are confirmed.** Intuit has reported ``"status": "Deleted"`` for objects
  that exist. Before a tombstone removes a mirror row, one ``Id IN (…)`` query per entity
  asks whether the object is still there; if it is, it is stored instead
  (``_tombstones_confirmed``). A poll with nothing deleted and nothing capped costs one
  request.
- **Offsets.** Every timestamp sent to Intuit carries an explicit offset (UTC): which zone
  Intuit reads a zone-less one in is not documented either.
- **Too old.** A watermark near Intuit's 30-day limit means a full re-import, which also
  deletes mirror rows that no longer exist upstream (``mirror.mirror_prune``).
- **One at a time.** Every import or poll holds the realm's lease (sync/locks.py) and
  checks its fencing token in each writing transaction.
"""

from __future__ import annotations

import logging
import random
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

import psycopg
from django import db
from django.conf import settings
from django.contrib.messages import constants as message_levels
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import Partner
from common import mirror
from common.mirror import (
    JSON,
    Applied,
    Prepared,
    mirror_analyze,
    mirror_apply,
    mirror_prepare,
    mirror_prune,
    mirror_write,
)
from common.models import MirrorVersion
from common.publish import publish_quietly

from . import conf, locks
from .clients import qbo
from .crypto import Secret
from .errors import describe
from .locks import LeaseLost, RealmLease
from .models import QBOConnection, SyncCursor, SyncRun, WebhookEvent
from .oauth import StateError, state_consume, state_issue
from .tokens import ConnectionTokens
from .webhooks import WebhookPayloadError, parse, signature_valid, webhook_events_store

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase

    from accounts.models import User

logger = logging.getLogger(__name__)

LAST_TICK_KEY = "sync:last-tick"


# ---------------------------------------------------------------- scheduling


def tick_run() -> datetime:
    """Beat's one-minute heartbeat, then a poll enqueued for every connection that is due.

    The heartbeat is recorded first (/healthz reports it), so a scheduling failure cannot
    make a running beat look dead.
    """
    now = timezone.now()
    cache.set(LAST_TICK_KEY, now.isoformat(), timeout=None)
    connection_schedule_due(now=now)
    return now


def next_sync_time(*, interval: timedelta, now: datetime) -> datetime:
    # Jitter spreads realms connected at the same moment (a demo, a migration) over the
    # interval instead of polling them all in the same tick forever.
    jitter = interval.total_seconds() * float(conf.get("SYNC_JITTER"))
    return now + interval + timedelta(seconds=random.uniform(0, jitter))


@transaction.atomic
def connection_schedule_due(*, now: datetime) -> list[int]:
    """Claim every connected connection whose ``next_sync_at`` has come and enqueue its sync.

    Claiming (moving ``next_sync_at`` to the next slot) happens in the same transaction,
    with SKIP LOCKED, so a second beat or a slow tick cannot enqueue a connection twice.
    """
    due = list(
        QBOConnection.objects.select_for_update(skip_locked=True)
        .filter(status=QBOConnection.Status.CONNECTED)
        .filter(Q(next_sync_at__lte=now) | Q(next_sync_at__isnull=True))
        .only("id", "sync_interval", "next_sync_at")
    )
    for connection in due:
        connection.next_sync_at = next_sync_time(interval=connection.sync_interval, now=now)
        connection.save(update_fields=["next_sync_at"])
        _enqueue_sync(connection.pk, "schedule")
    return [connection.pk for connection in due]


def _enqueue_sync(connection_id: int, trigger: str) -> None:
    # On commit, as ``delay_on_commit`` would, but through ``_publish_quietly``: a broker
    # outage must not turn "Sync now" or a finished connect into a 500 after the row is
    # saved; the schedule picks the connection up once Redis is back.
    transaction.on_commit(lambda: _publish_quietly(connection_id, trigger))


def connection_sync_now(*, connection: QBOConnection, trigger: str = "manual") -> None:
    """Enqueue a sync now: the rest of the import if it is not done, else a poll."""
    _enqueue_sync(connection.pk, trigger)


def connection_sync_request(*, connection: QBOConnection) -> None:
    """Someone pressed "Sync now": enqueue it, or say why this connection cannot sync.

    ``connection_sync_now`` enqueues whatever it is given (a push calls it too, and the
    sync task skips a connection that is not connected); refusing here is what lets the
    person who pressed the button learn that nothing will run and what to do instead.
    """
    if connection.status != QBOConnection.Status.CONNECTED:
        raise ValidationError(
            "Only a connected QuickBooks company can be synced."
            + (
                " It needs to be reconnected first."
                if connection.status == QBOConnection.Status.NEEDS_RECONNECT
                else ""
            )
        )
    connection_sync_now(connection=connection, trigger="manual")


_WEBHOOK_POLL_KEY = "sync:webhook-poll:"


def webhook_poll_spacing() -> float:
    """At most one webhook poll per realm is enqueued at once in this many seconds
    (``SYNC_WEBHOOK_POLL_SPACING``, sync/conf.py, which says why)."""
    return conf.seconds("SYNC_WEBHOOK_POLL_SPACING")


def webhook_events_received(*, realm_ids: set[str]) -> None:
    """Ask for a poll of each connected realm named by stored webhook events.

    The first notification of a realm in ``webhook_poll_spacing()`` seconds enqueues its
    poll at once. The others in that window are read by that poll if it has not started
    yet, and by one more otherwise: they make the connection due at the window's end, and
    beat's next tick enqueues that poll, once for all of them (``connection_schedule_due``
    claims it). So a burst costs two polls per window, however many deliveries it has, and
    its last change waits at most the window and a tick (a minute in production).

    Never raises because the broker is down or hangs: the events are already stored, and
    the schedule polls every connected realm within its interval anyway. Their status
    says what happened: ENQUEUED (a poll is queued or due), RECEIVED when Redis could not
    be reached, or IGNORED for a realm no partner has connected.
    """
    connections = dict(
        QBOConnection.objects.filter(
            status=QBOConnection.Status.CONNECTED, realm_id__in=realm_ids
        ).values_list("realm_id", "id")
    )
    unknown = set(realm_ids) - set(connections)
    if unknown:
        WebhookEvent.objects.filter(
            realm_id__in=unknown, status=WebhookEvent.Status.RECEIVED
        ).update(status=WebhookEvent.Status.IGNORED)
    for realm_id, connection_id in connections.items():

        def enqueue(realm_id: str = realm_id, connection_id: int = connection_id) -> None:
            if _webhook_poll_asked(realm_id, connection_id):
                WebhookEvent.objects.filter(
                    realm_id=realm_id, status=WebhookEvent.Status.RECEIVED
                ).update(status=WebhookEvent.Status.ENQUEUED)

        transaction.on_commit(enqueue)


def _webhook_poll_asked(realm_id: str, connection_id: int) -> bool:
    """Enqueue the realm's poll now, or make it due at the end of the window another
    notification opened (``webhook_events_received``); False when neither happened."""
    spacing = webhook_poll_spacing()
    try:
        # SET NX EX: of concurrent deliveries for the realm, exactly one opens the window.
        first = cache.add(_WEBHOOK_POLL_KEY + realm_id, "1", timeout=max(1, round(spacing)))
    except Exception as exc:
        # The cache is the broker's Redis: publishing could only fail too, after waiting.
        logger.warning("webhook poll of realm %s not enqueued (%s)", realm_id, type(exc).__name__)
        return False
    if first:
        return _publish_quietly(connection_id, "webhook")
    due = timezone.now() + timedelta(seconds=spacing)
    # Only ever earlier: a connection already due sooner keeps its time.
    QBOConnection.objects.filter(pk=connection_id, next_sync_at__gt=due).update(next_sync_at=due)
    return True


class WebhookSignatureError(Exception):
    """A webhook delivery not signed with our verifier token: not from Intuit."""


def webhook_delivery_receive(*, body: bytes, signature: str | None) -> None:
    """Verify, parse and store one webhook delivery, then ask for polls of its realms.

    Raises ``WebhookSignatureError`` (nothing is read) or ``WebhookPayloadError``
    (nothing is stored). Intuit wants its answer within three seconds and retries
    otherwise (docs/qbo-api.md §12), so only what must happen before answering happens
    here.

    Deliberately not one transaction: ``webhook_events_store`` commits the events on
    their own, before anything is enqueued, because the rows are what survives a broker
    that is down (docs/reliability.md 13).
    """
    if not signature_valid(
        body=body, signature=signature, verifier_token=settings.QBO_WEBHOOK_VERIFIER_TOKEN
    ):
        logger.warning("webhook refused: missing or wrong intuit-signature")
        raise WebhookSignatureError
    try:
        events = parse(body)
    except WebhookPayloadError as exc:
        logger.warning("webhook refused: %s", exc)
        raise

    stored = webhook_events_store(events=events)
    realm_ids = {event.realm_id for event in stored if not event.problem}
    if realm_ids:
        try:
            webhook_events_received(realm_ids=realm_ids)
        except Exception as exc:
            # Intuit must still get its 200: the events are stored, and the scheduled
            # poll covers their realms if the immediate one cannot be enqueued.
            logger.warning(
                "webhook events stored but the immediate poll was not enqueued (%s)",
                type(exc).__name__,
            )


def _publish_quietly(connection_id: int, trigger: str) -> bool:
    """Publish a sync within ``SYNC_ENQUEUE_TIMEOUT`` seconds, or log and give up: the
    schedule catches up once the broker is back."""
    from .tasks import connection_sync

    return publish_quietly(
        connection_sync, connection_id, trigger, timeout=conf.seconds("SYNC_ENQUEUE_TIMEOUT")
    )


# ---------------------------------------------------------------- connect / disconnect


# Shown when a realm is live for another partner (``_realm_taken``): by the callback,
# which refuses before the code is exchanged, and by ``_connection_store``, which also
# catches a connect of the same realm by another partner in between.
REALM_TAKEN = (
    "That QuickBooks company is already connected to another partner in unefemme, so it "
    "was not connected. If it really is yours, contact Une Femme."
)
REALM_NOT_AUTHORIZED = (
    "QuickBooks did not let this sign-in open the company it named, so nothing was "
    "connected. Press Connect to QuickBooks again and choose your company there."
)
INTUIT_UNREACHABLE = (
    "QuickBooks cannot be reached right now, so the connection could not start. "
    "Please try again in a few minutes."
)

# A QuickBooks realm id is ASCII digits, stored in a column of 32. Not str.isdigit(): it
# also accepts superscripts ("²") and other scripts' digits ("١٢٣"), which are no realm, and
# a connection stored under one would never sync.
_REALM_ID = re.compile(r"[0-9]{1,32}")

# Why a callback could not be used at all, which ``callback_refused.html`` explains:
# "state" is this browser's side of the flow (another session, already used, too old;
# docs/reliability.md 1), "incomplete" is what QuickBooks sent back (no code, or no realm id
# that can name a company).
CallbackProblem = Literal["state", "incomplete"]


class ConnectRefused(ValidationError):
    """Nothing was connected, and what to tell the person, in the terms a view renders.

    With ``problem`` set, the callback itself was unusable: the answer is a 400 with
    ``callback_refused.html`` explaining that problem, and no message. Otherwise the
    person goes back to Connections and ``message`` is shown at ``level`` (a
    ``django.contrib.messages`` level: cancelling at Intuit is news, not an error).
    """

    def __init__(
        self,
        message: str,
        *,
        problem: CallbackProblem | None = None,
        level: int = message_levels.ERROR,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problem: CallbackProblem | None = problem
        self.level = level


def connection_authorization_start(*, user: User, session: SessionBase) -> str:
    """Where the Connect button sends ``user`` (a partner user): Intuit's consent page,
    carrying a fresh state bound in ``session`` to the user and their partner.

    The partner is taken from ``user`` alone, so nothing a browser posts can choose it.
    Raises ``ConnectRefused`` when Intuit's discovery document (read once per process to
    build the URL, docs/qbo-api.md §10) cannot be fetched.
    """
    # Also allowed while the connection still looks healthy: someone who has just
    # disconnected unefemme inside QuickBooks must be able to reconnect at once.
    state = state_issue(session=session, user=user)
    try:
        return qbo.authorization_url(state=state)
    except qbo.QBOError as exc:
        logger.warning("QuickBooks authorize URL unavailable: intuit_tid=%s", exc.intuit_tid)
        raise ConnectRefused(INTUIT_UNREACHABLE) from None


# The debug error page and error reports must never show the authorization code or the
# tokens it buys; this covers every frame called from here, the client's included.
@sensitive_variables("code", "tokens")
def connection_connect_from_callback(
    *, user: User, session: SessionBase, params: Mapping[str, str]
) -> QBOConnection:
    """Finish Intuit's consent: ``params`` is the callback's query, ``code``, ``state``
    and ``realmId``, or ``error=access_denied`` when the person pressed Cancel.

    The state is consumed first, whatever follows, so a callback works once (sync/oauth.py).
    Every refusal raises ``ConnectRefused``; those that can happen before the code is
    exchanged do, so a code that was not going to be used stays unused and no tokens for
    a refused company ever reach this database. Not one transaction: the exchange and
    ``connection_connect``'s company read are calls to Intuit, kept outside any.
    """
    try:
        issued = state_consume(session=session, state=params.get("state"), user=user)
    except StateError as exc:
        logger.warning("QuickBooks callback refused for user %s: %s", user.pk, exc.reason)
        raise ConnectRefused(exc.reason, problem="state") from None

    error = params.get("error")
    if error:
        if error == "access_denied":
            raise ConnectRefused(
                "You cancelled at QuickBooks, so nothing was connected. Press Connect to "
                "QuickBooks when you are ready.",
                level=message_levels.INFO,
            )
        logger.warning("QuickBooks callback for user %s returned error %.40r", user.pk, error)
        raise ConnectRefused(
            "QuickBooks did not complete the connection. Please try again; if it keeps "
            "failing, tell Une Femme."
        )

    code = params.get("code", "")
    realm_id = params.get("realmId", "")
    if not code or not _REALM_ID.fullmatch(realm_id):
        logger.warning("QuickBooks callback for user %s lacks a code or realm id", user.pk)
        raise ConnectRefused("no code or realm id", problem="incomplete")

    partner = Partner.objects.get(pk=issued.partner_id)
    # Refused before the code is exchanged: a company that is another partner's stays
    # theirs, and no tokens for it ever reach this database.
    if _realm_taken(realm_id=realm_id, partner=partner):
        logger.warning(
            "QuickBooks realm %s refused for partner %s: live for another partner",
            realm_id,
            partner.pk,
        )
        raise ConnectRefused(REALM_TAKEN)

    try:
        tokens = qbo.exchange_code(code=code, realm_id=realm_id)
        return connection_connect(partner=partner, realm_id=realm_id, tokens=tokens, user=user)
    except qbo.QBOError as exc:
        logger.warning(
            "QuickBooks connect failed for partner %s realm %s: code=%s status=%s intuit_tid=%s",
            partner.pk,
            realm_id,
            exc.code,
            exc.status,
            exc.intuit_tid,
        )
        raise ConnectRefused(
            "QuickBooks did not accept the connection, so nothing was connected. Please "
            "press Connect to QuickBooks again"
            + (f" (reference for Une Femme: {exc.intuit_tid})." if exc.intuit_tid else ".")
        ) from None
    except ValidationError as exc:
        raise ConnectRefused(" ".join(exc.messages)) from None


def connection_connect(
    *, partner: Partner, realm_id: str, tokens: qbo.TokenSet, user: User
) -> QBOConnection:
    """Create or revive the partner's connection to ``realm_id`` and start its import.

    Reconnecting (after invalid_grant, or after a disconnect) is the same call: the
    partner's row for that realm comes back to life with new tokens, and the sync picks
    up from its cursors (or re-imports if they are too old).
    """
    # Reading the company's name is also the proof that these tokens open ``realm_id``:
    # the realm id comes back from the browser, and a partner user could send their own
    # valid code with another company's id, claiming a realm that is not theirs and
    # locking its owner out. Intuit answers 401/403 then, and nothing is stored. Any other
    # failure (throttling, an outage, Redis) must not lose a good connection: the name is
    # a nicety that the import fetches again. The call stays outside the transaction.
    try:
        company_name = qbo.fetch_company_name(realm_id=realm_id, access_token=tokens.access_token)
    except qbo.QBOError as exc:
        if exc.status in (401, 403) or isinstance(exc, qbo.ReconnectRequired):
            logger.warning(
                "connect refused: tokens do not open realm %s (status=%s, intuit_tid=%s)",
                realm_id, exc.status, exc.intuit_tid,
            )  # fmt: skip
            raise ValidationError(REALM_NOT_AUTHORIZED) from None
        logger.warning(
            "company name for realm %s not fetched: %s (intuit_tid=%s)",
            realm_id,
            type(exc).__name__,
            exc.intuit_tid,
        )
        company_name = ""
    except Exception as exc:  # Redis (the rate limiter) being down
        logger.warning(
            "company name for realm %s not fetched: %s (intuit_tid=%s)",
            realm_id,
            type(exc).__name__,
            getattr(exc, "intuit_tid", None),
        )
        company_name = ""
    return _connection_store(
        partner=partner, realm_id=realm_id, tokens=tokens, user=user, company_name=company_name
    )


def _realm_taken(*, realm_id: str, partner: Partner, lock: bool = False) -> bool:
    """Whether ``realm_id`` is live for a partner other than ``partner``.

    A company belongs to one partner at a time: letting a second partner connect it would
    hand that partner the first one's books and, on their next connect, lock the first
    out. With ``lock``, the rows read are locked until the transaction ends, so no
    connect of the realm can slip in between this check and the write that follows it.
    """
    rows = QBOConnection.objects.select_for_update() if lock else QBOConnection.objects.all()
    return rows.live().filter(realm_id=realm_id).exclude(partner=partner).exists()


@transaction.atomic
def _connection_store(
    *, partner: Partner, realm_id: str, tokens: qbo.TokenSet, user: User, company_name: str
) -> QBOConnection:
    if _realm_taken(realm_id=realm_id, partner=partner, lock=True):
        raise ValidationError(REALM_TAKEN)
    live = QBOConnection.objects.select_for_update().live()
    other = live.filter(partner=partner).exclude(realm_id=realm_id).first()
    if other is not None:
        raise ValidationError(
            f"Your QuickBooks company {other.company_name or other.realm_id} is still "
            "connected. Disconnect it before connecting another one."
        )
    # The partner's row for this realm, if any: the live one, else the latest one.
    rows = list(
        QBOConnection.objects.select_for_update().filter(partner=partner, realm_id=realm_id)
    )
    rows.sort(key=lambda c: (c.status != QBOConnection.Status.DISCONNECTED, c.connected_at))
    connection = rows[-1] if rows else None
    now = timezone.now()
    trigger = "reconnect" if connection is not None else "connect"
    if connection is None:
        connection = QBOConnection(partner=partner, realm_id=realm_id)
    connection.status = QBOConnection.Status.CONNECTED
    connection.company_name = company_name or connection.company_name
    connection.access_token = Secret(tokens.access_token)
    connection.access_token_expires_at = tokens.access_expires_at
    connection.refresh_token = Secret(tokens.refresh_token)
    connection.refresh_token_expires_at = tokens.refresh_expires_at
    connection.connected_by = user
    connection.connected_at = now
    connection.disconnected_at = None
    connection.last_error = ""
    connection.last_error_tid = ""
    # The import is enqueued below; the schedule takes over one interval later.
    connection.next_sync_at = next_sync_time(interval=connection.sync_interval, now=now)
    try:
        with transaction.atomic():
            connection.save()
    except IntegrityError:
        # A concurrent connect of the same realm or partner won the unique constraints.
        raise ValidationError(
            "That QuickBooks company was connected by someone else at the same moment, so "
            "it was not connected. Reload the page to see its state."
        ) from None
    logger.info("QBO realm %s connected to partner %s by user %s", realm_id, partner.pk, user.pk)
    _enqueue_sync(connection.pk, trigger)
    return connection


def connection_disconnect(*, connection: QBOConnection, user: User | None) -> None:
    """Revoke at Intuit (best effort), delete the tokens, stop the schedule.

    Mirror rows stay: staff still see the partner's history, marked as no longer synced.
    The revocation call is made before, and outside, the database transaction.
    """
    token = connection.refresh_token or connection.access_token
    if token is not None:
        try:
            qbo.revoke(token=token.reveal())
        except qbo.QBOError as exc:
            # Best effort: our copy of the tokens is deleted either way, which is what
            # stops unefemme from using them.
            logger.warning(
                "QBO revoke for connection %s failed: %s (intuit_tid=%s)",
                connection.pk,
                exc.message,
                exc.intuit_tid,
            )
    _connection_forget_tokens(connection=connection, user=user)


@transaction.atomic
def _connection_forget_tokens(*, connection: QBOConnection, user: User | None) -> None:
    locked = QBOConnection.objects.select_for_update().get(pk=connection.pk)
    locked.status = QBOConnection.Status.DISCONNECTED
    locked.access_token = None
    locked.access_token_expires_at = None
    locked.refresh_token = None
    locked.refresh_token_expires_at = None
    locked.disconnected_at = timezone.now()
    locked.next_sync_at = None
    locked.last_error = ""
    locked.last_error_tid = ""
    locked.save()
    logger.info(
        "QBO connection %s (realm %s) disconnected by user %s",
        locked.pk,
        locked.realm_id,
        user.pk if user else None,
    )
    # The caller's instance reflects what was stored.
    connection.refresh_from_db()


def connection_refresh_info(*, connection_id: int) -> str:
    """Re-read the company's name from QuickBooks (it can be renamed there)."""
    connection = QBOConnection.objects.get(pk=connection_id)
    client = qbo.QBOClient(realm_id=connection.realm_id, tokens=ConnectionTokens(connection.pk))
    name = client.company_name()
    if name and name != connection.company_name:
        QBOConnection.objects.filter(pk=connection.pk).update(company_name=name)
    return name


# ---------------------------------------------------------------- running a sync


@dataclass
class _Context:
    connection: QBOConnection
    lease: RealmLease
    run: SyncRun
    meter: qbo.Meter
    client: qbo.QBOClient = field(init=False)
    counts: dict[str, Applied] = field(default_factory=dict)
    # Seconds this run's own thread spent waiting for QuickBooks (SyncRun.qbo_wait_seconds).
    waited: float = 0.0
    _renewed_at: float = 0.0

    @contextmanager
    def waiting(self) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.waited += time.monotonic() - started

    def heartbeat(self) -> None:
        # Renew the lease a few times per TTL, not on every request.
        now = time.monotonic()
        if now - self._renewed_at >= conf.seconds("SYNC_LOCK_TTL") / 4:
            self.lease.renew()
            self._renewed_at = now

    def count(self, entity: str, applied: Applied) -> None:
        self.counts.setdefault(entity, Applied()).add(applied)

    def save_progress(self) -> None:
        SyncRun.objects.filter(pk=self.run.pk).update(
            api_requests=self.meter.requests,
            throttled=self.meter.throttled,
            retries=self.meter.retries,
            qbo_wait_seconds=self.waited,
            counts={e: a.as_dict() for e, a in self.counts.items()},
        )


def connection_sync(*, connection_id: int, trigger: str) -> SyncRun | None:
    """The sync task's body: the realm's lease, then the import or a poll.

    Returns the last run, or None when nothing ran (not connected, or another worker
    holds the realm; a poll asked for meanwhile is then run by that worker on its way
    out).
    """
    connection = QBOConnection.objects.filter(pk=connection_id).first()
    if connection is None or connection.status != QBOConnection.Status.CONNECTED:
        logger.info("sync of connection %s skipped: not connected", connection_id)
        return None
    lease = locks.realm_lock_acquire(realm_id=connection.realm_id, connection_id=connection.pk)
    if lease is None:
        locks.realm_rerun_request(realm_id=connection.realm_id)
        logger.info("sync of realm %s skipped: another sync holds it", connection.realm_id)
        return None
    try:
        run = _sync_once(connection_id, lease, trigger)
        # Webhooks (or a Sync now) that arrived while we worked asked for one more poll.
        for _ in range(3):
            if run is None or run.status != SyncRun.Status.SUCCEEDED:
                break
            if not locks.realm_rerun_take(realm_id=connection.realm_id):
                break
            run = _sync_once(connection_id, lease, "rerun")
        return run
    finally:
        # A request that arrived after the last check (or after a failed run, or past the
        # three reruns) would otherwise wait for the schedule: hand it to a fresh task now
        # that the realm is free. An extra poll is harmless; a quiet one writes nothing.
        # Only the rightful holder hands over: one that lost its lease (paused past it)
        # leaves the requests to whoever holds the realm now.
        if lease.release() and locks.realm_rerun_take(realm_id=connection.realm_id):
            _publish_quietly(connection.pk, "rerun")


def _sync_once(connection_id: int, lease: RealmLease, trigger: str) -> SyncRun | None:
    connection = QBOConnection.objects.get(pk=connection_id)
    if connection.status != QBOConnection.Status.CONNECTED:
        return None
    cursors = _cursors(connection)
    if all(c.import_done for c in cursors.values()):
        since = min(c.changed_since or timezone.now() for c in cursors.values())
        if any(c.changed_since is None for c in cursors.values()) or (
            since < timezone.now() - conf.duration("SYNC_CDC_MAX_AGE")
        ):
            logger.info("realm %s: CDC watermark too old, re-importing", connection.realm_id)
            try:
                _cursors_reset(lease, connection, list(cursors))
            except LeaseLost:
                return None
            return _run(connection, lease, SyncRun.Kind.IMPORT, trigger, _import)
        run = _run(connection, lease, SyncRun.Kind.POLL, trigger, _poll)
        if run is None or run.status != SyncRun.Status.SKIPPED:
            return run
        # The poll handed some entities back to the importer (see _poll).
        return _run(connection, lease, SyncRun.Kind.IMPORT, "reimport", _import)
    return _run(connection, lease, SyncRun.Kind.IMPORT, trigger, _import)


def _cursors(connection: QBOConnection) -> dict[str, SyncCursor]:
    existing = {c.entity: c for c in connection.cursors.all()}
    for entity in mirror.entities():
        if entity not in existing:
            existing[entity], _ = SyncCursor.objects.get_or_create(
                connection=connection, entity=entity
            )
    return {entity: existing[entity] for entity in mirror.entities()}


def _cursors_reset(
    lease: RealmLease,
    connection: QBOConnection,
    entities: list[str],
    *,
    keep_watermark: bool = False,
) -> None:
    """Start the import of ``entities`` over, reconciling with what the mirror holds.

    ``keep_watermark`` leaves their CDC watermark as it is (a poll's re-read, which moves
    every watermark itself once it has read everything); otherwise the import sets it."""
    fields: dict[str, object] = {
        "import_done": False,
        "import_after_id": "",
        "imported_count": 0,
        "total_count": None,
        "reconcile": True,
    }
    if not keep_watermark:
        fields["changed_since"] = None
    with transaction.atomic():
        lease.check_fence()
        SyncCursor.objects.filter(connection=connection, entity__in=entities).update(**fields)


def _run(
    connection: QBOConnection,
    lease: RealmLease,
    kind: str,
    trigger: str,
    body: Callable[[_Context], None],
) -> SyncRun | None:
    try:
        with transaction.atomic():
            lease.check_fence()
            # We hold the realm, so any run still marked running was cut short (a killed
            # worker, a lost lease): say so instead of leaving it "running" forever.
            SyncRun.objects.filter(connection=connection, status=SyncRun.Status.RUNNING).update(
                status=SyncRun.Status.FAILED,
                finished_at=timezone.now(),
                error="Interrupted before it finished; a later sync resumed the work.",
            )
            run = SyncRun.objects.create(connection=connection, kind=kind, trigger=trigger[:20])
    except LeaseLost:
        # A newer holder has the realm; this worker must not even touch the run log.
        logger.warning("sync of realm %s abandoned: its lease was lost", connection.realm_id)
        return None
    meter = qbo.Meter()
    context = _Context(connection=connection, lease=lease, run=run, meter=meter)
    context.client = qbo.QBOClient(
        realm_id=connection.realm_id,
        tokens=ConnectionTokens(connection.pk),
        meter=meter,
        heartbeat=context.heartbeat,
    )
    try:
        body(context)
    except _Reimport as exc:
        _run_ended(context, SyncRun.Status.SKIPPED, f"{exc} A full re-import follows.")
    except Exception as exc:
        failure = _lost_while_stopped(lease, exc) if isinstance(exc, DB_ERRORS) else exc
        _run_failed(context, failure)
        if not isinstance(failure, qbo.QBOError | LeaseLost):
            raise
    else:
        _run_succeeded(context)
    run.refresh_from_db()
    return run


# What the database answers a sync whose transaction it ended: Django's errors, and
# psycopg's own from a COPY (sent on the raw cursor).
DB_ERRORS = (db.DatabaseError, psycopg.Error)


def _lost_while_stopped(lease: RealmLease, exc: Exception) -> Exception:
    """``LeaseLost`` instead of ``exc`` when the database ended this sync's transaction
    because the worker stood still inside it past its lease (``RealmLease.check_fence``)
    and a newer holder has the realm now: nothing was written, and that is the whole
    story. Any other database error stays what it is."""
    if not db.connection.is_usable():
        db.connection.close()  # the session was ended; the next query opens a new one
    try:
        superseded = lease.superseded()
    except DB_ERRORS:
        return exc
    if not superseded:
        return exc
    return LeaseLost(
        f"realm {lease.realm_id}: the sync stood still past its lease and a newer one took "
        f"the realm; the database ended its transaction ({type(exc).__name__})"
    )


class _Reimport(Exception):
    """The poll cannot continue by CDC; the entities named must be imported again."""


def _run_ended(context: _Context, status: str, error: str = "", tid: str | None = None) -> None:
    context.run.status = status
    context.run.finished_at = timezone.now()
    context.run.api_requests = context.meter.requests
    context.run.throttled = context.meter.throttled
    context.run.retries = context.meter.retries
    context.run.qbo_wait_seconds = context.waited
    context.run.error = error
    context.run.intuit_tid = tid or context.meter.last_intuit_tid or ""
    context.run.counts = {e: a.as_dict() for e, a in context.counts.items()}
    context.run.save()


def _run_succeeded(context: _Context) -> None:
    # One transaction: a page read between the two writes showed the run succeeded and
    # the connection's last sync as "Not yet" (the connect walk in Chromium caught it).
    with transaction.atomic():
        _run_ended(context, SyncRun.Status.SUCCEEDED)
        QBOConnection.objects.filter(pk=context.connection.pk).update(
            last_synced_at=context.run.finished_at, last_error="", last_error_tid=""
        )
    logger.info(
        "%s of realm %s succeeded: %d requests, %d throttled, %d retries",
        context.run.kind,
        context.connection.realm_id,
        context.meter.requests,
        context.meter.throttled,
        context.meter.retries,
    )
    # Each app's work on what was just synced (inventory matches the items to the catalog;
    # common.mirror's registry). The mirror is already committed: a failure here is logged
    # and retried by the next sync, never turned into a failed sync.
    for hook in mirror.after_sync_hooks():
        try:
            hook.run(context.connection.pk)
        except Exception:
            logger.exception(
                "%s after sync of realm %s failed", hook.name, context.connection.realm_id
            )


def _run_failed(context: _Context, exc: Exception) -> None:
    tid = exc.intuit_tid if isinstance(exc, qbo.QBOError) else None
    message = describe(exc)
    _run_ended(context, SyncRun.Status.FAILED, message, tid)
    logger.warning(
        "%s of realm %s failed: %s (intuit_tid=%s)",
        context.run.kind,
        context.connection.realm_id,
        type(exc).__name__,
        tid,
    )
    if isinstance(exc, qbo.QBOError):
        # Shown on the Connections page until a sync succeeds. A connection that was
        # disconnected meanwhile keeps its clean slate.
        QBOConnection.objects.filter(pk=context.connection.pk).exclude(
            status=QBOConnection.Status.DISCONNECTED
        ).update(last_error=message, last_error_tid=tid or "")


# ---------------------------------------------------------------- retention


def retention_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Delete mirror versions older than ``MIRROR_VERSION_RETENTION_DAYS`` and sync runs
    older than ``SYNC_RUN_RETENTION_DAYS``, ``RETENTION_BATCH`` rows a transaction, so a
    first prune of a year's rows never holds a long lock; returns how many of each.

    A run still running is never deleted, nor each connection's latest successful run:
    the Connections page and the schedule's health read it, however long ago it was.
    Versions may outlive the run that wrote them (their link has no constraint)."""
    now = now or timezone.now()
    batch = conf.integer("RETENTION_BATCH")
    old_versions = MirrorVersion.objects.filter(
        seen_at__lt=now - timedelta(days=conf.integer("MIRROR_VERSION_RETENTION_DAYS"))
    )
    newer_success = SyncRun.objects.filter(
        connection_id=OuterRef("connection_id"),
        status=SyncRun.Status.SUCCEEDED,
        started_at__gt=OuterRef("started_at"),
    )
    old_runs = (
        SyncRun.objects.filter(
            started_at__lt=now - timedelta(days=conf.integer("SYNC_RUN_RETENTION_DAYS"))
        )
        .exclude(status=SyncRun.Status.RUNNING)
        .filter(~Q(status=SyncRun.Status.SUCCEEDED) | Exists(newer_success))
    )
    pruned = {"versions": 0, "runs": 0}
    for name, doomed in (("versions", old_versions), ("runs", old_runs)):
        while True:
            with transaction.atomic():
                ids = list(doomed.order_by("pk").values_list("pk", flat=True)[:batch])
                if ids:
                    # Neither model has rows that point at it (a version's run link is
                    # not a constraint), so this is one DELETE, no per-row collection.
                    doomed.model.objects.filter(pk__in=ids).delete()
            pruned[name] += len(ids)
            if len(ids) < batch:
                break
    logger.info("retention: %(versions)d mirror versions, %(runs)d sync runs deleted", pruned)
    return pruned


# ---------------------------------------------------------------- import


def _import(context: _Context) -> None:
    connection = context.connection
    if not connection.company_name:
        with context.waiting():
            name = context.client.company_name()
        if name:
            QBOConnection.objects.filter(pk=connection.pk).update(company_name=name)
    started = timezone.now()
    with transaction.atomic():
        context.lease.check_fence()
        # The first poll reads from the import's start: what changed while we paged.
        SyncCursor.objects.filter(
            connection=connection, import_done=False, changed_since__isnull=True
        ).update(changed_since=started - conf.duration("SYNC_CDC_OVERLAP"))
    imported = []
    for cursor in _cursors(connection).values():
        if not cursor.import_done:
            _import_entity(context, cursor)
            context.save_progress()
            imported.append(cursor.entity)
    # The import may have multiplied the rows the planner last counted; until autovacuum
    # gets round to them, the pages would plan for the old tables (a sequential scan for 50
    # payments' applications). Refreshed now, the first page after an import is fast.
    mirror_analyze(imported)
    if imported:
        _after_import(context)


def _after_import(context: _Context) -> None:
    """Each app's reads of what CDC does not carry, through this run's client: metered,
    so the run's log counts them (common.mirror.AfterImport). A QuickBooks fault here is
    logged and left to the app's own schedule, never a failed import: the mirror is
    stored."""
    for hook in mirror.after_import_hooks():
        try:
            with context.waiting():
                hook.read(context.connection.pk, context.client)
        except qbo.QBOError:
            logger.exception(
                "%s after the import of realm %s failed", hook.name, context.connection.realm_id
            )


def _import_entity(context: _Context, cursor: SyncCursor) -> None:
    entity = cursor.entity
    connection_id = context.connection.pk
    if cursor.total_count is None:
        with context.waiting():
            total = context.client.count(entity)
        with transaction.atomic():
            context.lease.check_fence()
            cursor.total_count = total
            cursor.save(update_fields=["total_count", "updated_at"])

    def wanted(after_id: str, imported: int) -> bool:
        # Everything counted at the start is stored once this many rows are: anything
        # created since has a higher Id and a LastUpdatedTime after the watermark, and the
        # first poll gets it.
        return not (cursor.total_count == 0 or (after_id and imported >= (cursor.total_count or 0)))

    # While a page is written, the next one is already on its way: QuickBooks' answer time
    # and ours overlap instead of adding up (docs/architecture.md, "The write path"). The
    # limiter still governs every request, and the prefetched page is only ever written
    # after the one before it, in its own transaction, so a crash anywhere leaves the
    # cursor at the last page stored, exactly as without prefetching.
    with _Prefetcher(context, entity) as prefetch:
        if wanted(cursor.import_after_id, cursor.imported_count):
            prefetch.ask(cursor.import_after_id)
        while True:
            page, prepared = prefetch.take()
            if (
                page is not None
                and not page.is_last
                and wanted(page.last_id, cursor.imported_count + len(page.rows))
            ):
                prefetch.ask(page.last_id)
            with _mirror_write(context):
                if page is not None:
                    assert prepared is not None
                    applied = mirror_write(prepared, run_id=context.run.pk)
                    if cursor.reconcile:
                        applied.deleted += mirror_prune(
                            connection_id=connection_id,
                            entity=entity,
                            after_id=page.after_id,
                            last_id=None if page.is_last else page.last_id,
                            keep={str(row["Id"]) for row in page.rows},
                            run_id=context.run.pk,
                        )
                    context.count(entity, applied)
                    cursor.import_after_id = page.last_id
                    cursor.imported_count += len(page.rows)
                    # Not the last page but nothing more asked for: the next round takes
                    # no page and only prunes the tail, as a resumed import would.
                    finished = page.is_last
                else:
                    if cursor.reconcile:
                        removed = mirror_prune(
                            connection_id=connection_id,
                            entity=entity,
                            after_id=cursor.import_after_id,
                            last_id=None,
                            keep=set(),
                            run_id=context.run.pk,
                        )
                        context.count(entity, Applied(deleted=removed))
                    finished = True
                if finished:
                    cursor.import_done = True
                    cursor.reconcile = False
                cursor.save()
                # In the page's transaction: its own would wait for a WAL flush per page.
                context.save_progress()
            if finished:
                return


@contextmanager
def _mirror_write(context: _Context) -> Iterator[None]:
    """The transaction of one import page or one CDC answer: the rows and the cursor that
    covers them, under the lease's fence.

    Committed without waiting for the WAL flush (``synchronous_commit`` off, for this
    transaction only). A crash can then lose the last few of these commits, never half of
    one: the rows and their cursor go together, so the lost pages or changes are simply
    read again, and the import does not wait ~20 ms per page for a disk flush it does not
    need (docs/architecture.md, "The write path").
    """
    with transaction.atomic():
        context.lease.check_fence(synchronous_commit=False)
        yield


class _Prefetcher:
    """At most one query page in flight on a second thread, for ``_import_entity``.

    The thread makes the whole client call (limiter slot, retries, a token refresh), then
    turns the page into rows (``mirror_prepare``: no database), and closes its own
    database connection when it ends; an exception it meets is raised where the page is
    taken. Leaving the block waits for a page still in flight, so nothing of the client
    outlives the import.
    """

    # How long a thread that wants the GIL lets the other keep it (Python's default: 5 ms).
    # The writing thread wants it back after each of its ~10 database round trips a page,
    # while this one is busy decoding and preparing; at the default, those handovers more
    # than doubled the time a page took to write (docs/architecture.md, "The write path").
    SWITCH_INTERVAL = 0.0005

    def __init__(self, context: _Context, entity: str) -> None:
        self.context = context
        self.entity = entity
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qbo-prefetch")
        self._future: Future[tuple[qbo.QueryPage, Prepared, tuple[float, float]]] | None = None
        self._switch_interval = sys.getswitchinterval()

    def __enter__(self) -> _Prefetcher:
        sys.setswitchinterval(min(self._switch_interval, self.SWITCH_INTERVAL))
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._pool.shutdown(wait=True, cancel_futures=True)
        finally:
            sys.setswitchinterval(self._switch_interval)

    def ask(self, after_id: str) -> None:
        self._future = self._pool.submit(self._fetch, after_id)

    def take(self) -> tuple[qbo.QueryPage, Prepared] | tuple[None, None]:
        """The page asked for last and its rows, or Nones when none was asked for since
        the last take."""
        future, self._future = self._future, None
        if future is None:
            return None, None
        blocked = time.monotonic()
        page, prepared, preparing = future.result()
        # Waiting for the thread is waiting for QuickBooks, except while it was decoding
        # the answer and preparing the rows: that part is ours (SyncRun.qbo_wait_seconds).
        now = time.monotonic()
        ours = max(0.0, min(now, preparing[1]) - max(blocked, preparing[0]))
        self.context.waited += max(0.0, now - blocked - ours)
        return page, prepared

    def _fetch(self, after_id: str) -> tuple[qbo.QueryPage, Prepared, tuple[float, float]]:
        try:
            page = self.context.client.query_page(self.entity, after_id=after_id)
            # Ours from the moment the answer arrived: decoding it, then preparing rows.
            started = page.answered_at or time.monotonic()
            prepared = mirror_prepare(
                connection_id=self.context.connection.pk,
                entity=self.entity,
                objects=page.rows,
                texts=page.texts or None,
            )
            return page, prepared, (started, time.monotonic())
        finally:
            db.connections.close_all()


# ---------------------------------------------------------------- poll


def _poll(context: _Context) -> None:
    connection = context.connection
    cursors = _cursors(connection)
    since = min(c.changed_since for c in cursors.values() if c.changed_since is not None)
    started = timezone.now()
    try:
        with context.waiting():
            batch = context.client.cdc(list(mirror.entities()), changed_since=since)
    except qbo.CDCTooOld:
        # Our own guard keeps watermarks inside 30 days; a clock disagreeing with
        # Intuit's by more than the margin lands here instead.
        _cursors_reset(context.lease, connection, list(mirror.entities()))
        raise _Reimport("QuickBooks refused the change window as too old.") from None
    if batch.capped:
        _reread(context, sorted(batch.capped))
    changes, texts = _tombstones_confirmed(context, batch)
    # Everything read above was read after ``started``: whatever changes later is in the
    # next window. A zone-less server time cannot move the watermark later than our own.
    reference = min(started, batch.server_time or started)
    watermark = max(since, reference - conf.duration("SYNC_CDC_OVERLAP"))
    with _mirror_write(context):
        wrote = bool(batch.capped)
        for entity in mirror.entities():
            if entity in batch.capped:
                continue  # read whole by _reread, which is more than this answer knew
            applied = mirror_apply(
                connection_id=connection.pk,
                entity=entity,
                objects=changes[entity],
                texts=texts.get(entity),
                run_id=context.run.pk,
            )
            context.count(entity, applied)
            wrote |= applied.wrote
        stale = since <= timezone.now() - conf.duration("SYNC_CURSOR_REFRESH")
        if wrote or stale:
            SyncCursor.objects.filter(connection=connection).update(
                changed_since=watermark, updated_at=timezone.now()
            )


def _reread(context: _Context, entities: list[str]) -> None:
    """Read ``entities`` whole, by Id, pruning what no longer exists: their CDC answers hit
    the 1,000-object cap, and which 1,000 of its changes Intuit returns is not documented
    (oldest, newest or any). No window CDC can express is then known complete, so the
    window is read by query instead, and with it the deletions CDC would have reported.

    QuickBooks has no projections, so the paged ``SELECT Id`` that finds deletions returns
    whole objects anyway; one keyset pass over the entity both reads every change in the
    window and compares the id sets, in fewer requests than a window query followed by
    that pass (docs/qbo-api.md §3, "Open questions"). It is the import's reconciling read
    (``_import_entity``): each page committed with its progress, so a sync cut short
    resumes it, while the watermark stays where it was until this poll commits."""
    _cursors_reset(context.lease, context.connection, entities, keep_watermark=True)
    cursors = _cursors(context.connection)
    for entity in entities:
        before = context.meter.requests
        _import_entity(context, cursors[entity])
        context.count(entity, Applied(reread_requests=context.meter.requests - before))


def _tombstones_confirmed(
    context: _Context, batch: qbo.CDCBatch
) -> tuple[dict[str, list[JSON]], dict[str, list[str]]]:
    """The answer's changes with every tombstone checked against QuickBooks: one query
    ``Id IN (…)`` per entity that has any (uncapped, so at most 1,000 of them). A tombstone
    whose object the query still returns is replaced by that object; Intuit has reported
    ``"status": "Deleted"`` for objects that exist, and deleting on its word would lose a
    row no later change may ever bring back (docs/qbo-api.md §3, "Open questions")."""
    changes: dict[str, list[JSON]] = {}
    texts: dict[str, list[str]] = {}
    for entity in mirror.entities():
        objects = batch.changes[entity]
        sent = batch.texts.get(entity)
        doomed = sorted(
            {str(obj["Id"]) for obj in objects if obj.get("status") == "Deleted" and obj.get("Id")}
        )
        if entity in batch.capped or not doomed:
            changes[entity] = objects
            if sent is not None:
                texts[entity] = sent
            continue
        found: list[JSON] = []
        found_texts: list[str] = []
        requests = 0
        for start in range(0, len(doomed), qbo.PAGE_SIZE):
            with context.waiting():
                page = context.client.live_by_ids(entity, doomed[start : start + qbo.PAGE_SIZE])
            requests += 1
            found.extend(page.rows)
            found_texts.extend(page.texts)
        alive = {str(obj.get("Id")) for obj in found}
        keep = [
            index
            for index, obj in enumerate(objects)
            if not (obj.get("status") == "Deleted" and str(obj.get("Id")) in alive)
        ]
        changes[entity] = [objects[index] for index in keep] + found
        if sent is not None and len(found_texts) == len(found):
            texts[entity] = [sent[index] for index in keep] + found_texts
        context.count(
            entity,
            Applied(
                tombstones_checked=len(doomed),
                tombstone_requests=requests,
                tombstones_live=len(alive.intersection(doomed)),
            ),
        )
    return changes, texts
