"""Enumerate every URL in the URLconf, so access tests cover each one.

A new URL joins every access test automatically. Each URL comes with its route (the
pattern as written, e.g. ``/billing/invoices/<int:pk>/``), the names of its parameters,
and a path filled with sample values. The samples are ids that do not exist: they serve
the Django admin's and allauth's URLs, which keep their own checks. Our own URLs with
parameters are opened with real objects instead (tests/access_objects.py). A URL with a
converter this module cannot fill raises here, forcing whoever adds it to say how it
should be exercised.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from accounts.middleware import OWN_VIEW_MODULES

# Sample values per converter / named group, for URLs without real objects.
SAMPLES = {
    "int": "999999",
    "str": "sample",
    "slug": "sample",
    "uuid": "00000000-0000-0000-0000-000000000000",
    "path": "sample/path",
}

_ROUTE_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
_REGEX_PARAM = re.compile(r"\(\?P<(\w+)>[^)]*\)")


@dataclass(frozen=True)
class WalkedURL:
    path: str  # with sample values in place of parameters
    route: str  # as written in the URLconf, parameters included
    name: str | None  # namespaced, e.g. "billing:invoice"
    params: tuple[str, ...]  # the keyword arguments reverse() needs
    view: Callable[..., Any]

    @property
    def module(self) -> str:
        return getattr(self.view, "__module__", "")

    @property
    def is_ours(self) -> bool:
        return self.module.startswith(OWN_VIEW_MODULES)

    def __str__(self) -> str:
        return f"{self.route} ({self.name or 'unnamed'})"


def walk() -> Iterator[WalkedURL]:
    yield from _walk(get_resolver().url_patterns, "/", "/", (), None)


def _walk(
    patterns: list[Any], prefix: str, route: str, params: tuple[str, ...], namespace: str | None
) -> Iterator[WalkedURL]:
    for entry in patterns:
        here = (prefix + _fill(entry.pattern), route + _route(entry.pattern))
        names = params + _params(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            joined = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else ns
            yield from _walk(entry.url_patterns, *here, names, joined)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield WalkedURL(*here, name, names, entry.callback)


def _params(pattern: Any) -> tuple[str, ...]:
    if isinstance(pattern, RoutePattern):
        return tuple(m.group(2) for m in _ROUTE_PARAM.finditer(str(pattern)))
    return tuple(_REGEX_PARAM.findall(str(pattern)))


def _route(pattern: Any) -> str:
    text = str(pattern)
    if isinstance(pattern, RoutePattern):
        return text
    return text.lstrip("^").rstrip("$").replace("\\Z", "")


def _fill(pattern: Any) -> str:
    text = str(pattern)
    if isinstance(pattern, RoutePattern):  # path(): <int:pk>, <slug>, ...
        return _ROUTE_PARAM.sub(lambda m: SAMPLES[m.group(1) or "str"], text)
    # re_path() patterns, as the admin and allauth use.
    text = _REGEX_PARAM.sub("1", text)
    text = text.lstrip("^").rstrip("$").replace("\\Z", "").replace("\\", "")
    if any(ch in text for ch in "()[]?*+"):
        raise ValueError(f"tests/urlwalk.py cannot fill URL pattern {pattern!s}")
    return text
