"""Ending a sentence after a name that may already end in a period ("Wines Co.")."""

from __future__ import annotations

import pytest

from common.sentences import end_sentence


@pytest.mark.parametrize(
    ("text", "ended"),
    [
        ("Une Femme Wines", "Une Femme Wines."),
        ("Une Femme Wines Co.", "Une Femme Wines Co."),
        ("Bubbles Inc!", "Bubbles Inc!"),
        ("Who?", "Who?"),
        ("and so on…", "and so on…"),
        ("Wines Co. ", "Wines Co."),
        ("", "."),
    ],
)
def test_a_sentence_ends_in_one_period_whatever_the_name_ends_in(text: str, ended: str) -> None:
    assert end_sentence(text) == ended
