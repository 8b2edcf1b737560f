from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from qbo_sandbox.clock import Clock
from qbo_sandbox.webhooks import (
    ChangeEvent,
    WebhookDispatcher,
    render_cloudevents,
    render_legacy,
    sign,
    verify,
)

TOKEN = "verifier-token-for-tests"
WHEN = datetime(2025, 10, 5, 14, 42, 19, tzinfo=UTC)
CLOUDEVENT_KEYS = {
    "specversion",
    "id",
    "source",
    "type",
    "datacontenttype",
    "time",
    "intuitentityid",
    "intuitaccountid",
    "data",
}


def event(
    realm: str = "123", entity_id: str = "1", operation: str = "Create", entity: str = "Invoice"
) -> ChangeEvent:
    return ChangeEvent(realm, entity, entity_id, operation, WHEN)


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def realms(self) -> list[str]:
        return [item["intuitaccountid"] for item in self.json()]

    def entity_ids(self) -> list[str]:
        return [item["intuitentityid"] for item in self.json()]


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records every POST.

    `fail` decides, per request, whether to answer `fail_status` instead of 200;
    `stall` makes the first N requests sleep before answering.
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.fail: Callable[[Received], bool] = lambda request: False
        self.fail_status = 500
        self.stall_first = 0
        self.stall_seconds = 0.0
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = Received({k.lower(): v for k, v in self.headers.items()}, body)
                with receiver._cond:
                    receiver.received.append(request)
                    stall = len(receiver.received) <= receiver.stall_first
                    receiver._cond.notify_all()
                if stall:
                    time.sleep(receiver.stall_seconds)
                status = receiver.fail_status if receiver.fail(request) else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                # A stalled request's client has gone away; that's the point of the test.
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 5.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: predicate(self.received), timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def make_dispatcher() -> Iterator[Callable[..., WebhookDispatcher]]:
    dispatchers: list[WebhookDispatcher] = []

    def make(url: str, **options: Any) -> WebhookDispatcher:
        options.setdefault("clock", Clock(time_scale=10_000))
        options.setdefault("verifier_token", TOKEN)
        dispatcher = WebhookDispatcher(url=url, **options)
        dispatcher.start()
        dispatchers.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in dispatchers:
        dispatcher.stop(timeout=2)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def test_signature_verifies_only_with_the_token_and_the_exact_body() -> None:
    body = render_cloudevents([event()])
    signature = sign(body, TOKEN)
    assert verify(body, signature, TOKEN)
    assert not verify(body, signature, "another-token")
    changed = bytes([body[0] ^ 1]) + body[1:]
    assert not verify(changed, signature, TOKEN)
    assert not verify(body, "not base64 – and not ascii", TOKEN)
    # A known vector: base64(HMAC-SHA256(b"{}", "key")).
    assert sign(b"{}", "key") == "p3dyTZQ+tI3Gm8qKSm1XoE2z+ex+HeTlgehgJlvfMDI="


def test_cloudevents_delivery(receiver: Receiver, make_dispatcher: Callable[..., Any]) -> None:
    dispatcher = make_dispatcher(receiver.url)
    melbourne = timezone(timedelta(hours=10))
    dispatcher.publish(
        [
            event(entity_id="12"),
            ChangeEvent(
                "123", "Item", "7", "Update", datetime(2025, 1, 2, 10, 0, tzinfo=melbourne)
            ),
            event(entity="JournalEntry", entity_id="9", operation="Void"),
        ]
    )
    assert dispatcher.wait_idle(5)

    assert len(receiver.received) == 1
    request = receiver.received[0]
    assert request.headers["content-type"] == "application/json"
    assert verify(request.body, request.headers["intuit-signature"], TOKEN)
    items = request.json()
    assert [set(item) for item in items] == [CLOUDEVENT_KEYS] * 3
    assert [item["type"] for item in items] == [
        "qbo.invoice.created.v1",
        "qbo.item.updated.v1",
        "qbo.journalentry.voided.v1",
    ]
    assert [item["time"] for item in items] == [
        "2025-10-05T14:42:19.000000Z",
        "2025-01-02T00:00:00.000000Z",
        "2025-10-05T14:42:19.000000Z",
    ]
    assert request.entity_ids() == ["12", "7", "9"]
    assert request.realms() == ["123"] * 3
    for item in items:
        assert item["specversion"] == "1.0"
        assert item["datacontenttype"] == "application/json"
        assert item["source"] == "intuit.qbo_sandbox"
        assert item["data"] == {}
        assert uuid.UUID(item["id"]).version == 4
    assert len({item["id"] for item in items}) == 3
    stats = dispatcher.stats
    assert (stats.attempts, stats.failures, stats.delivered, stats.pending) == (1, 0, 3, 0)


