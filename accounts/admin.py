from __future__ import annotations

from django.contrib import admin

from .models import Partner, User


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin[Partner]):
    list_display = ["name", "slug", "contact_email", "created_at"]
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
