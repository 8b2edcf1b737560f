from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    """The three roles. A user has exactly one; it is the only source of authority.

    - PARTNER: a distributor's employee; belongs to exactly one Partner and sees only it.
    - STAFF: Une Femme finance / supply ops; reads every partner, exports, starts syncs.
    - ADMIN: staff plus every change (partners, catalog, conflicts, pushes to QuickBooks),
      and the Django admin site.
    """

    PARTNER = "partner", "Partner user"
    STAFF = "staff", "Staff"
    ADMIN = "admin", "Admin"


# Role groups views use with @role_required.
EVERYONE = (Role.PARTNER, Role.STAFF, Role.ADMIN)
UNE_FEMME = (Role.STAFF, Role.ADMIN)
ADMINS = (Role.ADMIN,)
