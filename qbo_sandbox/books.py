"""One company's books inside one transaction: reads, versioned writes, and the CRUD verbs.

Every write goes through `Books.save`, which bumps SyncToken, stamps MetaData, keeps
the indexed columns in step with the JSON and records a change event. Entity rules
(entities.py for name lists, accounting.py for transactions) only compute objects and
register side effects; side effects on other objects (stock, balances) are collected
per operation and settled once, so an item sold on three lines is written once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from qbo_sandbox.common import (
    JSON,
    Fault,
    business_error,
    company_today,
    dec,
    invalid_reference,
    invalid_value,
    now_ms,
    num,
    object_not_found,
    qbo_time,
    required_missing,
    stale_object,
    unsupported_operation,
)
from qbo_sandbox.store import Event, Row, Tx

# Keys the server owns on every entity; their input values are ignored.
SYSTEM_KEYS = frozenset({"Id", "SyncToken", "MetaData", "domain", "sparse", "status"})


@dataclass(frozen=True)
class Spec:
    """How one entity type is validated, stored and written."""

    name: str
    kind: str  # "list" (deactivated, never deleted), "txn" (deletable) or "singleton"
    sequence: str
    fields: frozenset[str]  # accepted top-level properties; anything else is a 2010 fault
    read_only: frozenset[str]  # computed properties: input ignored, kept across full updates
    normalize: Callable[[Books, JSON, JSON | None], JSON]
    name_key: Callable[[JSON], str | None] = lambda obj: None
    # DocNumber as indexed for queries; unique per entity when `unique_doc_number`.
    doc_number: Callable[[JSON], str | None] = lambda obj: None
    unique_doc_number: bool = True
    effects: Callable[[Books, JSON | None, JSON | None], None] = lambda books, old, new: None
    void: Callable[[Books, JSON], JSON] | None = None
    sparse_only_update: bool = False
    hides_inactive: bool = False
    # False for the lists QBO serves read-only (TaxCode, TaxRate: Intuit's TaxService makes
    # them; CustomerType: made in QBO's settings). Only the seed and /_sandbox/ write them.
    writable: bool = True


SPECS: dict[str, Spec] = {}


def tombstone_stub(entity_id: str, last_updated_time: str) -> JSON:
    """What CDC reports for a deleted object (and what a delete leaves in the store)."""
    return {
        "domain": "QBO",
        "status": "Deleted",
        "Id": entity_id,
        "MetaData": {"LastUpdatedTime": last_updated_time},
    }


def register(spec: Spec) -> Spec:
    SPECS[spec.name] = spec
    return spec


@dataclass
class Books:
    tx: Tx
    realm_id: str
    now: int = field(default_factory=now_ms)
    _stock: dict[int, Decimal] = field(default_factory=dict)
    _party: dict[tuple[str, int], Decimal] = field(default_factory=dict)

    # ------------------------------------------------------------ reading

    def get(self, entity: str, entity_id: Any) -> JSON | None:
        key = parse_id(entity_id)
        return None if key is None else self.tx.get(self.realm_id, entity, key)

    def require(self, entity: str, entity_id: Any) -> JSON:
        obj = self.get(entity, entity_id)
        if obj is None:
            raise object_not_found(f"{entity} Id={entity_id}")
        return obj

    def ref(self, value: Any, entity: str, element: str, *, required: bool = False) -> JSON | None:
        """Validate a reference such as {"value": "4"}; return it with QBO's `name` filled in."""
        if value is None:
            if required:
                raise required_missing(element)
            return None
        if not isinstance(value, dict) or "value" not in value:
            raise invalid_value(element, value)
        target = self.get(entity, value["value"])
        if target is None:
            raise invalid_reference(element, entity, value["value"])
        if target.get("Active") is False:
            # QBO refuses references to inactive names with "Object Not Found".
            raise object_not_found(f"{entity} Id={value['value']} is inactive")
        return {"value": target["Id"], "name": display_name(target)}

    def today(self) -> date:
        return company_today()

    # ------------------------------------------------------------ writing

    def next_id(self, spec: Spec) -> int:
        return self.tx.next_id(self.realm_id, spec.sequence)

    def save(self, entity: str, obj: JSON, old: JSON | None, operation: str) -> JSON:
        """Persist a new version of `obj` (whose previous version is `old`)."""
        spec = SPECS[entity]
        stamp = qbo_time(self.now)
        obj["domain"] = "QBO"
        obj["sparse"] = False
        if old is None:
            obj["SyncToken"] = "0"
            obj["MetaData"] = {"CreateTime": stamp, "LastUpdatedTime": stamp}
        else:
            obj["SyncToken"] = str(int(old["SyncToken"]) + 1)
            obj["MetaData"] = {**old.get("MetaData", {}), "LastUpdatedTime": stamp}
        self.tx.put(
            self.realm_id,
            Row(
                entity=entity,
                id=int(obj["Id"]),
                data=obj,
                active=obj.get("Active", True) is not False,
                name_key=spec.name_key(obj),
                doc_number=spec.doc_number(obj),
                updated_ms=self.now,
            ),
        )
        self.tx.events.append(Event(self.realm_id, entity, obj["Id"], operation, self.now))
        return obj

    def tombstone(self, entity: str, old: JSON) -> JSON:
        """Delete a transaction for good, leaving the shape CDC reports for deletions."""
        stub = tombstone_stub(old["Id"], qbo_time(self.now))
        self.tx.put(
            self.realm_id,
            Row(entity, int(old["Id"]), stub, active=False, deleted=True, updated_ms=self.now),
        )
        self.tx.events.append(Event(self.realm_id, entity, old["Id"], "Delete", self.now))
        return {"status": "Deleted", "domain": "QBO", "Id": old["Id"]}

    def add_stock(self, item_id: int, qty: Decimal) -> None:
        if qty:
            self._stock[item_id] = self._stock.get(item_id, Decimal(0)) + qty

    def add_party_balance(self, party: tuple[str, int] | None, amount: Decimal) -> None:
        if party is not None and amount:
            self._party[party] = self._party.get(party, Decimal(0)) + amount

    def settle(self) -> None:
        """Write the side effects collected by one operation: stock, then customer balances."""
        stock, self._stock = self._stock, {}
        for item_id, delta in sorted(stock.items()):
            item = self.get("Item", item_id)
            if item is None or not item.get("TrackQtyOnHand") or not delta:
                continue
            updated = dict(item)
            updated["QtyOnHand"] = num(dec(item.get("QtyOnHand", 0), "QtyOnHand") + delta)
            self.save("Item", updated, item, "Update")
        party, self._party = self._party, {}
        for (entity, party_id), delta in sorted(party.items()):
            target = self.get(entity, party_id)
            if target is None or not delta:
                continue
            updated = dict(target)
            balance = dec(target.get("Balance", 0), "Balance") + delta
            updated["Balance"] = num(balance)
            if entity == "Customer":
                updated["BalanceWithJobs"] = num(balance)
            self.save(entity, updated, target, "Update")

    def check_unique(self, spec: Spec, obj: JSON) -> None:
        key = spec.name_key(obj)
        if key is not None:
            found = self.tx.find_name(self.realm_id, key)
            if found is not None and found != (spec.name, int(obj["Id"])):
                raise Fault(
                    "6240",
                    "Duplicate Name Exists Error",
                    f"The name supplied already exists. : Id={found[1]}",
                )
        doc_number = spec.doc_number(obj)
        if doc_number is not None and spec.unique_doc_number:
            other = self.tx.find_doc_number(self.realm_id, spec.name, doc_number)
            if other is not None and other != int(obj["Id"]):
                raise Fault(
                    "6140",
                    "Duplicate Document Number Error",
                    "Duplicate Document Number Error : You must specify a different number. "
                    f"This number has already been used. DocNumber={doc_number} is assigned "
                    f"to TxnType={spec.name} with TxnId={other}",
                )


