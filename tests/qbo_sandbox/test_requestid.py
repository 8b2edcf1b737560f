"""`?requestid=`: Intuit's idempotency key for writes (docs/qbo-api.md §6)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests
from quickbooks import QuickBooks
from quickbooks.objects.base import Ref
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item

from .support import (
    Accounts,
    RealmApi,
    assert_validation_fault,
    connect,
    ensure_accounts,
    invoice_body,
    non_inventory_item_body,
    sales_line,
)

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess


def count_named(api: RealmApi, name: str) -> int:
    count: int = api.query(f"SELECT COUNT(*) FROM Item WHERE Name = '{name}'")["totalCount"]
    return count


def create_with_request_id(
    api: RealmApi, body: dict[str, Any], request_id: str
) -> requests.Response:
    return api.request("POST", "item", params={"requestid": request_id}, json_body=body)


def test_the_same_request_id_twice_creates_one_object_and_replays_the_body(
    api: RealmApi, accounts: Accounts
) -> None:
    request_id = str(uuid.uuid4())
    body = non_inventory_item_body("Une Femme The Juliette Brut NV 750ml", accounts)

    first = create_with_request_id(api, body, request_id)
    second = create_with_request_id(api, body, request_id)

    assert first.status_code == second.status_code == 200, (first.text, second.text)
    # A replay is the stored response, `time` included, not a second execution.
    assert second.json() == first.json()
    assert count_named(api, "Une Femme The Juliette Brut NV 750ml") == 1


def test_pyqb_save_with_a_request_id_is_idempotent_and_a_new_id_creates_another(
    qb: QuickBooks, accounts: Accounts
) -> None:
    def unsaved(name: str) -> Item:
        item = Item()
        item.Name = name
        item.Type = "NonInventory"
        item.IncomeAccountRef = Ref()
        item.IncomeAccountRef.value = accounts.income
        return item

    request_id = str(uuid.uuid4())
    first = unsaved("Une Femme Demi-Sec NV 750ml").save(qb=qb, request_id=request_id)
    retried = unsaved("Une Femme Demi-Sec NV 750ml").save(qb=qb, request_id=request_id)
    other = unsaved("Une Femme Demi-Sec NV 375ml").save(qb=qb, request_id=str(uuid.uuid4()))

    assert retried.Id == first.Id
    assert retried.SyncToken == first.SyncToken == "0"
    assert other.Id != first.Id
    assert Item.count("Name LIKE 'Une Femme Demi-Sec%'", qb=qb) == 2


def test_request_ids_are_scoped_to_one_company(
    sandbox: SandboxProcess, api: RealmApi, accounts: Accounts
) -> None:
    other = connect(sandbox, sandbox.new_company(seed="empty")).api
    other_accounts = ensure_accounts(other)
    request_id = str(uuid.uuid4())

    here = create_with_request_id(
        api, non_inventory_item_body("Shared Key Wine", accounts), request_id
    )
    there = create_with_request_id(
        other, non_inventory_item_body("Shared Key Wine", other_accounts), request_id
    )

    assert here.status_code == there.status_code == 200
    assert count_named(api, "Shared Key Wine") == 1
    assert count_named(other, "Shared Key Wine") == 1


def test_a_delete_retried_with_its_request_id_replays_instead_of_failing(
    qb: QuickBooks, api: RealmApi, accounts: Accounts
) -> None:
    item = api.create("Item", non_inventory_item_body("Delivery fee", accounts))
    customer = api.create("Customer", {"DisplayName": "Wine Shop"})
    created = api.create(
        "Invoice", invoice_body(customer["Id"], [sales_line(item["Id"], "1", "15.00")])
    )
    invoice = Invoice.get(created["Id"], qb=qb)
    request_id = str(uuid.uuid4())

    first = invoice.delete(qb=qb, request_id=request_id)
    again = invoice.delete(qb=qb, request_id=request_id)

    assert first == again
    assert first["Invoice"]["status"] == "Deleted"


def test_a_request_id_of_50_characters_is_fine_and_51_is_fault_6000(
    api: RealmApi, accounts: Accounts
) -> None:
    ok = create_with_request_id(api, non_inventory_item_body("Fifty", accounts), "a" * 50)
    assert ok.status_code == 200, ok.text

    refused = create_with_request_id(api, non_inventory_item_body("Fifty-one", accounts), "b" * 51)
    assert_validation_fault(refused, "6000")
    assert count_named(api, "Fifty-one") == 0


@pytest.fixture(scope="module")
def dropping_sandbox() -> Iterator[SandboxProcess]:
    """Its own server, because fault injection is server-wide."""
    from qbo_sandbox.testing import start_sandbox

    process = start_sandbox("--seed", "empty")
    yield process
    process.stop()


def test_a_dropped_response_is_recovered_by_retrying_with_the_same_request_id(
    dropping_sandbox: SandboxProcess,
) -> None:
    api = connect(dropping_sandbox, dropping_sandbox.new_company(seed="empty")).api
    body = non_inventory_item_body("Lost In Transit Rosé", ensure_accounts(api))
    request_id = str(uuid.uuid4())

    dropping_sandbox.control("POST", "/_sandbox/config", {"fault_drop": 1.0})
    try:
        with pytest.raises(requests.exceptions.ConnectionError):
            create_with_request_id(api, body, request_id)
    finally:
        dropping_sandbox.control("POST", "/_sandbox/config", {"fault_drop": 0.0})

    # The write was committed before the connection dropped; the retry must not repeat it.
    retried = create_with_request_id(api, body, request_id)
    assert retried.status_code == 200, retried.text
    assert retried.json()["Item"]["Name"] == "Lost In Transit Rosé"
    assert count_named(api, "Lost In Transit Rosé") == 1
