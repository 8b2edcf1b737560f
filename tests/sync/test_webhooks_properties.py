"""POST /sync/qbo/webhooks/ under arbitrary bodies (no input reaches a 5xx).

The endpoint's promises (sync/webhooks.py, sync/views.py):

- a body without the right ``intuit-signature`` (base64 HMAC-SHA256 of the raw bytes
  under QBO_WEBHOOK_VERIFIER_TOKEN) is refused with 401 and writes nothing;
- a signed body that is neither a CloudEvents array nor ``eventNotifications`` is refused
  with 400 ("Unrecognised payload.") and writes nothing;
- a signed, well-formed envelope is acknowledged with 200, and what it writes is
  WebhookEvent rows only: new events inserted (an unusable one as FAILED, a dead letter),
  and the status of the ones just stored moved to IGNORED for a realm nobody connected.
  The poll they ask for is enqueued on commit, which a test's transaction never reaches.
- a redelivery of the same body writes nothing at all (idempotent on the event id).

The signature is computed here with hmac, not with the sandbox's helper, so the test
does not share a mistake with the code it checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection as db
from django.test import Client
from django.utils import timezone
from hypothesis import event, given
from hypothesis import strategies as st

from accounts.models import Partner
from sync.models import QBOConnection, WebhookEvent

URL = "/sync/qbo/webhooks/"
CONNECTED_REALM = "9130350000000123"

pytestmark = pytest.mark.django_db


def signature(body: bytes, token: str | None = None) -> str:
    key = (token if token is not None else settings.QBO_WEBHOOK_VERIFIER_TOKEN).encode()
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


def writes_by_table() -> dict[str, int]:
    """Rows inserted, updated or deleted so far in this test's transaction, per table
    (PostgreSQL's own count, whatever did the writing)."""
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables"
        )
        return {name: int(count) for name, count in cursor.fetchall()}


def changed_tables(before: dict[str, int]) -> set[str]:
    after = writes_by_table()
    return {name for name, count in after.items() if count != before.get(name, 0)}


@pytest.fixture
def intuit() -> Client:
    # Intuit has no session and no CSRF token; enforce CSRF as a browser would.
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def connected(partner_a: Partner) -> QBOConnection:
    """A connected company, so that some examples name a realm that polls."""
    now = timezone.now()
    connection: QBOConnection = QBOConnection.objects.create(
        partner=partner_a, realm_id=CONNECTED_REALM, company_name="Webhook Books",
        access_token="a", access_token_expires_at=now + timedelta(hours=1),
        refresh_token="r", refresh_token_expires_at=now + timedelta(days=100),
    )  # fmt: skip
    return connection


def post(client: Client, body: bytes, headers: dict[str, str], content_type: str) -> Any:
    return client.post(URL, body, content_type=content_type, headers=headers)


# --- Bodies ----------------------------------------------------------------------------------

# JSON values of every type, including what Python's json reads but strict JSON lacks
# (NaN, Infinity), lone surrogates (escaped) and NUL, which PostgreSQL's jsonb refuses.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**30, max_value=10**60),
    st.floats(),
    st.text(max_size=30),
    st.text(alphabet=st.characters(categories=["Cs", "Cc"]), max_size=5),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)

REALMS = st.one_of(
    st.just(CONNECTED_REALM),
    st.from_regex(r"[0-9]{1,40}", fullmatch=True),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from(["", " ", "123\n", "12 34", "²", "١٢٣", "1e999", "-1", "0x10", "\x00"]),
    json_values,
)
ENTITIES = st.one_of(
    st.sampled_from(["Invoice", "Payment", "Item", "Customer", "invoice", "Widget", ""]),
    st.text(max_size=80),
    json_values,
)
OPERATIONS = st.one_of(
    st.sampled_from(["Create", "Update", "Delete", "Merge", "Void", "Emailed", "Explode"]),
    st.text(max_size=40),
    json_values,
)
WHEN = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
    st.sampled_from(
        [
            "2015-10-05T14:42:19-0700",
            "2025-09-10T21:31:25.179851517Z",
            "2025-02-30T00:00:00Z",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-14:00",
            "-2025-01-01",
            "now",
            "2025-01-01T25:00:00",
            "10000-01-01T00:00:00Z",
            "",
        ]
    ),  # fmt: skip
    json_values,
)
IDS = st.one_of(
    st.from_regex(r"[0-9]{1,12}", fullmatch=True),
    st.uuids().map(str),
    st.text(max_size=200),
    json_values,
)
TYPES = st.one_of(
    st.builds(
        "qbo.{}.{}.v1".format,
        st.sampled_from(["invoice", "payment", "item", "customer", "widget", ""]),
        st.sampled_from(["created", "updated", "deleted", "voided", "merged", "exploded"]),
    ),
    st.text(max_size=40),
    json_values,
)


