"""The live section's helpers: speech bounds, phrases joined, real-time pacing, the barge-in rule."""

from __future__ import annotations

import numpy as np
import pytest

from bench import sec_live
from bench.runner import SECTIONS, parse_sections

RATE = sec_live.RATE


def tone(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def quiet(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), np.float32)


def test_speech_bounds_find_the_first_and_last_voiced_sample():
    start, end = sec_live.speech_bounds(np.concatenate([quiet(0.5), tone(1.0), quiet(0.7)]))
    assert start == pytest.approx(0.5, abs=0.011) and end == pytest.approx(1.5, abs=0.011)
    assert sec_live.speech_bounds(quiet(1.0)) == (0.0, 0.0)
    assert sec_live.speech_bounds(np.zeros(0, np.float32)) == (0.0, 0.0)


def test_phrases_are_trimmed_and_joined_with_the_pause():
    joined = sec_live.join_phrases([np.concatenate([quiet(0.3), tone(1.0), quiet(0.4)]), quiet(0.5),
                                    np.concatenate([tone(0.5), quiet(0.2)])], 0.35)
    assert joined.size / RATE == pytest.approx(1.0 + 0.35 + 0.5, abs=0.03)  # the silent phrase is left out
    start, end = sec_live.speech_bounds(joined)
    assert start == pytest.approx(0.0, abs=0.011) and end == pytest.approx(joined.size / RATE, abs=0.011)


def test_blocks_are_handed_over_when_a_microphone_would_have_them():
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    blocks = list(sec_live.paced_blocks(tone(0.25), 100.0, block_seconds=0.1, clock=lambda: now[0], sleep=sleep))
    assert [b.size for b in blocks] == [1600, 1600, 800]
    assert slept == pytest.approx([0.1, 0.1, 0.05])
    assert now[0] == pytest.approx(100.25)
    late = list(sec_live.paced_blocks(tone(0.2), 0.0, clock=lambda: 5.0, sleep=sleep))  # behind: no waiting
    assert len(late) == 2 and len(slept) == 3


def test_percentiles_and_verdicts():
    values = [float(v) for v in range(1, 11)]
    assert sec_live.percentile(values, 50) == pytest.approx(5.5)
    assert sec_live.percentile(values, 95) == pytest.approx(9.55)
    assert sec_live.percentile([], 50) is None
    assert sec_live.verdict(0.5, 0.8).startswith("met")
    assert "not met" in sec_live.verdict(1.9, 0.8) and "1.10 s over" in sec_live.verdict(1.9, 0.8)


def test_barge_in_by_construction_is_the_sustain_rule_plus_a_block():
    built = sec_live.barge_in_by_construction()
    assert built["windows"] == 8 and built["window"] == pytest.approx(0.032)
    assert built["sustain"] == pytest.approx(0.256) and built["most"] == pytest.approx(0.356)


def test_live_turn_parts_add_up_to_the_first_audio():
    turn = sec_live.LiveTurn(heard=1.4, text_ready=1.6, speak_started=1.7, first_audio=2.0, paused_first_audio=0.9, tiny_first_audio=0.8, short_first_audio=0.7,
                             whole_first_audio=3.0, whole_transcribe=1.2, live_text="a", whole_text="a", reference="a", voice="piper",
                             seconds=4.0)
    assert sum(turn.parts.values()) == pytest.approx(turn.first_audio)
    assert [key for key, _ in sec_live.LIVE_PARTS] == list(turn.parts)


def test_the_live_section_is_registered_after_stream():
    assert SECTIONS["live"][:2] == ("bench.sec_live", "run")
    assert parse_sections("live,stream") == ["stream", "live"]
    assert all(4 <= len(" ".join(r).split()) * 0.35 <= 10 for r in sec_live.REQUESTS)  # about 3-10 s spoken


def test_the_tables_read_the_turns():
    turns = [sec_live.LiveTurn(heard=1.4, text_ready=1.4 + 0.1 * i, speak_started=1.5 + 0.1 * i,
                               first_audio=1.8 + 0.1 * i, paused_first_audio=0.75 + 0.01 * i,
                               tiny_first_audio=0.7, short_first_audio=0.6,
                               whole_first_audio=2.8 + 0.1 * i, whole_transcribe=1.2,
                               live_text="say good morning", whole_text="say good morning",
                               reference="Say good morning.", voice="piper", seconds=3.5 + i / 10)
             for i in range(10)]
    latency = sec_live.latency_table(turns, "python -m bench --sections live")
    assert [row[0].split(",")[0] for row in latency.rows] == [
        "answered at the pause", "answered at the pause", "answered at the pause", "answered when the utterance ended", "whole recording transcribed after the "
        "utterance ended (before)"]
    assert latency.rows[0][2] == pytest.approx(0.795) and latency.rows[0][5] == "met"
    assert latency.rows[1][2] == pytest.approx(0.7) and "tiny.en" in latency.rows[1][0]
    assert latency.rows[2][2] == pytest.approx(0.6) and "end_silence_seconds = 0.5" in latency.rows[2][0]
    assert latency.rows[3][2] == pytest.approx(2.25) and latency.rows[3][5] == "not met"
    parts = sec_live.parts_table(turns, "")
    assert parts.rows[0][1] == pytest.approx(1.4) and parts.rows[4][1] == pytest.approx(0.85)
    wer = sec_live.wer_table(turns, "")
    assert wer.rows[-1][0] == "all" and wer.rows[-1][2:] == [0.0, 0.0, 0.0]
    barge = sec_live.barge_table([sec_live.BargeIn(0.31, 0.27, "piper"), sec_live.BargeIn(0.29, 0.26, "piper")], "")
    assert barge.rows[1][2] == pytest.approx(0.265) and barge.rows[2][4] == "met"
