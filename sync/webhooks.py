"""Intuit webhooks: signature check, the two payload shapes, durable storage.

Intuit wants a 200 within three seconds and retries otherwise (docs/qbo-api.md §12), so the
endpoint does only what must happen before answering: verify, parse, store. The poll a
notification asks for is enqueued afterwards by ``sync.services.webhook_events_received``;
the stored row is what survives a broker that is down.

Shapes (docs/qbo-api.md §12):
- CloudEvents: a JSON array of events, each with its own ``id``; realms may mix.
- legacy: ``{"eventNotifications": [{"realmId", "dataChangeEvent": {"entities": [...]}}]}``,
  whose events carry no id, so one is derived from what identifies the change.

Anything else is refused with ``WebhookPayloadError`` (400). Inside a well-formed envelope
an event we cannot use (no realm, say) is not a reason to refuse the whole delivery:
Intuit would retry it for days and hold back that realm's later events behind it. Such an
event is stored as FAILED (a local dead letter) and acknowledged with the rest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction

from .models import WebhookEvent

logger = logging.getLogger(__name__)

# Column widths of WebhookEvent; longer values make an event unusable, not the request.
_MAX = {"event_id": 128, "realm_id": 32, "entity": 64, "entity_id": 32, "operation": 32}
_TOKEN = re.compile(r"^[A-Za-z0-9._:-]+$")
# Event ids are opaque, but only visible ASCII goes into an indexed column verbatim.
_EVENT_ID = re.compile(r"^[\x21-\x7e]+$")
# Webhook payloads are a few levels deep; anything deeper is not worth keeping.
_MAX_DEPTH = 16

# The verb in a CloudEvents ``type`` (``qbo.invoice.created.v1``) -> the legacy operation
# name. Only ``created`` is confirmed by Intuit; the others follow its pattern.
_VERBS = {
    "created": "Create",
    "updated": "Update",
    "deleted": "Delete",
    "voided": "Void",
    "merged": "Merge",
    "emailed": "Emailed",
}
# CloudEvents spell entities in lower case; the rest of sync uses QBO's names.
_ENTITY_NAMES = {
    name.lower(): name
    for name in (
        "Account", "Bill", "BillPayment", "Budget", "Class", "CreditMemo", "Currency",
        "Customer", "Department", "Deposit", "Employee", "Estimate", "Invoice", "Item",
        "JournalCode", "JournalEntry", "Payment", "PaymentMethod", "Preferences",
        "Purchase", "PurchaseOrder", "RefundReceipt", "SalesReceipt", "TaxAgency", "Term",
        "TimeActivity", "Transfer", "Vendor", "VendorCredit",
    )
}  # fmt: skip


class WebhookPayloadError(ValueError):
    """The body is not a webhook payload we understand; the message is safe to log."""


@dataclass(frozen=True)
class ParsedEvent:
    event_id: str
    realm_id: str
    entity: str
    entity_id: str
    operation: str
    occurred_at: datetime | None
    payload: dict[str, Any]
    # Why the event cannot be acted on; empty for a usable event.
    problem: str = ""


def signature_valid(*, body: bytes, signature: str | None, verifier_token: str) -> bool:
    """``intuit-signature`` is base64(HMAC-SHA256(raw body, verifier token)).

    Always over the raw bytes as received: re-serialised JSON would differ in spacing
    and key order. ``compare_digest`` keeps the comparison constant-time.
    """
    if not signature or not verifier_token:
        return False
    digest = hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()
    expected = base64.b64encode(digest)
    # Header values arrive as latin-1 text; anything non-ASCII cannot match base64.
    return hmac.compare_digest(expected, signature.strip().encode("ascii", "replace"))


def parse(body: bytes) -> list[ParsedEvent]:
    """The events in ``body``, duplicates within the body removed, in delivery order."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
        raise WebhookPayloadError(f"not JSON ({type(exc).__name__})") from None
    if isinstance(data, list):
        events = [_cloudevent(item) for item in data]
    elif isinstance(data, dict) and "eventNotifications" in data:
        events = _legacy(data["eventNotifications"])
    else:
        raise WebhookPayloadError("neither a CloudEvents array nor eventNotifications")
    unique: dict[str, ParsedEvent] = {}
    for event in events:
        unique.setdefault(event.event_id, event)
    return list(unique.values())


def _cloudevent(item: Any) -> ParsedEvent:
    if not isinstance(item, dict):
        raise WebhookPayloadError("a CloudEvents array holds something other than objects")
    realm_id = _text(item.get("intuitaccountid"))
    entity_id = _text(item.get("intuitentityid"))
    entity, operation = _split_type(_text(item.get("type")))
    raw_id = _text(item.get("id"))
    problems = []
    if not raw_id:
        problems.append("no id")
    if not item.get("type"):
        problems.append("no type")
    usable_id = len(raw_id) <= _MAX["event_id"] and _EVENT_ID.match(raw_id)
    event_id = raw_id if usable_id else ""
    if not event_id:
        # Still stored (as a dead letter) under a stable id, so a redelivery is a duplicate.
        event_id = "derived:" + _digest(json.dumps(item, sort_keys=True, default=str))
    return _event(
        event_id=event_id,
        realm_id=realm_id,
        entity=entity,
        entity_id=entity_id,
        operation=operation,
        occurred_at=_when(item.get("time")),
        payload=_storable(item),
        problems=problems,
    )


