from __future__ import annotations

from django.db.models import Case, CharField, Count, Q, QuerySet, Value, When

from .models import AuditEvent, Partner, SignInEvent, User
from .roles import Role


def partner_list(*, user: User) -> QuerySet[Partner]:
    partners: QuerySet[Partner] = Partner.objects.visible_to(user)
    return partners.annotate(user_count=Count("users")).order_by("name")


def people_list(
    *,
    user: User,
    role: str | None = None,
    partner_id: int | None = None,
    active: bool | None = None,
) -> QuerySet[User]:
    """Everyone ``user`` may list: all people for Une Femme, nobody for a partner user
    (the views refuse them first; this keeps a slip from listing anyone)."""
    if not user.sees_all_partners:
        return User.objects.none()
    people = User.objects.select_related("partner").annotate(
        active_label=Case(
            When(is_active=True, then=Value("Active")),
            default=Value("Deactivated"),
            output_field=CharField(),
        )
    )
    if role:
        people = people.filter(role=role)
    if partner_id is not None:
        people = people.filter(partner_id=partner_id)
    if active is not None:
        people = people.filter(is_active=active)
    return people


def get_person_for_user(user: User, pk: int) -> User:
    from django.http import Http404

    if not user.sees_all_partners:
        raise Http404
    try:
        return User.objects.select_related("partner").get(pk=pk)
    except User.DoesNotExist:
        raise Http404 from None


def recent_sign_ins(*, user: User, limit: int = 20) -> list[SignInEvent]:
    if not user.sees_all_partners:
        return []
    return list(SignInEvent.objects.select_related("user")[:limit])


def person_sign_ins(*, person: User, limit: int = 50) -> list[SignInEvent]:
    return list(SignInEvent.objects.filter(user=person)[:limit])


def audit_trail_for(*, target_type: str, target_id: int, limit: int = 50) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(target_type=target_type, target_id=str(target_id)).select_related(
            "actor"
        )[:limit]
    )


def person_audit_trail(*, person: User, limit: int = 50) -> list[AuditEvent]:
    """Changes made to ``person`` and changes ``person`` made, newest first."""
    return list(
        AuditEvent.objects.filter(
            Q(target_type="accounts.user", target_id=str(person.pk)) | Q(actor=person)
        ).select_related("actor")[:limit]
    )


ROLE_LABELS = dict(Role.choices)
