"""Create the local demo's partners and people when they are absent, and load Une Femme's
demo catalog.

Idempotent: a second run changes nothing. It prints one ``login <role> <email> <password>``
line per demo user; `make run` echoes them in its banner (devtools/run.py calls it by
name). It lives in the dashboard app because it writes both accounts' people and
inventory's catalog, and accounts imports no other app of ours.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.demo import DEMO_PARTNERS, DEMO_PASSWORD, DEMO_USERS
from accounts.models import Partner, User
from accounts.services import partner_create, user_create
from inventory.catalog.services import catalog_demo_load


class Command(BaseCommand):
    help = "Create the demo partners and users (local demo only; refuses when DEBUG is off)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_setup creates accounts with a public password; DEBUG is off.")
        for name, slug, contact in DEMO_PARTNERS:
            if not Partner.objects.filter(slug=slug).exists():
                partner_create(name=name, slug=slug, contact_email=contact)
        for role, email, partner_slug in DEMO_USERS:
            if not User.objects.filter(email=email).exists():
                partner = Partner.objects.get(slug=partner_slug) if partner_slug else None
                user_create(email=email, password=DEMO_PASSWORD, role=role, partner=partner)
            self.stdout.write(f"login {role.value} {email} {DEMO_PASSWORD}")
        # Une Femme's eight SKUs, the codes qbo_sandbox's demo companies carry in Sku.
        catalog_demo_load()
