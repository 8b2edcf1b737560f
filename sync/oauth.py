"""The OAuth ``state`` of the QuickBooks connect flow: issued, bound, used once.

intuit-oauth never checks ``state`` (docs/qbo-api.md §10), so this module is the flow's only
CSRF defence. A state is a random value kept in the signed-in user's server-side session
together with the user and partner it was issued for and when. The callback consumes it:

- a state that is not in *this* session (missing, made up, or issued to another browser)
  is refused;
- it is removed on first use, whatever the outcome, so a replayed callback is refused;
- it is refused once older than ``STATE_MAX_AGE`` (Intuit's authorization codes live
  5-10 minutes, so a slower consent is dead anyway);
- it is refused when the session's user or their partner is no longer the one it was
  issued for, so a state can never attach a realm to a partner other than the one the
  person pressing "Connect" belonged to at that moment.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase

    from accounts.models import User

SESSION_KEY = "sync.qbo_oauth_states"
STATE_MAX_AGE = timedelta(minutes=10)
# A person may start the flow in a few tabs; beyond this the oldest pending states are
# dropped so a session cannot grow without bound.
MAX_PENDING_STATES = 5


class StateError(Exception):
    """The callback's ``state`` is not one this session may use; ``reason`` is for logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IssuedState:
    user_id: int
    partner_id: int


def state_issue(*, session: SessionBase, user: User) -> str:
    """A fresh state for ``user`` (a partner user) to carry through Intuit's consent."""
    if user.partner_id is None:
        raise ValueError("Only a partner user can start the QuickBooks connect flow.")
    state = secrets.token_urlsafe(32)
    pending = _live_states(session)
    pending[state] = {
        "user_id": user.pk,
        "partner_id": user.partner_id,
        "issued_at": timezone.now().timestamp(),
    }
    # Keep the newest few; dicts keep insertion order.
    session[SESSION_KEY] = dict(list(pending.items())[-MAX_PENDING_STATES:])
    return state


def state_consume(*, session: SessionBase, state: str | None, user: User) -> IssuedState:
    """Use up ``state`` and return what it was bound to, or raise ``StateError``."""
    if not state:
        raise StateError("missing state")
    pending = _live_states(session)
    entry = pending.pop(state, None)
    # Written back before any check below, so a state is single use even when refused.
    session[SESSION_KEY] = pending
    if entry is None:
        raise StateError("unknown, reused or expired state")
    if entry.get("user_id") != user.pk or entry.get("partner_id") != user.partner_id:
        raise StateError("state issued to another user or partner")
    return IssuedState(user_id=int(entry["user_id"]), partner_id=int(entry["partner_id"]))


def _live_states(session: SessionBase) -> dict[str, dict[str, Any]]:
    """The session's pending states, without the expired ones."""
    raw = session.get(SESSION_KEY)
    if not isinstance(raw, dict):
        return {}
    oldest = (timezone.now() - STATE_MAX_AGE).timestamp()
    return {
        state: entry
        for state, entry in raw.items()
        if isinstance(entry, dict) and float(entry.get("issued_at", 0)) >= oldest
    }
