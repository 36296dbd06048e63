"""What a cut-off spoken reply said, and the utterances that only ask it to stop."""

from __future__ import annotations

import pytest

from agent.voice.playback import is_stop_request, words_played


def test_whole_sentences_played_are_kept() -> None:
    sentences = [("The first one.", 1.0, 1.0), ("The second one.", 2.0, 2.0)]
    assert words_played(sentences) == "The first one. The second one."


def test_a_cut_sentence_keeps_the_share_of_words_played_and_nothing_after_it() -> None:
    sentences = [("One two.", 1.0, 1.0), ("three four five six", 2.0, 1.0), ("Never heard.", 1.0, 0.0)]
    assert words_played(sentences) == "One two. three four …"


def test_nothing_played_keeps_nothing() -> None:
    assert words_played([("Not yet.", 1.0, 0.0)]) == ""
    assert words_played([]) == ""


@pytest.mark.parametrize("said", ["stop", "Stop!", " stop it. ", "Be quiet.", "That’s enough", "SHUT UP"])
def test_stop_requests(said: str) -> None:
    assert is_stop_request(said)


@pytest.mark.parametrize("said", ["", None, "stop the music and play jazz", "what is the stop button", "go on"])
def test_other_utterances_are_questions(said: str | None) -> None:
    assert not is_stop_request(said)
