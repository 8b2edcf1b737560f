"""Enumerate every URL in the URLconf with sample arguments, so access tests cover each one.

A new URL joins every access test automatically; a URL with a converter this module cannot
fill raises here, forcing whoever adds it to say how it should be exercised.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

# Sample values per converter / named group. Object URLs get an id that does not exist,
# so "who may see it" is answered before "does it exist".
SAMPLES = {
    "int": "999999",
    "str": "sample",
    "slug": "sample",
    "uuid": "00000000-0000-0000-0000-000000000000",
    "path": "sample/path",
}


@dataclass(frozen=True)
class WalkedURL:
    path: str
    name: str | None
    view: Callable[..., Any]

    @property
    def module(self) -> str:
        return getattr(self.view, "__module__", "")


def walk() -> Iterator[WalkedURL]:
    yield from _walk(get_resolver().url_patterns, "/", None)


def _walk(patterns: list[Any], prefix: str, namespace: str | None) -> Iterator[WalkedURL]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            joined = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else ns
            yield from _walk(entry.url_patterns, prefix + _fill(entry.pattern), joined)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield WalkedURL(prefix + _fill(entry.pattern), name, entry.callback)


def _fill(pattern: Any) -> str:
    text = str(pattern)
    if isinstance(pattern, RoutePattern):  # path(): <int:pk>, <slug>, ...
        return re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: SAMPLES[m.group(1) or "str"], text)
    # re_path() patterns, as the admin and allauth use.
    text = re.sub(r"\(\?P<\w+>[^)]*\)", "1", text)
    text = text.lstrip("^").rstrip("$").replace("\\Z", "").replace("\\", "")
    if any(ch in text for ch in "()[]?*+"):
        raise ValueError(f"tests/urlwalk.py cannot fill URL pattern {pattern!s}")
    return text
