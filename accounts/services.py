from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.text import slugify

from .models import AuditEvent, Partner, SignInEvent, User
from .roles import Role

# What an admin edits on a partner in the app (accounts.forms.PartnerForm), and so what a
# partner's audit rows can name.
PARTNER_FIELDS = (
    "name",
    "slug",
    "contact_name",
    "contact_email",
    "contact_phone",
    "tolerance_share",
    "tolerance_bottles",
    "days_on_hand_threshold",
    "une_femme_vendor_hint",
)


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    return {k: [before[k], after[k]] for k in after if before.get(k) != after[k]}


def _snapshot(obj: models.Model, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in fields}


@transaction.atomic
def partner_create(
    *,
    name: str,
    contact_email: str = "",
    slug: str = "",
    actor: User | None = None,
    **fields: Any,
) -> Partner:
    """Create a partner. Raises ValidationError (a duplicate name or slug included) and
    saves nothing then. ``fields`` are the other PARTNER_FIELDS; left out, the model's
    defaults (the reports' own constants) apply."""
    unknown = set(fields) - set(PARTNER_FIELDS)
    if unknown:
        raise TypeError(f"Not a partner field: {', '.join(sorted(unknown))}")
    partner = Partner(
        name=name, slug=slug or slugify(name)[:80], contact_email=contact_email, **fields
    )
    partner.full_clean()
    partner.save()
    audit_record(
        actor=actor,
        action="partner.create",
        target=partner,
        changes={f: (None, v) for f, v in _snapshot(partner, PARTNER_FIELDS).items() if v != ""},
    )
    return partner


@transaction.atomic
def partner_update(*, partner_id: int, actor: User | None, **fields: Any) -> Partner:
    """Change a partner's PARTNER_FIELDS. Audits what changed (nothing when nothing did);
    raises ValidationError and saves nothing on bad input."""
    unknown = set(fields) - set(PARTNER_FIELDS)
    if unknown:
        raise TypeError(f"Not a partner field: {', '.join(sorted(unknown))}")
    # Locked so two admins saving at once audit a true before→after each.
    partner: Partner = Partner.objects.select_for_update().get(pk=partner_id)
    before = _snapshot(partner, PARTNER_FIELDS)
    for field, value in fields.items():
        setattr(partner, field, value)
    partner.full_clean()
    changes = _changes(before, _snapshot(partner, PARTNER_FIELDS))
    if changes:
        partner.save()
        audit_record(actor=actor, action="partner.update", target=partner, changes=changes)
    return partner


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str | None,
    role: Role,
    partner: Partner | None = None,
    full_name: str = "",
) -> User:
    """Create a person. Raises ValidationError when role and partner disagree: a partner
    user needs exactly one partner, Une Femme people none."""
    return User.objects.create_user(
        email, password, role=role, partner=partner, full_name=full_name
    )


def user_sessions_end(*, user_id: int) -> int:
    """Delete every session ``user_id`` signed in with; returns how many.

    Django's session table is keyed by session only, so the keys come from the sign-in
    log (SignInEvent.session_key), which makes this exact and cheap. A key rotated after
    sign-in (a password change) escapes this delete, but not the check that stands behind
    it: Django's authentication backend refuses an inactive user's session on every
    request (ModelBackend.get_user → user_can_authenticate), see tests/accounts.
    """
    keys = SignInEvent.objects.filter(user_id=user_id).exclude(session_key="")
    deleted, _ = Session.objects.filter(session_key__in=keys.values("session_key")).delete()
    return deleted


@transaction.atomic
def user_deactivate(*, user_id: int, actor: User) -> User:
    """Deactivate a person and end their sessions at once. An admin cannot deactivate
    themself: the last admin locking themself out would need a shell to undo."""
    user = User.objects.select_for_update().get(pk=user_id)
    if user.pk == actor.pk:
        raise ValidationError("You cannot deactivate yourself. Ask another admin.")
    if not user.is_active:
        return user
    user.is_active = False
    user.save(update_fields=["is_active"])
    user_sessions_end(user_id=user.pk)
    audit_record(
        actor=actor, action="user.deactivate", target=user, changes={"is_active": (True, False)}
    )
    return user


@transaction.atomic
def user_reactivate(*, user_id: int, actor: User) -> User:
    user = User.objects.select_for_update().get(pk=user_id)
    if user.is_active:
        return user
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit_record(
        actor=actor, action="user.reactivate", target=user, changes={"is_active": (False, True)}
    )
    return user


@transaction.atomic
def user_role_set(*, user_id: int, actor: User, role: Role | str, partner_id: int | None) -> User:
    """Change a person's role (and partner, which a partner user needs and nobody else
    has). Ends their sessions, so the new role's limits hold from their next request on
    rather than whenever an open page is reloaded. Raises ValidationError on a mismatch."""
    user = User.objects.select_for_update().get(pk=user_id)
    if user.pk == actor.pk:
        raise ValidationError("You cannot change your own role. Ask another admin.")
    if role != Role.PARTNER:
        partner_id = None
    before = {"role": user.role, "partner": user.partner_id}
    user.role = str(role)
    user.partner_id = partner_id
    after = {"role": user.role, "partner": user.partner_id}
    changes = _changes(before, after)
    if not changes:
        return user
    if user.role == Role.PARTNER and partner_id is None:
        raise ValidationError({"partner": "A partner user needs a partner."})
    user.full_clean(exclude=["password"])
    user.save(update_fields=["role", "partner"])
    user_sessions_end(user_id=user.pk)
    audit_record(actor=actor, action="user.role", target=user, changes=changes)
    return user


def sign_in_record(*, user: User, ip: str, user_agent: str, session_key: str) -> SignInEvent:
    return SignInEvent.objects.create(
        user=user, ip=ip or None, user_agent=user_agent[:300], session_key=session_key or ""
    )


def audit_record(
    *,
    actor: User | None,
    action: str,
    target: models.Model,
    changes: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Record that ``actor`` did ``action`` (e.g. ``"partner.update"``, ``"invitation.send"``)
    to ``target``. ``changes`` maps each changed field to ``(before, after)``; values must
    be JSON-serialisable by DjangoJSONEncoder (str, numbers, Decimal, dates).

    Call it inside the transaction that makes the change, so a change and its record are
    written together or not at all. Any app may call it for its own objects.
    """
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:200],
        changes={field: list(pair) for field, pair in (changes or {}).items()},
    )
