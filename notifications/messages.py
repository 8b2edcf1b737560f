"""What an e-mail of ours is made of: sections of one-line items, each with a link."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings


def absolute(path: str) -> str:
    # E-mails are built by beat, with no request to take the host from.
    return f"{settings.SITE_URL}{path}"


@dataclass(frozen=True)
class Line:
    text: str
    url: str  # absolute


@dataclass
class Section:
    title: str
    lines: list[Line] = field(default_factory=list)
