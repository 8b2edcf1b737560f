"""The mirror's COPY write path leaves exactly what the bulk_create path it replaced left:
every column of every row, ``raw`` included, and every invoice line and payment
application (tests/common/orm_mirror.py keeps the old path as the reference)."""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from django.db import models, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import Partner
from common import mirror
from common.mirror import mirror_apply
from sync import services
from sync.clients import qbo
from sync.clients.qbo.query import including_inactive
from sync.models import QBOConnection, SyncRun
from sync.tokens import ConnectionTokens
from tests.common.orm_mirror import orm_mirror_apply
from tests.sync.books import connection_for

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess


def snapshot(connection_id: int) -> dict[str, Any]:
    """Every mirrored row of the connection, by entity and Id: all columns but the
    primary key, and the rows' lines (all columns but keys) in order."""
    found: dict[str, Any] = {}
    for spec in mirror.specs():
        columns = [
            f.attname
            for f in spec.model._meta.concrete_fields
            if not f.primary_key and f.attname != "connection_id"
        ]
        rows = {
            row["qbo_id"]: row
            for row in spec.model._default_manager.filter(connection_id=connection_id).values(
                "pk", *columns
            )
        }
        if spec.child_model is not None:
            child: type[models.Model] = spec.child_model
            parent = f"{spec.child_parent}_id"
            child_columns = [
                f.attname
                for f in child._meta.concrete_fields
                if not f.primary_key and f.attname != parent
            ]
            lines: dict[int, list[dict[str, Any]]] = {}
            for line in child._default_manager.filter(
                **{f"{parent}__in": [r["pk"] for r in rows.values()]}
            ).order_by(parent, "pk"):
                lines.setdefault(getattr(line, parent), []).append(
                    {c: getattr(line, c) for c in child_columns}
                )
            for row in rows.values():
                row["lines"] = lines.get(row["pk"], [])
        for row in rows.values():
            del row["pk"]
        found[spec.entity] = rows
    return found


def clear(connection_id: int) -> None:
    for spec in mirror.specs():
        spec.model._default_manager.filter(connection_id=connection_id).delete()


@pytest.mark.django_db(transaction=True)
def test_an_import_leaves_exactly_what_the_old_write_path_left(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    # Scale 3: more than one page of invoices and payments, so page edges are covered.
    realm = sandbox_server.new_company(seed="demo", scale=3)
    connection = connection_for(sandbox_server, partner_a, realm)

    run = services.connection_sync(connection_id=connection.pk, trigger="test")
    assert run is not None and run.status == SyncRun.Status.SUCCEEDED
    by_copy = snapshot(connection.pk)

    clear(connection.pk)
    client = qbo.QBOClient(realm_id=realm, tokens=ConnectionTokens(connection.pk))
    pages = 0
    for entity in mirror.entities():
        after = ""
        while True:
            # The old path's reading too: python-quickbooks' query, every number a Decimal.
            where = including_inactive(entity) + ([("Id", ">", after)] if after else [])
            rows = client.find(entity, where=where, max_results=1000)
            with transaction.atomic():
                orm_mirror_apply(connection_id=connection.pk, entity=entity, objects=rows)
            pages += 1
            if len(rows) < 1000:
                break
            after = str(rows[-1]["Id"])
    by_orm = snapshot(connection.pk)

    assert pages > len(mirror.entities())  # some entity really had several pages
    assert by_copy.keys() == by_orm.keys()
    for entity in by_orm:
        assert len(by_copy[entity]) == len(by_orm[entity]) > 0, entity
        assert by_copy[entity] == by_orm[entity], entity
    invoice = next(iter(by_copy["Invoice"].values()))
    assert invoice["lines"] and invoice["raw"]["Line"]


# ---------------------------------------------------------------- version rules


def customer(number: int, token: str, minute: int, balance: str, deleted: bool) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "Id": str(number),
        "SyncToken": token,
        "MetaData": {"LastUpdatedTime": f"2025-03-01T10:{minute:02d}:00-08:00"},
    }
    if deleted:
        obj["status"] = "Deleted"
    else:
        obj.update({"DisplayName": f"Cave {number}", "Balance": Decimal(balance)})
    return obj