def test_cloudevents_operations() -> None:
    operations = ["Create", "Update", "Delete", "Void", "Merge", "Emailed"]
    body = render_cloudevents([event(operation=op) for op in operations])
    assert [item["type"] for item in json.loads(body)] == [
        "qbo.invoice.created.v1",
        "qbo.invoice.updated.v1",
        "qbo.invoice.deleted.v1",
        "qbo.invoice.voided.v1",
        "qbo.invoice.merged.v1",
        "qbo.invoice.emailed.v1",
    ]


def test_legacy_shape() -> None:
    body = render_legacy([event("1", "12"), event("2", "5", "Delete", "Item"), event("1", "13")])
    assert json.loads(body) == {
        "eventNotifications": [
            {
                "realmId": "1",
                "dataChangeEvent": {
                    "entities": [
                        {
                            "name": "Invoice",
                            "id": "12",
                            "operation": "Create",
                            "lastUpdated": "2025-10-05T14:42:19.000Z",
                        },
                        {
                            "name": "Invoice",
                            "id": "13",
                            "operation": "Create",
                            "lastUpdated": "2025-10-05T14:42:19.000Z",
                        },
                    ]
                },
            },
            {
                "realmId": "2",
                "dataChangeEvent": {
                    "entities": [
                        {
                            "name": "Item",
                            "id": "5",
                            "operation": "Delete",
                            "lastUpdated": "2025-10-05T14:42:19.000Z",
                        }
                    ]
                },
            },
        ]
    }


def test_legacy_delivery_keeps_one_realm_per_post(
    receiver: Receiver, make_dispatcher: Callable[..., Any]
) -> None:
    dispatcher = make_dispatcher(receiver.url, fmt="legacy")
    dispatcher.publish([event("1", "12"), event("2", "5"), event("1", "13")])
    assert dispatcher.wait_idle(5)

    bodies = sorted((r.json() for r in receiver.received), key=lambda b: str(b))
    assert [
        (n["realmId"], [e["id"] for e in n["dataChangeEvent"]["entities"]])
        for body in bodies
        for n in body["eventNotifications"]
    ] == [("1", ["12", "13"]), ("2", ["5"])]
    for request in receiver.received:
        assert verify(request.body, request.headers["intuit-signature"], TOKEN)


def test_events_published_within_the_window_share_one_post(
    receiver: Receiver, make_dispatcher: Callable[..., Any]
) -> None:
    # 0.3 real seconds of window: long enough for five publish calls.
    dispatcher = make_dispatcher(receiver.url, clock=Clock(), batch_window=0.3)
    for n in range(5):
        dispatcher.publish([event(entity_id=str(n))])
    assert dispatcher.wait_idle(5)
    assert [r.entity_ids() for r in receiver.received] == [["0", "1", "2", "3", "4"]]


def test_max_events_splits_posts_in_order(
    receiver: Receiver, make_dispatcher: Callable[..., Any]
) -> None:
    dispatcher = make_dispatcher(receiver.url, max_events=2)
    dispatcher.publish([event(entity_id=str(n)) for n in range(5)])
    assert dispatcher.wait_idle(5)
    assert [r.entity_ids() for r in receiver.received] == [["0", "1"], ["2", "3"], ["4"]]


