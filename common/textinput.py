"""Checks every parser of outside input (CSV files, JSON bodies, forms) applies to text.

PostgreSQL cannot store NUL in text (psycopg raises DataError: a 500), JSON can carry lone
surrogates ("\\ud800") that cannot be encoded at all, and other control characters are
never part of a wine name, a SKU code or a number: they are a damaged file. Each is
refused with a message naming the field and the character, never stored or crashed on.
"""

from __future__ import annotations

import re

# C0 controls except TAB, DEL, C1 controls, and UTF-16 surrogates.
_FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")


# The same, but for line breaks: a whole file's text separates its records with them.
_FORBIDDEN_BUT_LINE_BREAKS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def forbidden_outside_line_breaks(text: str) -> bool:
    """Whether ``text`` (a whole file) holds a forbidden character other than CR and LF:
    one search that lets a parser skip checking each cell of a clean file."""
    return _FORBIDDEN_BUT_LINE_BREAKS.search(text) is not None


def forbidden_character(value: str) -> str | None:
    """``U+XXXX`` of the first character no field may hold, or None when there is none."""
    match = _FORBIDDEN.search(value)
    return None if match is None else f"U+{ord(match.group()):04X}"


def text_problem(value: str, name: str) -> str | None:
    """Why ``value`` cannot be accepted as the field ``name``, or None."""
    code = forbidden_character(value)
    if code is None:
        return None
    if code == "U+0000":
        what = "a NUL byte"
    elif "U+D800" <= code <= "U+DFFF":
        what = "a broken character"  # an unpaired surrogate: JSON can carry one
    else:
        what = "a control character"
    return f"{name} contains {what} ({code}); remove it and send the value again."


def printable(value: str) -> str:
    """``value`` with each forbidden character shown as U+FFFD, for storing and showing what
    a damaged cell held (PostgreSQL cannot store NUL)."""
    return _FORBIDDEN.sub("\ufffd", value)