versions = st.builds(
    customer,
    number=st.integers(1, 4),
    token=st.sampled_from(["0", "1", "2", "10", "x", ""]),
    minute=st.integers(0, 3),
    balance=st.sampled_from(["0", "1.5", "250.00", "-3.25", "12345678.90"]),
    deleted=st.booleans(),
)


@pytest.fixture
def two_connections(partner_a: Partner, partner_b: Partner) -> tuple[int, int]:
    a = QBOConnection.objects.create(partner=partner_a, realm_id="4620000000000901")
    b = QBOConnection.objects.create(partner=partner_b, realm_id="4620000000000902")
    return a.pk, b.pk


@pytest.mark.django_db
@settings(max_examples=60)
@given(batches=st.lists(st.lists(versions, max_size=6), min_size=1, max_size=4))
def test_any_sequence_of_versions_gives_the_old_paths_rows_and_counts(
    two_connections: tuple[int, int], batches: list[list[dict[str, Any]]]
) -> None:
    by_copy, by_orm = two_connections
    clear(by_copy)
    clear(by_orm)
    for batch in batches:
        new = mirror_apply(connection_id=by_copy, entity="Customer", objects=batch)
        with transaction.atomic():
            old = orm_mirror_apply(connection_id=by_orm, entity="Customer", objects=batch)
        assert new.as_dict() == old.as_dict()
    assert snapshot(by_copy)["Customer"] == snapshot(by_orm)["Customer"]


# ---------------------------------------------------------------- raw as sent


@pytest.mark.django_db(transaction=True)
def test_raw_is_each_object_exactly_as_quickbooks_sent_it_in_pages_and_in_cdc(
    sandbox_server: SandboxProcess, partner_a: Partner
) -> None:
    import json
    from datetime import timedelta

    from django.utils import timezone

    realm = sandbox_server.new_company(seed="demo")
    connection = connection_for(sandbox_server, partner_a, realm)
    client = qbo.QBOClient(realm_id=realm, tokens=ConnectionTokens(connection.pk))

    page = client.query_page("Invoice", after_id="")
    assert len(page.texts) == len(page.rows) > 0
    for text, row in zip(page.texts, page.rows, strict=True):
        assert json.loads(text, parse_float=Decimal) == row

    batch = client.cdc(list(mirror.entities()), changed_since=timezone.now() - timedelta(days=1))
    assert batch.texts.keys() == batch.changes.keys()
    assert sum(len(t) for t in batch.texts.values()) > 0
    for entity, texts in batch.texts.items():
        assert [json.loads(t, parse_float=Decimal) for t in texts] == batch.changes[entity]


@given(content=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_an_answer_that_cannot_be_split_gives_no_texts_and_no_error(content: bytes) -> None:
    from sync.clients.qbo.accounting import as_sent, changes_as_sent

    assert isinstance(as_sent(content, "Invoice"), list)
    split = changes_as_sent(content, ["Invoice", "Payment"])
    assert split.keys() == {"Invoice", "Payment"}


# Any text PostgreSQL can store (no NUL, no lone surrogate), quotes, commas, tabs, newlines
# and backslashes included: COPY's text and CSV formats must carry it unchanged.
storable = st.lists(
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=5)
    | st.sampled_from(['"', ",", "\t", "\n", "\r", "\\", "\\N", "'", "", '""']),
    max_size=6,
).map("".join)
amounts = st.none() | st.decimals(
    min_value=-10_000, max_value=10_000, places=4, allow_nan=False, allow_infinity=False
)


