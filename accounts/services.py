from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import models, transaction
from django.utils.text import slugify

from .models import AuditEvent, Partner, User
from .roles import Role


@transaction.atomic
def partner_create(*, name: str, contact_email: str = "", slug: str = "") -> Partner:
    partner = Partner(name=name, slug=slug or slugify(name)[:80], contact_email=contact_email)
    partner.full_clean()
    partner.save()
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
