"""A live stream heard as the person talks: onset, partial words, each utterance's words when it ends."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from agent.config import Settings
from agent.media import SAMPLE_RATE, decode_audio
from agent.models.catalog import packaged_present
from agent.voice.bench import word_error_rate
from agent.voice.live import EndOfTurn, Heard, LiveListener, Partial, Paused, Resumed, SpeechOnset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from speech_helpers import espeak_available, espeak_wav  # noqa: E402
from voice.test_incremental import FakeEngine, scripted_scorer, silence, speech  # noqa: E402

CHUNK = 1_600  # 0.1 s at 16 kHz


def listen(listener: LiveListener, audio: np.ndarray) -> list:
    """Feed ``audio`` in chunks, each once the one before is transcribed (a machine that keeps up)."""
    events = []
    for start in range(0, audio.size, CHUNK):
        events += listener.feed(audio[start : start + CHUNK])
        listener.settle(60)
    return events


def test_two_utterances_each_heard_with_the_words_transcribed_while_spoken() -> None:
    engine = FakeEngine()
    listener = LiveListener(Settings(), SAMPLE_RATE, engine=engine, scorer=scripted_scorer,
                            piece_scorer=lambda: scripted_scorer)
    events = listen(listener, np.concatenate([silence(0.5), speech(1.5), silence(0.5), speech(1.2), silence(2.0),
                                              speech(1.5), silence(2.0)]))
    kinds = [type(e).__name__ for e in events]
    assert kinds.count("SpeechOnset") == 2 and kinds.count("Heard") == 2
    assert kinds.index("SpeechOnset") < kinds.index("Partial") < kinds.index("Heard")
    first, second = [e for e in events if isinstance(e, Heard)]
    assert first.text(30) == "piece1. piece2." and second.text(30) == "piece3."  # only pieces, no re-transcription
    assert len(engine.calls) == 3
    assert 2.8 < first.audio.size / SAMPLE_RATE < 5.0 and first.seconds < second.seconds
    partials = [e.text for e in events if isinstance(e, Partial)]
    assert partials[0] == "piece1." and all(isinstance(e.seconds, float) for e in events if isinstance(e, SpeechOnset))


def test_a_pause_gives_the_words_so_far_then_the_end_of_turn_then_the_utterance() -> None:
    engine = FakeEngine()
    listener = LiveListener(Settings(), SAMPLE_RATE, engine=engine, scorer=scripted_scorer,
                            piece_scorer=lambda: scripted_scorer)
    events, words = [], []
    audio = np.concatenate([silence(0.5), speech(1.5), silence(2.0)])
    for start in range(0, audio.size, CHUNK):
        for event in listener.feed(audio[start : start + CHUNK]):
            events.append(event)
            if isinstance(event, Paused):  # a face starts answering here, on these words
                words.append(event.text(30))
        listener.settle(60)
    kinds = [type(e).__name__ for e in events if not isinstance(e, Partial)]
    assert kinds == ["SpeechOnset", "Paused", "EndOfTurn", "Heard"]
    paused, end, heard = [e for e in events if isinstance(e, Paused | EndOfTurn | Heard)]
    assert words == ["piece1."]
    assert end.seconds - paused.seconds == pytest.approx(Settings().end_silence_seconds - 0.2, abs=0.07)
    assert heard.text(30) == "piece1." and len(engine.calls) == 1  # the silence after the pause is not transcribed


def test_going_on_after_a_pause_resumes_the_same_utterance() -> None:
    engine = FakeEngine()
    listener = LiveListener(Settings(), SAMPLE_RATE, engine=engine, scorer=scripted_scorer,
                            piece_scorer=lambda: scripted_scorer)
    events, words = [], []
    audio = np.concatenate([silence(0.5), speech(1.5), silence(1.0), speech(1.2), silence(2.0)])  # back in the grace
    for start in range(0, audio.size, CHUNK):
        for event in listener.feed(audio[start : start + CHUNK]):
            events.append(event)
            if isinstance(event, Paused):
                words.append(event.text(30))
        listener.settle(60)
    kinds = [type(e).__name__ for e in events if not isinstance(e, Partial)]
    assert kinds == ["SpeechOnset", "Paused", "EndOfTurn", "Resumed", "Paused", "EndOfTurn", "Heard"]
    assert words == ["piece1.", "piece1. piece2."]
    (heard,) = [e for e in events if isinstance(e, Heard)]
    assert heard.text(30) == "piece1. piece2." and len(engine.calls) == 2
    assert heard.audio.size / SAMPLE_RATE > 1.5 + 1.0 + 1.2
    assert [e.seconds for e in events if isinstance(e, Resumed)][0] > [e.seconds for e in events
                                                                        if isinstance(e, EndOfTurn)][0]


def test_without_a_model_utterances_are_heard_but_not_transcribed() -> None:
    listener = LiveListener(Settings(), SAMPLE_RATE, scorer=scripted_scorer)
    events = listen(listener, np.concatenate([speech(1.0), silence(2.0)]))
    (heard,) = [e for e in events if isinstance(e, Heard)]
    assert heard.text() is None and not [e for e in events if isinstance(e, Partial)]


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
@pytest.mark.skipif(not packaged_present("whisper-base"), reason="the packaged Whisper base is not installed")
def test_real_speech_heard_live_matches_the_words_said(data_root, tmp_path) -> None:
    from agent.models.manager import ModelManager

    said = "The weather is lovely today. We should walk to the river after lunch."
    wav = espeak_wav(said, tmp_path / "said.wav")
    audio = np.concatenate([silence(0.5), decode_audio(wav), silence(2.0)])
    settings = Settings(data_dir=data_root, device="cpu")
    manager = ModelManager(settings)
    try:
        listener = LiveListener(settings, SAMPLE_RATE, models=manager, language="en",
                                model_kwargs={"model": "package:whisper-base"})
        events = listen(listener, audio)
        (heard,) = [e for e in events if isinstance(e, Heard)]
        text = heard.text(120)
    finally:
        manager.close()
    assert word_error_rate(said, text) <= 0.2, text
    assert "river" in text.lower()


def test_the_live_model_hears_only_the_languages_it_knows() -> None:
    settings = Settings(live_transcribe_model="package:whisper-tiny.en")
    english = LiveListener(settings, SAMPLE_RATE, language="en")
    assert english._hearing_model() == {"model": "package:whisper-tiny.en"}
    for language in ("fr", None):  # another language, or not known yet: the transcribe tool's model
        assert LiveListener(settings, SAMPLE_RATE, language=language)._hearing_model() == {}
    multilingual = LiveListener(Settings(live_transcribe_model="package:whisper-base"), SAMPLE_RATE, language="fr")
    assert multilingual._hearing_model() == {"model": "package:whisper-base"}
    assert LiveListener(Settings(), SAMPLE_RATE, language="en")._hearing_model() == {}  # not set: the tool's model
