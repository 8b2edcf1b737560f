"""No page or export decrypts an OAuth token; only the code that sends one does.

Every row of the mirror belongs to a connection, and most pages join it for the partner's
name. Tokens are decrypted when revealed (sync/crypto.py), so a page that loads a thousand
invoices with their connection decrypts nothing. Here every page of ours (each URL the
URLconf has, through tests/urlwalk.py, with the real objects of tests/access_objects.py),
its htmx fragment and its CSV export, and the admin's lists, are opened by staff, an admin
and a partner user, with connections holding real encrypted tokens, and the decryptions
are counted at the one place tokens are decrypted (``sync.crypto.count_decryptions``)
while each response, streamed bodies included, is read to its end.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from sync.crypto import Secret, count_decryptions
from sync.models import QBOConnection
from sync.tokens import ConnectionTokens
from tests.access_objects import OBJECT_URLS, World, world_build
from tests.conftest import signed_in
from tests.urlwalk import WalkedURL, walk

pytestmark = pytest.mark.django_db

WHO = ("sam", "ada", "alice")
# /healthz reads no connection and pings the Celery workers for a second; it is left out.
LEFT_OUT = {"healthz"}


def _with_tokens(world: World) -> None:
    for side in world.sides:
        QBOConnection.objects.filter(pk=side.books.pk).update(
            access_token=Secret(f"access-token-of-{side.tag}"),
            access_token_expires_at=timezone.now() + timedelta(hours=1),
            refresh_token=Secret(f"refresh-token-of-{side.tag}"),
        )


def _paths(world: World) -> list[str]:
    """Every GET-able path of ours, those with parameters opened on each partner's real
    object, and the admin's pages that take none."""
    paths: list[str] = []
    for url in walk():
        if url.name in LEFT_OUT:
            continue
        if url.is_ours:
            paths.extend(_own_paths(url, world))
        elif url.route.startswith("/admin/") and not url.params:
            paths.append(url.path)
    return paths


def _own_paths(url: WalkedURL, world: World) -> list[str]:
    if not url.params:
        return [url.path]
    entry = OBJECT_URLS[url.name or ""]
    return [reverse(url.name or "", kwargs=entry.make(side)) for side in world.sides]


def _get(client: Client, path: str, **kwargs: Any) -> tuple[int, str]:
    """The decryptions of one GET, its body read to the end (an export writes its rows
    while it streams), and the response's content type."""
    with count_decryptions() as decrypted:
        response: Any = client.get(path, **kwargs)
        if response.streaming:
            b"".join(response.streaming_content)
    return decrypted.value, response.get("Content-Type", "")


@pytest.mark.parametrize("who", WHO)
def test_no_page_fragment_or_export_decrypts_a_token(who: str, cast: dict[str, User]) -> None:
    world = world_build(alice=cast["alice"], bob=cast["bob"], admin=cast["ada"])
    _with_tokens(world)
    client = signed_in(cast[who])
    paths = _paths(world)
    client.get(reverse("dashboard"))  # a session's first request may do one-off work

    decrypting: dict[str, int] = {}
    exports = 0
    for path in paths:
        for variant, kwargs in (
            ("page", {}),
            ("htmx", {"headers": {"HX-Request": "true"}}),
            ("csv", {"data": {"format": "csv"}}),
        ):
            count, content_type = _get(client, path, **kwargs)
            exports += content_type.startswith("text/csv")
            if count:
                decrypting[f"{path} ({variant})"] = count

    assert len(paths) > 30 and exports > 0  # the walk found the pages, and some exports
    assert not decrypting, f"as {who}, tokens decrypted by {decrypting}"


def test_the_count_sees_the_one_decryption_a_request_to_quickbooks_needs(
    cast: dict[str, User],
) -> None:
    # The control: tokens are real ciphertext, and revealing one is counted once however
    # often the job asks for it.
    world = world_build(alice=cast["alice"], bob=cast["bob"], admin=cast["ada"])
    _with_tokens(world)
    tokens = ConnectionTokens(world.a.books.pk)

    with count_decryptions() as decrypted:
        assert tokens.access_token() == "access-token-of-A"
        assert tokens.access_token() == "access-token-of-A"

    assert decrypted.value == 1
