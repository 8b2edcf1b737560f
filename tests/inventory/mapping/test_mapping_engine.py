"""SKU matching (inventory.mapping): name normalisation, Sku and name matches, each kind
of conflict, admins' decisions surviving later refreshes, and the audit trail."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Partner, User
from inventory.catalog.models import CatalogSKU
from inventory.catalog.services import catalog_demo_load
from inventory.mapping import matching
from inventory.mapping import services as mapping
from inventory.mapping.models import MappingConflict, MappingDecision, QBOItem, SKUMapping
from sync import locks, services
from sync.models import QBOConnection, SyncRun
from tests.billing.factories import ConnectionFactory, ItemFactory

Kind = MappingConflict.Kind
Status = MappingConflict.Status


@pytest.fixture
def catalog(db: None) -> None:
    catalog_demo_load()


@pytest.fixture
def books(partner_a: Partner, catalog: None) -> QBOConnection:
    connection: QBOConnection = ConnectionFactory(partner=partner_a, realm_id="4620000000000001")
    return connection


def item(connection: QBOConnection, name: str, sku: str = "", **fields: Any) -> QBOItem:
    made: QBOItem = ItemFactory(connection=connection, name=name, sku=sku, **fields)
    return made


def refresh(connection: QBOConnection) -> mapping.RefreshResult:
    return mapping.mapping_refresh(connection_id=connection.pk)


def mapped(connection: QBOConnection) -> dict[str, tuple[str, str, int, str]]:
    return {
        m.item_qbo_id: (m.catalog_sku.code, m.unit, m.bottles_per_unit, m.method)
        for m in SKUMapping.objects.filter(connection=connection).select_related("catalog_sku")
    }


def open_conflicts(connection: QBOConnection) -> list[MappingConflict]:
    return list(MappingConflict.objects.open().filter(connection=connection))


# ------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    ("name", "words", "vintage", "format_ml", "case_size"),
    [
        ("Une Femme The Callie Sparkling Rosé NV 750ml", {"callie", "sparkling", "rose"}, "NV",
         750, None),
        ("UNE FEMME CRÉMANT: BRUT, N.V. 6 x 750ml", {"cremant", "brut"}, "NV", 750, 6),
        ("Une Femme Blanc de Blancs Magnum 2021 - Case of 6", {"blanc", "de", "blancs"}, 2021,
         1500, 6),
        ("Blanc de Blancs 2021 1.5L", {"blanc", "de", "blancs"}, 2021, 1500, None),
        ("Demi-Sec NV 375 ml 12pk", {"demi", "sec"}, "NV", 375, 12),
        ("The Juliette Brut NV 750", {"juliette", "brut"}, "NV", 750, None),
        ("Still Rosé 2023 750ml 12/cs", {"still", "rose"}, 2023, 750, 12),
        ("Château d'Yquem 2015", {"chateau", "d", "yquem"}, 2015, None, None),
    ],
)  # fmt: skip
def test_names_are_normalised_into_wine_words_vintage_format_and_case(
    name: str, words: set[str], vintage: Any, format_ml: int | None, case_size: int | None
) -> None:
    parsed = matching.parse_name(name)
    assert parsed.words == words
    assert (parsed.vintage, parsed.format_ml, parsed.case_size) == (vintage, format_ml, case_size)


# ------------------------------------------------------------------ matching


def test_an_items_sku_maps_it_whatever_its_name(books: QBOConnection) -> None:
    # Case and spaces in the Sku field do not matter; the name is not Une Femme's words.
    bottle = item(books, "JULIETTE BTL", " uf-jul-nv-750 ")
    result = refresh(books)
    assert mapped(books) == {bottle.qbo_id: ("UF-JUL-NV-750", "bottle", 1, "sku")}
    assert result.mapped == 1 and result.opened == 0


def test_names_with_accents_vintage_and_case_size_are_matched(books: QBOConnection) -> None:
    case12 = item(books, "Une Femme The Callie Rosé NV 750ml - Case of 12")
    crb6 = item(books, "UNE FEMME CREMANT: BRUT, N.V. 6 x 750ml")
    magnum = item(books, "Une Femme Blanc de Blancs Magnum 2021 1500ml")
    bottle = item(books, "the juliette brut nv 750")  # no brand, but exactly the wine's words
    refresh(books)
    assert mapped(books) == {
        case12.qbo_id: ("UF-CAL-NV-750", "case", 12, "name"),
        crb6.qbo_id: ("UF-CRB-NV-750", "case", 6, "name"),
        magnum.qbo_id: ("UF-BDB-2021-1500", "bottle", 1, "name"),
        bottle.qbo_id: ("UF-JUL-NV-750", "bottle", 1, "name"),
    }
    assert open_conflicts(books) == []


def test_other_brands_are_neither_matched_nor_queued(books: QBOConnection) -> None:
    item(books, "Schramsberg Blanc de Blancs 2021")
    item(books, "Ruinart Blanc de Blancs NV")
    item(books, "Crémant de Loire")
    item(books, "Château d'Yquem 2015")
    refresh(books)
    assert mapped(books) == {} and open_conflicts(books) == []


def test_a_wrong_vintage_or_format_does_not_match(books: QBOConnection) -> None:
    item(books, "Une Femme Still Rosé 2022 750ml")  # the catalog has 2023
    refresh(books)
    assert mapped(books) == {}
    [conflict] = open_conflicts(books)
    assert conflict.kind == Kind.UNMATCHED


def test_a_bottle_item_and_a_case_item_of_one_sku_are_both_mapped(books: QBOConnection) -> None:
    bottle = item(books, "Une Femme Demi-Sec NV 750ml", "UF-DEM-NV-750")
    case = item(books, "Une Femme Demi-Sec NV 750ml - Case of 6")
    refresh(books)
    assert mapped(books) == {
        bottle.qbo_id: ("UF-DEM-NV-750", "bottle", 1, "sku"),
        case.qbo_id: ("UF-DEM-NV-750", "case", 6, "name"),
    }
    assert open_conflicts(books) == []


def test_refreshing_twice_changes_nothing(books: QBOConnection) -> None:
    item(books, "Une Femme Demi-Sec NV 750ml", "UF-DEM-NV-750")
    item(books, "Une Femme Brut NV 750ml")  # ambiguous
    refresh(books)
    before = (mapped(books), [(c.pk, c.fingerprint) for c in open_conflicts(books)])
    again = refresh(books)
    assert (again.mapped, again.opened, again.closed) == (0, 0, 0)
    assert (mapped(books), [(c.pk, c.fingerprint) for c in open_conflicts(books)]) == before


# ------------------------------------------------------------------ conflict kinds


def test_several_items_carrying_one_code_raise_a_conflict_and_map_neither(
    books: QBOConnection,
) -> None:
    a = item(books, "Une Femme Blanc de Blancs 2021 750ml", "UF-BDB-2021-750",
             qty_on_hand=Decimal("48"))  # fmt: skip
    b = item(books, "Une Femme Blanc de Blancs 2021 750ml (Library Release)", "UF-BDB-2021-750")
    refresh(books)
    [conflict] = open_conflicts(books)
    assert conflict.kind == Kind.DUPLICATE_ITEMS and conflict.sku_code == "UF-BDB-2021-750"
    rows = {row["qbo_id"]: row for row in conflict.candidates["items"]}
    assert set(rows) == {a.qbo_id, b.qbo_id}
    assert rows[a.qbo_id]["qty_on_hand"] == "48.0000" and rows[a.qbo_id]["sku"] == a.sku
    assert mapped(books) == {}


def test_an_item_whose_sku_and_name_disagree_fits_several_skus(books: QBOConnection) -> None:
    promo = item(books, "Une Femme The Juliette Brut NV 750ml - Case of 12 (Promo)",
                 "UF-CAL-NV-750")  # fmt: skip
    refresh(books)
    [conflict] = open_conflicts(books)
    assert conflict.kind == Kind.AMBIGUOUS_ITEM and conflict.item_qbo_id == promo.qbo_id
    assert {(s["code"], s["via"]) for s in conflict.candidates["skus"]} == {
        ("UF-CAL-NV-750", "sku"),
        ("UF-JUL-NV-750", "name"),
    }
    assert mapped(books) == {}


def test_a_name_that_fits_several_skus_is_ambiguous(books: QBOConnection) -> None:
    item(books, "Une Femme Brut NV 750ml")
    refresh(books)
    [conflict] = open_conflicts(books)
    assert conflict.kind == Kind.AMBIGUOUS_ITEM
    assert {s["code"] for s in conflict.candidates["skus"]} == {"UF-JUL-NV-750", "UF-CRB-NV-750"}


@pytest.mark.parametrize(
    ("name", "sku"),
    [("Une Femme Rosé 1.5L", ""), ("Mystery sparkler", "UF-XYZ-NV-750")],
)
def test_items_that_look_like_une_femmes_but_match_nothing_are_queued(
    books: QBOConnection, name: str, sku: str
) -> None:
    item(books, name, sku)
    item(books, "Une Femme Rosé 1.5L (discontinued)", active=False)  # inactive: not queued
    refresh(books)
    [conflict] = open_conflicts(books)
    assert conflict.kind == Kind.UNMATCHED
    assert conflict.candidates["items"][0]["name"] == name


@pytest.mark.parametrize("change", ["rename", "resku", "deactivate", "delete"])
def test_a_mapped_item_changed_in_quickbooks_raises_a_conflict_and_keeps_its_mapping(
    books: QBOConnection, change: str
) -> None:
    bottle = item(books, "Une Femme Demi-Sec NV 750ml", "UF-DEM-NV-750")
    refresh(books)
    assert bottle.qbo_id in mapped(books)
    if change == "rename":
        QBOItem.objects.filter(pk=bottle.pk).update(name="House Bubbly 750ml")
    elif change == "resku":
        QBOItem.objects.filter(pk=bottle.pk).update(sku="HB-750")
    elif change == "deactivate":
        QBOItem.objects.filter(pk=bottle.pk).update(active=False)
    else:
        QBOItem.objects.filter(pk=bottle.pk).delete()
    refresh(books)
    [conflict] = open_conflicts(books)
    assert conflict.kind == Kind.ITEM_CHANGED and conflict.item_qbo_id == bottle.qbo_id
    assert conflict.candidates["mapping"]["item_name"] == "Une Femme Demi-Sec NV 750ml"
    assert conflict.candidates["items"][0]["deleted"] == (change == "delete")
    # Stock keeps counting under the old mapping until an admin decides.
    assert mapped(books)[bottle.qbo_id][0] == "UF-DEM-NV-750"


def test_a_spelling_only_change_is_not_a_rename(books: QBOConnection) -> None:
    bottle = item(books, "Une Femme Still Rosé 2023 750ml", "UF-ROS-2023-750")
    refresh(books)
    QBOItem.objects.filter(pk=bottle.pk).update(name="UNE FEMME  Still Rose 2023 750ml")
    refresh(books)
    assert open_conflicts(books) == []


def test_an_open_conflict_whose_facts_went_away_is_closed_by_the_sync(
    books: QBOConnection,
) -> None:
    promo = item(books, "Une Femme The Juliette Brut NV 750ml - Case of 12 (Promo)",
                 "UF-CAL-NV-750")  # fmt: skip
    refresh(books)
    [conflict] = open_conflicts(books)
    QBOItem.objects.filter(pk=promo.pk).update(sku="UF-JUL-NV-750")  # the partner fixed it
    result = refresh(books)
    conflict.refresh_from_db()
    assert result.closed == 1 and conflict.status == Status.RESOLVED
    assert mapped(books) == {promo.qbo_id: ("UF-JUL-NV-750", "case", 12, "sku")}
    decision = MappingDecision.objects.get(conflict=conflict)
    assert decision.action == MappingDecision.Action.CLOSED_BY_SYNC and decision.actor is None


# ------------------------------------------------------------------ decisions


def test_a_choice_survives_the_next_sync_and_a_rename_raises_a_new_conflict(
    books: QBOConnection, ada: User
) -> None:
    promo = item(books, "Une Femme The Juliette Brut NV 750ml - Case of 12 (Promo)",
                 "UF-CAL-NV-750")  # fmt: skip
    refresh(books)
    [conflict] = open_conflicts(books)
    mapping.conflict_choose(conflict_id=conflict.pk, user=ada, sku_code="UF-JUL-NV-750")
    assert mapped(books) == {promo.qbo_id: ("UF-JUL-NV-750", "case", 12, "admin")}

    for _ in range(2):  # the next syncs, items unchanged
        result = refresh(books)
        assert (result.opened, result.closed, result.open) == (0, 0, 0)
    conflict.refresh_from_db()
    assert conflict.status == Status.RESOLVED and conflict.decided_by == ada
    assert mapped(books) == {promo.qbo_id: ("UF-JUL-NV-750", "case", 12, "admin")}

    QBOItem.objects.filter(pk=promo.pk).update(name="Une Femme Juliette Brut NV 750ml Case of 12")
    result = refresh(books)
    assert result.opened == 1
    [renamed] = open_conflicts(books)
    assert renamed.kind == Kind.ITEM_CHANGED and renamed.pk != conflict.pk
    assert renamed.candidates["mapping"]["method"] == "admin"
    conflict.refresh_from_db()
    assert conflict.status == Status.RESOLVED  # the earlier decision is still on record


def test_choosing_one_of_several_items_keeps_the_others_unmapped(
    books: QBOConnection, ada: User
) -> None:
    a = item(books, "Une Femme Blanc de Blancs 2021 750ml", "UF-BDB-2021-750")
    b = item(books, "Une Femme Blanc de Blancs 2021 750ml (Library Release)", "UF-BDB-2021-750")
    refresh(books)
    [conflict] = open_conflicts(books)
    with pytest.raises(ValidationError, match="which QuickBooks item"):
        mapping.conflict_choose(conflict_id=conflict.pk, user=ada, sku_code="UF-BDB-2021-750")
    mapping.conflict_choose(
        conflict_id=conflict.pk, user=ada, sku_code="UF-BDB-2021-750", item_qbo_id=a.qbo_id
    )
    refresh(books)
    refresh(books)
    assert mapped(books) == {a.qbo_id: ("UF-BDB-2021-750", "bottle", 1, "admin")}
    assert open_conflicts(books) == []
    # A third item carrying the code is a new contest.
    item(books, "UF BdB 2021 magnum?", "UF-BDB-2021-750")
    refresh(books)
    [again] = open_conflicts(books)
    assert again.kind == Kind.DUPLICATE_ITEMS and len(again.candidates["items"]) == 3
    assert b.qbo_id not in mapped(books)


def test_an_ignored_conflict_stays_ignored_until_its_facts_change(
    books: QBOConnection, ada: User
) -> None:
    odd = item(books, "Une Femme Rosé 1.5L")
    refresh(books)
    [conflict] = open_conflicts(books)
    mapping.conflict_ignore(conflict_id=conflict.pk, user=ada)
    refresh(books)
    assert open_conflicts(books) == [] and mapped(books) == {}
    conflict.refresh_from_db()
    assert conflict.status == Status.IGNORED
    QBOItem.objects.filter(pk=odd.pk).update(name="Une Femme Rosé Magnum")
    refresh(books)
    [new] = open_conflicts(books)
    assert new.kind == Kind.UNMATCHED and new.pk != conflict.pk


def test_choosing_for_an_unmatched_item_sets_the_unit_asked_for(
    books: QBOConnection, ada: User
) -> None:
    odd = item(books, "Une Femme Rosé 1.5L")
    refresh(books)
    [conflict] = open_conflicts(books)
    mapping.conflict_choose(
        conflict_id=conflict.pk, user=ada, sku_code="UF-ROS-2023-750", unit="case",
        bottles_per_unit=2,
    )  # fmt: skip
    assert mapped(books) == {odd.qbo_id: ("UF-ROS-2023-750", "case", 2, "admin")}


def test_removing_a_changed_items_mapping(books: QBOConnection, ada: User) -> None:
    bottle = item(books, "Une Femme Demi-Sec NV 750ml", "UF-DEM-NV-750")
    refresh(books)
    QBOItem.objects.filter(pk=bottle.pk).update(active=False)
    refresh(books)
    [conflict] = open_conflicts(books)
    mapping.conflict_unmap(conflict_id=conflict.pk, user=ada)
    refresh(books)
    assert mapped(books) == {} and open_conflicts(books) == []
    decision = MappingDecision.objects.get(conflict=conflict)
    assert decision.before["mappings"][0]["sku"] == "UF-DEM-NV-750"
    assert decision.after == {"status": "resolved", "mappings": []}


def test_every_decision_is_audited_with_who_when_before_and_after(
    books: QBOConnection, ada: User
) -> None:
    bottle = item(books, "Une Femme Demi-Sec NV 750ml", "UF-DEM-NV-750")
    refresh(books)
    QBOItem.objects.filter(pk=bottle.pk).update(name="Une Femme Demi-Sec NV 750ml - Case of 6")
    refresh(books)
    [conflict] = open_conflicts(books)
    started = timezone.now()
    mapping.conflict_choose(conflict_id=conflict.pk, user=ada, sku_code="UF-DEM-NV-750")
    decision = MappingDecision.objects.get(conflict=conflict)
    assert decision.actor == ada and decision.action == MappingDecision.Action.CHOOSE
    assert decision.created_at >= started and decision.connection == books
    assert decision.before["status"] == "open"
    assert decision.before["mappings"] == [
        {"item_qbo_id": bottle.qbo_id, "sku": "UF-DEM-NV-750", "unit": "bottle",
         "bottles_per_unit": 1, "method": "sku", "item_name": "Une Femme Demi-Sec NV 750ml",
         "item_sku": "UF-DEM-NV-750"},
    ]  # fmt: skip
    assert decision.after["status"] == "resolved"
    assert decision.after["mappings"][0] == {
        "item_qbo_id": bottle.qbo_id, "sku": "UF-DEM-NV-750", "unit": "case",
        "bottles_per_unit": 6, "method": "admin",
        "item_name": "Une Femme Demi-Sec NV 750ml - Case of 6", "item_sku": "UF-DEM-NV-750",
    }  # fmt: skip
    # Append-only.
    with pytest.raises(ValueError, match="append-only"):
        decision.save()
    with pytest.raises(ValueError, match="append-only"):
        decision.delete()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sku_code": "UF-NOPE-750"}, "is not a catalog SKU"),
        ({"sku_code": "UF-DEM-NV-750", "unit": "pallet"}, "bottle or case"),
        ({"sku_code": "UF-DEM-NV-750", "unit": "case", "bottles_per_unit": 5000}, "1 and 1000"),
        ({"sku_code": "UF-DEM-NV-750", "item_qbo_id": "999999"}, "not one of this conflict"),
    ],
)
def test_a_bad_choice_is_refused_clearly_and_changes_nothing(
    books: QBOConnection, ada: User, kwargs: dict[str, Any], message: str
) -> None:
    item(books, "Une Femme Rosé 1.5L")
    refresh(books)
    [conflict] = open_conflicts(books)
    with pytest.raises(ValidationError, match=message):
        mapping.conflict_choose(conflict_id=conflict.pk, user=ada, **kwargs)
    conflict.refresh_from_db()
    assert conflict.status == Status.OPEN
    assert mapped(books) == {} and not MappingDecision.objects.exists()


def test_an_inactive_catalog_sku_cannot_be_chosen(books: QBOConnection, ada: User) -> None:
    item(books, "Une Femme Rosé 1.5L")
    refresh(books)
    CatalogSKU.objects.filter(code="UF-DEM-NV-750").update(active=False)
    [conflict] = open_conflicts(books)
    with pytest.raises(ValidationError, match="inactive"):
        mapping.conflict_choose(conflict_id=conflict.pk, user=ada, sku_code="UF-DEM-NV-750")


def test_a_settled_conflict_cannot_be_decided_again(books: QBOConnection, ada: User) -> None:
    item(books, "Une Femme Rosé 1.5L")
    refresh(books)
    [conflict] = open_conflicts(books)
    mapping.conflict_ignore(conflict_id=conflict.pk, user=ada)
    with pytest.raises(ValidationError, match="already settled"):
        mapping.conflict_choose(conflict_id=conflict.pk, user=ada, sku_code="UF-DEM-NV-750")
    assert MappingDecision.objects.count() == 1 and mapped(books) == {}


def test_connections_are_matched_separately(
    books: QBOConnection, partner_b: Partner, ada: User
) -> None:
    other: QBOConnection = ConnectionFactory(partner=partner_b, realm_id="4620000000000002")
    # The same QuickBooks id in both companies: ids collide across realms.
    mine = item(books, "Une Femme Demi-Sec NV 750ml", "UF-DEM-NV-750", qbo_id="7")
    theirs = item(other, "Une Femme Rosé 1.5L", "", qbo_id="7")
    refresh(books)
    assert mapped(books) == {mine.qbo_id: ("UF-DEM-NV-750", "bottle", 1, "sku")}
    assert mapped(other) == {} and open_conflicts(other) == []
    refresh(other)
    [conflict] = open_conflicts(other)
    assert conflict.item_qbo_id == theirs.qbo_id
    mapping.conflict_choose(conflict_id=conflict.pk, user=ada, sku_code="UF-ROS-2023-750")
    assert mapped(books) == {mine.qbo_id: ("UF-DEM-NV-750", "bottle", 1, "sku")}
    assert mapped(other)[theirs.qbo_id][0] == "UF-ROS-2023-750"


# ------------------------------------------------------------------ the sync hook


def _succeed(connection: QBOConnection) -> SyncRun:
    lease = locks.realm_lock_acquire(realm_id=connection.realm_id, connection_id=connection.pk)
    assert lease is not None
    try:
        run = services._run(connection, lease, SyncRun.Kind.POLL, "test", lambda context: None)
    finally:
        lease.release()
    assert run is not None
    return run


def test_a_successful_sync_runs_the_matching(books: QBOConnection) -> None:
    bottle = item(books, "Une Femme Demi-Sec NV 750ml", "UF-DEM-NV-750")
    run = _succeed(books)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert bottle.qbo_id in mapped(books)


def test_a_failing_match_never_fails_the_sync(
    books: QBOConnection, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*, connection_id: int) -> None:
        raise RuntimeError("matching broke")

    monkeypatch.setattr(mapping, "mapping_refresh", broken)
    run = _succeed(books)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert "SKU mapping after sync" in caplog.text