def invoice(number: int, lines: list[tuple[str, Decimal | None, Decimal | None]]) -> dict[str, Any]:
    return {
        "Id": str(number),
        "SyncToken": "0",
        "DocNumber": lines[0][0][:20] if lines else "",
        "CustomerRef": {"value": "7", "name": lines[-1][0] if lines else "Cave"},
        "TxnDate": "2025-03-01",
        "TotalAmt": Decimal("12.50"),
        "Balance": Decimal("2.25"),
        "MetaData": {"LastUpdatedTime": "2025-03-01T10:00:00-08:00"},
        "Line": [
            {
                "Id": str(position + 1),
                "DetailType": "SalesItemLineDetail",
                "Description": description,
                "Amount": amount,
                "SalesItemLineDetail": {"ItemRef": {"value": "3"}, "Qty": qty},
            }
            for position, (description, qty, amount) in enumerate(lines)
        ],
    }


@pytest.mark.django_db
@settings(max_examples=40)
@given(
    documents=st.lists(
        st.builds(
            invoice,
            number=st.integers(1, 5),
            lines=st.lists(st.tuples(storable, amounts, amounts), max_size=4),
        ),
        max_size=4,
    )
)
def test_any_text_and_any_missing_number_in_lines_is_stored_as_the_old_path_stored_it(
    two_connections: tuple[int, int], documents: list[dict[str, Any]]
) -> None:
    by_copy, by_orm = two_connections
    clear(by_copy)
    clear(by_orm)
    mirror_apply(connection_id=by_copy, entity="Invoice", objects=documents)
    with transaction.atomic():
        orm_mirror_apply(connection_id=by_orm, entity="Invoice", objects=documents)
    assert snapshot(by_copy)["Invoice"] == snapshot(by_orm)["Invoice"]


# ---------------------------------------------------------------- prefetching


@pytest.mark.django_db(transaction=True)
def test_a_page_that_fails_on_the_prefetching_thread_fails_the_run_and_keeps_the_pages_before(
    sandbox_server: SandboxProcess, partner_a: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from sync.models import SyncCursor

    realm = sandbox_server.new_company(seed="demo", scale=3)  # over 1000 invoices
    connection = connection_for(sandbox_server, partner_a, realm)
    real_query_page = qbo.QBOClient.query_page
    threads: set[str] = set()

    def second_invoice_page_refused(
        self: qbo.QBOClient, entity: str, *, after_id: str, page_size: int = 1000
    ) -> qbo.QueryPage:
        threads.add(threading.current_thread().name)
        if entity == "Invoice" and after_id:
            # What a permanent fault looks like to the import (a 400 QuickBooks will repeat).
            raise qbo.QBOError("query Invoice: QuickBooks answered 400", status=400)
        return real_query_page(self, entity, after_id=after_id, page_size=page_size)

    monkeypatch.setattr(qbo.QBOClient, "query_page", second_invoice_page_refused)
    switch_interval = sys.getswitchinterval()
    intervals: list[float] = []
    real_prepare = mirror.mirror_prepare

    def prepare_noting_the_interval(**kwargs: Any) -> Any:
        intervals.append(sys.getswitchinterval())
        return real_prepare(**kwargs)

    monkeypatch.setattr(services, "mirror_prepare", prepare_noting_the_interval)
    run = services.connection_sync(connection_id=connection.pk, trigger="test")

    assert run is not None and run.status == SyncRun.Status.FAILED
    assert "QuickBooks refused a request" in run.error
    cursor = SyncCursor.objects.get(connection=connection, entity="Invoice")
    # The first page is stored and the cursor stands right after it, ready to resume.
    assert not cursor.import_done and cursor.imported_count == 1000
    stored = snapshot(connection.pk)["Invoice"]
    assert len(stored) == 1000 and max(int(i) for i in stored) == int(cursor.import_after_id)
    # The pages were fetched off the sync's own thread, and none of those threads is left.
    assert threads and all(name.startswith("qbo-prefetch") for name in threads)
    assert not [t for t in threading.enumerate() if t.name.startswith("qbo-prefetch")]
    # The GIL changed hands quickly while pages were prepared, and the process's own
    # switch interval is back once the import has failed.
    assert intervals and max(intervals) <= services._Prefetcher.SWITCH_INTERVAL
    assert sys.getswitchinterval() == switch_interval
