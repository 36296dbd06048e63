"""A turn as a stream: events in the order they happen, and stopping a turn part way."""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest
import soundfile
from langchain_core.messages import AIMessage
from PIL import Image, ImageDraw, ImageFont

from agent.turn.assistant import Assistant
from agent.turn.events import AudioChunk, StepFinished, StepProgress, StepStarted, TextDelta, TurnDone
from agent.turn.session import Session
from chat_fakes import StreamingFakeChatModel

SMALL = {"width": 64, "height": 64}  # px: quick pictures on a CPU


def kinds(events) -> list[str]:
    """Event types in order, runs of the same type folded into one (``text.delta`` x3 -> one)."""
    folded: list[str] = []
    for event in events:
        if not folded or folded[-1] != event.type:
            folded.append(event.type)
    return folded


def the_reply(events):
    assert isinstance(events[-1], TurnDone), [e.type for e in events]
    return events[-1].reply


@pytest.fixture
def session(tiny_settings, tmp_path):
    return Session(tmp_path / "sessions", tiny_settings)


def test_every_event_has_a_type_and_json_and_done_is_the_reply(tiny_settings, tiny_manager, session):
    events = list(Assistant(tiny_settings, tiny_manager).stream(session, "translate 'good morning' to French"))
    assert [e.type for e in events][:3] == ["plan", "step.started", "step.progress"] or \
        [e.type for e in events][:2] == ["plan", "step.started"]
    for event in events:
        shape = json.loads(json.dumps(event.to_json()))
        assert shape["type"] == event.type
    reply = the_reply(events)
    assert events[-1].to_json()["reply"] == reply.to_json()
    assert reply.text == "".join(e.text for e in events if isinstance(e, TextDelta))
    assert reply.text and not reply.cancelled
    assert session.turns[-1].reply_text == reply.text


@pytest.mark.real_weights
def test_a_chain_streams_each_step_as_it_runs(tiny_settings, tiny_manager, tmp_path):
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract is not installed (apt-get install tesseract-ocr)")
    settings = tiny_settings.with_overrides(backends={"read_image_text": "tesseract"})
    session = Session(tmp_path / "chain", settings)
    page = Image.new("RGB", (700, 100), "white")
    ImageDraw.Draw(page).text((20, 25), "The train leaves at noon.", fill="black", font=ImageFont.load_default(size=36))
    path = tmp_path / "note.png"
    page.save(path)
    image = session.attach(path, kind="image")

    events = list(Assistant(settings, tiny_manager).stream(
        session, "translate the text in this image to French and read it aloud", [image]))

    started = [(e.step, e.tool) for e in events if isinstance(e, StepStarted)]
    assert started == [(1, "read_image_text"), (2, "translate_text"), (3, "speak_text")]
    order = [e.type for e in events]
    first_finish = order.index("step.finished")
    assert order[0] == "plan" and order[1] == "step.started"
    # the OCR text is in the reply before the translation starts
    assert "text.delta" in order[first_finish:order.index("step.started", first_finish)]
    ocr_text = next(e for e in events if isinstance(e, TextDelta)).text
    assert "train" in ocr_text.lower() and "noon" in ocr_text.lower()
    chunks = [e for e in events if isinstance(e, AudioChunk)]
    assert chunks and all(c.step == 3 for c in chunks)
    assert order.index("audio.chunk") < max(i for i, t in enumerate(order) if t == "step.finished")
    assert kinds(events)[-2:] == ["step.finished", "done"]
    reply = the_reply(events)
    assert [s["tool"] for s in reply.plan] == ["read_image_text", "translate_text", "speak_text"]
    assert reply.plan[1]["args"]["text"] == "$1.text"  # as routed: the log numbers steps within the turn


@pytest.mark.real_weights
def test_a_voice_note_streams_its_transcript_first(tiny_settings, tiny_manager, tmp_path):
    from speech_helpers import espeak_wav

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    settings = tiny_settings.with_overrides(models={"transcribe_audio": "package:whisper-base"})
    session = Session(tmp_path / "voice", settings)
    note = session.attach(espeak_wav("Please say good morning to everyone.", tmp_path / "note.wav"), kind="audio")

    events = list(Assistant(settings, tiny_manager).stream(session, "", [note], voice=True))

    assert events[0].type == "transcript"
    assert "good morning" in events[0].text.lower()
    assert events[1].type == "plan"
    assert events[1].plan[0]["tool"] == "speak_text"
    assert not any(isinstance(e, StepStarted) and e.tool == "transcribe_audio" for e in events)
    assert any(isinstance(e, AudioChunk) for e in events)
    reply = the_reply(events)
    assert reply.transcript == events[0].text and reply.user_text == events[0].text
    assert [s["tool"] for s in reply.plan] == ["transcribe_audio", "speak_text"]


