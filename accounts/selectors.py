from __future__ import annotations

from django.db.models import Count, QuerySet

from .models import Partner, User


def partner_list(*, user: User) -> QuerySet[Partner]:
    partners: QuerySet[Partner] = Partner.objects.visible_to(user)
    return partners.annotate(user_count=Count("users")).order_by("name")
