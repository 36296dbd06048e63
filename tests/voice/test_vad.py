"""Cutting a live microphone stream into utterances (hands-free voice in the browser chat)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from agent.media import decode_audio
from agent.voice.vad import (
    END_SILENCE_SECONDS,
    PRE_ROLL_SECONDS,
    VAD_RATE,
    LoudnessScorer,
    UtteranceDetector,
    pcm16_to_float,
    resample,
)

STREAM_RATE = 24_000  # Hz, what Chainlit's browser recorder sends
CHUNK_BYTES = 8_192  # bytes of PCM16 per chunk, about what the browser sends


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def tone(seconds: float, rate: int = STREAM_RATE, loudness: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (loudness * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def silence(seconds: float, rate: int = STREAM_RATE) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.float32)


def stream(detector: UtteranceDetector, samples: np.ndarray) -> list[np.ndarray]:
    data = pcm16(samples)
    found: list[np.ndarray] = []
    for start in range(0, len(data), CHUNK_BYTES):
        found += detector.feed(data[start : start + CHUNK_BYTES])
    return found


def test_pcm16_and_resampling() -> None:
    samples = pcm16_to_float(b"\x00\x80\xff\x7f\x00\x00\x01")  # -32768, 32767, 0 and a stray byte
    assert samples.tolist() == pytest.approx([-1.0, 32767 / 32768, 0.0])
    assert resample(np.ones(24_000, dtype=np.float32), 24_000).size == 16_000
    same = np.arange(10, dtype=np.float32)
    assert np.array_equal(resample(same, VAD_RATE), same)


def test_a_pause_after_speech_ends_the_utterance() -> None:
    detector = UtteranceDetector(STREAM_RATE, LoudnessScorer())
    audio = np.concatenate([silence(1.0), tone(0.6), silence(1.5), tone(0.5), silence(1.2)])
    utterances = stream(detector, audio)
    assert len(utterances) == 2
    first, second = (u.size / STREAM_RATE for u in utterances)
    expected = PRE_ROLL_SECONDS + 0.6 + END_SILENCE_SECONDS
    assert first == pytest.approx(expected, abs=0.1)
    assert second == pytest.approx(expected - 0.1, abs=0.1)
    assert detector.heard_speech and not detector.speaking
    assert detector.flush() is None


def test_utterances_keep_the_stream_samples_untouched() -> None:
    detector = UtteranceDetector(STREAM_RATE, LoudnessScorer())
    speech = tone(0.7)
    (utterance,) = stream(detector, np.concatenate([silence(1.0), speech, silence(1.0)]))
    sent = pcm16_to_float(pcm16(speech))
    here, there = int(np.argmax(utterance != 0)), int(np.argmax(sent != 0))
    assert np.array_equal(utterance[here : here + 10_000], sent[there : there + 10_000])


def test_clicks_and_silence_are_not_utterances() -> None:
    detector = UtteranceDetector(STREAM_RATE, LoudnessScorer())
    assert stream(detector, np.concatenate([silence(1.0), tone(0.06), silence(2.0)])) == []
    assert detector.flush() is None
    quiet = UtteranceDetector(STREAM_RATE, LoudnessScorer())
    assert stream(quiet, silence(3.0)) == [] and not quiet.heard_speech


def test_stopping_mid_sentence_hands_back_what_was_said() -> None:
    detector = UtteranceDetector(STREAM_RATE, LoudnessScorer())
    assert stream(detector, np.concatenate([silence(1.0), tone(0.9)])) == []
    assert detector.speaking
    rest = detector.flush()
    assert rest is not None and rest.size / STREAM_RATE == pytest.approx(PRE_ROLL_SECONDS + 0.9, abs=0.1)
    assert not detector.speaking


def test_a_long_monologue_is_cut_at_the_limit() -> None:
    detector = UtteranceDetector(STREAM_RATE, LoudnessScorer(), max_seconds=2.0)
    utterances = stream(detector, np.concatenate([silence(0.5), tone(5.0), silence(1.0)]))
    assert len(utterances) >= 2
    assert all(u.size / STREAM_RATE <= 2.0 + PRE_ROLL_SECONDS + 0.05 for u in utterances)


def test_after_a_gap_listening_waits_for_quiet_before_the_next_sentence() -> None:
    detector = UtteranceDetector(STREAM_RATE, LoudnessScorer())
    detector.wait_for_silence()  # as after the agent answered
    tail_of_old_sentence, new_sentence = tone(0.5), tone(0.6)
    utterances = stream(detector, np.concatenate([tail_of_old_sentence, silence(0.5), new_sentence, silence(1.0)]))
    assert len(utterances) == 1
    assert utterances[0].size / STREAM_RATE == pytest.approx(PRE_ROLL_SECONDS + 0.6 + END_SILENCE_SECONDS, abs=0.1)


@pytest.mark.real_weights
def test_silero_finds_each_spoken_sentence(tmp_path: Path) -> None:
    pytest.importorskip("silero_vad", reason="silero-vad is not installed (the [vad] extra)")
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed")
    from agent.voice.vad import SileroScorer

    wav = tmp_path / "speech.wav"
    subprocess.run([espeak, "-v", "en-us", "-w", str(wav), "the quick brown fox"], check=True, capture_output=True)
    speech = resample(decode_audio(wav), VAD_RATE, STREAM_RATE)
    detector = UtteranceDetector(STREAM_RATE, SileroScorer())
    audio = np.concatenate([silence(1.0), speech, silence(1.5), speech, silence(1.5), silence(2.0) + 0.001])
    utterances = stream(detector, audio)
    assert len(utterances) == 2
    for utterance in utterances:
        seconds = utterance.size / STREAM_RATE
        assert speech.size / STREAM_RATE < seconds < speech.size / STREAM_RATE + PRE_ROLL_SECONDS + 1.2
