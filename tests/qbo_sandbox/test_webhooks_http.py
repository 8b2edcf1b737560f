"""Webhooks as a receiver sees them: shape, signature, retries (docs/qbo-api.md §12)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .support import (
    VERIFIER_TOKEN,
    Accounts,
    Delivery,
    RealmApi,
    WebhookReceiver,
    cloud_events,
    connect,
    ensure_accounts,
    invoice_body,
    non_inventory_item_body,
    sales_line,
    signature,
)

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

CLOUDEVENT_KEYS = {
    "specversion",
    "id",
    "source",
    "type",
    "datacontenttype",
    "time",
    "intuitentityid",
    "intuitaccountid",
}


def events_of(receiver: WebhookReceiver, realm_id: str) -> list[dict[str, Any]]:
    return [event for _, event in cloud_events(receiver.snapshot(), realm_id)]


def wait_for_event(
    receiver: WebhookReceiver, realm_id: str, event_type: str, entity_id: str
) -> Delivery:
    def arrived(deliveries: list[Delivery]) -> bool:
        return any(
            event["type"] == event_type and event["intuitentityid"] == entity_id
            for _, event in cloud_events(deliveries, realm_id)
        )

    deliveries = receiver.wait_for(arrived)
    return next(
        delivery
        for delivery, event in cloud_events(deliveries, realm_id)
        if event["type"] == event_type and event["intuitentityid"] == entity_id
    )


def test_a_committed_change_is_posted_as_signed_cloudevents(
    webhook_receiver: WebhookReceiver, api: RealmApi, realm: str, accounts: Accounts
) -> None:
    item = api.create("Item", non_inventory_item_body("Webhook Rosé", accounts))
    customer = api.create("Customer", {"DisplayName": "Webhook Wine Bar"})
    invoice = api.create(
        "Invoice", invoice_body(customer["Id"], [sales_line(item["Id"], "2", "18.00")])
    )
    api.update(
        "Item", {"Id": item["Id"], "SyncToken": item["SyncToken"], "sparse": True, "Sku": "WH-1"}
    )

    delivery = wait_for_event(webhook_receiver, realm, "qbo.invoice.created.v1", invoice["Id"])
    wait_for_event(webhook_receiver, realm, "qbo.item.created.v1", item["Id"])
    wait_for_event(webhook_receiver, realm, "qbo.customer.created.v1", customer["Id"])
    # Only ".created.v1" is confirmed by Intuit; ".updated.v1" follows its stated pattern.
    wait_for_event(webhook_receiver, realm, "qbo.item.updated.v1", item["Id"])

    # The signature covers the exact bytes sent, with the verifier token (not the client secret).
    assert delivery.headers["intuit-signature"] == signature(delivery.body, VERIFIER_TOKEN)
    assert delivery.headers["intuit-signature"] != signature(delivery.body, "some-other-token")
    assert delivery.headers["content-type"].startswith("application/json")
    payload = delivery.json()
    assert isinstance(payload, list)
    assert 1 <= len(payload) <= 100
    event = next(event for event in payload if event["intuitentityid"] == invoice["Id"])
    assert set(event) >= CLOUDEVENT_KEYS
    assert event["specversion"] == "1.0"
    assert event["intuitaccountid"] == realm
    assert event["id"]
    # Every delivery of this realm is signed the same way.
    for each in webhook_receiver.snapshot():
        if any(e.get("intuitaccountid") == realm for e in each.json()):
            assert each.headers["intuit-signature"] == signature(each.body, VERIFIER_TOKEN)


def test_a_rejected_write_sends_nothing(
    webhook_receiver: WebhookReceiver, api: RealmApi, realm: str, accounts: Accounts
) -> None:
    item = api.create("Item", non_inventory_item_body("Only Once", accounts))
    duplicate = api.request(
        "POST", "item", json_body=non_inventory_item_body("Only Once", accounts)
    )
    assert duplicate.status_code == 400
    stale = api.request(
        "POST",
        "item",
        json_body={"Id": item["Id"], "SyncToken": "7", "sparse": True, "Description": "x"},
    )
    assert stale.status_code == 400
    marker = api.create("Item", non_inventory_item_body("Marker After Faults", accounts))

    wait_for_event(webhook_receiver, realm, "qbo.item.created.v1", marker["Id"])
    # Events of one realm go out in order, so anything for the faulted writes would have
    # arrived by now; a short grace period covers a sandbox that batches events.
    time.sleep(0.5)
    seen = sorted(
        (event["type"], event["intuitentityid"])
        for event in events_of(webhook_receiver, realm)
        if event["type"].startswith("qbo.item.")
    )
    assert seen == sorted(
        [("qbo.item.created.v1", item["Id"]), ("qbo.item.created.v1", marker["Id"])]
    )


@pytest.fixture(scope="module")
def legacy_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def legacy_sandbox(legacy_receiver: WebhookReceiver) -> Iterator[SandboxProcess]:
    from qbo_sandbox.testing import start_sandbox

    process = start_sandbox(
        "--seed",
        "empty",
        "--webhook-format",
        "legacy",
        "--webhook-url",
        legacy_receiver.url,
        "--webhook-verifier",
        "legacy-verifier",
    )
    yield process
    process.stop()


def test_legacy_format_on_request(
    legacy_sandbox: SandboxProcess, legacy_receiver: WebhookReceiver
) -> None:
    realm_id = legacy_sandbox.new_company(seed="empty")
    api = connect(legacy_sandbox, realm_id).api
    item = api.create("Item", non_inventory_item_body("Legacy Brut", ensure_accounts(api)))

    def entities(deliveries: list[Delivery]) -> list[tuple[Delivery, dict[str, Any]]]:
        found = []
        for delivery in deliveries:
            for notification in delivery.json().get("eventNotifications", []):
                if notification["realmId"] == realm_id:
                    found += [
                        (delivery, entity) for entity in notification["dataChangeEvent"]["entities"]
                    ]
        return found

    def item_created(deliveries: list[Delivery]) -> bool:
        return any(
            entity["name"] == "Item"
            and entity["id"] == item["Id"]
            and entity["operation"] == "Create"
            for _, entity in entities(deliveries)
        )

    delivery, entity = next(
        (delivery, entity)
        for delivery, entity in entities(legacy_receiver.wait_for(item_created))
        if entity["name"] == "Item" and entity["id"] == item["Id"]
    )
    assert entity["lastUpdated"]
    assert set(delivery.json()) == {"eventNotifications"}
    # One realm per notification in the legacy format.
    assert all(n["realmId"] == realm_id for n in delivery.json()["eventNotifications"])
    assert delivery.headers["intuit-signature"] == signature(delivery.body, "legacy-verifier")


@pytest.fixture(scope="module")
def flaky_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(fail_first=2)
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def retrying_sandbox(flaky_receiver: WebhookReceiver) -> Iterator[SandboxProcess]:
    from qbo_sandbox.testing import start_sandbox

    # At 120x, Intuit's 10 s and 20 s retry delays take a fraction of a second.
    process = start_sandbox(
        "--seed",
        "empty",
        "--time-scale",
        "120",
        "--webhook-url",
        flaky_receiver.url,
        "--webhook-verifier",
        "retry-verifier",
    )
    yield process
    process.stop()


def test_a_failing_receiver_gets_retries_with_the_same_event_ids(
    retrying_sandbox: SandboxProcess, flaky_receiver: WebhookReceiver
) -> None:
    realm_id = retrying_sandbox.new_company(seed="empty")
    api = connect(retrying_sandbox, realm_id).api
    # The only write on this server, so the receiver's first two failures are all about it.
    customer = api.create("Customer", {"DisplayName": "Retry Wine Merchants"})

    def carries_customer(delivery: Delivery) -> bool:
        return any(
            event["intuitentityid"] == customer["Id"] and event["intuitaccountid"] == realm_id
            for event in delivery.json()
        )

    def accepted(deliveries: list[Delivery]) -> bool:
        return any(d.answered == 200 and carries_customer(d) for d in deliveries)

    deliveries = flaky_receiver.wait_for(accepted, timeout=30.0)
    attempts = [delivery for delivery in deliveries if carries_customer(delivery)]
    assert [attempt.answered for attempt in attempts] == [500, 500, 200]
    event_ids = [sorted(event["id"] for event in attempt.json()) for attempt in attempts]
    assert event_ids[0] == event_ids[1] == event_ids[2]
    for attempt in attempts:
        assert attempt.headers["intuit-signature"] == signature(attempt.body, "retry-verifier")
