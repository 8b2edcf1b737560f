from __future__ import annotations

from django.urls import path

from . import views

# Included at the site's root, after the dashboard's: /partners/ itself is the dashboard's
# scorecard (URL name "partners"); the pages that change partners and people are here.
app_name = "accounts"
urlpatterns = [
    path("partners/new/", views.partner_new, name="partner_new"),
    path("partners/<int:pk>/edit/", views.partner_edit, name="partner_edit"),
    path("people/", views.people, name="people"),
    path("people/<int:pk>/", views.person, name="person"),
    path("people/<int:pk>/deactivate/", views.person_deactivate, name="person_deactivate"),
    path("people/<int:pk>/reactivate/", views.person_reactivate, name="person_reactivate"),
    path("people/<int:pk>/role/", views.person_role, name="person_role"),
]
