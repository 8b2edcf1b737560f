"""OAuth tokens at rest: MultiFernet with FIELD_ENCRYPTION_KEYS, never SECRET_KEY.

The newest key (first in the list) encrypts; every listed key decrypts, so a key can be
added, everything re-encrypted (`manage.py rotate_token_keys`), and the old key dropped.

A stored token is decrypted when it is revealed, not when its row is loaded. Pages read
connections all the time (a partner's name through ``select_related("connection__partner")``
on every invoice of an export, the Connections page, the admin) and never their tokens; a
decryption is a Fernet HMAC check and an AES decryption, and doing two per row loaded cost
an open-invoices export a quarter of its time. ``count_decryptions()`` is the seam that lets
tests prove no page decrypts anything.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


class Secret:
    """A token that will not print itself.

    ``repr``/``str`` (hence logs, tracebacks, the debug page and the admin) show a
    placeholder; code that must send the token calls ``reveal()``. A Secret read from the
    database (``Secret.stored``) holds the ciphertext and decrypts it on the first
    ``reveal()``, so a row loaded for anything but its tokens costs no decryption.
    """

    __slots__ = ("_ciphertext", "_value")

    def __init__(self, value: str) -> None:
        self._value: str | None = value
        self._ciphertext: str | None = None

    @classmethod
    def stored(cls, ciphertext: str) -> Secret:
        """The token whose ciphertext the database holds, decrypted when revealed. A key
        missing from FIELD_ENCRYPTION_KEYS (see ``decrypt``) raises at that point, where
        the token is used, rather than on every page that loads the row."""
        secret = cls.__new__(cls)
        secret._value = None
        secret._ciphertext = ciphertext
        return secret

    def reveal(self) -> str:
        if self._value is None:
            # Kept once decrypted: a job reveals its token again for every request it
            # makes. Two threads racing here both decrypt the same value; nothing is lost.
            assert self._ciphertext is not None
            self._value = decrypt(self._ciphertext)
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        # Constant-time, like every other comparison of credentials.
        return isinstance(other, Secret) and hmac.compare_digest(
            other.reveal().encode(), self.reveal().encode()
        )

    def __hash__(self) -> int:
        return hash(self.reveal())

    def __reduce__(self) -> Any:
        # Pickling would copy the plaintext into caches or task payloads.
        raise TypeError("Secret values are not picklable.")

    # A Secret's token never changes (decrypting only fills in what it already stood
    # for), so a copy is the same object. Without these, copy.copy and
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


class _Decryptions:
    """How many tokens this process has decrypted: the one seam through which tests see
    that a page decrypted nothing (``count_decryptions``)."""

    total = 0


class DecryptionCount:
    """The decryptions made inside one ``count_decryptions()`` block (so far, while it is
    open; all of them once it has closed)."""

    def __init__(self) -> None:
        self._start = _Decryptions.total
        self._end: int | None = None

    @property
    def value(self) -> int:
        end = _Decryptions.total if self._end is None else self._end
        return end - self._start

    def close(self) -> None:
        self._end = _Decryptions.total


@contextmanager
def count_decryptions() -> Iterator[DecryptionCount]:
    """Count the tokens decrypted in this block::

    with count_decryptions() as decrypted:
        b"".join(client.get(url, {"format": "csv"}).streaming_content)
    assert decrypted.value == 0

    The count is process-wide (every thread's decryptions), which is what a test that
    runs one request at a time wants."""
    counted = DecryptionCount()
    try:
        yield counted
    finally:
        counted.close()


def decrypt(ciphertext: str) -> str:
    _Decryptions.total += 1
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
    """A text column holding Fernet ciphertext; Python sees a ``Secret`` (or None).

    The value is decrypted when revealed, not when the row is read. That, rather than
    deferring the columns in the default manager, is what keeps pages from decrypting: a
    manager's ``defer()`` does not reach rows loaded through ``select_related`` (every
    mirror row joins its connection for the partner's name) nor ``values()``, and a
    deferred token would cost the custody code (sync/tokens.py, sync/services.py) a
    second query each time it reads one. Reading the ciphertext is cheap; decrypting it
    is what cost. Saving still re-encrypts the plaintext under the newest key (never
    writes back the ciphertext read), so a save cannot undo ``rotate_token_keys``.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Secret | None:
        return None if value is None else Secret.stored(value)

    def to_python(self, value: Any) -> Secret | None:
        if value is None or isinstance(value, Secret):
            return value
        return Secret(str(value))

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        plaintext = value.reveal() if isinstance(value, Secret) else str(value)
        return encrypt(plaintext)