def _split_type(event_type: str) -> tuple[str, str]:
    # "qbo.<entity>.<verb>.v1"
    parts = event_type.split(".")
    if len(parts) != 4 or parts[0] != "qbo":
        return "", ""
    entity = _ENTITY_NAMES.get(parts[1].lower(), parts[1])
    return entity, _VERBS.get(parts[2].lower(), parts[2])


def _legacy(notifications: Any) -> list[ParsedEvent]:
    if not isinstance(notifications, list):
        raise WebhookPayloadError("eventNotifications is not a list")
    events = []
    for notification in notifications:
        if not isinstance(notification, dict):
            raise WebhookPayloadError("an event notification is not an object")
        realm_id = _text(notification.get("realmId"))
        change = notification.get("dataChangeEvent")
        entities = change.get("entities") if isinstance(change, dict) else None
        if not isinstance(entities, list):
            raise WebhookPayloadError("a notification has no dataChangeEvent.entities list")
        for entity in entities:
            if not isinstance(entity, dict):
                raise WebhookPayloadError("a dataChangeEvent entity is not an object")
            name = _text(entity.get("name"))
            entity_id = _text(entity.get("id"))
            operation = _text(entity.get("operation"))
            last_updated = _text(entity.get("lastUpdated"))
            # Legacy events carry no id. The change itself is the identity: a redelivery
            # repeats it exactly, while a later change to the same row has a new time.
            identity = "|".join((realm_id, name, entity_id, operation, last_updated))
            events.append(
                _event(
                    event_id="legacy:" + _digest(identity),
                    realm_id=realm_id,
                    entity=_ENTITY_NAMES.get(name.lower(), name),
                    entity_id=entity_id,
                    operation=operation,
                    occurred_at=_when(last_updated),
                    payload=_storable({"realmId": notification.get("realmId"), **entity}),
                    problems=[],
                )
            )
    return events


def _event(
    *,
    event_id: str,
    realm_id: str,
    entity: str,
    entity_id: str,
    operation: str,
    occurred_at: datetime | None,
    payload: dict[str, Any],
    problems: list[str],
) -> ParsedEvent:
    fields = {"realm_id": realm_id, "entity": entity, "entity_id": entity_id}
    fields["operation"] = operation
    if not realm_id:
        problems.append("no realm")
    for name, value in fields.items():
        if value and (len(value) > _MAX[name] or not _TOKEN.match(value)):
            problems.append(f"unusable {name}")
            fields[name] = ""
    return ParsedEvent(
        event_id=event_id,
        occurred_at=occurred_at,
        payload=payload,
        problem=", ".join(problems),
        **fields,
    )


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | str):
        return str(value).strip()
    return ""


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        # Normalising here surfaces the few valid ISO strings (year 1 with a positive
        # offset) that cannot be expressed in UTC, before the database meets them.
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _storable(value: Any, depth: int = 0) -> Any:
    """``value`` as PostgreSQL's jsonb accepts it: no NUL characters or lone surrogates
    (valid JSON escapes that jsonb or UTF-8 refuse), no infinities, bounded depth."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    if depth >= _MAX_DEPTH and isinstance(value, dict | list):
        return "(nested too deeply)"
    if isinstance(value, dict):
        return {_storable(str(k), depth): _storable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v, depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # 1e999 parses as inf, which JSON (and jsonb) cannot hold
    return value


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:48]


@transaction.atomic
def webhook_events_store(*, events: list[ParsedEvent]) -> list[ParsedEvent]:
    """Store the events not seen before and return them (the ones to act on).

    Idempotent on ``event_id``: Intuit redelivers until it gets a 200, and a delivery
    we answered may still arrive again. Each insert runs in a savepoint, so a duplicate
    committed by a concurrent delivery of the same body is skipped, not fatal.
    """
    if not events:
        return []
    seen = set(
        WebhookEvent.objects.filter(event_id__in=[e.event_id for e in events]).values_list(
            "event_id", flat=True
        )
    )
    stored = []
    for event in events:
        if event.event_id in seen:
            continue
        status = WebhookEvent.Status.FAILED if event.problem else WebhookEvent.Status.RECEIVED
        try:
            with transaction.atomic():
                WebhookEvent.objects.create(
                    event_id=event.event_id,
                    realm_id=event.realm_id,
                    entity=event.entity,
                    entity_id=event.entity_id,
                    operation=event.operation,
                    occurred_at=event.occurred_at,
                    payload=event.payload,
                    status=status,
                )
        except IntegrityError:
            continue
        if event.problem:
            # The event itself stays out of the log: it is stored, and its id says where.
            logger.warning("webhook event %s dead-lettered: %s", event.event_id, event.problem)
        stored.append(event)
    return stored