def _maybe(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """An object with any subset of ``fields``, and sometimes an unknown extra one."""
    return st.fixed_dictionaries(
        {}, optional={**fields, "unexpected": json_values, "data": json_values}
    )


cloudevent = _maybe(
    {
        "specversion": st.just("1.0"),
        "id": IDS,
        "type": TYPES,
        "time": WHEN,
        "intuitentityid": IDS,
        "intuitaccountid": REALMS,
        "source": st.text(max_size=20),
    }
)
legacy_entity = _maybe(
    {"name": ENTITIES, "id": IDS, "operation": OPERATIONS, "lastUpdated": WHEN, "deletedId": IDS}
)
legacy_notification = _maybe(
    {
        "realmId": REALMS,
        "dataChangeEvent": st.one_of(
            st.fixed_dictionaries({"entities": st.lists(legacy_entity, max_size=4)}),
            json_values,
        ),
    }
)
envelopes = st.one_of(
    st.lists(cloudevent, max_size=5),
    st.lists(st.one_of(cloudevent, json_values), max_size=3),
    st.fixed_dictionaries({"eventNotifications": st.lists(legacy_notification, max_size=3)}),
    st.fixed_dictionaries(
        {"eventNotifications": st.one_of(json_values, st.lists(json_values, max_size=3))}
    ),
    json_values,
)


def _dumped(value: Any, ensure_ascii: bool) -> bytes:
    text = json.dumps(value, ensure_ascii=ensure_ascii)  # NaN and Infinity as Python writes them
    # Without ensure_ascii a lone surrogate becomes bytes that are not UTF-8 at all.
    return text.encode("utf-8", "surrogatepass")


def _nested(depth: int) -> bytes:
    return b'[{"id": "deep", "data": ' + b"[" * depth + b"]" * depth + b"}]"


bodies = st.one_of(
    st.builds(_dumped, envelopes, st.booleans()),
    st.binary(max_size=200),
    st.integers(min_value=0, max_value=3000).map(_nested),
    st.builds(_dumped, envelopes, st.booleans()).flatmap(
        # A valid-looking body cut short or with a byte changed.
        lambda body: st.tuples(st.integers(0, len(body)), st.binary(max_size=2)).map(
            lambda cut: body[: cut[0]] + cut[1] + body[cut[0] + len(cut[1]) :]
        )
    ),
)
content_types = st.sampled_from(
    ["application/json", "application/cloudevents-batch+json", "text/plain",
     "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]
)  # fmt: skip


def wrong_signatures(body: bytes) -> st.SearchStrategy[dict[str, str]]:
    good = signature(body)
    return st.one_of(
        st.just({}),
        st.just({"intuit-signature": ""}),
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60).map(
            lambda text: {"intuit-signature": text}
        ),
        st.binary(min_size=32, max_size=32).map(
            lambda digest: {"intuit-signature": base64.b64encode(digest).decode()}
        ),
        st.text(min_size=1, max_size=20).map(
            lambda token: {"intuit-signature": signature(body, "x" + token)}
        ),
        st.binary(min_size=1, max_size=8).map(
            lambda other: {"intuit-signature": signature(body + other)}
        ),
        # The right signature under another header name, or damaged at one end.
        st.just({"signature": good}),
        st.just({"intuit-signature": good[:-2]}),
        st.just({"intuit-signature": "x" + good}),
    ).filter(lambda headers: headers.get("intuit-signature") != good)


# --- Properties ------------------------------------------------------------------------------


@given(data=st.data())
def test_an_unsigned_or_wrongly_signed_body_is_refused_and_writes_nothing(
    data: st.DataObject, intuit: Client, connected: QBOConnection
) -> None:
    body = data.draw(bodies, label="body")
    headers = data.draw(wrong_signatures(body), label="headers")
    content_type = data.draw(content_types, label="content_type")
    before = writes_by_table()
    response = post(intuit, body, headers, content_type)
    assert response.status_code == 401
    assert response.content == b"Bad signature.\n"
    assert changed_tables(before) == set()


@given(body=bodies, content_type=content_types)
def test_a_signed_body_gets_200_or_400_and_writes_only_webhook_events(
    body: bytes, content_type: str, intuit: Client, connected: QBOConnection
) -> None:
    known = set(WebhookEvent.objects.values_list("pk", flat=True))
    before = writes_by_table()
    response = post(intuit, body, {"intuit-signature": signature(body)}, content_type)

    assert response.status_code in (200, 400), response.status_code
    event(f"answered {response.status_code}")
    changed = changed_tables(before)
    if response.status_code == 400:
        assert response.content == b"Unrecognised payload.\n"
        assert changed == set()
        return
    assert response.content == b"OK\n"
    assert changed <= {WebhookEvent._meta.db_table}
    new = list(WebhookEvent.objects.exclude(pk__in=known))
    for stored in new:
        event(f"stored {stored.status}")
        if stored.status == WebhookEvent.Status.FAILED:
            continue  # a dead letter: stored as it came, acted on by nobody
        # A usable event names a realm, and only the connected one's waits for its poll.
        assert stored.realm_id
        expected = (
            WebhookEvent.Status.RECEIVED
            if stored.realm_id == CONNECTED_REALM
            else WebhookEvent.Status.IGNORED
        )
        assert stored.status == expected, (stored.realm_id, stored.status)

    # Intuit redelivers what it thinks was not acknowledged: the same body again
    # changes nothing.
    again = writes_by_table()
    assert (
        post(intuit, body, {"intuit-signature": signature(body)}, content_type).status_code == 200
    )
    assert changed_tables(again) == set()


# --- Examples --------------------------------------------------------------------------------


def test_a_body_nested_past_pythons_recursion_limit_is_a_400_not_a_500(intuit: Client) -> None:
    body = _nested(100_000)
    response = post(intuit, body, {"intuit-signature": signature(body)}, "application/json")
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_a_body_over_the_upload_limit_is_a_400_not_a_500(intuit: Client) -> None:
    # Intuit's deliveries are about 1 MB at most; Django refuses a body over
    # DATA_UPLOAD_MAX_MEMORY_SIZE before the view reads it.
    body = b"[" + b" " * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + b"]"
    response = post(intuit, body, {"intuit-signature": signature(body)}, "application/json")
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
