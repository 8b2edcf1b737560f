"""accounts.clientip: the client address as the deployment's own proxies vouch for it."""

from __future__ import annotations

import pytest
from django.test import RequestFactory, override_settings
from hypothesis import given
from hypothesis import strategies as st
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.clientip import client_ip


def _ip(forwarded: str | None, remote: str = "10.0.0.1") -> str:
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    request = RequestFactory().get("/")
    request.META.update(meta)
    return client_ip(request)


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (0, "203.0.113.5", "10.0.0.1"),  # no proxy of ours: the header is the client's
        (1, None, "10.0.0.1"),  # came past the proxy, straight in
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "6.6.6.6, 203.0.113.5", "203.0.113.5"),  # the left entry is the client's claim
        (2, "6.6.6.6, 203.0.113.5, 10.1.1.1", "203.0.113.5"),
        (2, "203.0.113.5", "203.0.113.5"),  # shorter than the chain: leftmost we have
        (1, "[2001:db8::1]:443", "2001:db8::1"),
        (1, "203.0.113.5:51000", "203.0.113.5"),
        (1, "garbage", "10.0.0.1"),
    ],
)
def test_the_client_address(
    settings: SettingsWrapper, count: int, forwarded: str | None, expected: str
) -> None:
    settings.TRUSTED_PROXY_COUNT = count
    assert _ip(forwarded) == expected


@given(forwarded=st.text(max_size=60), count=st.integers(min_value=0, max_value=4))
def test_any_header_gives_an_address_and_never_raises(forwarded: str, count: int) -> None:
    with override_settings(TRUSTED_PROXY_COUNT=count):
        address = _ip(forwarded)
    assert address == "10.0.0.1" or forwarded.strip()
    if count == 0:
        assert address == "10.0.0.1"
