"""OAuth tokens at rest: MultiFernet with FIELD_ENCRYPTION_KEYS, never SECRET_KEY.

The newest key (first in the list) encrypts; every listed key decrypts, so a key can be
added, everything re-encrypted (`manage.py rotate_token_keys`), and the old key dropped.
"""

from __future__ import annotations

import hmac
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


class Secret:
    """A decrypted token that will not print itself.

    ``repr``/``str`` (hence logs, tracebacks, the debug page and the admin) show a
    placeholder; code that must send the token calls ``reveal()``.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        # Constant-time, like every other comparison of credentials.
        return isinstance(other, Secret) and hmac.compare_digest(
            other._value.encode(), self._value.encode()
        )

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:
        # Pickling would copy the plaintext into caches or task payloads.
        raise TypeError("Secret values are not picklable.")

    # A Secret is immutable, so a copy is the same object. Without these, copy.copy and
    # copy.deepcopy (of a model instance holding tokens, say) would fall back on
    # __reduce__ above and fail.
    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self


_UNDECRYPTABLE = (
    "A stored token cannot be decrypted with FIELD_ENCRYPTION_KEYS; was a key removed "
    "before `manage.py rotate_token_keys` ran?"
)


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        # Which key is missing is all an operator needs; the ciphertext stays out of it.
        raise InvalidToken(_UNDECRYPTABLE) from exc


def rotate(ciphertext: str) -> str:
    """Re-encrypt under the newest key (``MultiFernet.rotate``), never exposing the
    plaintext to the caller."""
    try:
        return fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise InvalidToken(_UNDECRYPTABLE) from exc


def under_newest_key(ciphertext: str) -> bool:
    """Whether ``ciphertext`` decrypts with the newest key alone (rotation left nothing)."""
    newest = Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode())
    try:
        newest.decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


class EncryptedTokenField(models.TextField):  # type: ignore[type-arg]
    """A text column holding Fernet ciphertext; Python sees a ``Secret`` (or None)."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Secret | None:
        return None if value is None else Secret(decrypt(value))

    def to_python(self, value: Any) -> Secret | None:
        if value is None or isinstance(value, Secret):
            return value
        return Secret(str(value))

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        plaintext = value.reveal() if isinstance(value, Secret) else str(value)
        return encrypt(plaintext)
