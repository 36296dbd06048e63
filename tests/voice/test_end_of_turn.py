"""End of a spoken turn: the pause events, and the grace window that keeps a paused sentence whole."""

from __future__ import annotations

import numpy as np
import pytest

from agent.config import Settings
from agent.voice.vad import (
    END_SILENCE_SECONDS,
    GRACE_SECONDS,
    PRE_ROLL_SECONDS,
    VAD_RATE,
    UtteranceDetector,
    VoiceEvent,
)

RATE = VAD_RATE  # the stream's rate; 16 kHz keeps windows and samples aligned
CHUNK = 1_000  # samples per chunk fed (not a multiple of the VAD window, on purpose)


def scripted_scorer(window: np.ndarray) -> float:
    """A synthetic VAD: any sound is speech, digital silence is not."""
    return 1.0 if np.abs(window).max() > 0 else 0.0


def speech(seconds: float) -> np.ndarray:
    return np.full(round(seconds * RATE), 0.2, dtype=np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.float32)


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def events_of(detector: UtteranceDetector, *parts: np.ndarray) -> list[VoiceEvent]:
    data = pcm16(np.concatenate(parts))
    events: list[VoiceEvent] = []
    for start in range(0, len(data), CHUNK * 2):
        events += detector.feed_events(data[start : start + CHUNK * 2])
    return events


def live_detector(**kwargs) -> UtteranceDetector:
    return UtteranceDetector(RATE, scripted_scorer, grace_seconds=GRACE_SECONDS, **kwargs)


def test_speech_resuming_within_the_grace_window_is_the_same_utterance() -> None:
    detector = live_detector()
    gap = END_SILENCE_SECONDS + GRACE_SECONDS / 2  # past the end-of-turn silence, inside the grace
    events = events_of(detector, silence(0.5), speech(1.0), silence(gap), speech(1.0), silence(2.0))
    kinds = [e.kind for e in events]
    assert kinds == ["started", "pause", "silence", "resumed", "pause", "silence", "ended"]
    (ended,) = [e for e in events if e.kind == "ended"]
    assert ended.audio is not None
    seconds = ended.audio.size / RATE
    assert seconds == pytest.approx(PRE_ROLL_SECONDS + 1.0 + gap + 1.0 + END_SILENCE_SECONDS + GRACE_SECONDS, abs=0.07)


def test_speech_resuming_after_the_grace_window_is_a_new_utterance() -> None:
    detector = live_detector()
    gap = END_SILENCE_SECONDS + GRACE_SECONDS + 0.3
    events = events_of(detector, silence(0.5), speech(1.0), silence(gap), speech(1.0), silence(2.0))
    assert [e.kind for e in events] == ["started", "pause", "silence", "ended", "started", "pause", "silence", "ended"]
    assert not detector.speaking


def test_without_a_grace_window_the_silence_alone_ends_the_utterance() -> None:
    detector = UtteranceDetector(RATE, scripted_scorer)  # the plain detector keeps its old timing
    gap = END_SILENCE_SECONDS + GRACE_SECONDS / 2
    utterances = []
    data = pcm16(np.concatenate([silence(0.5), speech(1.0), silence(gap), speech(1.0), silence(2.0)]))
    for start in range(0, len(data), CHUNK * 2):
        utterances += detector.feed(data[start : start + CHUNK * 2])
    assert len(utterances) == 2


def test_pause_comes_at_silence_onset_with_the_utterance_so_far() -> None:
    detector = live_detector(pause_seconds=0.2)
    events = events_of(detector, silence(0.5), speech(1.0), silence(0.4))
    started, pause = events
    assert (started.kind, pause.kind) == ("started", "pause")
    assert pause.seconds - started.seconds == pytest.approx(1.0 + 0.2, abs=0.07)
    assert pause.audio is not None
    assert pause.audio.size / RATE == pytest.approx(PRE_ROLL_SECONDS + 1.0 + 0.2, abs=0.07)
    assert detector.speaking  # speculative: the utterance is not over


def test_silence_comes_when_the_end_of_turn_silence_has_passed_and_the_grace_begins() -> None:
    detector = live_detector()
    events = events_of(detector, silence(0.5), speech(1.0), silence(2.0))
    started, pause, quiet, ended = events
    assert [e.kind for e in events] == ["started", "pause", "silence", "ended"]
    assert quiet.seconds - started.seconds == pytest.approx(1.0 + END_SILENCE_SECONDS, abs=0.07)
    assert ended.seconds - quiet.seconds == pytest.approx(GRACE_SECONDS, abs=0.07)
    assert quiet.audio is None


def test_a_cough_raises_no_pause_and_no_end() -> None:
    detector = live_detector()
    events = events_of(detector, silence(0.5), speech(0.1), silence(2.0))
    assert [e.kind for e in events] == ["started"]
    assert not detector.speaking


def test_the_end_of_turn_silence_is_a_setting() -> None:
    settings = Settings(end_silence_seconds=1.5, max_audio_seconds=60)
    detector = UtteranceDetector.from_settings(RATE, settings, scripted_scorer)
    assert detector.end_silence_seconds == 1.5 and detector.grace_seconds == GRACE_SECONDS
    # 1.2 s of silence would end a turn with the default; with 1.5 s (plus grace) it does not
    events = events_of(detector, silence(0.5), speech(1.0), silence(1.2), speech(0.5), silence(2.5))
    assert [e.kind for e in events] == ["started", "pause", "resumed", "pause", "silence", "ended"]


def test_end_silence_seconds_reads_from_the_environment_and_must_be_positive(tmp_path) -> None:
    from agent.config import load_settings
    from agent.errors import ConfigError

    env = {"POLYCHAT_DATA_DIR": str(tmp_path), "POLYCHAT_END_SILENCE_SECONDS": "1.2"}
    assert load_settings(env).end_silence_seconds == 1.2
    assert load_settings({"POLYCHAT_DATA_DIR": str(tmp_path)}).end_silence_seconds == END_SILENCE_SECONDS
    with pytest.raises(ConfigError, match="^end_silence_seconds must be above 0"):
        load_settings({**env, "POLYCHAT_END_SILENCE_SECONDS": "0"})
