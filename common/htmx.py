"""htmx requests, as the list pages answer them."""

from __future__ import annotations

from django.http import HttpRequest


def wants_fragment(request: HttpRequest) -> bool:
    """A targeted htmx request (a sort, a filter, a page link, a poll) gets the page's
    fragment; a boosted one is a navigation and gets the whole page, as a plain GET does."""
    htmx = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.boosted
