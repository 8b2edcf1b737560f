"""Writes of invitations: invite, resend, revoke, accept, and the invitee's request for a
new link. Each change is audited in the transaction that makes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import Partner, User
from accounts.roles import Role
from accounts.services import audit_record, user_create

from .models import Invitation, new_key
from .tokens import TokenInvalid, make_token, read_token

# An invitee pressing "ask for a new link" tells the admins once in this long at most.
RENEWAL_REQUEST_INTERVAL = timedelta(days=1)


def invitation_days() -> int:
    return int(getattr(settings, "INVITATION_DAYS", 7))


def invitation_link(invitation: Invitation, *, base_url: str) -> str:
    """The absolute link for ``invitation``'s current key; ``base_url`` is the scheme and
    host the admin used (``request.build_absolute_uri("/")``), so the link works from
    wherever the site is served."""
    path = reverse("onboarding:accept", kwargs={"token": make_token(invitation.pk, invitation.key)})
    return base_url.rstrip("/") + path


def _clean_target(*, email: str, role: Role | str, partner: Partner | None) -> str:
    email = User.objects.normalize_email(email).strip().lower()
    if role not in Role.values:
        raise ValidationError({"role": "Choose a role."})
    if role == Role.PARTNER and partner is None:
        raise ValidationError({"partner": "A partner user belongs to a partner: choose one."})
    if role != Role.PARTNER and partner is not None:
        raise ValidationError({"partner": "Staff and admins belong to no partner: leave it empty."})
    if User.objects.filter(email__iexact=email, is_active=True).exists():
        raise ValidationError({"email": f"{email} already has an account."})
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError(
            {"email": f"{email} has a deactivated account: reactivate it instead of inviting."}
        )
    return email


@transaction.atomic
def invitation_create(
    *, email: str, role: Role | str, partner: Partner | None, invited_by: User, base_url: str
) -> Invitation:
    """Invite ``email`` as ``role`` (of ``partner``, for a partner user) and e-mail the link.
    Raises ValidationError (by field) for an address that already has an account or a
    pending invitation, or a role and partner that disagree."""
    email = _clean_target(email=email, role=role, partner=partner)
    # Serialise invitations to one address: two admins inviting it at once must not both
    # pass the pending check below (released at the end of the transaction).
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"invitation:{email}"])
    if Invitation.objects.pending().filter(email__iexact=email).exists():
        raise ValidationError(
            {"email": f"{email} already has a pending invitation: resend it from the list."}
        )
    now = timezone.now()
    invitation = Invitation(
        email=email,
        role=role,
        partner=partner,
        invited_by=invited_by,
        created_at=now,
        sent_at=now,
        expires_at=now + timedelta(days=invitation_days()),
    )
    invitation.full_clean()
    invitation.save()
    audit_record(
        actor=invited_by,
        action="invitation.send",
        target=invitation,
        changes={
            "email": (None, email),
            "role": (None, str(role)),
            "partner": (None, partner.name if partner else None),
        },
    )
    _send_invitation(invitation, base_url=base_url)
    return invitation


@transaction.atomic
def invitation_resend(*, invitation: Invitation, actor: User, base_url: str) -> Invitation:
    """A new key (the old link dies) and a new expiry, and the e-mail again. An accepted
    or revoked invitation cannot be resent; an expired one can."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise ValidationError("This invitation was accepted: there is nothing to resend.")
    if invitation.revoked_at is not None:
        raise ValidationError("This invitation was revoked: invite the person again instead.")
    if User.objects.filter(email__iexact=invitation.email).exists():
        raise ValidationError(f"{invitation.email} already has an account.")
    before = invitation.expires_at
    now = timezone.now()
    invitation.key = new_key()
    invitation.sent_at = now
    invitation.expires_at = now + timedelta(days=invitation_days())
    invitation.renewal_requested_at = None
    invitation.save(update_fields=["key", "sent_at", "expires_at", "renewal_requested_at"])
    audit_record(
        actor=actor,
        action="invitation.resend",
        target=invitation,
        changes={"expires_at": (before, invitation.expires_at)},
    )
    _send_invitation(invitation, base_url=base_url)
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: User) -> Invitation:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise ValidationError(
            "This invitation was accepted: deactivate the person instead of revoking it."
        )
    if invitation.revoked_at is not None:
        return invitation  # revoking twice changes nothing
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="invitation.revoke",
        target=invitation,
        changes={"revoked_at": (None, invitation.revoked_at)},
    )
    return invitation


# --- the invitee's side ----------------------------------------------------------------------


@dataclass(frozen=True)
class LinkCheck:
    """What a link leads to: the invitation (None for a link we did not make or whose
    invitation is gone), and why it cannot be used (None when it can)."""

    invitation: Invitation | None
    refusal: str | None  # "invalid", "replaced", "accepted", "revoked", "expired"

    @property
    def usable(self) -> bool:
        return self.invitation is not None and self.refusal is None


