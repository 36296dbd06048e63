"""Section ``stream``: what a person waits for, read off the real turn stream.

Every number here comes from the events of ``Assistant.stream`` (what the terminal,
browser and HTTP faces read), timed as they arrive; nothing runs on a side path.

(a) A spoken voice note of about five seconds goes in as a voice turn with the packaged
    Whisper base (faster-whisper) and Piper voice. The clock starts when ``stream`` is
    called, i.e. when the voice note has ended and been handed over. *Streamed*: the
    first ``audio.chunk`` (one spoken sentence, playable now). *Whole*: ``done``, when
    ``respond`` returns and the reply's audio is complete. Both come from the same turn,
    so the ratio is paired. The events also say where the time goes: turn start,
    transcription, routing and reply text, synthesis of the first sentence.
(b) The transcription step is then taken apart on the same model and clip, called
    directly and interleaved: as the tool calls it (language detected), with the
    language given, with one beam, the encoder alone on its 30 s window, and the
    language detection alone; this says which lever would bring the first audio sooner.
(c) A conversation turn with the tiny profile's chat model: the first ``text.delta``
    of the chat reply (tokens stream) against ``done`` (the whole reply).

Warm models (one warm-up turn first, reported as the cold row), several turns, medians.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bench import corpus
from bench.common import RunConfig, packaged
from bench.measure import Stats, interleaved, stats
from bench.report import TINY_RANDOM, Section, Table, ratio

log = logging.getLogger(__name__)

TARGET_FIRST_AUDIO = 1.3  # s from the end of the voice note to the first spoken audio (the goal)
CHAT_TEXT = "Hello! How are you today?"  # conversation for the chat model (no rule routes it to a tool)
VOICE_MODELS = {"transcribe_audio": "package:whisper-base", "speak_text": "package:piper-joe"}
VOICE_BACKENDS = {"transcribe_audio": "faster-whisper", "speak_text": "piper"}

# The parts of the time to first audio, in the order they happen: (key, label).
VOICE_PARTS: tuple[tuple[str, str], ...] = (
    ("start", "turn start → transcription starts (tools bound, voice note read)"),
    ("transcribe", "transcription (`transcribe_audio` step)"),
    ("route", "routing + reply text (transcript → `speak_text` starts)"),
    ("first_sentence", "first sentence synthesized (`speak_text` start → first `audio.chunk`)"),
)


# -- reading one turn's events ----------------------------------------------------------------


def timed_events(events: Iterable[Any], started: float) -> list[tuple[float, Any]]:
    """Each event with the seconds since ``started`` at which it arrived."""
    return [(time.perf_counter() - started, event) for event in events]


@dataclass(frozen=True)
class VoiceTurn:
    """The milestones of one voice turn, in seconds from the call.

    Attributes:
        transcribe_started / transcribe_finished: when the transcription step started (its
            ``transcript`` event less the step's seconds) and finished (the ``transcript`` event).
        speak_started: the ``speak_text`` step's start event.
        first_audio: the first ``audio.chunk``.
        done: the ``done`` event (the whole reply, audio complete).
        sentences: how many ``audio.chunk`` events the reply had.
        first_sentence_audio: seconds of speech in the first chunk.
        transcript: what the voice note was heard as.
        reply: the reply's text.
    """

    transcribe_started: float
    transcribe_finished: float
    speak_started: float
    first_audio: float
    done: float
    sentences: int
    first_sentence_audio: float
    transcript: str
    reply: str

    @property
    def parts(self) -> dict[str, float]:
        """The time to first audio split into ``VOICE_PARTS``; they add up to ``first_audio``."""
        return {
            "start": self.transcribe_started,
            "transcribe": self.transcribe_finished - self.transcribe_started,
            "route": self.speak_started - self.transcribe_finished,
            "first_sentence": self.first_audio - self.speak_started,
        }

    @property
    def rest_of_speech(self) -> float:
        """From the first spoken sentence to the end of the turn (the other sentences)."""
        return self.done - self.first_audio


def voice_turn(timed: list[tuple[float, Any]]) -> VoiceTurn:
    """The milestones of one voice turn from its timed events.

    Raises:
        RuntimeError: the turn did not transcribe, speak or finish (the events say what it did).
    """
    starts: dict[str, float] = {}
    chunks: list[tuple[float, Any]] = []
    done: tuple[float, Any] | None = None
    heard: tuple[float, str] | None = None
    for seconds, event in timed:
        kind = getattr(event, "type", "")
        if kind == "step.started":
            starts.setdefault(event.tool, seconds)
        elif kind == "transcript":
            heard = (seconds, event.text)
        elif kind == "audio.chunk":
            chunks.append((seconds, event))
        elif kind == "done":
            done = (seconds, event)
    seen = [getattr(event, "type", "?") for _, event in timed]
    if done is None:
        raise RuntimeError(f"the turn never ended (events: {seen})")
    # A voice note's transcription shows as its ``transcript`` event, not as step events;
    # the step's own seconds (first in the reply's steps) say when it started.
    steps = done[1].reply.steps
    if heard is None or not steps or steps[0].tool != "transcribe_audio":
        raise RuntimeError(f"the voice note was not transcribed (events: {seen})")
    if not steps[0].ok:
        raise RuntimeError(f"transcription failed: {steps[0].error}")
    transcript = heard[1]
    if "speak_text" not in starts or not chunks:
        raise RuntimeError(f"the reply was not spoken (transcript {transcript!r}; events: {seen})")
    transcribe_finished = heard[0]
    transcribe_started = max(0.0, transcribe_finished - steps[0].seconds)
    return VoiceTurn(
        transcribe_started=transcribe_started,
        transcribe_finished=transcribe_finished,
        speak_started=starts["speak_text"],
        first_audio=chunks[0][0],
        done=done[0],
        sentences=len(chunks),
        first_sentence_audio=float(chunks[0][1].seconds),
        transcript=transcript,
        reply=done[1].reply.text,
    )


@dataclass(frozen=True)
class ChatTurn:
    """The milestones of one conversation turn, in seconds from the call.

    Attributes:
        first_text: the first ``text.delta`` after the plan (the chat reply's first piece).
        done: the ``done`` event (the whole reply).
        deltas: how many ``text.delta`` events the chat reply had.
        characters: the reply's length.
    """

    first_text: float
    done: float
    deltas: int
    characters: int


def chat_turn(timed: list[tuple[float, Any]]) -> ChatTurn:
    """The milestones of one conversation turn from its timed events.

    Raises:
        RuntimeError: the chat model did not answer (no plan for it, no text, or no end).
    """
    planned = False
    deltas = [(seconds, event) for seconds, event in timed if getattr(event, "type", "") == "text.delta"]
    done = next((seconds for seconds, event in timed if getattr(event, "type", "") == "done"), None)
    for _, event in timed:
        if getattr(event, "type", "") == "plan":
            planned = bool(event.chat) and not event.plan and not event.reply
    if not planned:
        raise RuntimeError("the turn was not routed to the chat model alone")
    if not deltas or done is None:
        raise RuntimeError("the chat model gave no text")
    from agent.turn.assistant import NO_CHAT_MODEL

    if deltas[0][1].text.startswith(NO_CHAT_MODEL):
        raise RuntimeError("there is no chat model: the reply is the list of what polychat can do")
    return ChatTurn(deltas[0][0], done, len(deltas), sum(len(event.text) for _, event in deltas))


# -- summaries --------------------------------------------------------------------------------


def target_verdict(first_audio: float, target: float = TARGET_FIRST_AUDIO) -> str:
    """Whether the median first audio meets the target, in words for the report."""
    if first_audio <= target:
        return f"met ({first_audio:.2f} s ≤ {target:.1f} s)"
    return f"**not met** ({first_audio:.2f} s > {target:.1f} s, {first_audio - target:.2f} s over)"


def voice_summary(turns: list[VoiceTurn], target: float = TARGET_FIRST_AUDIO) -> dict[str, Any]:
    """Medians and spreads of warm voice turns, the paired ratio and the target's verdict."""
    first = stats([t.first_audio for t in turns])
    whole = stats([t.done for t in turns])
    parts = {key: stats([t.parts[key] for t in turns]) for key, _ in VOICE_PARTS}
    return {
        "first_audio": first,
        "done": whole,
        "parts": parts,
        "rest_of_speech": stats([t.rest_of_speech for t in turns]),
        "gain": ratio(whole.median, first.median),
        "paired_gain": stats([ratio(t.done, t.first_audio) or 0.0 for t in turns]),
        "met": first.median <= target,
        "verdict": target_verdict(first.median, target),
    }


def voice_tables(turns: list[VoiceTurn], cold: VoiceTurn | None, *, note_seconds: float, command: str,
                 target: float = TARGET_FIRST_AUDIO) -> tuple[list[Table], dict[str, Any]]:
    """The voice tables (first audio streamed vs whole; where the time goes) and their summary."""
    summary = voice_summary(turns, target)
    first, whole = summary["first_audio"], summary["done"]
    sentences = turns[0].sentences
    latency = Table(
        f"Voice note ({note_seconds:.1f} s) in → first audio out, through `Assistant.stream`",
        ["audio ready", "models", "runs", "median (s)", "min–max (s)", f"target ≤ {target:.1f} s",
         "whole / streamed"],
        command=command,
    )
    if cold is not None:
        latency.add("streamed, cold (the first turn loads the models): first `audio.chunk`", "cold", 1,
                    cold.first_audio, None, "met" if cold.first_audio <= target else "not met", None)
        latency.add("whole, cold: `done`", "cold", 1, cold.done, None,
                    "met" if cold.done <= target else "not met", ratio(cold.done, cold.first_audio))
    latency.add(f"streamed: first `audio.chunk` (1st of {sentences} sentences)", "warm", first.n, first.median,
                first.spread(), "met" if first.median <= target else "not met", None)
    latency.add("whole: `done` (what `respond` returns, all audio made)", "warm", whole.n, whole.median,
                whole.spread(), "met" if whole.median <= target else "not met", summary["gain"])
    parts = Table(
        "Where the time to first audio goes (warm, streamed)",
        ["part", "median (s)", "min–max (s)", "share of first audio"],
        command=command,
    )
    for key, label in VOICE_PARTS:
        part = summary["parts"][key]
        parts.add(label, part.median, part.spread(), f"{(ratio(part.median, first.median) or 0):.0%}")
    parts.add("**first audio**", first.median, first.spread(), "100%")
    rest = summary["rest_of_speech"]
    parts.add(f"then the other {sentences - 1} sentences (first `audio.chunk` → `done`)", rest.median,
              rest.spread(), "—")
    parts.notes.append("Parts are read off the events of each turn (step started / finished, first audio "
                       "chunk) and add up to that turn's first audio; their medians need not add up exactly.")
    return [latency, parts], summary


@dataclass(frozen=True)
class AsrCall:
    """One way of running the transcription step's model on the voice note."""

    key: str
    label: str


ASR_CALLS: tuple[AsrCall, ...] = (
    AsrCall("tool", "as `transcribe_audio` calls it: language detected, beam 5, VAD"),
    AsrCall("language", "language given (`en`), beam 5, VAD"),
    AsrCall("language_beam1", "language given (`en`), beam 1, VAD"),
    AsrCall("detect", "language detection alone (one encoder pass + one decoder step)"),
    AsrCall("encode", "encoder alone on one 30 s window (every clip is padded to 30 s)"),
)


def asr_table(timings: dict[str, Stats], *, model: str, clip_seconds: float, first_audio: float,
              command: str, target: float = TARGET_FIRST_AUDIO) -> tuple[Table, dict[str, float]]:
    """The transcription step taken apart, and the first audio each lever would give.

    The estimate for a lever is the measured first audio less what the lever saves on
    the tool's call (both measured in this run).
    """
    tool = timings["tool"].median
    table = Table(
        f"Inside the transcription step: {model} on the {clip_seconds:.1f} s voice note, called directly",
        ["call", "runs", "median (s)", "min–max (s)", "share of the tool's call",
         "first audio if the turn did this (s)"],
        command=command,
    )
    estimates: dict[str, float] = {}
    for call in ASR_CALLS:
        found = timings.get(call.key)
        if found is None:
            continue
        estimate = None
        if call.key in ("language", "language_beam1"):
            estimate = estimates[call.key] = first_audio - (tool - found.median)
        table.add(call.label, found.n, found.median, found.spread(), f"{(ratio(found.median, tool) or 0):.0%}",
                  estimate if estimate is not None else (first_audio if call.key == "tool" else None))
    table.notes.append(
        "The same loaded model as the turn's (the model manager's), the same clip, the calls in turns. The last "
        "column is the warm streamed first audio measured above, less what the call saves on the tool's call "
        f"(target ≤ {target:.1f} s)."
    )
    return table, estimates


def chat_table(turns: list[ChatTurn], cold: ChatTurn | None, *, model: str,
               command: str) -> tuple[Table, dict[str, Any]]:
    """First chat text (streamed) vs the whole reply, and its summary."""
    first = stats([t.first_text for t in turns])
    whole = stats([t.done for t in turns])
    summary = {"first_text": first, "done": whole, "gain": ratio(whole.median, first.median),
               "deltas": turns[0].deltas, "characters": turns[0].characters}
    table = Table(
        f"A conversation turn ({CHAT_TEXT!r}) with the chat model: first text vs whole reply",
        ["chat model", "weights", "models", "runs", "first `text.delta` median (s)", "min–max (s)",
         "`done` median (s)", "min–max (s)", "whole / streamed", "text deltas", "characters"],
        command=command,
    )
    if cold is not None:
        table.add(model, TINY_RANDOM, "cold", 1, cold.first_text, None, cold.done, None,
                  ratio(cold.done, cold.first_text), cold.deltas, cold.characters)
    table.add(model, TINY_RANDOM, "warm", first.n, first.median, first.spread(), whole.median, whole.spread(),
              summary["gain"], summary["deltas"], summary["characters"])
    return table, summary


# -- measuring --------------------------------------------------------------------------------


def _run_turn(assistant: Any, session_root: Any, text: str, audio: Any = None) -> list[tuple[float, Any]]:
    """One turn in a new session; its events timed from the call."""
    from agent.turn.session import Session

    session = Session(session_root, assistant.settings)
    attachments = [session.attach(audio, kind="audio")] if audio is not None else []
    started = time.perf_counter()
    return timed_events(assistant.stream(session, text, attachments, voice=audio is not None), started)


def _asr_timings(manager: Any, settings: Any, note: corpus.Clip, runs: int) -> dict[str, Stats]:
    """The transcription step's model, called the ways ``ASR_CALLS`` lists, in turns."""
    from faster_whisper.audio import pad_or_trim

    from tools.transcribe import BEAM_SIZE, VAD_FILTER

    audio = note.samples()
    with manager.use("transcribe_audio", settings=settings) as bundle:
        model = bundle.model
        window = pad_or_trim(model.feature_extractor(audio))

        def transcribe(language: str | None, beams: int) -> str:
            segments, _ = model.transcribe(audio, language=language, task="transcribe", beam_size=beams,
                                           vad_filter=VAD_FILTER)
            return "".join(segment.text for segment in segments)

        contenders = {
            "tool": lambda: transcribe(None, BEAM_SIZE),
            "language": lambda: transcribe("en", BEAM_SIZE),
            "language_beam1": lambda: transcribe("en", 1),
            "detect": lambda: model.detect_language(features=window),
            "encode": lambda: model.encode(window),
        }
        contenders["tool"]()  # warm-up (VAD model, caches)
        timings, _ = interleaved(contenders, runs)
    return timings


def _models_note(chosen: dict[str, Any]) -> str:
    return "Models: " + "; ".join(f"{slot} = {c.backend} · {c.source}" + (f" ({c.note})" if c.note else "")
                                  for slot, c in chosen.items()) + "."


def run(config: RunConfig) -> Section:
    from agent.models.manager import ModelManager
    from agent.turn.assistant import NO_CHAT_MODEL, Assistant

    section = Section(
        "stream", "Voice and chat through the turn stream",
        "Read off the real turn stream (`Assistant.stream`, what every face reads), events timed as they arrive. "
        "A voice note goes in as a voice turn with the packaged Whisper base (faster-whisper) and Piper voice; the "
        "clock starts when the turn is called, i.e. when the voice note has ended. Streamed: the first "
        "`audio.chunk` (one spoken sentence, playable at once). Whole: `done`, when `respond` returns with all the "
        "audio. Both are taken from the same turns. Then the transcription step is taken apart on the same model, "
        "and a conversation turn with the tiny profile's chat model gives first text against whole reply. One "
        "warm-up turn first (the cold rows), then warm turns; medians with min–max.",
    )
    runs = config.runs(5, 2)
    command = config.section_command("stream")
    note = corpus.voice_note(config.work / "stream", config.settings)
    pinned = packaged("whisper-base") and packaged("piper-joe")
    settings = config.settings_for(models=VOICE_MODELS if pinned else None,
                                   backends=VOICE_BACKENDS if pinned else None)
    manager = ModelManager(settings)
    try:
        chosen = {slot: manager.choose(slot) for slot in ("transcribe_audio", "speak_text")}
        assistant = Assistant(settings, manager)
        sessions = config.work / "stream-sessions"
        cold = voice_turn(_run_turn(assistant, sessions, "", note.path))
        turns = [voice_turn(_run_turn(assistant, sessions, "", note.path)) for _ in range(runs)]
        tables, summary = voice_tables(turns, cold, note_seconds=note.seconds, command=command)
        latency = tables[0]
        latency.notes.append(_models_note(chosen))
        reply_kind = ("the list of what polychat can do, since no chat model is installed here"
                      if turns[0].reply.startswith(NO_CHAT_MODEL) else "the chat model's answer")
        latency.notes.append(
            f"The voice note ({note.voice}) says {note.text!r}; it was heard as {turns[0].transcript!r}. The spoken "
            f"reply is {reply_kind}: {turns[0].sentences} sentences, the first of them "
            f"{turns[0].first_sentence_audio:.1f} s of speech."
        )
        latency.notes.append(
            f"Streaming brings the first audio {summary['gain'] or 0:.1f}× sooner than the whole reply "
            f"({summary['done'].median:.2f} s → {summary['first_audio'].median:.2f} s; per turn "
            f"{summary['paired_gain'].median:.1f}×). Target first audio ≤ {TARGET_FIRST_AUDIO:.1f} s after the end "
            f"of the voice note: {summary['verdict']}."
        )
        section.tables += tables
        asr_runs = config.runs(5, 2)
        asr = _asr_timings(manager, settings, note, asr_runs)
        asr_model = f"{chosen['transcribe_audio'].backend} · {chosen['transcribe_audio'].source}"
        table, estimates = asr_table(asr, model=asr_model, clip_seconds=note.seconds,
                                     first_audio=summary["first_audio"].median, command=command)
        section.tables.append(table)
    finally:
        manager.close()

    transcribe = summary["parts"]["transcribe"].median
    detect_share = ratio(asr["tool"].median - asr["language"].median, asr["tool"].median) or 0.0
    section.notes.append(
        f"Transcription is {ratio(transcribe, summary['first_audio'].median) or 0:.0%} of the time to first audio. "
        f"Inside it, detecting the language costs {detect_share:.0%} of the tool's call: with no language given, "
        "faster-whisper runs the encoder on a 30 s window to detect the language, then again to transcribe. "
        f"The encoder alone takes {asr['encode'].median:.2f} s whatever the clip's length, because Whisper pads "
        f"every clip to 30 s. With the language known, the first audio would be about "
        f"{estimates.get('language', float('nan')):.2f} s ({target_verdict(estimates.get('language', float('inf')))})"
        f"; with one beam as well, about {estimates.get('language_beam1', float('nan')):.2f} s."
    )
    first_sentence = summary["parts"]["first_sentence"].median
    speed = ratio(first_sentence, turns[0].first_sentence_audio) or 0.0
    section.notes.append(
        f"The first sentence of the reply is {turns[0].first_sentence_audio:.1f} s of speech and takes "
        f"{first_sentence:.2f} s to synthesize (real-time factor {speed:.3f}); Piper's cost grows with the "
        f"sentence, so a first piece of about 2 s of speech would be ready in about {2 * speed:.2f} s."
    )
    if "language" in estimates:
        both = estimates["language"] - (first_sentence - 2 * speed)
        section.notes.append(
            f"Both levers together (language known, first piece about 2 s of speech): first audio about {both:.2f} s "
            f"({target_verdict(both)})."
        )

    chat_settings = config.settings_for("tiny")
    chat_manager = ModelManager(chat_settings)
    try:
        chat_assistant = Assistant(chat_settings, chat_manager)
        chat_model = f"{chat_manager.choose('chat').backend} · {chat_manager.choose('chat').source}"
        chat_sessions = config.work / "stream-chat-sessions"
        chat_cold = chat_turn(_run_turn(chat_assistant, chat_sessions, CHAT_TEXT))
        chats = [chat_turn(_run_turn(chat_assistant, chat_sessions, CHAT_TEXT)) for _ in range(runs)]
    finally:
        chat_manager.close()
    table, chat_summary = chat_table(chats, chat_cold, model=chat_model, command=command)
    table.notes.append(
        "The tiny profile's chat model is a tiny random model: its words are noise and it stops at the reply's token "
        "limit, so `done` measures a reply of that limit; the first text is what streaming changes. A real-size "
        "chat model pays much more for the prompt (system prompt and tool descriptions) before its first token."
    )
    section.tables.append(table)

    section.findings["stream"] = {
        "first_audio": summary["first_audio"].median,
        "whole": summary["done"].median,
        "target": TARGET_FIRST_AUDIO,
        "met": summary["met"],
        "transcribe": transcribe,
        "language_given_first_audio": estimates.get("language"),
        "asr_tool": asr["tool"].median,
        "asr_language_given": asr["language"].median,
        "chat_first_text": chat_summary["first_text"].median,
        "chat_done": chat_summary["done"].median,
    }
    return section
