"""Tests for agent.sentences: the one sentence splitter that speak_text and translate_text share."""

from __future__ import annotations

import pytest

from agent.sentences import split_sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Hello there. How are you? Fine!", ["Hello there.", "How are you?", "Fine!"]),
        ("Dr. Smith arrived, e.g. at noon. He left.", ["Dr. Smith arrived, e.g. at noon.", "He left."]),
        ("It costs 3.5 euros. Cheap!", ["It costs 3.5 euros.", "Cheap!"]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("Wait... what?", ["Wait...", "what?"]),
        ("नमस्ते। आप कैसे हैं? मैं ठीक हूँ।", ["नमस्ते।", "आप कैसे हैं?", "मैं ठीक हूँ।"]),
        ("ॐ शान्तिः॥ फिर मिलेंगे।", ["ॐ शान्तिः॥", "फिर मिलेंगे।"]),
        ("你好。你好吗？我很好。", ["你好。", "你好吗？", "我很好。"]),
        ("「好。」再见！", ["「好。」", "再见！"]),
        ("no final stop", ["no final stop"]),
        ("   ", []),
    ],
)
def test_sentence_ends_in_many_scripts(text, sentences):
    assert split_sentences(text) == sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        # titles and abbreviations from English, French, Spanish and German keep the sentence going
        ("Mme. Dupont et M. Martin sont là. Bonjour.", ["Mme. Dupont et M. Martin sont là.", "Bonjour."]),
        ("Das ist z.B. gut. Ja.", ["Das ist z.B. gut.", "Ja."]),
        ("See fig. 3 (cf. page 2). Done.", ["See fig. 3 (cf. page 2).", "Done."]),
        # an initial is not a sentence end
        ("J. K. Rowling wrote it. Yes.", ["J. K. Rowling wrote it.", "Yes."]),
        # a full stop with a closing quote after an abbreviation still ends the sentence
        ('He said "etc." Then left.', ['He said "etc."', "Then left."]),
    ],
)
def test_abbreviations_and_initials_do_not_end_a_sentence(text, sentences):
    assert split_sentences(text) == sentences


def test_lines_end_sentences_and_spaces_collapse():
    assert split_sentences("First line\nsecond   line. Third\r\n\n  fourth") == [
        "First line",
        "second line.",
        "Third",
        "fourth",
    ]
