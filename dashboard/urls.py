from __future__ import annotations

from django.urls import path

from . import views

# No app_name: "dashboard" and "healthz" are reversed by these bare names all over the
# code and the templates, and the paths stay at the site's root.
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    # The partner scorecard; the Partners page it replaced was at this path.
    path("partners/", views.partners, name="partners"),
]
