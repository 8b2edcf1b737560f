"""Property-based tests of the mapping-conflict decisions (no input reaches a 5xx).

Arbitrary form data goes to choose, ignore and unmap, for real conflicts of every kind
(of either partner) and for ids that are no conflict at all. Whatever is sent, the answer
is below 500; an admin's POST ends with a message; and a refusal leaves the mappings, the
conflicts and their audit rows exactly as they were. Other roles get 403 and write nothing.

Each example runs in a savepoint that is rolled back, so every one starts from the same
open queue: an accepted decision in one example does not settle the conflict for the next.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.messages import constants, get_messages
from django.test import Client
from django.urls import reverse
from hypothesis import event, example, given, note
from hypothesis import strategies as st

from accounts.models import Partner, User
from common.textinput import forbidden_character
from inventory.catalog.services import catalog_demo_load
from inventory.mapping import services as mapping
from inventory.mapping.models import MappingConflict, MappingDecision, QBOItem, SKUMapping
from sync.models import QBOConnection
from tests.billing.factories import ConnectionFactory, ItemFactory
from tests.conftest import rolled_back, signed_in

Kind = MappingConflict.Kind
ACTIONS = ("choose", "ignore", "unmap")
FIELDS = ("sku_code", "item_qbo_id", "unit", "bottles_per_unit")

# Values that have broken, or nearly broken, a form somewhere.
TRICKY = [
    "", " ", "\x00", "UF-DEM\x00-NV-750", "\x01", "\x1b[0m", "\x7f", "\x85", "\t", "\u2028",
    "²", "٣", "１２", "0", "-1", "+1", "1e3", "7.5", "1001", "1000", "1" * 30, "9" * 5000,
    "bottle", "case", "CASE", "dozen", "11", "12", "13", "14", "999", "UF-NOPE-1",
    "uf-dem-nv-750", " UF-DEM-NV-750 ", "A" * 65, "'; DROP TABLE x; --", "%00", "&#0;",
]  # fmt: skip
damaged_text = st.text(
    st.one_of(st.sampled_from("\x00\x01\x1f\x7f\x85\r\n²٣"), st.characters(codec="utf-8")),
    max_size=12,
)


def state() -> dict[str, list[dict[str, Any]]]:
    """Every row a decision could write: mappings, conflicts and their audit trail."""
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (SKUMapping, MappingConflict, MappingDecision)
    }


def item(connection: QBOConnection, qbo_id: str, name: str, sku: str) -> QBOItem:
    made: QBOItem = ItemFactory(connection=connection, qbo_id=qbo_id, name=name, sku=sku,
                                qty_on_hand=Decimal("12"))  # fmt: skip
    return made


@pytest.fixture
def queue(partner_a: Partner, partner_b: Partner) -> dict[str, int]:
    """One open conflict of every kind, across two partners: {kind: pk}."""
    catalog_demo_load()
    books_a = ConnectionFactory(partner=partner_a, realm_id="4620000000000001")
    books_b = ConnectionFactory(partner=partner_b, realm_id="4620000000000002")
    # Several items for one SKU.
    item(books_a, "11", "Une Femme Blanc de Blancs 2021 750ml", "UF-BDB-2021-750")
    item(books_a, "12", "Une Femme Blanc de Blancs 2021 750ml (Library)", "UF-BDB-2021-750")
    # One item that fits several SKUs (its name says no format).
    item(books_a, "13", "Une Femme Callie Sparkling Rosé NV", "")
    # A mapped item renamed, and another deleted, in QuickBooks.
    renamed = item(books_a, "14", "Une Femme Demi-Sec NV 750ml", "UF-DEM-NV-750")
    deleted = item(books_b, "15", "Une Femme Crémant Brut NV 750ml", "UF-CRB-NV-750")
    mapping.mapping_refresh(connection_id=books_a.pk)
    mapping.mapping_refresh(connection_id=books_b.pk)
    QBOItem.objects.filter(pk=renamed.pk).update(name="House Bubbly 750ml")
    deleted.delete()
    # A look-alike that fits no SKU.
    item(books_b, "16", "Une Femme Côte Rosé 1.5L", "")
    mapping.mapping_refresh(connection_id=books_a.pk)
    mapping.mapping_refresh(connection_id=books_b.pk)

    conflicts = {f"{c.kind}-{c.item_qbo_id}": c.pk for c in MappingConflict.objects.open()}
    assert set(conflicts) == set(KEYS), conflicts
    return conflicts


field_value = st.one_of(
    st.sampled_from(TRICKY),
    st.sampled_from(["UF-DEM-NV-750", "UF-BDB-2021-750", "UF-CAL-NV-375", "UF-JUL-NV-750"]),
    damaged_text,
    st.text(max_size=10),
)
# A field is left out, sent once, or sent several times (the form reads the last).
field = st.one_of(st.none(), field_value, st.lists(field_value, min_size=2, max_size=3))


@st.composite
def form_data(draw: st.DrawFn) -> dict[str, Any]:
    data = {name: value for name in FIELDS if (value := draw(field)) is not None}
    extra = draw(st.dictionaries(st.text(min_size=1, max_size=8), field_value, max_size=2))
    return {**extra, **data}


@st.composite
def near_valid_form_data(draw: st.DrawFn) -> dict[str, Any]:
    """A choice the queue's own buttons could send, with at most one field replaced."""
    data = {
        "sku_code": draw(st.sampled_from(["UF-DEM-NV-750", "UF-BDB-2021-750", "UF-CAL-NV-375",
                                          "UF-CAL-NV-750", "UF-CRB-NV-750"])),
        # Empty (the conflict's only item) half the time, as the queue's own forms send it.
        "item_qbo_id": draw(st.one_of(st.just(""), st.sampled_from(["11", "12", "13", "14",
                                                                    "15", "16"]))),
        "unit": draw(st.sampled_from(["", "bottle", "case"])),
        "bottles_per_unit": draw(st.sampled_from(["", "1", "6", "12"])),
    }  # fmt: skip
    if draw(st.booleans()):
        data[draw(st.sampled_from(FIELDS))] = draw(field_value)
    return data


