"""The mirror's write path as it was before COPY (Django's bulk_create with
``update_conflicts``), kept as the reference the COPY path is compared against: the same
QuickBooks objects must leave the same rows, ``raw`` included (tests/sync/test_write_path.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import models

from common.mirror import JSON, Applied, _latest, spec_for, text, updated_at
from common.qbo_json import json_number


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return json_number(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def _common_columns(obj: JSON) -> JSON:
    return {
        "sync_token": text(obj.get("SyncToken"), 32),
        "qbo_updated_at": updated_at(obj),
        "raw": jsonable(obj),
    }


def _token_number(token: str) -> int | None:
    return int(token) if token.isdigit() else None


def _is_newer(obj: JSON, stored: tuple[str, datetime | None]) -> bool | None:
    token = text(obj.get("SyncToken"), 32)
    stored_token, stored_at = stored
    if token == stored_token and updated_at(obj) == stored_at:
        return False
    new, old = _token_number(token), _token_number(stored_token)
    if new is not None and old is not None and new < old:
        return None
    return True


def orm_mirror_apply(*, connection_id: int, entity: str, objects: Iterable[JSON]) -> Applied:
    spec = spec_for(entity)
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
        spec.model(
            connection_id=connection_id, qbo_id=key, **spec.fields(obj), **_common_columns(obj)
        )
        for key, obj in changed
    ]
    update_fields = [*spec.fields(changed[0][1]), *_common_columns(changed[0][1])]
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
            children.extend(
                spec.child_model(**{spec.child_parent: row}, **line) for line in spec.children(obj)
            )
        children_manager.bulk_create(children, batch_size=1000)
    return result