# ---------------------------------------------------------------- helpers


def parse_id(value: Any) -> int | None:
    text = str(value).strip()
    return int(text) if text.isdigit() and len(text) < 18 else None


def display_name(obj: JSON) -> str:
    for key in ("FullyQualifiedName", "DisplayName", "Name"):
        if obj.get(key):
            return str(obj[key])
    return ""


def clean(value: Any) -> Any:
    """Drop nulls and empty strings, as QBO treats them as absent.

    pyqb sends every default (`"DueDate": ""`, `"TotalAmt": ""`, `"Type": ""`); QBO
    reads those as "not supplied" and never returns empty properties itself.
    """
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if v is not None and v != ""}
    if isinstance(value, list):
        return [clean(v) for v in value if v is not None]
    return value


def check_fields(allowed: frozenset[str], data: JSON, schema_class: str) -> None:
    for key in data:
        if key not in allowed:
            # QBO's JSON binding rejects unknown properties (this is how a client that
            # sends e.g. AppliedToTxn instead of LinkedTxn finds out).
            raise Fault(
                "2010",
                "Request has invalid or unsupported property",
                f'Property Name:Unrecognized field "{key}" (class '
                f"com.intuit.schema.finance.v3.{schema_class}), not marked as ignorable "
                "specified is unsupported or invalid",
                element=key,
            )


