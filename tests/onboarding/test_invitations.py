"""Invitations: who may invite, what a link does once, twice, late, revoked or edited, and
what the invitee becomes."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pyotp
import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import AuditEvent, Partner, User
from accounts.roles import Role
from onboarding import services
from onboarding.models import Invitation
from onboarding.tokens import make_token
from tests.conftest import signed_in
from tests.factories import PartnerFactory

# Transactional: the e-mails leave when the invitation's transaction commits
# (services._send), as in production.
pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "a long new password 42"
LINK = re.compile(r"https?://[^\s\"<>]+/invite/[^\s\"<>/]+/")


def invite(
    admin_client: Client, email: str, role: str = Role.PARTNER, partner: Partner | None = None
) -> Any:
    data = {"email": email, "role": role, "partner": partner.pk if partner else ""}
    return admin_client.post(reverse("onboarding:invite"), data)


def link_in_last_mail() -> str:
    message = mail.outbox[-1]
    [link] = set(LINK.findall(str(message.body)))
    return str(link)


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def accept(client: Client, path: str, password: str = NEW_PASSWORD, again: str = "") -> Any:
    return client.post(
        path, {"full_name": "New Person", "password1": password, "password2": again or password}
    )


@pytest.fixture
def ada_client(ada: User) -> Client:
    return signed_in(ada)


# --- inviting -----------------------------------------------------------------------------


def test_an_invitation_mails_a_link_that_makes_exactly_the_invited_person(
    ada: User, ada_client: Client, partner_a: Partner
) -> None:
    response = invite(ada_client, "New.Buyer@Example.test", partner=partner_a)
    assert response.status_code == 302
    assert response["Location"] == reverse("onboarding:invitations")
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.partner) == (
        "new.buyer@example.test", Role.PARTNER, partner_a,
    )  # fmt: skip
    assert invitation.state == Invitation.State.PENDING
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)

    [message] = mail.outbox
    assert message.to == ["new.buyer@example.test"]
    assert isinstance(message, EmailMultiAlternatives)
    html = str(message.alternatives[0][0])
    link = link_in_last_mail()
    assert link.startswith("http://testserver/invite/")
    assert link in html
    assert partner_a.name in message.body and "Partner user" in message.body

    # The list shows it as pending.
    page = ada_client.get(reverse("onboarding:invitations"))
    assert "new.buyer@example.test" in page.content.decode() and "Pending" in page.content.decode()

    # The invitee sees who invited them and for what.
    invitee = Client()
    shown = invitee.get(path_of(link)).content.decode()
    assert escape(partner_a.name) in shown and ada.email in shown
    assert "new.buyer@example.test" in shown
    response = accept(invitee, path_of(link))
    assert response.status_code == 302
    assert response["Location"] == reverse("onboarding:welcome")
    user = User.objects.get(email="new.buyer@example.test")
    assert (user.role, user.partner, user.full_name, user.is_active) == (
        Role.PARTNER, partner_a, "New Person", True,
    )  # fmt: skip
    assert user.check_password(NEW_PASSWORD)
    assert EmailAddress.objects.filter(user=user, verified=True, primary=True).count() == 1
    # Signed in: the welcome page opens.
    assert invitee.get(reverse("onboarding:welcome")).status_code == 200
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None and invitation.accepted_user == user
    actions = list(
        AuditEvent.objects.filter(target_id=str(invitation.pk)).values_list("action", flat=True)
    )
    assert sorted(actions) == ["invitation.accept", "invitation.send"]


@pytest.mark.parametrize("role", [Role.STAFF, Role.ADMIN])
def test_une_femme_people_are_invited_without_a_partner(ada_client: Client, role: Role) -> None:
    assert invite(ada_client, f"{role}@unefemmewines.test", role).status_code == 302
    accept(Client(), path_of(link_in_last_mail()))
    user = User.objects.get(email=f"{role}@unefemmewines.test")
    assert (user.role, user.partner) == (role, None)


def test_staff_with_mfa_required_enrol_first(ada: User, settings: SettingsWrapper) -> None:
    settings.REQUIRE_STAFF_MFA = True
    services.invitation_create(
        email="sam2@unefemmewines.test", role=Role.STAFF, partner=None, invited_by=ada,
        base_url="http://testserver/",
    )  # fmt: skip
    invitee = Client()
    response = accept(invitee, path_of(link_in_last_mail()))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_activate_totp"))
    # And nothing else opens until they have.
    welcome = invitee.get(reverse("onboarding:welcome"))
    assert welcome["Location"].startswith(reverse("mfa_activate_totp"))
    # Without asking for the password just chosen (accounts.adapters' grace period).
    assert invitee.get(reverse("mfa_activate_totp")).status_code == 200
    secret = invitee.session["mfa.totp.secret"]
    with time_machine.travel(timezone.now(), tick=False):
        code = str(pyotp.TOTP(secret, interval=30).now())
        enrolled = invitee.post(reverse("mfa_activate_totp"), {"code": code})
    assert enrolled.status_code == 302
    # Enrolled in this session: the first-run page opens.
    assert invitee.get(reverse("onboarding:welcome")).status_code == 200


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"role": Role.PARTNER, "partner": ""}, "partner", "A partner user belongs to a partner"),
        ({"role": Role.STAFF, "partner": "A"}, "partner", "Staff and admins belong to no partner"),
        ({"role": "owner", "partner": ""}, "role", "Select a valid choice"),
        ({"role": Role.STAFF, "email": "not an address"}, "email", "Enter a valid email"),
    ],
)
def test_role_and_partner_must_agree(
    ada_client: Client, partner_a: Partner, data: dict[str, str], field: str, message: str
) -> None:
    form = {"email": "someone@example.test", **data}
    if form.get("partner") == "A":
        form["partner"] = str(partner_a.pk)
    response = ada_client.post(reverse("onboarding:invite"), form)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not Invitation.objects.exists() and not mail.outbox


def test_duplicates_are_refused_with_a_clear_message(
    ada_client: Client, alice: User, partner_a: Partner
) -> None:
    response = invite(ada_client, alice.email.upper(), partner=partner_a)
    assert response.status_code == 200
    assert "already has an account" in response.content.decode()
    invite(ada_client, "twice@example.test", partner=partner_a)
    response = invite(ada_client, "Twice@example.test", Role.STAFF)
    assert "already has a pending invitation" in response.content.decode()
    assert Invitation.objects.count() == 1 and len(mail.outbox) == 1
    # Once that one has expired, a new invitation may be sent.
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert invite(ada_client, "twice@example.test", Role.STAFF).status_code == 302


# --- links that must not work ----------------------------------------------------------------


def _pending(ada: User, partner: Partner) -> tuple[Invitation, str]:
    invitation = services.invitation_create(
        email="late@example.test", role=Role.PARTNER, partner=partner, invited_by=ada,
        base_url="http://testserver/",
    )  # fmt: skip
    return invitation, path_of(link_in_last_mail())


def _refused(path: str, text: str) -> None:
    users = User.objects.count()
    client = Client()
    page = client.get(path)
    assert page.status_code in (404, 410) and text in page.content.decode()
    response = accept(client, path)
    assert response.status_code in (404, 410) and text in response.content.decode()
    assert User.objects.count() == users
    assert not User.objects.filter(email="late@example.test").exists()


def test_an_expired_link_is_refused(ada: User, partner_a: Partner) -> None:
    _invitation, path = _pending(ada, partner_a)
    with time_machine.travel(timezone.now() + timedelta(days=7, seconds=1)):
        _refused(path, "has expired")


def test_a_used_link_is_refused(ada: User, partner_a: Partner) -> None:
    _invitation, path = _pending(ada, partner_a)
    first = Client()
    assert accept(first, path).status_code == 302
    users = User.objects.count()
    again = Client()
    response = accept(again, path, password="another long password 7")
    assert response.status_code == 410 and "already been used" in response.content.decode()
    assert User.objects.count() == users
    assert User.objects.get(email="late@example.test").check_password(NEW_PASSWORD)


def test_a_revoked_link_is_refused(ada: User, ada_client: Client, partner_a: Partner) -> None:
    invitation, path = _pending(ada, partner_a)
    response = ada_client.post(reverse("onboarding:revoke", args=[invitation.pk]))
    assert response.status_code == 302
    _refused(path, "withdrawn")
    assert AuditEvent.objects.filter(action="invitation.revoke").count() == 1


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # the signature
        lambda token: token.replace(token.split(":")[0], token.split(":")[0] + "x"),
        lambda token: "nonsense",
        lambda token: make_token(999_999, "guess"),  # signed by us, for no invitation
    ],
    ids=["signature", "payload", "garbage", "no-such-invitation"],
)
def test_a_tampered_link_is_refused(
    ada: User, partner_a: Partner, tamper: Callable[[str], str]
) -> None:
    _invitation, path = _pending(ada, partner_a)
    token = path.split("/")[2]
    _refused(reverse("onboarding:accept", args=[tamper(token)]), "not one unefemme sent")


def test_a_forged_key_is_refused(ada: User, partner_a: Partner) -> None:
    invitation, _path = _pending(ada, partner_a)
    forged = reverse("onboarding:accept", args=[make_token(invitation.pk, "a guessed key")])
    _refused(forged, "newer invitation")


def test_resending_kills_the_old_link(ada: User, partner_a: Partner) -> None:
    invitation, old = _pending(ada, partner_a)
    with time_machine.travel(timezone.now() + timedelta(days=6)):
        # Signed in then: a session does not last six days.
        response = signed_in(ada).post(reverse("onboarding:resend", args=[invitation.pk]))
        assert response.status_code == 302
        assert response["Location"] == reverse("onboarding:invitations")
    new = path_of(link_in_last_mail())
    assert new != old and len(mail.outbox) == 2
    _refused(old, "newer invitation")
    invitation.refresh_from_db()
    assert invitation.expires_at > timezone.now() + timedelta(days=12)
    # The new link works, with a fresh expiry: past the first one's.
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        assert accept(Client(), new).status_code == 302
    assert User.objects.filter(email="late@example.test").exists()
    assert AuditEvent.objects.filter(action="invitation.resend").count() == 1


def test_passwords_are_validated_and_must_match(ada: User, partner_a: Partner) -> None:
    _invitation, path = _pending(ada, partner_a)
    client = Client()
    short = accept(client, path, password="abc")
    assert short.status_code == 200 and short.context["form"].errors["password1"]
    differ = accept(client, path, again="not the same password 9")
    assert "The two passwords differ." in differ.context["form"].errors["password2"]
    assert not User.objects.filter(email="late@example.test").exists()


def test_a_signed_in_person_is_asked_to_sign_out(
    ada: User, alice: User, partner_a: Partner
) -> None:
    _invitation, path = _pending(ada, partner_a)
    response = accept(signed_in(alice), path)
    assert response.status_code == 200 and "sign out first" in response.content.decode()
    assert not User.objects.filter(email="late@example.test").exists()


def test_a_dead_link_asks_the_inviting_admin_for_a_new_one_once(
    ada: User, partner_a: Partner
) -> None:
    invitation, path = _pending(ada, partner_a)
    mail.outbox.clear()
    # While the link works there is nothing to ask for.
    assert Client().post(path, {"action": "renew"})["Location"] == path
    assert not mail.outbox
    later = timezone.now() + timedelta(days=8)
    with time_machine.travel(later):
        client = Client()
        first = client.post(path, {"action": "renew"})
        assert "asked the administrators" in first.content.decode()
        [message] = mail.outbox
        assert message.to == [ada.email] and "late@example.test" in message.body
        assert "/people/invitations/" in message.body
        # Pressing again (or reloading) does not e-mail again.
        second = client.post(path, {"action": "renew"})
        assert "already been asked" in second.content.decode()
        assert len(mail.outbox) == 1
    invitation.refresh_from_db()
    assert invitation.renewal_requested_at is not None
    # A tampered link asks nobody.
    Client().post(reverse("onboarding:accept", args=["nonsense"]), {"action": "renew"})
    assert len(mail.outbox) == 1


# --- who may do what -------------------------------------------------------------------------


def _urls(invitation: Invitation) -> list[tuple[str, str]]:
    return [
        ("get", reverse("onboarding:invite")),
        ("post", reverse("onboarding:invite")),
        ("get", reverse("onboarding:invitations")),
        ("post", reverse("onboarding:resend", args=[invitation.pk])),
        ("post", reverse("onboarding:revoke", args=[invitation.pk])),
    ]


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_partner_users_can_never_invite_or_see_invitations(
    who: str, cast: dict[str, User], ada: User, partner_a: Partner
) -> None:
    invitation, _path = _pending(ada, partner_a)
    client = signed_in(cast[who])
    for method, url in _urls(invitation):
        data = {"email": "x@example.test", "role": Role.ADMIN}
        response = getattr(client, method)(url, data if method == "post" else None)
        assert response.status_code == 403, (method, url)
        assert "late@example.test" not in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.is_pending and Invitation.objects.count() == 1


def test_staff_see_the_list_but_cannot_act(sam: User, ada: User, partner_a: Partner) -> None:
    invitation, _path = _pending(ada, partner_a)
    client = signed_in(sam)
    page = client.get(reverse("onboarding:invitations"))
    assert page.status_code == 200 and "late@example.test" in page.content.decode()
    assert ">Resend<" not in page.content.decode() and "Invite someone" not in page.content.decode()
    for method, url in _urls(invitation):
        if url == reverse("onboarding:invitations"):
            continue
        assert getattr(client, method)(url).status_code == 403, url
    invitation.refresh_from_db()
    assert invitation.is_pending and invitation.revoked_at is None


def test_the_list_does_not_grow_in_queries(
    ada: User, ada_client: Client, django_assert_max_num_queries: Any
) -> None:
    counts = []
    for n in (3, 30):
        while Invitation.objects.count() < n:
            i = Invitation.objects.count()
            services.invitation_create(
                email=f"p{i}@example.test", role=Role.PARTNER,
                partner=PartnerFactory(), invited_by=ada, base_url="http://testserver/",
            )  # fmt: skip
        Invitation.objects.filter(email="p1@example.test").update(revoked_at=timezone.now())
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            page = ada_client.get(reverse("onboarding:invitations"))
        assert page.status_code == 200 and page.content.decode().count("<tr id=") == n
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts


def test_the_people_page_shows_pending_invitations(
    ada: User, ada_client: Client, sam: User, partner_a: Partner
) -> None:
    _pending(ada, partner_a)
    page = ada_client.get(reverse("accounts:people")).content.decode()
    assert "late@example.test" in page and reverse("onboarding:invite") in page
    staff_page = signed_in(sam).get(reverse("accounts:people")).content.decode()
    assert "late@example.test" in staff_page and reverse("onboarding:invite") not in staff_page
