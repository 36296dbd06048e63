"""A turn within its limits: message length, time, what it says aloud, the shortest recording."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import soundfile

from agent.errors import LimitError
from agent.turn.assistant import Assistant, cancel_running_turns, turn_too_long
from agent.turn.events import AudioChunk, StepProgress, TurnDone
from agent.turn.session import Session


@pytest.fixture
def session(tiny_settings, tmp_path):
    return Session(tmp_path / "sessions", tiny_settings)


def _wav(samples: np.ndarray, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_a_message_over_the_limit_is_refused_before_the_turn_starts(tiny_settings, tiny_manager, session):
    assistant = Assistant(replace(tiny_settings, max_message_chars=100), tiny_manager)
    with pytest.raises(LimitError, match=r"^The message is 101 characters long; the limit is 100 "):
        assistant.respond(session, "x" * 101)
    assert session.turns == []


def test_a_turn_past_its_time_limit_is_stopped_and_says_so(tiny_settings, tiny_manager, session):
    assistant = Assistant(replace(tiny_settings, max_turn_seconds=1.5), tiny_manager)
    reply = assistant.respond(session, "draw a castle", tool_defaults={"generate_image": {"steps": 100}})
    assert reply.cancelled
    assert reply.text.endswith(turn_too_long(1.5))
    assert "POLYCHAT_MAX_TURN_SECONDS" in reply.text
    assert session.turns[-1].cancelled and session.turns[-1].reply_text == reply.text


def test_shutting_down_stops_the_turns_in_progress(tiny_settings, tiny_manager, session):
    assistant = Assistant(tiny_settings, tiny_manager)
    stopped: list[int] = []
    replies = []
    for event in assistant.stream(session, "draw a castle", tool_defaults={"generate_image": {"steps": 100}}):
        if isinstance(event, StepProgress) and not stopped:
            stopped.append(cancel_running_turns())
        if isinstance(event, TurnDone):
            replies.append(event.reply)
    assert stopped == [1]
    assert replies[0].cancelled and session.turns[-1].cancelled
    assert cancel_running_turns() == 0  # a finished turn is no longer running


def test_a_spoken_reply_says_at_most_max_spoken_chars_and_notes_the_rest(tiny_settings, tiny_manager, session):
    text = "The first sentence is here. The second one follows it. A third one ends the note. And a fourth."
    assistant = Assistant(replace(tiny_settings, max_spoken_chars=60), tiny_manager)
    events = list(assistant.stream(session, f'say "{text}"'))
    reply = events[-1].reply
    said = [e.text for e in events if isinstance(e, AudioChunk)]
    assert said and sum(len(s) for s in said) <= 60
    assert len(reply.audio) == 1
    assert f"I said aloud only the first {sum(len(s) for s in said)} of {len(text)} characters" in reply.text
    assert "POLYCHAT_MAX_SPOKEN_CHARS" in reply.text


def test_a_recording_of_a_few_samples_is_a_sentence_not_a_transcript(tiny_settings, tiny_manager, session):
    note = session.attach(_wav(np.zeros(8, np.float32)), name="blip.wav")
    reply = Assistant(tiny_settings, tiny_manager).respond(session, "", [note])
    assert "is only 0.001 seconds long, too short to hold a word" in reply.text
    assert not reply.steps[0].ok and reply.steps[0].media_error
    assert not reply.audio  # nothing was spoken back
