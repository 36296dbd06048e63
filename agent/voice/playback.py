"""Barge-in: when speech over a reply cuts it off, what the cut reply said, and requests to stop it.

Both faces that talk (the browser, ``polychat talk``) play a reply sentence by sentence
and may be interrupted; the history should then hold the words that reached the
person, not the ones they stopped. :func:`words_played` works that out from each
sentence's text and how many of its seconds played; :func:`is_stop_request` tells an
utterance that only asks to be quiet ("stop", "be quiet") from a new question.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

# The barge-in rule both faces that talk follow (the browser, ``polychat talk``):
BARGE_IN_SECONDS = 0.25  # speech sustained this long over a reply interrupts it
ECHO_DEAF_SECONDS = 0.3  # after a reply starts playing, nothing interrupts it for this long (its echo is measured)
ECHO_MARGIN = 2.0  # interrupting speech is at least this many times louder than the reply's echo

STOP_PHRASES = frozenset(
    {
        "stop", "stop it", "stop that", "stop talking", "stop please", "please stop", "okay stop", "ok stop",
        "be quiet", "quiet", "quiet please", "shut up", "hush", "enough", "that's enough", "thats enough",
        "silence", "cancel", "never mind", "nevermind",
    }
)
"""Whole utterances that ask a reply to stop (lowercase, without punctuation)."""


def words_played(sentences: Iterable[tuple[str, float, float]]) -> str:
    """The words that were played: whole sentences, and the played share of a cut one.

    Args:
        sentences: ``(text, seconds long, seconds played)`` for each sentence, in order.

    Returns:
        The played sentences joined; a sentence cut part-way keeps the share of its words
        that played (rounded up) and ends with `` …``; nothing after it counts.
    """
    words: list[str] = []
    for text, seconds, played in sentences:
        if played <= 0:
            break
        if played >= seconds:
            words.append(text.strip())
            continue
        parts = text.split()
        kept = parts[: math.ceil(len(parts) * played / seconds)]
        words.append(" ".join(kept) + " …")
        break
    return " ".join(w for w in words if w)


def is_stop_request(text: str | None) -> bool:
    """Whether an utterance only asks the reply to stop ("Stop!", "Be quiet.", "stop it")."""
    said = re.sub(r"[^\w\s']", " ", (text or "").lower().replace("\u2019", "'"))
    said = " ".join(said.split())
    return said in STOP_PHRASES