def parse_date(value: Any, element: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise invalid_value(element, value) from None


def prepare(spec: Spec, body: Any) -> JSON:
    if not isinstance(body, dict):
        raise invalid_value(spec.name, body)
    data: JSON = clean(body)
    check_fields(spec.fields, data, spec.name)
    return {k: v for k, v in data.items() if k not in SYSTEM_KEYS and k not in spec.read_only}


def _id_and_token(spec: Spec, body: JSON) -> tuple[Any, Any]:
    entity_id = body.get("Id")
    if entity_id in (None, ""):
        raise required_missing("Id")
    token = body.get("SyncToken")
    if token in (None, ""):
        raise required_missing("SyncToken")
    return entity_id, token


def _load_for_write(books: Books, spec: Spec, body: JSON) -> JSON:
    entity_id, token = _id_and_token(spec, body)
    old = books.require(spec.name, entity_id)
    if str(token).strip() != old["SyncToken"]:
        raise stale_object(spec.name, old["Id"])
    return old


# ---------------------------------------------------------------- the verbs


def create(books: Books, entity: str, body: Any, *, internal: bool = False) -> JSON:
    """Create an object. `internal` (the seed's and /_sandbox/'s writes, never the API's)
    may also write the lists the API serves read-only."""
    spec = SPECS[entity]
    if spec.kind == "singleton" or not (spec.writable or internal):
        raise unsupported_operation(f"Create for {entity}")
    data = prepare(spec, body)
    new = spec.normalize(books, data, None)
    new["Id"] = str(books.next_id(spec))
    books.check_unique(spec, new)
    spec.effects(books, None, new)
    saved = books.save(entity, new, None, "Create")
    books.settle()
    return saved


def update(books: Books, entity: str, body: Any, *, internal: bool = False) -> JSON:
    spec = SPECS[entity]
    if not (spec.writable or internal):
        raise unsupported_operation(f"Update for {entity}")
    if not isinstance(body, dict):
        raise invalid_value(entity, body)
    sparse = body.get("sparse") in (True, "true", "True")
    if spec.sparse_only_update and not sparse:
        raise business_error(f"{entity} can only be updated with a sparse update")
    old = _load_for_write(books, spec, body)
    data = prepare(spec, body)
    base = {k: v for k, v in old.items() if k not in SYSTEM_KEYS}
    if sparse:
        merged = {**base, **data}
    else:
        # A full update sets every omitted writable property to NULL; computed ones stay.
        merged = {**{k: v for k, v in base.items() if k in spec.read_only}, **data}
    new = spec.normalize(books, merged, old)
    new["Id"] = old["Id"]
    books.check_unique(spec, new)
    spec.effects(books, old, new)
    saved = books.save(entity, new, old, "Update")
    books.settle()
    return saved


def delete(books: Books, entity: str, body: Any) -> JSON:
    spec = SPECS[entity]
    if spec.kind != "txn":
        # Name lists are only ever deactivated (Active=false).
        raise unsupported_operation(f"Delete for {entity}")
    if not isinstance(body, dict):
        raise invalid_value(entity, body)
    old = _load_for_write(books, spec, body)
    spec.effects(books, old, None)
    result = books.tombstone(entity, old)
    books.settle()
    return result


def void(books: Books, entity: str, body: Any) -> JSON:
    spec = SPECS[entity]
    if spec.void is None:
        raise unsupported_operation(f"Void for {entity}")
    if not isinstance(body, dict):
        raise invalid_value(entity, body)
    old = _load_for_write(books, spec, body)
    new = spec.void(books, old)
    spec.effects(books, old, new)
    saved = books.save(entity, new, old, "Void")
    books.settle()
    return saved


def read(books: Books, entity: str, entity_id: str) -> JSON:
    return books.require(entity, entity_id)