KEYS = ("duplicate_items-", "ambiguous_item-13", "item_changed-14", "item_changed-15",
        "unmatched-16")  # fmt: skip
# Mostly a real conflict (either partner's: admins see all), else an id that is none.
conflicts = st.sampled_from([*KEYS, *KEYS, 0]).flatmap(
    lambda key: st.just(key) if key else st.integers(0, 2**31) | st.integers(2**31, 2**80)
)


def url_for(action: str, conflict: str | int, queue: dict[str, int]) -> str:
    pk = queue[conflict] if isinstance(conflict, str) else conflict
    return reverse(f"inventory:conflict_{action}", args=[pk])


def messages_of(response: Any) -> list[tuple[int, str]]:
    return [(m.level, m.message) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def admin_client(ada: User) -> Iterator[Client]:
    yield signed_in(ada)


@example(
    action="choose",
    conflict="duplicate_items-",
    form={"sku_code": "UF-BDB-2021-750", "item_qbo_id": "11"},
)
@example(
    action="choose",
    conflict="ambiguous_item-13",
    form={"sku_code": "UF-CAL-NV-375", "unit": "case"},
)
@example(action="unmap", conflict="item_changed-14", form={})
@example(action="ignore", conflict="unmatched-16", form={})
@example(action="choose", conflict="item_changed-15", form={"sku_code": "UF-CRB-NV-750"})
@example(action="choose", conflict="ambiguous_item-13", form={"sku_code": "UF\x1b[0m-X"})
@given(
    action=st.sampled_from(["choose", "choose", "ignore", "unmap"]),
    conflict=conflicts,
    form=st.one_of(form_data(), near_valid_form_data(), near_valid_form_data()),
)
def test_any_decision_post_is_answered_below_500_and_a_refusal_writes_nothing(
    admin_client: Client,
    ada: User,
    queue: dict[str, int],
    action: str,
    conflict: str | int,
    form: dict[str, Any],
) -> None:
    url = url_for(action, conflict, queue)
    note(f"POST {url} {form!r}")
    with rolled_back(admin_client):
        before = state()
        response = admin_client.post(url, form)
        assert response.status_code in (302, 404)
        if response.status_code == 404:
            event("no such conflict: 404")
            assert state() == before
            return
        said = messages_of(response)
        assert len(said) == 1, said
        level, message = said[0]
        assert message.strip()
        assert forbidden_character(message) is None, "the message echoes damaged input"
        event(f"{action}: {'refused' if level == constants.ERROR else 'decided'}")
        if level == constants.ERROR:
            assert state() == before, message
        else:
            assert level == constants.SUCCESS
            pk = queue[conflict] if isinstance(conflict, str) else conflict
            [decision] = MappingDecision.objects.filter(conflict_id=pk, actor=ada)
            assert decision.action == action
            assert not MappingConflict.objects.get(pk=pk).is_open


@given(action=st.sampled_from(ACTIONS), conflict=conflicts, body=st.binary(max_size=200))
def test_a_raw_undecodable_body_is_answered_below_500(
    admin_client: Client, queue: dict[str, int], action: str, conflict: str | int, body: bytes
) -> None:
    # Not UTF-8, not key=value pairs: what a broken client (not a browser) might send.
    url = url_for(action, conflict, queue)
    with rolled_back(admin_client):
        before = state()
        response = admin_client.post(url, body, content_type="application/x-www-form-urlencoded")
        assert response.status_code in (302, 404)
        said = messages_of(response)
        if response.status_code == 302:
            assert len(said) == 1
        if response.status_code == 404 or said[0][0] == constants.ERROR:
            assert state() == before


@given(
    who=st.sampled_from(["alice", "bob", "sam"]),
    action=st.sampled_from(ACTIONS),
    method=st.sampled_from(["get", "post"]),
    conflict=conflicts,
    form=form_data(),
)
def test_no_one_but_an_admin_can_decide_anything(
    cast: dict[str, User],
    queue: dict[str, int],
    who: str,
    action: str,
    method: str,
    conflict: str | int,
    form: dict[str, Any],
) -> None:
    url = url_for(action, conflict, queue)
    before = state()
    response = getattr(signed_in(cast[who]), method)(url, form)
    assert response.status_code == 403
    assert state() == before


@given(action=st.sampled_from(ACTIONS), conflict=conflicts, form=form_data())
def test_a_get_never_decides(
    admin_client: Client,
    queue: dict[str, int],
    action: str,
    conflict: str | int,
    form: dict[str, Any],
) -> None:
    url = url_for(action, conflict, queue)
    before = state()
    response = admin_client.get(url, form)
    assert response.status_code in (302, 404)
    assert state() == before