def test_a_chat_model_turn_streams_tokens_and_runs_the_tools_it_asks_for(tiny_settings, tiny_manager, session):
    call = {"name": "generate_image", "args": {"prompt": "a red kite", "steps": 2, **SMALL},
            "id": "call_1", "type": "tool_call"}
    model = StreamingFakeChatModel(messages=iter([
        AIMessage("Let me draw that for you.", tool_calls=[call]),
        AIMessage("Here is your red kite over the sea."),
    ]))
    model.seen = []
    events = list(Assistant(tiny_settings, tiny_manager, chat_model=model).stream(session, "hello, how are you today?"))

    assert kinds(events) == [
        "plan", "text.delta", "step.started", "step.progress", "step.finished", "text.delta", "done",
    ]
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 6  # word by word, not the whole answer at once
    reply = the_reply(events)
    assert reply.text.startswith("Let me draw that for you.")
    assert reply.text.endswith("Here is your red kite over the sea.")
    assert reply.text == "".join(deltas)
    assert [s["tool"] for s in reply.plan] == ["generate_image"] and reply.images
    assert events[0].plan == []  # the routed plan is the router's: the model's calls are in the log only
    tool_messages = [m for m in model.seen[-1] if m.type == "tool"]
    assert tool_messages and tool_messages[0].tool_call_id == "call_1"


def test_a_failing_step_is_an_error_event_and_independent_steps_still_run(tiny_settings, tiny_manager, tmp_path):
    settings = tiny_settings.with_overrides(models={"caption_image": str(tmp_path / "no-such-model")})
    session = Session(tmp_path / "fail", settings)
    image = session.attach(_png(tmp_path), kind="image")
    events = list(Assistant(settings, tiny_manager).stream(
        session, "describe this image and translate 'good morning' to French", [image]))

    finished = [e for e in events if isinstance(e, StepFinished)]
    assert [(e.tool, e.ok) for e in finished] == [("caption_image", False), ("translate_text", True)]
    error = finished[0].to_json()
    assert error["ok"] is False and "no-such-model" in error["error"]
    reply = the_reply(events)
    assert finished[0].outcome.error in reply.text and finished[1].text in reply.text


def _png(tmp_path, colour="red"):
    path = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), colour).save(path)
    return path


# -- stopping a turn -------------------------------------------------------------------


def test_a_turn_stopped_during_image_generation_ends_within_a_few_steps(tiny_settings, tiny_manager, session):
    cancel = threading.Event()
    assistant = Assistant(tiny_settings, tiny_manager)
    stream = assistant.stream(session, "draw a lighthouse at night", cancel=cancel,
                              tool_defaults={"generate_image": {"steps": 100, **SMALL}})
    events = []
    for event in stream:
        events.append(event)
        if isinstance(event, StepProgress) and event.done >= 2:
            cancel.set()

    reported = [e.done for e in events if isinstance(e, StepProgress)]
    assert reported and max(reported) < 10  # stopped within a few of its 100 steps
    finished = [e for e in events if isinstance(e, StepFinished)]
    assert len(finished) == 1 and not finished[0].ok and finished[0].outcome.cancelled
    reply = the_reply(events)
    assert reply.cancelled and reply.to_json()["cancelled"] is True
    assert not reply.images
    assert [a for a in session.artifacts.all() if a.kind == "image"] == []  # nothing half-written
    assert sorted(p.name for p in session.folder.iterdir() if p.suffix == ".png") == []
    record = json.loads(session.history_path.read_text())["turns"][-1]
    assert record["cancelled"] is True
    assert Session(session.folder.parent, tiny_settings, session.id).turns[-1].cancelled


