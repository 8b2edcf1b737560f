"""The token in an invitation link: the invitation's id and key, signed.

The signature (Django's signing, salted for this one use) makes a link that was edited by
hand fail before the database is asked anything; the key, replaced on resend, and the
row's accepted/revoked/expiry make each link single-use. The signature carries no expiry
of its own: the row's ``expires_at`` is the one date that counts, so that resending can
give a new one.
"""

from __future__ import annotations

from django.core import signing

SALT = "onboarding.invitation"


class TokenInvalid(Exception):
    """The token was not made by us (tampered, truncated or from another site)."""


def make_token(invitation_id: int, key: str) -> str:
    return signing.dumps([invitation_id, key], salt=SALT, compress=False)


def read_token(token: str) -> tuple[int, str]:
    try:
        value = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        raise TokenInvalid from None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], int)
        or not isinstance(value[1], str)
    ):
        raise TokenInvalid
    return value[0], value[1]
