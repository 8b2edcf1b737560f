from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import AuditEvent, Partner, SignInEvent, User


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin[Partner]):
    list_display = ["name", "slug", "contact_email", "created_at"]
    # Partners are created and edited in the app (accounts:partner_new), which audits them.
    search_fields = ["name", "slug", "contact_email"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(User)
class UserAdmin(admin.ModelAdmin[User]):
    list_display = ["email", "full_name", "role", "partner", "is_active", "last_login"]
    list_filter = ["role", "partner", "is_active"]
    search_fields = ["email", "full_name"]
    # Passwords are set through the password-reset e-mail, never typed into the admin.
    # The last two are shown, never edited: a read-only field appears only if listed here.
    fields = [
        "email",
        "full_name",
        "role",
        "partner",
        "time_zone",
        "is_active",
        "last_login",
        "date_joined",
    ]
    readonly_fields = ["last_login", "date_joined"]


# The trails are written by the app's services and the sign-in signal, never by hand.
@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    list_display = ["at", "actor", "action", "target_type", "target_repr"]
    list_filter = ["action", "target_type"]
    search_fields = ["target_repr", "actor__email"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(SignInEvent)
class SignInEventAdmin(admin.ModelAdmin[SignInEvent]):
    list_display = ["at", "user", "ip"]
    search_fields = ["user__email", "ip"]
    exclude = ["session_key"]  # a live session's key is a credential

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
