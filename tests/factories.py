from __future__ import annotations

from typing import Any

import factory

from accounts.models import Partner, User
from accounts.roles import Role

PASSWORD = "correct horse battery staple"


class PartnerFactory(factory.django.DjangoModelFactory[Partner]):
    class Meta:
        model = Partner
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Distributor {n}")
    slug = factory.Sequence(lambda n: f"distributor-{n}")
    contact_email = factory.LazyAttribute(lambda p: f"ap@{p.slug}.test")


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.test")
    role = Role.STAFF
    partner = None

    @factory.post_generation
    def password(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:  # noqa: N805
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save(update_fields=["password"])


def partner_user(partner: Partner, **kwargs: Any) -> User:
    return UserFactory(role=Role.PARTNER, partner=partner, **kwargs)
