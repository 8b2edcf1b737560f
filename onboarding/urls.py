from __future__ import annotations

from django.urls import path

from . import views

app_name = "onboarding"

urlpatterns = [
    path("people/invite/", views.invite, name="invite"),
    path("people/invitations/", views.invitations, name="invitations"),
    path("people/invitations/<int:pk>/resend/", views.resend, name="resend"),
    path("people/invitations/<int:pk>/revoke/", views.revoke, name="revoke"),
    path("invite/<str:token>/", views.accept, name="accept"),
    path("welcome/", views.welcome, name="welcome"),
]
