"""sync/webhooks.py: the signature check, both payload shapes, and hostile input.

Bodies are rendered and signed by qbo_sandbox's own webhook code (what our sandbox, like
Intuit, sends), so parser and producer are checked against each other, not against a
hand-written copy of the format.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

from qbo_sandbox.webhooks import ChangeEvent, render_cloudevents, render_legacy, sign
from sync.models import WebhookEvent
from sync.webhooks import WebhookPayloadError, parse, signature_valid, webhook_events_store

TOKEN = "verifier-token-for-parsing-tests"
WHEN = datetime(2025, 9, 10, 21, 31, 25, 179851, tzinfo=UTC)


def change(realm: str = "9130350", entity: str = "Invoice", entity_id: str = "145",
           operation: str = "Create") -> ChangeEvent:  # fmt: skip
    return ChangeEvent(realm, entity, entity_id, operation, WHEN)


# --- signature -----------------------------------------------------------------------


def test_a_body_signed_with_the_verifier_token_is_accepted() -> None:
    body = render_cloudevents([change()])
    assert signature_valid(body=body, signature=sign(body, TOKEN), verifier_token=TOKEN)


@pytest.mark.parametrize(
    "signature",
    [None, "", "not base64 at all", sign(b"another body", TOKEN), sign(b"x", "other-token"),
     "é-non-ascii-header", " "],
)  # fmt: skip
def test_a_missing_or_wrong_signature_is_refused(signature: str | None) -> None:
    body = render_cloudevents([change()])
    assert not signature_valid(body=body, signature=signature, verifier_token=TOKEN)


def test_the_signature_is_over_the_raw_bytes_not_re_serialised_json() -> None:
    body = render_cloudevents([change()])
    signature = sign(body, TOKEN)
    # The same JSON document, spaced differently, is a different body.
    reformatted = json.dumps(json.loads(body), indent=1).encode()
    assert not signature_valid(body=reformatted, signature=signature, verifier_token=TOKEN)
    tampered = body.replace(b"145", b"146")
    assert not signature_valid(body=tampered, signature=signature, verifier_token=TOKEN)


def test_no_verifier_token_configured_accepts_nothing() -> None:
    body = b"[]"
    assert not signature_valid(body=body, signature=sign(body, ""), verifier_token="")


# --- CloudEvents -----------------------------------------------------------------------


def test_a_cloudevents_array_parses_into_events() -> None:
    body = render_cloudevents(
        [change(), change(entity="Customer", entity_id="7", operation="Update")]
    )
    events = parse(body)
    sent = json.loads(body)
    assert [e.event_id for e in events] == [item["id"] for item in sent]
    first, second = events
    assert (first.realm_id, first.entity, first.entity_id, first.operation) == (
        "9130350", "Invoice", "145", "Create",
    )  # fmt: skip
    assert (second.entity, second.operation) == ("Customer", "Update")
    assert first.occurred_at == WHEN
    assert first.problem == ""
    assert first.payload == sent[0]


def test_intuits_documented_example_parses() -> None:
    body = json.dumps(
        [{"specversion": "1.0", "id": "88cd52aa-33b3-4a7b-a0fb-54d7c5ba6e7a",
          "source": "intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=",
          "type": "qbo.account.created.v1", "datacontenttype": "application/json",
          "time": "2025-09-10T21:31:25.179851517Z", "intuitentityid": "1234",
          "intuitaccountid": "310687", "data": {}}]
    ).encode()  # fmt: skip
    (event,) = parse(body)
    assert event.event_id == "88cd52aa-33b3-4a7b-a0fb-54d7c5ba6e7a"
    assert (event.realm_id, event.entity, event.entity_id, event.operation) == (
        "310687", "Account", "1234", "Create",
    )  # fmt: skip
    assert event.occurred_at == datetime(2025, 9, 10, 21, 31, 25, 179851, tzinfo=UTC)


def test_events_for_several_realms_in_one_array_keep_their_realms() -> None:
    events = parse(render_cloudevents([change(realm="1"), change(realm="2"), change(realm="1")]))
    assert [e.realm_id for e in events] == ["1", "2", "1"]


def test_an_id_repeated_within_one_body_counts_once() -> None:
    item = json.loads(render_cloudevents([change()]))[0]
    events = parse(json.dumps([item, item, item]).encode())
    assert len(events) == 1


def test_an_empty_array_is_a_valid_delivery_of_nothing() -> None:
    assert parse(b"[]") == []


@pytest.mark.parametrize(
    "item, problem",
    [
        ({"id": "a1", "type": "qbo.invoice.created.v1", "intuitentityid": "1"}, "no realm"),
        ({"type": "qbo.invoice.created.v1", "intuitaccountid": "5"}, "no id"),
        ({"id": "a3", "intuitaccountid": "5"}, "no type"),
        ({"id": "a4", "type": "qbo.invoice.created.v1", "intuitaccountid": "5;DROP"},
         "unusable realm_id"),
    ],
)  # fmt: skip
def test_an_unusable_event_is_kept_as_a_dead_letter_not_refused(
    item: dict[str, str], problem: str
) -> None:
    (event,) = parse(json.dumps([item]).encode())
    assert problem in event.problem
    assert event.event_id  # stored under a stable id, so a redelivery is a duplicate
    assert parse(json.dumps([item]).encode())[0].event_id == event.event_id


# --- legacy eventNotifications ------------------------------------------------------------


def test_the_legacy_shape_parses_with_a_stable_derived_id() -> None:
    body = render_legacy(
        [change(realm="1", entity_id="5"), change(realm="2", entity="Item", entity_id="9",
                                                  operation="Update")]
    )  # fmt: skip
    events = parse(body)
    assert [(e.realm_id, e.entity, e.entity_id, e.operation) for e in events] == [
        ("1", "Invoice", "5", "Create"),
        ("2", "Item", "9", "Update"),
    ]
    assert all(e.event_id.startswith("legacy:") for e in events)
    assert events[0].occurred_at == WHEN.replace(microsecond=179000)
    # A redelivery of the same body yields the same ids...
    assert [e.event_id for e in parse(body)] == [e.event_id for e in events]
    # ...while a later change to the same row is a new event.
    later = ChangeEvent("1", "Invoice", "5", "Create", WHEN.replace(second=59))
    assert parse(render_legacy([later]))[0].event_id != events[0].event_id


def test_intuits_documented_legacy_example_parses() -> None:
    body = (
        b'{"eventNotifications":[{"realmId":"1185883450","dataChangeEvent":{"entities":['
        b'{"name":"Customer","id":"1","operation":"Create","lastUpdated":"2015-10-05T14:42:19-0700"}'
        b"]}}]}"
    )
    (event,) = parse(body)
    assert (event.realm_id, event.entity, event.entity_id, event.operation) == (
        "1185883450", "Customer", "1", "Create",
    )  # fmt: skip
    assert event.occurred_at == datetime(2015, 10, 5, 21, 42, 19, tzinfo=UTC)


# --- refused shapes and hostile input -------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"{", b"null", b"1", b'"text"', b"{}", b'{"events": []}', b"[1, 2]",
     b'[["nested"]]', b'{"eventNotifications": {}}', b'{"eventNotifications": [1]}',
     b'{"eventNotifications": [{"realmId": "1"}]}',
     b'{"eventNotifications": [{"realmId": "1", "dataChangeEvent": {"entities": [2]}}]}',
     b"\xff\xfe\x00garbage", b"[" * 100_000, b'{"a":' * 50_000],
)  # fmt: skip
def test_anything_else_is_refused_with_a_payload_error(body: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        parse(body)


def _valid_bodies() -> list[bytes]:
    events = [change(realm=str(r), entity_id=str(r * 3)) for r in range(1, 4)]
    return [render_cloudevents(events), render_legacy(events)]


def _parse_or_refuse(body: bytes) -> None:
    try:
        events = parse(body)
    except WebhookPayloadError:
        return
    assert isinstance(events, list)


def test_random_bytes_never_raise_anything_but_a_payload_error() -> None:
    rng = random.Random(20251121)
    for _ in range(3000):
        _parse_or_refuse(rng.randbytes(rng.randint(0, 300)))


def test_every_truncation_of_a_valid_body_is_handled() -> None:
    for body in _valid_bodies():
        for end in range(len(body)):
            _parse_or_refuse(body[:end])


def test_mutated_valid_bodies_are_handled() -> None:
    rng = random.Random(4)
    for body in _valid_bodies():
        for _ in range(2000):
            mutated = bytearray(body)
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            _parse_or_refuse(bytes(mutated))


def _random_json(rng: random.Random, depth: int = 0) -> object:
    choices: list[object] = [
        None, True, 0, -1, 2**70, 1.5, 1e308, "", "9130350", "qbo.invoice.created.v1",
        "\u0000", "\ud800", "é" * 3, "x" * 300,
    ]  # fmt: skip
    kind = rng.randrange(4 if depth < 4 else 1)
    if kind == 0:
        return rng.choice(choices)
    if kind == 1:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["id", "type", "time", "intuitaccountid", "intuitentityid", "realmId",
            "dataChangeEvent", "entities", "name", "operation", "lastUpdated", "data"]  # fmt: skip
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 6))}


@pytest.mark.django_db
def test_random_json_documents_parse_or_are_refused_and_whatever_parses_stores() -> None:
    rng = random.Random(7)
    for _ in range(1500):
        shape = rng.randrange(3)
        document = _random_json(rng)
        if shape == 1:
            document = [_random_json(rng) for _ in range(rng.randint(0, 3))]
        elif shape == 2:
            document = {"eventNotifications": [{"realmId": _random_json(rng), "dataChangeEvent":
                        {"entities": [_random_json(rng) for _ in range(2)]}}]}  # fmt: skip
        body = json.dumps(document).encode()
        try:
            events = parse(body)
        except WebhookPayloadError:
            continue
        # The database accepts whatever the parser lets through (no NUL, surrogates, inf).
        webhook_events_store(events=events)


@pytest.mark.django_db
def test_hostile_values_inside_a_valid_event_are_stored_safely() -> None:
    body = (
        b'[{"id": "evt-\\u0000-1", "type": "qbo.invoice.created.v1", "intuitaccountid": "5",'
        b' "intuitentityid": "7", "time": "0001-01-01T00:00:00+05:00",'
        b' "data": {"note": "nul \\u0000 lone \\ud800", "big": 1e999, "deep": '
        + b'{"a": ' * 40
        + b"1"
        + b"}" * 40
        + b"}}]"
    )
    (event,) = parse(body)
    assert event.occurred_at is None  # not expressible in UTC
    assert event.event_id.startswith("derived:")  # the NUL made the id unusable verbatim
    (stored,) = webhook_events_store(events=[event])
    row = WebhookEvent.objects.get(event_id=stored.event_id)
    assert row.payload["data"]["big"] == "inf"
    assert "\u0000" not in json.dumps(row.payload)


@pytest.mark.django_db
def test_storing_is_idempotent_on_the_event_id() -> None:
    events = parse(render_cloudevents([change(), change(entity_id="2")]))
    assert len(webhook_events_store(events=events)) == 2
    assert webhook_events_store(events=events) == []
    assert webhook_events_store(events=events[:1]) == []
    assert WebhookEvent.objects.count() == 2
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"received"}
