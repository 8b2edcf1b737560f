from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .access import PartnerScopedQuerySet
from .roles import Role


class PartnerQuerySet(PartnerScopedQuerySet):
    # A partner is its own partner: ``visible_to`` keeps the user's own row.
    partner_lookup = "pk"


class Partner(models.Model):
    """A distributor that sells Une Femme's wines and keeps its books in QuickBooks Online."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    contact_email = models.EmailField(blank=True)
    contact_name = models.CharField(max_length=200, blank=True)
    contact_phone = models.CharField(max_length=40, blank=True)
    # Per-partner settings the stock reports read (inventory.reports.selectors: the
    # discrepancies' and the ledger's tolerance, the depletion warning when the reader has
    # not chosen a threshold). The defaults equal the reports' constants (TOLERANCE_SHARE,
    # TOLERANCE_BOTTLES, DEFAULT_THRESHOLD), so a partner nobody edited reads as before.
    tolerance_share = models.DecimalField(
        "discrepancy tolerance (share)",
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.01"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        help_text="A count within this share of the warehouse quantity is not flagged "
        "(0.01 = 1 %).",
    )
    tolerance_bottles = models.DecimalField(
        "discrepancy tolerance (bottles)",
        max_digits=8,
        decimal_places=2,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="…or within this many bottles, whichever is larger.",
    )
    days_on_hand_threshold = models.PositiveIntegerField(
        default=21,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="Depletion flags a SKU with fewer days of stock on hand than this.",
    )
    # The name this partner's QuickBooks files Une Femme under, when it is not one of
    # settings.UNE_FEMME_VENDOR_NAMES: the vendor detection (inventory.purchasing)
    # matches it by name for this partner's companies.
    une_femme_vendor_hint = models.CharField(
        "Une Femme vendor hint",
        max_length=200,
        blank=True,
        help_text="How this partner's QuickBooks names Une Femme as a vendor, if unusual.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects: ClassVar[PartnerQuerySet] = PartnerQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("A user needs an e-mail address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra["role"] = Role.ADMIN
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser):
    """A person who signs in with e-mail and password.

    ``role`` is the one place authority comes from (see accounts/roles.py). Django's
    ``is_staff``/``is_superuser`` are derived from it: only admins use /admin/.
    """

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices)
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    time_zone = models.CharField(
        max_length=64, blank=True, help_text="IANA zone for dates; empty uses the site default."
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["role"]

    class Meta:
        constraints = [
            # A partner user belongs to exactly one partner; Une Femme people to none.
            models.CheckConstraint(
                condition=(Q(role=Role.PARTNER) & Q(partner__isnull=False))
                | (~Q(role=Role.PARTNER) & Q(partner__isnull=True)),
                name="user_partner_matches_role",
            ),
            models.CheckConstraint(
                condition=Q(role__in=[r.value for r in Role]), name="user_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def sees_all_partners(self) -> bool:
        return self.role in (Role.STAFF, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    # What django.contrib.admin and the auth backends ask. Only admins get the admin site,
    # and they get all of it: finer permissions are our roles, not Django's.
    @property
    def is_staff(self) -> bool:
        return self.is_active and self.role == Role.ADMIN

    @property
    def is_superuser(self) -> bool:
        return self.is_staff

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return self.is_staff

    def has_perms(self, perm_list: Any, obj: object = None) -> bool:
        return self.is_staff

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_staff


class SignInEvent(models.Model):
    """One successful sign-in: who, when, from where. Written on ``user_logged_in``."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sign_ins"
    )
    at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    # The session it opened, so deactivating a person can delete exactly their sessions
    # (Django's session table cannot be searched by user).
    session_key = models.CharField(max_length=40, blank=True, db_index=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["user", "-at"], name="signin_user_at")]

    def __str__(self) -> str:
        return f"{self.user_id} at {self.at:%Y-%m-%d %H:%M}"


class AuditEvent(models.Model):
    """Who changed what, when: one row per change made through the app's services.

    ``target_type``/``target_id`` name the changed object loosely (a label and a key, not a
    foreign key) so a row outlives its target and any app can record its own objects.
    ``changes`` maps each changed field to ``[before, after]``.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=64)
    target_repr = models.CharField(max_length=200, blank=True)
    # DjangoJSONEncoder: before/after values include decimals and datetimes.
    changes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "-at"], name="audit_target_at"),
            models.Index(fields=["actor", "-at"], name="audit_actor_at"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"
