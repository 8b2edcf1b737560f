"""How a rule or a customer type names a channel, without the database: the name patterns
admins write, and the built-in channels of customer type names (docs/reports.md,
"Channels"). The selectors apply them; the services check patterns with ``NamePattern.parse``
before a rule is stored.

A name pattern is deliberately not a regular expression: an admin of a wine brand writes
words, and a regular expression written by hand against names a partner controls can take
exponential time (and fail in ways its author cannot read). Here:

- the pattern is found **anywhere** in the account's display name;
- case and accents are ignored (``cafe`` finds "Café Lulu");
- ``*`` stands for any run of characters (``wine*bar`` finds "Wine & Oyster Bar");
- ``|`` separates alternatives, any of which may match (``bistro|brasserie|trattoria``).

Matching finds each piece between the stars in turn with ``str.find``: linear in the
name's length whatever the pattern.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from common.textinput import text_problem

from .models import Channel

MAX_PATTERN = 200
WILDCARD = "*"
ALTERNATIVE = "|"


def fold(text: str) -> str:
    """``text`` as rules compare it: accents dropped, case folded, runs of spaces as one."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


class PatternError(ValueError):
    """A name pattern that cannot be used; its text is the message shown to the admin."""


@dataclass(frozen=True)
class NamePattern:
    text: str
    # Each alternative as the folded pieces between its stars, in order.
    alternatives: tuple[tuple[str, ...], ...]

    @classmethod
    def parse(cls, text: str) -> NamePattern:
        """The pattern ``text`` says, or ``PatternError`` saying what is wrong with it."""
        if problem := text_problem(text, "The pattern"):
            raise PatternError(problem)
        text = text.strip()
        if not text:
            raise PatternError("Enter some words of the account names this rule is for.")
        if len(text) > MAX_PATTERN:
            raise PatternError(f"Keep the pattern to {MAX_PATTERN} characters or fewer.")
        alternatives = []
        for number, alternative in enumerate(text.split(ALTERNATIVE), start=1):
            pieces = tuple(piece for piece in map(fold, alternative.split(WILDCARD)) if piece)
            if not alternative.strip():
                raise PatternError(
                    f"Alternative {number} of the pattern is empty: remove the extra “|”."
                )
            if not pieces:
                # "*" alone would match every account and leave nothing to the rules after
                # it or to the customer types; a catch-all is better said by none at all.
                raise PatternError(
                    f"Alternative {number} (“{alternative.strip()}”) is only “*” and would "
                    "match every account: give some words of the names it is for."
                )
            alternatives.append(pieces)
        return cls(text=text, alternatives=tuple(alternatives))

    def matches(self, folded_name: str) -> bool:
        """Whether the pattern finds ``folded_name`` (already passed through ``fold``)."""
        for pieces in self.alternatives:
            at = 0
            for piece in pieces:
                found = folded_name.find(piece, at)
                if found < 0:
                    break
                at = found + len(piece)
            else:
                return True
        return False


# The built-in channel of a customer type's name, used when no override and no rule of the
# partner decides (docs/reports.md, "Channels": keep the two in step). Whole words of the
# folded name; on-premise words are looked for first, so "Wine bar" is on-premise while
# "Wine shop" is off-premise. A name with none of these words says nothing: "other".
# fmt: off
TYPE_WORDS: tuple[tuple[Channel, tuple[str, ...]], ...] = (
    (
        Channel.ON_PREMISE,
        (
            "restaurant", "restaurants", "bar", "bars", "wine bar", "hotel", "hotels", "pub",
            "pubs", "club", "clubs", "cafe", "cafes", "bistro", "brasserie", "tavern", "inn",
            "lounge", "trattoria", "pizzeria", "grill", "diner", "caterer", "catering",
            "hospitality", "on-premise", "on premise", "on-trade", "horeca",
        ),
    ),
    (
        Channel.OFF_PREMISE,
        (
            "wine shop", "bottle shop", "shop", "shops", "liquor", "liquor store", "grocery",
            "groceries", "grocer", "market", "supermarket", "store", "stores", "retail",
            "retailer", "off-premise", "off premise", "off-trade", "package store", "deli",
            "convenience",
        ),
    ),
)
# fmt: on
_TYPE_PATTERNS = tuple(
    (channel, re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b"))
    for channel, words in TYPE_WORDS
)


def channel_of_type(type_name: str) -> Channel | None:
    """The built-in channel of a customer type named ``type_name``, None if it says none."""
    folded = fold(type_name)
    for channel, pattern in _TYPE_PATTERNS:
        if pattern.search(folded):
            return channel
    return None
