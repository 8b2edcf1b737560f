from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Partners and people"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects allauth signal receivers)
