"""Cutting text into sentences: the one splitter that speech and translation share.

A sentence ends at ``. ! ? …`` followed by a space (closing quotes and brackets stay
with the sentence they close), at ``। ॥ 。 ！ ？`` (no space needed), and at the end
of a line; a full stop after a title or abbreviation ("Dr.", "e.g.", "z.B.") or an
initial ("J. Smith") does not end one.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_CLOSERS = "\"'”’»)\\]」』）》"  # closing quotes and brackets stay with the sentence they close
SENTENCE_END = re.compile(rf"[.!?…]+[{_CLOSERS}]*(?=\s)|[।॥。！？]+[{_CLOSERS}]*")
_OPENERS = "(\"'“‘«[¿¡"

ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt vs etc e.g i.e cf no fig approx ca mme mlle m sra srta z.b bzw usw".split()
)
"""Words (casefolded, without their last dot) whose full stop does not end a sentence."""


def split_after(
    text: str, pattern: re.Pattern[str], *, keep: Callable[[str, re.Match[str]], bool] | None = None
) -> list[str]:
    """Cut ``text`` after each match of ``pattern``, except where ``keep(text, match)`` is True.

    Returns:
        The parts in order, stripped, without empty ones.
    """
    parts: list[str] = []
    start = 0
    for match in pattern.finditer(text):
        if keep is not None and keep(text, match):
            continue
        parts.append(text[start : match.end()])
        start = match.end()
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def is_abbreviation(text: str, match: re.Match[str]) -> bool:
    """Whether the full stop ``match`` ends a title, abbreviation or initial rather than a sentence."""
    if match.group() != ".":
        return False
    before = text[: match.start()].rsplit(maxsplit=1)
    word = before[-1].lstrip(_OPENERS).casefold() if before else ""
    return word in ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def split_sentences(text: str) -> list[str]:
    """Cut text into sentences.

    Args:
        text: any text; each line is cut on its own.

    Returns:
        The sentences in order, whitespace inside each collapsed to single spaces; empty
        when the text is blank.
    """
    sentences: list[str] = []
    for line in text.splitlines():
        sentences.extend(split_after(" ".join(line.split()), SENTENCE_END, keep=is_abbreviation))
    return sentences