def invitation_check(token: str, *, lock: bool = False) -> LinkCheck:
    try:
        pk, key = read_token(token)
    except TokenInvalid:
        return LinkCheck(None, "invalid")
    rows = Invitation.objects.select_related("partner", "invited_by")
    if lock:
        rows = rows.select_for_update(of=("self",))
    invitation = rows.filter(pk=pk).first()
    if invitation is None:
        return LinkCheck(None, "invalid")
    if invitation.accepted_at is not None:
        return LinkCheck(invitation, "accepted")
    if invitation.revoked_at is not None:
        return LinkCheck(invitation, "revoked")
    if invitation.key != key:
        return LinkCheck(invitation, "replaced")  # resent since: a newer link exists
    if invitation.expires_at <= timezone.now():
        return LinkCheck(invitation, "expired")
    return LinkCheck(invitation, None)


class LinkRefused(Exception):
    def __init__(self, check: LinkCheck) -> None:
        super().__init__(check.refusal)
        self.check = check


@transaction.atomic
def invitation_accept(*, token: str, password: str, full_name: str = "") -> User:
    """Create the invited person with exactly the invitation's role and partner, their
    address verified for allauth, and use the invitation up. Raises LinkRefused for a link
    that cannot be used (nothing is created), ValidationError for a password Django's
    validators refuse."""
    check = invitation_check(token, lock=True)  # a second tab accepting waits, then refuses
    if not check.usable or check.invitation is None:
        raise LinkRefused(check)
    invitation = check.invitation
    if User.objects.filter(email__iexact=invitation.email).exists():
        raise ValidationError("This address already has an account: sign in instead.")
    validate_password(password, user=User(email=invitation.email, full_name=full_name))
    user = user_create(
        email=invitation.email,
        password=password,
        role=Role(invitation.role),
        partner=invitation.partner,
        full_name=full_name.strip(),
    )
    # The address is the one the invitation reached: it is verified, and allauth (password
    # reset, e-mail management) should know it as the person's primary address.
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    invitation.accepted_at = timezone.now()
    invitation.accepted_user = user
    invitation.save(update_fields=["accepted_at", "accepted_user"])
    audit_record(
        actor=user,
        action="invitation.accept",
        target=invitation,
        changes={"accepted_user": (None, user.email)},
    )
    return user


@transaction.atomic
def invitation_request_renewal(*, token: str, base_url: str) -> bool:
    """The invitee of a dead link asks for a new one: the admin who invited them (or every
    admin, if that admin is gone) is e-mailed, once a day at most. Returns whether an
    e-mail was sent. A link we did not make, or an accepted invitation, asks nobody."""
    check = invitation_check(token, lock=True)
    invitation = check.invitation
    if invitation is None or check.refusal in (None, "accepted"):
        return False
    now = timezone.now()
    last = invitation.renewal_requested_at
    if last is not None and now - last < RENEWAL_REQUEST_INTERVAL:
        return False
    invitation.renewal_requested_at = now
    invitation.save(update_fields=["renewal_requested_at"])
    audit_record(
        actor=None,
        action="invitation.renewal_requested",
        target=invitation,
        changes={"renewal_requested_at": (last, now)},
    )
    inviter = invitation.invited_by
    if inviter is not None and inviter.is_active and inviter.role == Role.ADMIN:
        recipients = [inviter.email]
    else:
        recipients = list(
            User.objects.filter(role=Role.ADMIN, is_active=True).values_list("email", flat=True)
        )
    if not recipients:
        return False
    context = {
        "invitation": invitation,
        "list_url": base_url.rstrip("/") + reverse("onboarding:invitations"),
    }
    _send(
        subject=f"{invitation.email} asks for a new unefemme invitation",
        template="onboarding/email/renewal_request",
        context=context,
        to=recipients,
    )
    return True


# --- e-mail ------------------------------------------------------------------------------------


def _send_invitation(invitation: Invitation, *, base_url: str) -> None:
    context = {
        "invitation": invitation,
        "link": invitation_link(invitation, base_url=base_url),
        "inviter": invitation.invited_by,
    }
    _send(
        subject="You are invited to unefemme",
        template="onboarding/email/invitation",
        context=context,
        to=[invitation.email],
    )


def _send(*, subject: str, template: str, context: dict[str, object], to: list[str]) -> None:
    text = render_to_string(f"{template}.txt", context)
    html = render_to_string(f"{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=to)
    message.attach_alternative(html, "text/html")
    # Sent after the commit: an invitation rolled back must not have reached anyone, and a
    # link must not arrive before the row that honours it exists.
    transaction.on_commit(lambda: message.send())
