"""How views say who may use them, and how reads are scoped to what a user may see.

Two rules, enforced together:
- every view of ours declares its roles with ``@role_required(...)``; a view that does not
  is refused by ``RoleRequiredMiddleware`` (deny by default), and a test walks the URLconf;
- every read of partner data goes through ``.visible_to(user)`` (querysets) or a
  ``get_<thing>_for_user`` loader, which return 404 for another partner's object rather
  than revealing that it exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponseBase
from django_htmx.middleware import HtmxDetails

from .roles import Role

if TYPE_CHECKING:
    from .models import User

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., HttpResponseBase])


class AuthedRequest(HttpRequest):
    """What our views receive: the middleware guarantees a signed-in user."""

    user: User
    htmx: HtmxDetails


def role_required(*roles: Role) -> Callable[[ViewFunc], ViewFunc]:
    """Allow only users with one of ``roles``; everyone else gets 403."""
    allowed = frozenset(roles)
    if not allowed:
        raise ValueError("role_required needs at least one role.")

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not user_has_role(request.user, allowed):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapper.allowed_roles = allowed  # type: ignore[attr-defined]
        return cast(ViewFunc, wrapper)

    return decorator


def user_has_role(user: Any, roles: Iterable[Role]) -> bool:
    return bool(user.is_authenticated and user.is_active and user.role in set(roles))


class PartnerScopedQuerySet(models.QuerySet[Any]):
    """A queryset whose rows belong to a partner, reachable through ``partner_lookup``.

    Models set ``partner_lookup`` on their queryset subclass, e.g. ``"connection__partner"``.
    """

    partner_lookup = "partner"

    def visible_to(self, user: User) -> PartnerScopedQuerySet:
        if user.sees_all_partners:
            return self.all()
        if user.role == Role.PARTNER and user.partner_id is not None:
            return self.filter(**{self.partner_lookup: user.partner_id})
        return self.none()


class ConnectionScopedQuerySet(PartnerScopedQuerySet):
    """Rows that belong to a partner through their QuickBooks connection: the mirror, the
    sync runs, SKU mappings, push jobs."""

    partner_lookup = "connection__partner"
