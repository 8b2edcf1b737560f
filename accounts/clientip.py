"""The address a request came from, as far as the deployment's own proxies vouch for it.

Every per-IP limit goes through ``client_ip`` (allauth's sign-in limits via
``accounts.adapters.AccountAdapter.get_client_ip``), so "which address" is decided once,
by one setting: ``TRUSTED_PROXY_COUNT``, the number of proxies of ours in front of the app.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address.

    With no trusted proxy, REMOTE_ADDR: X-Forwarded-For is then whatever the client wrote,
    and trusting it would let anyone pick a fresh address for every failed sign-in. With N
    trusted proxies, each appends the address it saw, so the Nth entry from the right is
    the one the outermost of ours saw; entries further left were written by the client. A
    header shorter than N (a request that skipped a proxy) gives its leftmost entry, which
    one of ours still wrote; a garbled entry falls back to REMOTE_ADDR rather than failing
    the request.
    """
    remote = str(request.META.get("REMOTE_ADDR") or "")
    count: int = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if count <= 0 or not forwarded:
        return remote
    entries = [e.strip() for e in forwarded.split(",")]
    candidate = entries[-min(count, len(entries))]
    return _clean(candidate) or remote


def _clean(value: str) -> str | None:
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.7:52100"
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None
