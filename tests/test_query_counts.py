"""Each page and export of ours costs as many queries with 10N rows as with N.

Every test here grows what a page reads to N rows, measures one request, grows it to 10N
and measures again: the counts must be equal, so a query per row (an N+1: a lazy foreign
key in a template, a prefetch lost to ``.iterator()``) fails however small N is. An export
is measured while its body streams, since that is when it reads its rows.

Pages whose cost is already tested next to their other tests are not repeated here: the
invoices, payments and invoice pages (tests/billing), discrepancies and depletion
(tests/inventory), the dashboard's htmx tiles (tests/dashboard/) and the
Connections page (tests/sync/test_connections_page.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Partner, User
from accounts.roles import Role
from billing.models import QBOCreditMemoLine
from inventory.catalog.models import CatalogSKU
from inventory.catalog.services import (
    COLUMNS,
    catalog_demo_load,
    catalog_import_apply,
    catalog_import_plan,
    catalog_import_upload,
)
from inventory.mapping import services as mapping
from inventory.mapping.models import MappingConflict, QBOItem
from inventory.purchasing import services as purchasing
from inventory.purchasing.models import QBOBill, QBOVendor
from inventory.push.models import PushBatch, PushItem, PushJob
from inventory.warehouse import services as warehouse
from inventory.warehouse.models import WarehouseSnapshot, WarehouseToken, WarehouseUpload
from sync.models import QBOConnection, SyncRun
from tests.billing.factories import (
    ConnectionFactory,
    CreditMemoFactory,
    CustomerFactory,
    InvoiceFactory,
    InvoiceLineFactory,
    ItemFactory,
    PaymentFactory,
    pay,
)
from tests.conftest import signed_in
from tests.factories import PartnerFactory, UserFactory, partner_user
from tests.inventory.reports.test_depletion_selectors import mapped_item, sell
from tests.inventory.reports.test_discrepancies_selectors import mapped, sku, snap
from tests.inventory.warehouse.fixtures import catalog_fixture, days_ago  # noqa: F401
from tests.sync.test_connections_page import finished_run, importing, make_connection

pytestmark = pytest.mark.django_db

N = 3

Grow = Callable[[range], None]


def cost(
    client: Client,
    url: str,
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> int:
    """The queries of one GET, its streamed body (an export's rows) included."""
    with CaptureQueriesContext(db_connection) as ctx:
        response = client.get(url, data or {}, headers=headers or {})
        assert response.status_code == 200, (url, response.status_code)
        response.getvalue()
    return len(ctx.captured_queries)


def flat(grow: Grow, measure: Callable[[], int]) -> None:
    """Measure at N rows and at 10N (``grow`` adds the rows numbered by its range). The
    counts are printed: ``pytest -rP`` shows what each page costs."""
    counts: list[int] = []
    for rows in (range(0, N), range(N, 10 * N)):
        grow(rows)
        if not counts:
            measure()  # a session's first request may do one-off work; not what is measured
        counts.append(measure())
    print(f"queries: {counts[0]} with {N} rows, {counts[1]} with {10 * N}")
    assert counts[0] == counts[1], f"{counts[0]} queries with {N} rows, {counts[1]} with {10 * N}"


@pytest.fixture
def books_a(partner_a: Partner) -> QBOConnection:
    connection: QBOConnection = ConnectionFactory(partner=partner_a, realm_id="4620000000000001")
    return connection


@pytest.fixture
def books_b(partner_b: Partner) -> QBOConnection:
    connection: QBOConnection = ConnectionFactory(partner=partner_b, realm_id="4620000000000002")
    return connection


@pytest.fixture
def both(books_a: QBOConnection, books_b: QBOConnection) -> list[QBOConnection]:
    return [books_a, books_b]


# --- Pages everyone reads -------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "ada"])
def test_dashboard_page(who: str, cast: dict[str, User], both: list[QBOConnection]) -> None:
    def grow(rows: range) -> None:
        for connection in both:
            for n in rows:
                InvoiceFactory(connection=connection, qbo_id=f"i{n}")
                PaymentFactory(connection=connection, unapplied_amt=Decimal("1.00"))
                SyncRun.objects.create(
                    connection=connection, kind=SyncRun.Kind.POLL,
                    status=SyncRun.Status.FAILED, finished_at=timezone.now(),
                )  # fmt: skip
                catalog_sku = sku(f"UF-Q{n}-NV-750")
                snap(connection.partner, catalog_sku, 10 + n)
                mapped(connection, catalog_sku, n, qbo_id=f"q{n}")

    client = signed_in(cast[who])
    flat(grow, lambda: cost(client, reverse("dashboard")))


@pytest.mark.parametrize("who", ["alice", "sam"])
def test_invoices_export(who: str, cast: dict[str, User], both: list[QBOConnection]) -> None:
    def grow(rows: range) -> None:
        for connection in both:
            for n in rows:
                InvoiceFactory(connection=connection, qbo_id=f"i{n}")

    client = signed_in(cast[who])
    url = reverse("billing:invoices")
    flat(grow, lambda: cost(client, url, {"format": "csv"}))


@pytest.mark.parametrize("who", ["alice", "sam"])
def test_payments_export(who: str, cast: dict[str, User], both: list[QBOConnection]) -> None:
    def grow(rows: range) -> None:
        for connection in both:
            for n in rows:
                # Two applications each: the "Invoices paid" column reads them.
                pay(InvoiceFactory(connection=connection, qbo_id=f"i{n}"), Decimal(1), Decimal(2))

    client = signed_in(cast[who])
    url = reverse("billing:payments")
    flat(grow, lambda: cost(client, url, {"format": "csv"}))


@pytest.mark.parametrize("who", ["alice", "sam"])
def test_discrepancies_export(who: str, cast: dict[str, User], both: list[QBOConnection]) -> None:
    def grow(rows: range) -> None:
        for connection in both:
            for n in rows:
                catalog_sku = sku(f"UF-Q{n}-NV-750")
                for days in range(3):
                    snap(connection.partner, catalog_sku, 10 + n, days_ago=days)
                mapped(connection, catalog_sku, n, qbo_id=f"q{n}")

    client = signed_in(cast[who])
    url = reverse("inventory:discrepancies")
    flat(grow, lambda: cost(client, url, {"format": "csv"}))


@pytest.mark.parametrize("who", ["alice", "sam"])
def test_depletion_page(who: str, cast: dict[str, User], both: list[QBOConnection]) -> None:
    # The htmx fragment and the export are measured in tests/inventory; the whole page
    # adds the filter form, whose SKU choices grow with the mappings.
    today = timezone.localdate()

    def grow(rows: range) -> None:
        for connection in both:
            for n in rows:
                sell(mapped_item(connection, f"UF-T{n}-NV-750", on_hand=n), 2, today)

    client = signed_in(cast[who])
    flat(grow, lambda: cost(client, reverse("inventory:depletion")))


@pytest.mark.parametrize("export", [False, True], ids=["page", "csv"])
@pytest.mark.parametrize("who", ["alice", "sam"])
def test_sell_through_page(
    who: str, export: bool, cast: dict[str, User], both: list[QBOConnection]
) -> None:
    # Sold-on rows per SKU; the bills, credits and orders are the same grouped query
    # (tests/inventory/reports/test_sell_through.py grows those).
    today = timezone.localdate()

    def grow(rows: range) -> None:
        for connection in both:
            for n in rows:
                sell(mapped_item(connection, f"UF-S{n}-NV-750", on_hand=n), 2, today)

    client = signed_in(cast[who])
    params = {"format": "csv"} if export else {}
    flat(grow, lambda: cost(client, reverse("inventory:sell_through"), params))


def _accounts_buy(item: QBOItem, key: str, today: date) -> None:
    """Four accounts of ``item``'s company buying its SKU, named after ``key``: one today
    and a month ago (a reorder interval), one today with part of it taken back (a credit
    memo), one today only, and one whose last purchase was 90 days ago (lost this month)."""
    connection = item.connection
    for k in range(4):
        CustomerFactory(connection=connection, qbo_id=f"{key}-{k}",
                        display_name=f"Account {key}-{k}")  # fmt: skip
    for k, back, qty in [(0, 0, 6), (0, 30, 3), (1, 0, 2), (2, 0, 12), (3, 90, 4)]:
        invoice = InvoiceFactory(connection=connection, customer_qbo_id=f"{key}-{k}",
                                 txn_date=today - timedelta(days=back))  # fmt: skip
        InvoiceLineFactory(invoice=invoice, item_qbo_id=item.qbo_id, qty=Decimal(qty))
    memo = CreditMemoFactory(connection=connection, customer_qbo_id=f"{key}-1", txn_date=today)
    QBOCreditMemoLine.objects.create(
        credit_memo=memo, position=0, detail_type="SalesItemLineDetail",
        item_qbo_id=item.qbo_id, qty=Decimal(1),
    )  # fmt: skip


@pytest.mark.parametrize("export", [False, True], ids=["page", "csv"])
@pytest.mark.parametrize("who", ["alice", "sam"])
def test_placements_page(
    who: str, export: bool, cast: dict[str, User], both: list[QBOConnection]
) -> None:
    # Accounts per SKU and SKUs per partner both grow; the figures are one grouped query
    # (tests/inventory/reports/test_placements.py grows every kind of document).
    today = timezone.localdate()

    def grow(rows: range) -> None:
        for connection in both:
            for n in rows:
                item = mapped_item(connection, f"UF-P{n}-NV-750")
                for a in range(2):
                    _accounts_buy(item, f"p{n}-{a}", today)

    client = signed_in(cast[who])
    params = {"format": "csv"} if export else {}
    flat(grow, lambda: cost(client, reverse("inventory:placements"), params))


@pytest.mark.parametrize("export", [False, True], ids=["page", "csv"])
@pytest.mark.parametrize("who", ["alice", "sam"])
def test_placements_row_page(
    who: str, export: bool, cast: dict[str, User], both: list[QBOConnection]
) -> None:
    # One partner × SKU's drill-down: its accounts (the table, the new and lost lists) and
    # its months grow; the other partner's accounts of the same SKU grow beside them.
    today = timezone.localdate()
    code = "UF-CAL-NV-750"
    items = [mapped_item(connection, code) for connection in both]

    def grow(rows: range) -> None:
        for item in items:
            for n in rows:
                _accounts_buy(item, f"r{n}", today)

    client = signed_in(cast[who])
    url = reverse("inventory:placements_row", args=[both[0].partner_id, code])
    params = {"format": "csv"} if export else {}
    flat(grow, lambda: cost(client, url, params))


@pytest.mark.parametrize("export", [False, True], ids=["page", "csv"])
@pytest.mark.parametrize("who", ["alice", "ada"])
def test_channels_page(
    who: str, export: bool, cast: dict[str, User], both: list[QBOConnection]
) -> None:
    # Accounts, their types, the partners' rules and the admins' overrides all grow; the
    # channels are four queries (docs/reports.md, "Channels"), the admin's row forms none.
    from inventory.channels import services as channels
    from inventory.channels.models import Channel, QBOCustomerType

    def grow(rows: range) -> None:
        for connection in both:
            for n in rows:
                QBOCustomerType.objects.create(connection=connection, qbo_id=f"t{n}", name="Bar")
                customer = CustomerFactory(
                    connection=connection, display_name=f"Tap Room {n}",
                    raw={"CustomerTypeRef": {"value": f"t{n}"}},
                )  # fmt: skip
                if n % 2:
                    channels.channel_override_set(
                        connection_id=connection.pk, customer_qbo_id=customer.qbo_id,
                        channel=Channel.OTHER, user=cast["ada"],
                    )  # fmt: skip
                channels.channel_rule_create(
                    partner=connection.partner, kind="name", value=f"tap room {n}",
                    channel=Channel.OFF_PREMISE, user=cast["ada"],
                )  # fmt: skip

    client = signed_in(cast[who])
    params = {"format": "csv"} if export else {}
    flat(grow, lambda: cost(client, reverse("inventory:channels"), params))


@pytest.mark.parametrize("fragment", [False, True], ids=["page", "htmx-card"])
@pytest.mark.parametrize("who", ["alice", "sam"])
def test_connection_detail_while_importing(
    who: str, fragment: bool, cast: dict[str, User], partner_a: Partner
) -> None:
    # An import under way: the card shows its progress (and polls for it).
    connection = make_connection(partner_a, "4620000000000009")
    importing(connection)

    def grow(rows: range) -> None:
        for n in rows:
            finished_run(connection, started_at=timezone.now() - timedelta(minutes=n + 5))
            InvoiceFactory(connection=connection, qbo_id=f"i{n}")
            ItemFactory(connection=connection, qbo_id=f"t{n}")
            CustomerFactory(connection=connection, qbo_id=f"c{n}")

    client = signed_in(cast[who])
    url = reverse("sync:connection", args=[connection.pk])
    headers = {"HX-Request": "true"} if fragment else {}
    flat(grow, lambda: cost(client, url, headers=headers))


@pytest.mark.parametrize("who", ["alice", "sam", "ada"])
def test_suppliers_page(who: str, cast: dict[str, User], both: list[QBOConnection]) -> None:
    # Everything the page reads grows: connections (staff and admins see every partner's),
    # each one's vendors (an admin's select), bills from the chosen vendor, and changes,
    # some set by an admin and some found by a sync.
    def grow(rows: range) -> None:
        for n in rows:
            partner = PartnerFactory(name=f"Distributor S{n:03d}", slug=f"distributor-s{n}")
            own: QBOConnection = ConnectionFactory(partner=partner)
            for connection in [*both, own]:
                QBOVendor.objects.create(
                    connection=connection, qbo_id=f"v{n}", display_name=f"Une Femme Wines {n}",
                    active=n % 2 == 0,
                )  # fmt: skip
                QBOBill.objects.create(connection=connection, qbo_id=f"b{n}", vendor_qbo_id=f"v{n}")
                if n % 3:
                    purchasing.une_femme_vendor_set(
                        connection_id=connection.pk, user=cast["ada"], vendor_qbo_id=f"v{n}"
                    )
                else:
                    purchasing.une_femme_vendor_reset(connection_id=connection.pk, user=cast["ada"])

    client = signed_in(cast[who])
    flat(grow, lambda: cost(client, reverse("inventory:suppliers")))


# --- Une Femme's pages ----------------------------------------------------------------------


def test_partners_page(sam: User) -> None:
    def grow(rows: range) -> None:
        for n in rows:
            partner = PartnerFactory(name=f"Distributor Q{n:03d}", slug=f"distributor-q{n}")
            partner_user(partner)
            partner_user(partner)

    client = signed_in(sam)
    flat(grow, lambda: cost(client, reverse("partners")))


@pytest.mark.parametrize("export", [False, True], ids=["page", "export"])
def test_catalog(sam: User, export: bool) -> None:
    def grow(rows: range) -> None:
        for n in rows:
            CatalogSKU.objects.create(code=f"UF-Q{n}-NV-750", wine=f"Wine {n}", format_ml=750,
                                      bottles_per_case=12, active=n % 3 != 0)  # fmt: skip

    client = signed_in(sam)
    url = reverse("inventory:catalog_export" if export else "inventory:catalog")
    flat(grow, lambda: cost(client, url))


# --- Admins' pages --------------------------------------------------------------------------


def test_conflicts_queue(ada: User, both: list[QBOConnection]) -> None:
    catalog_demo_load()

    def grow(rows: range) -> None:
        for connection in both:
            for n in rows:
                ItemFactory(connection=connection, name=f"Une Femme Mystery Cuvée {n}", sku="")
            mapping.mapping_refresh(connection_id=connection.pk)

    client = signed_in(ada)
    flat(grow, lambda: cost(client, reverse("inventory:conflicts")))
    assert MappingConflict.objects.open().count() == 2 * 10 * N


# The unknown SKU first, so that even the first N rows hold a row with an error: the
# preview's list of problems is measured at both sizes.
STOCK_CODES = ["UF-NOPE-750", "UF-CAL-NV-750", "UF-BDB-2021-1500", "UF-CAL-NV-375"]


def _stock_rows(rows: range, partners: list[Partner]) -> list[tuple[Partner, str, str, int]]:
    """Lines of a warehouse file, each for its own partner, SKU and day; every fourth names
    an unknown SKU, so the preview has errors to show as well."""
    return [(partners[n // 4 % 2], STOCK_CODES[n % 4], days_ago(n // 8 + 1), n) for n in rows]


def test_warehouse_upload_preview(
    ada: User, catalog: dict[str, CatalogSKU], partner_a: Partner, partner_b: Partner
) -> None:
    partners = [partner_a, partner_b]
    client = signed_in(ada)
    uploads: list[int] = []

    def grow(rows: range) -> None:
        lines = _stock_rows(range(0, rows.stop), partners)
        text = "partner,sku,as_of,bottles\n" + "".join(
            f"{p.slug},{code},{as_of},{n}\n" for p, code, as_of, n in lines
        )
        uploads.append(
            warehouse.warehouse_upload_create(user=ada, filename="s.csv", content=text.encode()).pk
        )
        # Some lines replace a recorded quantity: the preview shows the one they replace.
        for partner, code, as_of, n in _stock_rows(rows, partners):
            if n % 4 == 1:
                WarehouseSnapshot.objects.create(
                    partner=partner, sku=catalog[code], as_of=as_of, bottles=n + 100, source="csv"
                )

    flat(
        grow, lambda: cost(client, reverse("inventory:warehouse_upload_detail", args=uploads[-1:]))
    )


def test_warehouse_upload_page_lists_recent_uploads(ada: User) -> None:
    def grow(rows: range) -> None:
        for n in rows:
            uploader = UserFactory(role=Role.ADMIN)
            WarehouseUpload.objects.create(filename=f"stock-{n}.csv", content=b"x",
                                           sha256="0" * 64, uploaded_by=uploader)  # fmt: skip

    client = signed_in(ada)
    flat(grow, lambda: cost(client, reverse("inventory:warehouse_upload")))


def test_warehouse_tokens(ada: User) -> None:
    def grow(rows: range) -> None:
        for n in rows:
            partner = PartnerFactory(name=f"Distributor T{n:03d}", slug=f"distributor-t{n}")
            issuer = UserFactory(role=Role.ADMIN)
            token, _ = warehouse.warehouse_token_issue(partner=partner, label=f"WMS {n}",
                                                       user=issuer)  # fmt: skip
            if n % 2:
                warehouse.warehouse_token_revoke(token_id=token.pk, user=issuer)

    client = signed_in(ada)
    flat(grow, lambda: cost(client, reverse("inventory:warehouse_tokens")))
    assert WarehouseToken.objects.count() == 10 * N


def _catalog_csv(rows: range) -> bytes:
    lines = [",".join(COLUMNS)]
    for n in rows:
        # Every third row changes an existing SKU (made below), the rest are new.
        lines.append(f"UF-Q{n}-NV-750,Wine {n},NV,750,{6 if n % 3 == 0 else 12},yes")
    return ("\n".join(lines) + "\n").encode()


def test_catalog_import_preview(ada: User) -> None:
    client = signed_in(ada)
    previews: list[str] = []

    def grow(rows: range) -> None:
        for n in rows:
            if n % 3 == 0:
                CatalogSKU.objects.create(code=f"UF-Q{n}-NV-750", wine=f"Wine {n}",
                                          format_ml=750, bottles_per_case=12)  # fmt: skip
        made = catalog_import_upload(
            user=ada, filename="catalog.csv", content=_catalog_csv(range(0, rows.stop))
        )
        previews.append(str(made.token))

    flat(
        grow, lambda: cost(client, reverse("inventory:catalog_import_preview", args=previews[-1:]))
    )


def test_catalog_import_page_lists_recent_imports(ada: User) -> None:
    def grow(rows: range) -> None:
        for n in rows:
            uploader = UserFactory(role=Role.ADMIN)
            made = catalog_import_upload(
                user=uploader, filename=f"c{n}.csv", content=_catalog_csv(range(n, n + 1))
            )
            digest = catalog_import_plan(content=bytes(made.content)).digest
            catalog_import_apply(catalog_import=made, user=uploader, digest=digest)

    client = signed_in(ada)
    flat(grow, lambda: cost(client, reverse("inventory:catalog_import")))


# --- Pushes into QuickBooks -----------------------------------------------------------------


def _push_job(connection: QBOConnection, admin: User, skus: list[CatalogSKU]) -> PushJob:
    job = PushJob.objects.create(connection=connection, kind=PushJob.Kind.ITEMS, created_by=admin)
    batch = PushBatch.objects.create(job=job)
    for n, sku_row in enumerate(skus):
        status = PushItem.Status.WRITTEN if n % 2 else PushItem.Status.FAILED
        PushItem.objects.create(
            job=job, catalog_sku=sku_row, item_name=f"Une Femme {sku_row.wine}", batch=batch,
            bid=str(n % 30 + 1), status=status,
        )  # fmt: skip
    return job


def _push_skus(rows: range) -> list[CatalogSKU]:
    return [
        CatalogSKU.objects.create(
            code=f"UF-Q{n:03d}-NV-750", wine=f"Cuvée {n}", format_ml=750, bottles_per_case=12
        )  # fmt: skip
        for n in rows
    ]


@pytest.mark.parametrize("export", [False, True], ids=["page", "export"])
@pytest.mark.parametrize("who", ["alice", "ada"])
def test_push_jobs_list(
    who: str, export: bool, cast: dict[str, User], both: list[QBOConnection]
) -> None:
    def grow(rows: range) -> None:
        skus = _push_skus(rows)
        for connection in both:
            for _ in rows:
                _push_job(connection, cast["ada"], skus[:2])

    client = signed_in(cast[who])
    data = {"format": "csv"} if export else {}
    flat(grow, lambda: cost(client, reverse("inventory:push_jobs"), data))


@pytest.mark.parametrize("fragment", [False, True], ids=["page", "htmx-progress"])
@pytest.mark.parametrize("who", ["alice", "ada"])
def test_push_job_page(
    who: str, fragment: bool, cast: dict[str, User], books_a: QBOConnection
) -> None:
    job = _push_job(books_a, cast["ada"], [])
    # Running: the page polls its progress fragment (a finished job answers 286, "stop").
    PushJob.objects.filter(pk=job.pk).update(status=PushJob.Status.RUNNING)

    def grow(rows: range) -> None:
        for n, sku_row in enumerate(_push_skus(rows)):
            status = PushItem.Status.PENDING if n % 2 else PushItem.Status.WRITTEN
            PushItem.objects.create(
                job=job, catalog_sku=sku_row, item_name=sku_row.wine, status=status
            )

    client = signed_in(cast[who])
    headers = {"HX-Request": "true"} if fragment else {}
    flat(grow, lambda: cost(client, job.get_absolute_url(), headers=headers))