def test_a_spoken_reply_stopped_keeps_only_the_sentences_spoken(tiny_settings, tiny_manager, session):
    cancel = threading.Event()
    text = "The first sentence is here. The second one follows. The third is longer still. And a fourth."
    stream = Assistant(tiny_settings, tiny_manager).stream(session, f'say "{text}"', cancel=cancel)
    events = []
    for event in stream:
        events.append(event)
        if isinstance(event, AudioChunk):
            cancel.set()  # the person interrupts after the first sentence

    chunks = [e for e in events if isinstance(e, AudioChunk)]
    assert [c.text for c in chunks] == ["The first sentence is here."]
    reply = the_reply(events)
    assert reply.cancelled and len(reply.audio) == 1
    kept, rate = soundfile.read(reply.audio[0].path, dtype="float32")
    heard = np.concatenate([c.samples for c in chunks])
    assert rate == chunks[0].sample_rate
    assert kept.size == heard.size  # only what was played is kept
    assert session.turns[-1].cancelled
    assert session.turns[-1].artifacts == [reply.audio[0].id]


def test_leaving_the_stream_early_stops_the_turn_and_records_it(tiny_settings, tiny_manager, session):
    stream = Assistant(tiny_settings, tiny_manager).stream(
        session, "draw a castle", tool_defaults={"generate_image": {"steps": 100, **SMALL}})
    for event in stream:
        if isinstance(event, StepProgress):
            break  # e.g. the browser tab was closed
    stream.close()
    assert session.turns and session.turns[-1].cancelled
    assert not [a for a in session.artifacts.all() if a.kind == "image"]


def test_respond_is_the_stream_collected(tiny_settings, tiny_manager, tmp_path):
    first = Session(tmp_path / "a", tiny_settings)
    second = Session(tmp_path / "b", tiny_settings)
    assistant = Assistant(tiny_settings, tiny_manager)
    seen: list[tuple[str, int, int]] = []
    reply = assistant.respond(first, "translate 'good night' to French", progress=lambda *a: seen.append(a))
    streamed = the_reply(list(assistant.stream(second, "translate 'good night' to French")))
    assert reply.text == streamed.text and reply.plan == streamed.plan
    assert seen and seen[-1][1] == seen[-1][2]


def test_the_local_chat_model_streams_tokens_and_stops_when_asked(tiny_settings, tiny_manager, tmp_path):
    """The tiny profile's chat model is a real (tiny, random) transformers model run by LocalChatModel."""
    assistant = Assistant(tiny_settings, tiny_manager)
    whole_events = list(assistant.stream(Session(tmp_path / "a", tiny_settings), "tell me a story about a fox"))
    whole = the_reply(whole_events)
    whole_deltas = [e for e in whole_events if isinstance(e, TextDelta)]
    assert whole.text and not whole.cancelled and len(whole_deltas) > 40

    cancel = threading.Event()
    session = Session(tmp_path / "b", tiny_settings)
    events = []
    for event in assistant.stream(session, "tell me a story about a fox", cancel=cancel):
        events.append(event)
        if sum(isinstance(e, TextDelta) for e in events) == 3:
            cancel.set()
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    reply = the_reply(events)
    # Generation stops at the next token; the few already on their way when the reader
    # stopped (the reader and the model run in different threads) are the only ones after it.
    assert 3 <= len(deltas) < len(whole_deltas) // 4
    assert reply.cancelled and reply.text == "".join(deltas)
    assert whole.text.startswith(reply.text)  # the same words, cut where the person stopped
    assert session.turns[-1].reply_text == reply.text and session.turns[-1].cancelled


def test_astream_gives_the_same_events_to_asyncio_code_and_a_reader_that_leaves_stops_the_turn(
    tiny_settings, tiny_manager, tmp_path
):
    import asyncio

    assistant = Assistant(tiny_settings, tiny_manager)

    async def read_all(session):
        return [event async for event in assistant.astream(session, "translate 'good night' to French")]

    async def leave_early(session):
        events = assistant.astream(session, "draw a castle", tool_defaults={"generate_image": {"steps": 100, **SMALL}})
        async for event in events:
            if isinstance(event, StepProgress):
                break  # e.g. the browser tab closed
        await events.aclose()

    whole = asyncio.run(read_all(Session(tmp_path / "a", tiny_settings)))
    assert whole[0].type == "plan" and the_reply(whole).text == "".join(e.text for e in whole if e.type == "text.delta")

    session = Session(tmp_path / "b", tiny_settings)
    asyncio.run(leave_early(session))
    for _ in range(600):  # the turn finishes in its own thread; wait for its record (no timing asserted)
        if session.turns:
            break
        threading.Event().wait(0.1)
    assert session.turns and session.turns[-1].cancelled
    assert not [a for a in session.artifacts.all() if a.kind == "image"]
