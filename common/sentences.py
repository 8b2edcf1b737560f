"""Words around names that come from QuickBooks or people, which may carry their own
punctuation: "Une Femme Wines Co." must not end a sentence as "Co.."."""

from __future__ import annotations

TERMINAL = (".", "!", "?", "…")


def end_sentence(text: str) -> str:
    """``text`` ended with a period, unless it already ends in terminal punctuation.

    For a message that closes a sentence on a name: ``f"Connected to {end_sentence(name)}
    The first import…"``.
    """
    text = text.rstrip()
    return text if text.endswith(TERMINAL) else f"{text}."
