"""customer_types_refresh against a qbo_sandbox over HTTP: the names read through the QBO
client replace those stored for the company, inactive types included; a company's import
reads them once it has finished, and a poll does not; the nightly job enqueues one refresh
per live company (docs/reports.md, "Channels")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.models import AuditEvent, Partner, User
from billing.models import QBOCustomer
from inventory import tasks
from inventory.channels import services as channels
from inventory.channels.models import Channel, QBOCustomerType
from inventory.channels.selectors import Source, account_channel_rows
from sync import services as sync
from sync.models import QBOConnection, SyncRun
from tests.billing.factories import ConnectionFactory
from tests.conftest import signed_in
from tests.sync.books import Books, connection_for
from tests.sync.conftest import (  # noqa: F401 (fixtures, found by pytest by name)
    pointed_at,
    sandbox_server,
)

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(sandbox_server: SandboxProcess) -> Iterator[SandboxProcess]:  # noqa: F811
    with pointed_at(sandbox_server):
        yield sandbox_server


def names(connection: QBOConnection) -> dict[str, tuple[str, bool]]:
    return {
        t.qbo_id: (t.name, t.active) for t in QBOCustomerType.objects.filter(connection=connection)
    }


def test_it_reads_every_type_and_replaces_the_stored_names(
    sandbox: SandboxProcess, partner_a: Partner, ada: User
) -> None:
    realm = sandbox.new_company(seed="empty")
    bistro = sandbox.customer_type(realm, "Bistro")
    shop = sandbox.customer_type(realm, "Bottle shop")
    gone = sandbox.customer_type(realm, "Caterer")
    sandbox.customer_type(realm, Id=gone["Id"], active=False)
    connection = connection_for(sandbox, partner_a, realm)
    # A name stored from an earlier read, of a type QuickBooks no longer has.
    QBOCustomerType.objects.create(connection=connection, qbo_id="99", name="Old type")

    stored = channels.customer_types_refresh(connection_id=connection.pk, user=ada)

    assert stored is not None and len(stored) == 3
    assert names(connection) == {
        bistro["Id"]: ("Bistro", True),
        shop["Id"]: ("Bottle shop", True),
        gone["Id"]: ("Caterer", False),  # inactive, still named by its customers
    }
    event = AuditEvent.objects.get(action="channel.customer_types_refresh")
    assert event.actor == ada
    assert event.changes["customer_types"] == [["Old type"], ["Bistro", "Bottle shop", "Caterer"]]

    # Renamed in QuickBooks: the next read says so; an unchanged read writes no audit row.
    sandbox.customer_type(realm, "Wine bar", Id=bistro["Id"])
    channels.customer_types_refresh(connection_id=connection.pk, user=ada)
    assert names(connection)[bistro["Id"]] == ("Wine bar", True)
    channels.customer_types_refresh(connection_id=connection.pk, user=ada)
    assert AuditEvent.objects.filter(action="channel.customer_types_refresh").count() == 2


def test_the_types_read_decide_the_channel_of_typed_customers(
    sandbox: SandboxProcess, partner_a: Partner
) -> None:
    realm = sandbox.new_company(seed="empty")
    pub = sandbox.customer_type(realm, "Pub")
    connection = connection_for(sandbox, partner_a, realm)
    QBOCustomer.objects.create(
        connection=connection, qbo_id="7", display_name="The Crown",
        raw={"Id": "7", "CustomerTypeRef": {"value": pub["Id"]}},
    )  # fmt: skip
    [before] = account_channel_rows(connection_ids=[connection.pk])
    assert (before.channel, before.source) == (Channel.OTHER, Source.NONE)  # no names yet

    channels.customer_types_refresh(connection_id=connection.pk)

    [after] = account_channel_rows(connection_ids=[connection.pk])
    assert (after.channel, after.source, after.type_name) == (
        Channel.ON_PREMISE, Source.CUSTOMER_TYPE, "Pub",
    )  # fmt: skip


def test_the_import_reads_the_demo_companys_types_and_a_poll_does_not(
    sandbox: SandboxProcess, partner_a: Partner
) -> None:
    realm = sandbox.new_company(seed="demo", scale=0.2)
    connection = connection_for(sandbox, partner_a, realm)

    run = sync.connection_sync(connection_id=connection.pk, trigger="test")

    assert run is not None and run.kind == SyncRun.Kind.IMPORT
    assert run.status == SyncRun.Status.SUCCEEDED
    assert {name for name, _ in names(connection).values()} == {
        "Restaurant", "Bar", "Wine shop", "Grocery",
    }  # fmt: skip
    # Most demo customers are typed (one in eight is not): their types now decide.
    rows = account_channel_rows(connection_ids=[connection.pk])
    by_source = {row.source for row in rows}
    assert Source.CUSTOMER_TYPE in by_source
    books = Books(sandbox, realm)
    typed = {c["Id"] for c in books.all("Customer") if c.get("CustomerTypeRef")}
    assert {r.customer_qbo_id for r in rows if r.source == Source.CUSTOMER_TYPE} == typed

    # A poll leaves the names alone (one CDC request by design): a name changed since
    # waits for the night.
    QBOCustomerType.objects.filter(connection=connection).update(name="Stale")
    poll = sync.connection_sync(connection_id=connection.pk, trigger="test")
    assert poll is not None and poll.kind == SyncRun.Kind.POLL
    assert {name for name, _ in names(connection).values()} == {"Stale"}


def test_a_disconnected_company_is_not_asked(partner_a: Partner) -> None:
    connection: QBOConnection = ConnectionFactory(
        partner=partner_a, status=QBOConnection.Status.DISCONNECTED
    )
    assert channels.customer_types_refresh(connection_id=connection.pk) is None
    assert tasks.customer_types_refresh(connection.pk) is None


def test_the_nightly_job_enqueues_one_refresh_per_live_company(
    partner_a: Partner,
    partner_b: Partner,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    live: QBOConnection = ConnectionFactory(partner=partner_a)
    ConnectionFactory(partner=partner_b, status=QBOConnection.Status.DISCONNECTED)
    sent: list[tuple[Any, ...]] = []
    # The broker is not what this test is about: what would be published is.
    monkeypatch.setattr(tasks.customer_types_refresh, "delay", lambda *args: sent.append(args))

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.customer_types_nightly() == [live.pk]

    assert sent == [(live.pk,)]


def test_an_admin_refreshes_from_the_rules_page(
    sandbox: SandboxProcess, partner_a: Partner, ada: User
) -> None:
    realm = sandbox.new_company(seed="empty")
    sandbox.customer_type(realm, "Hotel")
    connection = connection_for(sandbox, partner_a, realm, company_name="Bubbles Books")
    url = reverse("inventory:channel_rules", args=[partner_a.pk])

    response = signed_in(ada).post(
        reverse("inventory:channel_types_refresh", args=[partner_a.pk]), follow=True
    )

    assert response.redirect_chain[-1][0] == url
    page = response.content.decode()
    assert "Read 1 customer type from Bubbles Books." in page
    assert "Hotel" in page and "On-premise" in page  # the name and the channel it says
    assert [name for name, _ in names(connection).values()] == ["Hotel"]


def test_beat_declares_the_nightly_refresh() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["customer-types-nightly"]
    assert entry["task"] == "inventory.tasks.customer_types_nightly"
