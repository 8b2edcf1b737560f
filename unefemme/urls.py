from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

# The admin's own login form would bypass allauth's rate limits and two-factor; send it
# through allauth's sign-in instead.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]
admin.site.site_header = "unefemme administration"

urlpatterns = [
    path("", include("dashboard.urls")),  # the dashboard at /, /healthz and /partners/
    # After the dashboard's: /partners/new/, /partners/<pk>/edit/, /people/ and a person's
    # pages (the /partners/ scorecard itself is the dashboard's).
    path("", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("sync/", include("sync.urls")),
    path("inventory/", include("inventory.urls")),
    path("billing/", include("billing.urls")),
    path("reconciliation/", include("reconciliation.urls")),
    path("trends/", include("history.urls")),
    # /people/invite/, /people/invitations/, /invite/<token>/ and /welcome/.
    path("", include("onboarding.urls")),
    path("notifications/", include("notifications.urls")),
    path("allowances/", include("allowances.urls")),
    path("admin/", admin.site.urls),
]
