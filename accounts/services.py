from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from .models import Partner, User
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
