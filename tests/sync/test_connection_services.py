"""connection_connect / connection_disconnect against qbo_sandbox's OAuth endpoints, and the
rule behind Sync now (connection_sync_request)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django.utils import timezone

from accounts.models import Partner, User
from inventory.mapping.models import QBOItem
from sync import services
from sync.clients import qbo
from sync.models import QBOConnection, SyncRun
from sync.tasks import connection_sync
from tests.billing.factories import ConnectionFactory
from tests.sync.books import Books, connection_for
from tests.sync.test_import import minted_tokens

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Syncs enqueued (on commit) by the services under test."""
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        connection_sync, "apply_async", lambda args, **kwargs: calls.append(tuple(args))
    )
    return calls


def test_connect_stores_encrypted_tokens_and_enqueues_the_import_on_commit(
    sandbox_server: SandboxProcess,
    partner_a: Partner,
    alice: User,
    sent: list[tuple[Any, ...]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    realm = sandbox_server.new_company(seed="empty")
    tokens = minted_tokens(sandbox_server, realm)

    with django_capture_on_commit_callbacks(execute=True):
        made = services.connection_connect(
            partner=partner_a, realm_id=realm, tokens=tokens, user=alice
        )

    assert sent == [(made.pk, "connect")]
    made.refresh_from_db()
    assert made.status == QBOConnection.Status.CONNECTED
    assert made.company_name  # read from CompanyInfo with the new token
    assert made.connected_by == alice
    assert made.access_token is not None and made.access_token.reveal() == tokens.access_token
    assert made.next_sync_at is not None and made.next_sync_at > timezone.now()
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM sync_qboconnection WHERE id = %s", [made.pk]
        )
        stored = cursor.fetchone()
    assert tokens.access_token not in stored[0] and tokens.refresh_token not in stored[1]


def test_a_realm_live_for_another_partner_is_refused(
    sandbox_server: SandboxProcess, partner_a: Partner, partner_b: Partner, bob: User
) -> None:
    realm = sandbox_server.new_company(seed="empty")
    connection_for(sandbox_server, partner_a, realm)

    with pytest.raises(ValidationError, match="already connected to another partner"):
        services.connection_connect(
            partner=partner_b, realm_id=realm, tokens=minted_tokens(sandbox_server, realm), user=bob
        )

    assert not QBOConnection.objects.filter(partner=partner_b).exists()


def test_tokens_for_one_company_cannot_claim_another(
    sandbox_server: SandboxProcess, partner_a: Partner, alice: User, sent: list[tuple[Any, ...]]
) -> None:
    # The realm id comes back from the browser: a partner user's own valid code sent with
    # another company's id would have stored that company as theirs (Intuit answers the
    # CompanyInfo read with 403), locking its real owner out of connecting it.
    own = sandbox_server.new_company(seed="empty")
    someone_elses = sandbox_server.new_company(seed="empty")
    with pytest.raises(ValidationError, match="did not let this sign-in open the company"):
        services.connection_connect(
            partner=partner_a,
            realm_id=someone_elses,
            tokens=minted_tokens(sandbox_server, own),
            user=alice,
        )
    assert not QBOConnection.objects.exists()
    assert sent == []


def test_a_partner_with_a_live_company_cannot_attach_a_second_one(
    sandbox_server: SandboxProcess, partner_a: Partner, alice: User
) -> None:
    first = sandbox_server.new_company(seed="empty")
    second = sandbox_server.new_company(seed="empty")
    connection_for(sandbox_server, partner_a, first, company_name="First Books")

    with pytest.raises(ValidationError, match="First Books.*Disconnect it"):
        services.connection_connect(
            partner=partner_a,
            realm_id=second,
            tokens=minted_tokens(sandbox_server, second),
            user=alice,
        )
    assert QBOConnection.objects.filter(partner=partner_a).count() == 1


def test_reconnecting_revives_the_same_connection(
    sandbox_server: SandboxProcess,
    partner_a: Partner,
    alice: User,
    sent: list[tuple[Any, ...]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    realm = sandbox_server.new_company(seed="empty")
    old = connection_for(
        sandbox_server,
        partner_a,
        realm,
        status=QBOConnection.Status.NEEDS_RECONNECT,
        last_error="Your QuickBooks connection has expired",
        last_error_tid="1-abc",
        access_token=None,
        refresh_token=None,
        next_sync_at=None,
    )

    with django_capture_on_commit_callbacks(execute=True):
        revived = services.connection_connect(
            partner=partner_a,
            realm_id=realm,
            tokens=minted_tokens(sandbox_server, realm),
            user=alice,
        )

    assert revived.pk == old.pk
    revived.refresh_from_db()
    assert revived.status == QBOConnection.Status.CONNECTED
    assert revived.last_error == "" and revived.last_error_tid == ""
    assert revived.refresh_token is not None and revived.next_sync_at is not None
    assert sent == [(old.pk, "reconnect")]


def test_disconnect_revokes_at_intuit_deletes_the_tokens_and_keeps_the_mirror(
    sandbox_server: SandboxProcess, partner_a: Partner, alice: User
) -> None:
    realm = sandbox_server.new_company(seed="demo")
    made = connection_for(sandbox_server, partner_a, realm, company_name="Leaving")
    services.connection_sync(connection_id=made.pk, trigger="test")
    refresh_token = made.refresh_token.reveal()
    items = QBOItem.objects.filter(connection=made).count()

    services.connection_disconnect(connection=made, user=alice)

    made.refresh_from_db()
    assert made.status == QBOConnection.Status.DISCONNECTED
    assert made.access_token is None and made.refresh_token is None
    assert made.next_sync_at is None and made.disconnected_at is not None
    assert QBOItem.objects.filter(connection=made).count() == items > 0
    # Revoked at Intuit: the grant is dead there too.
    with pytest.raises(qbo.ReconnectRequired):
        qbo.refresh_tokens(refresh_token=refresh_token)
    # And the schedule has forgotten it.
    assert made.pk not in services.connection_schedule_due(now=timezone.now() + timedelta(days=1))
    assert services.connection_sync(connection_id=made.pk, trigger="manual") is None
    assert Books(sandbox_server, realm).all("Item")  # the company itself is untouched


def test_disconnect_still_forgets_the_tokens_when_intuit_cannot_be_reached(
    sandbox_server: SandboxProcess, partner_a: Partner, alice: User, settings: Any
) -> None:
    realm = sandbox_server.new_company(seed="empty")
    made = connection_for(sandbox_server, partner_a, realm)
    settings.QBO_ENVIRONMENT = "http://127.0.0.1:1/.well-known/openid_configuration"
    settings.QBO_MAX_RETRIES = 0

    services.connection_disconnect(connection=made, user=alice)

    made.refresh_from_db()
    assert made.status == QBOConnection.Status.DISCONNECTED and made.refresh_token is None
    assert not SyncRun.objects.filter(connection=made).exists()


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (QBOConnection.Status.NEEDS_RECONNECT, "It needs to be reconnected first."),
        (QBOConnection.Status.DISCONNECTED, "Only a connected QuickBooks company can be synced."),
    ],
)
def test_a_sync_request_for_a_company_not_connected_is_refused_and_enqueues_nothing(
    status: str,
    said: str,
    partner_a: Partner,
    sent: list[tuple[Any, ...]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    made = ConnectionFactory(partner=partner_a, status=status)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as caught:
        services.connection_sync_request(connection=made)
    assert caught.value.messages[0].endswith(said)
    assert sent == []


def test_a_sync_request_for_a_connected_company_enqueues_a_manual_sync(
    partner_a: Partner, sent: list[tuple[Any, ...]], django_capture_on_commit_callbacks: Any
) -> None:
    made = ConnectionFactory(partner=partner_a)
    with django_capture_on_commit_callbacks(execute=True):
        services.connection_sync_request(connection=made)
    assert sent == [(made.pk, "manual")]