def test_failed_posts_are_retried_with_the_same_body_and_ids(
    receiver: Receiver, make_dispatcher: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qbo_sandbox.webhooks")
    receiver.fail = lambda request: len(receiver.received) <= 4
    dispatcher = make_dispatcher(receiver.url)
    dispatcher.publish([event(entity_id="1"), event(entity_id="2")])
    assert dispatcher.wait_idle(5)

    assert len(receiver.received) == 5
    first = receiver.received[0]
    for request in receiver.received:
        assert request.body == first.body
        assert request.headers["intuit-signature"] == first.headers["intuit-signature"]
    stats = dispatcher.stats
    assert (stats.attempts, stats.failures, stats.delivered, stats.dropped) == (5, 4, 2, 0)
    assert "status=500" in caplog.text
    assert "webhook delivered" in caplog.text
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("status", [302, 404, 503])
def test_any_non_2xx_is_a_failure(
    receiver: Receiver, make_dispatcher: Callable[..., Any], status: int
) -> None:
    receiver.fail = lambda request: len(receiver.received) == 1
    receiver.fail_status = status
    dispatcher = make_dispatcher(receiver.url)
    dispatcher.publish([event()])
    assert dispatcher.wait_idle(5)
    assert len(receiver.received) == 2
    assert receiver.received[0].body == receiver.received[1].body
    assert dispatcher.stats.failures == 1


def test_a_timeout_is_a_failure(receiver: Receiver, make_dispatcher: Callable[..., Any]) -> None:
    receiver.stall_first = 1
    receiver.stall_seconds = 1.0
    dispatcher = make_dispatcher(receiver.url, timeout=0.2)
    dispatcher.publish([event()])
    assert dispatcher.wait_idle(5)
    assert len(receiver.received) == 2
    assert receiver.received[0].body == receiver.received[1].body
    assert (dispatcher.stats.failures, dispatcher.stats.delivered) == (1, 1)


def test_connection_errors_are_retried(make_dispatcher: Callable[..., Any]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dispatcher = make_dispatcher(f"http://127.0.0.1:{port}/webhooks")
    dispatcher.publish([event()])
    wait_until(lambda: dispatcher.stats.failures >= 3)
    assert dispatcher.stats.delivered == 0


def test_a_realm_waits_behind_its_failing_delivery_while_others_flow(
    receiver: Receiver, make_dispatcher: Callable[..., Any]
) -> None:
    realm_a_down = True
    receiver.fail = lambda request: realm_a_down and request.realms() == ["A"]
    dispatcher = make_dispatcher(receiver.url, max_events=1)
    dispatcher.publish([event("A", "a1"), event("B", "b1"), event("A", "a2"), event("B", "b2")])

    def seen(received: list[Received], realm: str) -> list[str]:
        return [i for r in received if r.realms() == [realm] for i in r.entity_ids()]

    receiver.wait_for(lambda received: seen(received, "B") == ["b1", "b2"])
    receiver.wait_for(lambda received: len(seen(received, "A")) >= 3)
    assert set(seen(receiver.received, "A")) == {"a1"}
    assert not dispatcher.wait_idle(0.01)

    realm_a_down = False
    assert dispatcher.wait_idle(5)
    a_posts = [r for r in receiver.received if r.realms() == ["A"]]
    assert [r.entity_ids() for r in a_posts][-2:] == [["a1"], ["a2"]]
    assert len({r.body for r in a_posts[:-1]}) == 1  # every a1 attempt was the same POST
    assert dispatcher.stats.delivered == 4


def test_stop_interrupts_a_long_backoff(
    receiver: Receiver, make_dispatcher: Callable[..., Any]
) -> None:
    receiver.fail = lambda request: True
    # Unscaled: after the first failure the dispatcher waits a real 10 seconds.
    dispatcher = make_dispatcher(receiver.url, clock=Clock(), batch_window=0)
    dispatcher.publish([event(), event("other")])
    receiver.wait_for(lambda received: len(received) == 2)
    assert not dispatcher.wait_idle(0.05)

    started = time.monotonic()
    dispatcher.stop()
    assert time.monotonic() - started < 1
    stats = dispatcher.stats
    assert (stats.delivered, stats.dropped, stats.pending) == (0, 2, 0)
    assert dispatcher.wait_idle(0)


def test_events_published_before_start_are_delivered_after_it(receiver: Receiver) -> None:
    dispatcher = WebhookDispatcher(
        url=receiver.url, verifier_token=TOKEN, clock=Clock(time_scale=10_000)
    )
    dispatcher.publish([event(entity_id="1")])
    time.sleep(0.05)
    assert receiver.received == []
    dispatcher.start()
    try:
        assert dispatcher.wait_idle(5)
        assert [r.entity_ids() for r in receiver.received] == [["1"]]
    finally:
        dispatcher.stop()


def test_invalid_input_is_rejected_up_front() -> None:
    with pytest.raises(ValueError):
        ChangeEvent("1", "Invoice", "1", "Create", datetime(2025, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError):
        event(operation="Destroy")
    with pytest.raises(ValueError):
        render_cloudevents([event()] * 101)
    clock = Clock()
    for options in ({"fmt": "xml"}, {"max_events": 0}, {"max_events": 101}):
        with pytest.raises(ValueError):
            WebhookDispatcher(
                url="http://127.0.0.1:1/", verifier_token=TOKEN, clock=clock, **options
            )
    for url in ("ftp://127.0.0.1/", "http://127.0.0.1:99999999/", "/relative", "http://h/a b"):
        with pytest.raises(ValueError):
            WebhookDispatcher(url=url, verifier_token=TOKEN, clock=clock)
    # Intuit sets no size limit on legacy bodies.
    WebhookDispatcher(
        url="http://127.0.0.1:1/", verifier_token=TOKEN, clock=clock, fmt="legacy", max_events=500
    )
