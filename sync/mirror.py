"""QBO JSON → mirror rows: typed columns for what pages filter and sum on, plus ``raw``.

Everything here runs inside the caller's transaction (an import page or a CDC poll), and
writes only what changed: a row whose ``SyncToken`` and ``LastUpdatedTime`` match the
stored ones is left alone, so re-reading an overlap window, or a poll with no upstream
change, writes nothing.

Money is ``Decimal`` from end to end: python-quickbooks parses with ``use_decimal=True``
and amounts are quantized to the cent with ROUND_HALF_UP. Only ``raw`` (QBO's document,
kept for reference, never summed) turns numbers back into JSON numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import models
from django.db.models import BigIntegerField, Case, Value, When
from django.db.models.functions import Cast

from billing.models import (
    QBOCustomer,
    QBOInvoice,
    QBOInvoiceLine,
    QBOPayment,
    QBOPaymentApplication,
)
from inventory.mapping.models import QBOItem

from .clients.qbo import json_number, parse_time

CENT = Decimal("0.01")
QTY = Decimal("0.0001")
JSON = dict[str, Any]


# ---------------------------------------------------------------- field readers


def _decimal(value: Any, step: Decimal) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value)).quantize(step, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None


def money(value: Any) -> Decimal:
    return _decimal(value, CENT) or Decimal("0.00")


def _qty(value: Any) -> Decimal | None:
    return _decimal(value, QTY)


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _text(value: Any, limit: int) -> str:
    return "" if value is None else str(value)[:limit]


def _ref(obj: JSON, key: str) -> tuple[str, str]:
    ref = obj.get(key) or {}
    if not isinstance(ref, dict):
        return "", ""
    return _text(ref.get("value"), 32), _text(ref.get("name"), 255)


def updated_at(obj: JSON) -> datetime | None:
    return parse_time((obj.get("MetaData") or {}).get("LastUpdatedTime"))


def is_voided(obj: JSON) -> bool:
    # QBO keeps a voided transaction with its amounts zeroed and "Voided" in PrivateNote
    # (qbo-api.md §6, python-quickbooks' test_payment::test_void).
    note = str(obj.get("PrivateNote") or "")
    return note.lower().startswith("voided") and money(obj.get("TotalAmt")) == 0


def jsonable(value: Any) -> Any:
    """QBO's document with Decimals back as JSON numbers, for the ``raw`` column."""
    if isinstance(value, Decimal):
        return json_number(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def _common(obj: JSON) -> JSON:
    return {
        "sync_token": _text(obj.get("SyncToken"), 32),
        "qbo_updated_at": updated_at(obj),
        "raw": jsonable(obj),
    }


# ---------------------------------------------------------------- per entity


def _customer(obj: JSON) -> JSON:
    return {
        "display_name": _text(obj.get("DisplayName") or obj.get("FullyQualifiedName"), 255),
        "company_name": _text(obj.get("CompanyName"), 255),
        "email": _text((obj.get("PrimaryEmailAddr") or {}).get("Address"), 255),
        "active": obj.get("Active") is not False,
        "balance": money(obj.get("Balance")),
    }


def _item(obj: JSON) -> JSON:
    return {
        "name": _text(obj.get("Name"), 255),
        "fully_qualified_name": _text(obj.get("FullyQualifiedName"), 1024),
        "sku": _text(obj.get("Sku"), 100),
        "item_type": _text(obj.get("Type"), 32),
        "active": obj.get("Active") is not False,
        "qty_on_hand": _qty(obj.get("QtyOnHand")),
        "unit_price": _qty(obj.get("UnitPrice")) or Decimal("0"),
    }


def _invoice(obj: JSON) -> JSON:
    customer_id, customer_name = _ref(obj, "CustomerRef")
    return {
        "doc_number": _text(obj.get("DocNumber"), 32),
        "customer_qbo_id": customer_id,
        "customer_name": customer_name,
        "txn_date": _date(obj.get("TxnDate")),
        "due_date": _date(obj.get("DueDate")),
        "total_amt": money(obj.get("TotalAmt")),
        "balance": money(obj.get("Balance")),
        "currency": _text(_ref(obj, "CurrencyRef")[0] or "USD", 3),
        "voided": is_voided(obj),
    }


def _invoice_lines(parent: Any, obj: JSON) -> list[models.Model]:
    lines: list[models.Model] = []
    for position, line in enumerate(obj.get("Line") or []):
        detail_type = _text(line.get("DetailType"), 40)
        detail = line.get(detail_type) if isinstance(line.get(detail_type), dict) else {}
        lines.append(
            QBOInvoiceLine(
                invoice=parent,
                line_id=_text(line.get("Id"), 32),
                position=position,
                detail_type=detail_type,
                item_qbo_id=_ref(detail, "ItemRef")[0],
                description=_text(line.get("Description"), 4000),
                qty=_qty(detail.get("Qty")),
                unit_price=_qty(detail.get("UnitPrice")),
                amount=money(line.get("Amount")),
            )
        )
    return lines


def _payment(obj: JSON) -> JSON:
    customer_id, customer_name = _ref(obj, "CustomerRef")
    return {
        "customer_qbo_id": customer_id,
        "customer_name": customer_name,
        "txn_date": _date(obj.get("TxnDate")),
        "total_amt": money(obj.get("TotalAmt")),
        "unapplied_amt": money(obj.get("UnappliedAmt")),
        "payment_method": _ref(obj, "PaymentMethodRef")[1][:100],
        "reference": _text(obj.get("PaymentRefNum"), 100),
        "currency": _text(_ref(obj, "CurrencyRef")[0] or "USD", 3),
        "voided": is_voided(obj),
    }


def _payment_applications(parent: Any, obj: JSON) -> list[models.Model]:
    applications: list[models.Model] = []
    for line in obj.get("Line") or []:
        links = [link for link in line.get("LinkedTxn") or [] if link.get("TxnId")]
        for index, link in enumerate(links):
            # A payment line carries one amount; QBO links it to one transaction. Should a
            # line ever link several, the amount is recorded once (on the first link) so
            # that sums of applications never exceed the payment.
            applications.append(
                QBOPaymentApplication(
                    payment=parent,
                    txn_type=_text(link.get("TxnType") or "Invoice", 32),
                    txn_qbo_id=_text(link.get("TxnId"), 32),
                    amount=money(line.get("Amount")) if index == 0 else Decimal("0.00"),
                )
            )
    return applications


@dataclass(frozen=True)
class Spec:
    entity: str
    model: type[models.Model]
    fields: Callable[[JSON], JSON]
    children: Callable[[Any, JSON], list[models.Model]] | None = None
    child_model: type[models.Model] | None = None
    child_parent: str = ""


SPECS: dict[str, Spec] = {
    "Customer": Spec("Customer", QBOCustomer, _customer),
    "Item": Spec("Item", QBOItem, _item),
    "Invoice": Spec("Invoice", QBOInvoice, _invoice, _invoice_lines, QBOInvoiceLine, "invoice"),
    "Payment": Spec(
        "Payment", QBOPayment, _payment, _payment_applications, QBOPaymentApplication, "payment"
    ),
}


# ---------------------------------------------------------------- applying changes


@dataclass
class Applied:
    upserted: int = 0
    deleted: int = 0
    unchanged: int = 0

    def add(self, other: Applied) -> None:
        self.upserted += other.upserted
        self.deleted += other.deleted
        self.unchanged += other.unchanged

    def as_dict(self) -> dict[str, int]:
        return {"upserted": self.upserted, "deleted": self.deleted, "unchanged": self.unchanged}

    @property
    def wrote(self) -> bool:
        return bool(self.upserted or self.deleted)


def _token_number(token: str) -> int | None:
    return int(token) if token.isdigit() else None


def _is_newer(obj: JSON, stored: tuple[str, datetime | None]) -> bool | None:
    """True to write, False if identical to what is stored, None if older (skip)."""
    token = _text(obj.get("SyncToken"), 32)
    stored_token, stored_at = stored
    if token == stored_token and updated_at(obj) == stored_at:
        return False
    new, old = _token_number(token), _token_number(stored_token)
    if new is not None and old is not None and new < old:
        return None  # an older version than we hold: never go backwards
    return True


def _latest(objects: Iterable[JSON]) -> dict[str, JSON]:
    """One entry per Id: the most recently updated; on a tie a deletion wins."""
    latest: dict[str, JSON] = {}
    for obj in objects:
        key = str(obj.get("Id") or "")
        if not key:
            continue
        seen = latest.get(key)
        if seen is None:
            latest[key] = obj
            continue
        a, b = updated_at(obj), updated_at(seen)
        if (a and b and a > b) or (a == b and obj.get("status") == "Deleted"):
            latest[key] = obj
    return latest


def mirror_apply(*, connection_id: int, entity: str, objects: Iterable[JSON]) -> Applied:
    """Upsert live objects and delete tombstoned ones (``"status": "Deleted"``)."""
    spec = SPECS[entity]
    manager = spec.model._default_manager
    latest = _latest(objects)
    deleted_ids = [key for key, obj in latest.items() if obj.get("status") == "Deleted"]
    live = {key: obj for key, obj in latest.items() if obj.get("status") != "Deleted"}
    result = Applied()

    if deleted_ids:
        doomed = manager.filter(connection_id=connection_id, qbo_id__in=deleted_ids)
        result.deleted = doomed.count()
        if result.deleted:
            doomed.delete()
        result.unchanged += len(deleted_ids) - result.deleted

    if not live:
        return result
    stored = {
        qbo_id: (token, at)
        for qbo_id, token, at in manager.filter(
            connection_id=connection_id, qbo_id__in=list(live)
        ).values_list("qbo_id", "sync_token", "qbo_updated_at")
    }
    changed: list[tuple[str, JSON]] = []
    for key, obj in live.items():
        verdict = _is_newer(obj, stored[key]) if key in stored else True
        if verdict:
            changed.append((key, obj))
        else:
            result.unchanged += 1
    if not changed:
        return result

    rows = [
        spec.model(connection_id=connection_id, qbo_id=key, **spec.fields(obj), **_common(obj))
        for key, obj in changed
    ]
    update_fields = [*spec.fields(changed[0][1]), *_common(changed[0][1])]
    # One INSERT ... ON CONFLICT (connection, qbo_id) DO UPDATE for the batch; on
    # PostgreSQL it returns every row's primary key, which the children need.
    saved = manager.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["connection", "qbo_id"],
        update_fields=update_fields,
        batch_size=500,
    )
    result.upserted = len(saved)
    if spec.children is not None and spec.child_model is not None:
        children_manager = spec.child_model._default_manager
        children_manager.filter(**{f"{spec.child_parent}__in": [r.pk for r in saved]}).delete()
        children: list[models.Model] = []
        for row, (_, obj) in zip(saved, changed, strict=True):
            children.extend(spec.children(row, obj))
        children_manager.bulk_create(children, batch_size=1000)
    return result


