"""Re-encrypt every stored OAuth token under the newest FIELD_ENCRYPTION_KEYS key.

Key rotation, in three steps:
1. put the new key first in FIELD_ENCRYPTION_KEYS, keeping the old ones after it, and
   deploy (everything still decrypts; new writes use the new key);
2. run ``manage.py rotate_token_keys``;
3. drop the old keys from FIELD_ENCRYPTION_KEYS.

It works on the ciphertext (``MultiFernet.rotate``), so no plaintext token is ever held
or printed, and in one transaction with the rows locked, so a token refreshed by a worker
meanwhile is neither lost nor left under an old key.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, transaction
from django.db.models.functions import Cast

from sync import crypto


def token_columns() -> list[tuple[type[models.Model], list[str]]]:
    """Every model with EncryptedTokenField columns, and those columns."""
    found = []
    for model in apps.get_models():
        names = [
            f.name for f in model._meta.concrete_fields if isinstance(f, crypto.EncryptedTokenField)
        ]
        if names:
            found.append((model, names))
    return found


class Command(BaseCommand):
    help = "Re-encrypt every stored OAuth token with the newest FIELD_ENCRYPTION_KEYS key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="only count the tokens still under an older key",
        )

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        total = older = 0
        try:
            with transaction.atomic():
                for model, names in token_columns():
                    counted = self._rotate_model(model, names, dry_run=dry_run)
                    total += counted[0]
                    older += counted[1]
        except InvalidToken as exc:
            raise CommandError(str(exc)) from None
        if dry_run:
            self.stdout.write(f"{older} of {total} stored tokens are under an older key.")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Re-encrypted {total} stored tokens with the newest key "
                    f"({older} were under an older key)."
                )
            )

    def _rotate_model(
        self, model: type[models.Model], names: list[str], *, dry_run: bool
    ) -> tuple[int, int]:
        # Read the ciphertext itself: cast to plain text, the field's decryption
        # (from_db_value) is not applied.
        raw = {f"raw_{name}": Cast(name, models.TextField()) for name in names}
        rows = (
            model._default_manager.select_for_update()
            .annotate(**raw)
            .values_list("pk", *raw)
            .order_by("pk")
        )
        total = older = 0
        for pk, *ciphertexts in rows:
            updates = {}
            for name, ciphertext in zip(names, ciphertexts, strict=True):
                if ciphertext is None:
                    continue
                total += 1
                if not crypto.under_newest_key(ciphertext):
                    older += 1
                # A Value with a plain TextField output is written as is, where a bare
                # string would be encrypted a second time by the field.
                updates[name] = models.Value(crypto.rotate(ciphertext), models.TextField())
            if updates and not dry_run:
                model._default_manager.filter(pk=pk).update(**updates)
        return total, older