def mirror_prune(
    *, connection_id: int, entity: str, after_id: str, last_id: str | None, keep: set[str]
) -> int:
    """Delete stored rows an import page proves gone: Ids in (after_id, last_id] that the
    page did not return (``last_id`` None: every Id after ``after_id``).

    Only a re-import can find any (the first import starts from an empty mirror); it is
    how deletions that happened while CDC was out of reach are caught.
    """
    manager = SPECS[entity].model._default_manager
    rows = manager.filter(connection_id=connection_id)
    if not rows.exists():
        return 0
    # QBO Ids are numeric strings, compared as numbers; CASE keeps the cast away from
    # anything that is not a number.
    numbered = rows.annotate(
        number=Case(
            When(qbo_id__regex=r"^[0-9]{1,18}$", then=Cast("qbo_id", BigIntegerField())),
            default=Value(None),
            output_field=BigIntegerField(),
        )
    )
    if after_id:
        numbered = numbered.filter(number__gt=int(after_id))
    if last_id is not None:
        numbered = numbered.filter(number__lte=int(last_id))
    doomed = numbered.filter(number__isnull=False).exclude(qbo_id__in=keep)
    count: int = doomed.count()
    if count:
        manager.filter(pk__in=list(doomed.values_list("pk", flat=True))).delete()
    return count
