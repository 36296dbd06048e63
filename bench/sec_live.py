"""Section ``live``: a live voice conversation, timed from the person's side.

Speech goes in at the pace it is spoken (blocks of 0.1 s handed over when a microphone
would deliver them, on the wall clock), so the end-of-turn silence and the transcription
done while the person speaks both count as they would in ``polychat talk``.

(a) End of speech → first reply audio, three ways, for each utterance (a spoken "say ..."
    request, 3–10 s, two phrases with a natural pause between them, then silence):
    ``polychat talk``'s own loop (microphone mode, the real assistant, stand-in speakers)
    answers at the pause and plays as the end-of-turn silence ends; a
    :class:`~agent.voice.live.LiveListener` (the packaged Whisper base through
    faster-whisper, Silero VAD, the end-of-turn silence and grace window) whose turn
    starts when the utterance has ended, with the words heard while they were spoken
    (``Assistant.stream(..., transcript=heard.text())``); and the whole-recording path
    (how voice turns ran before: the turn transcribes the WAV after the utterance ended),
    started at the same moment. Each is timed from the last speech sample to the first
    reply audio. The router answers "say ..." without a chat model, and Piper speaks it.
(b) Speech over a reply → playback stopped, in ``polychat talk``'s own code (its
    :class:`~agent.cli.talk.Talk` loop, onset watch and barge-in rule, microphone mode;
    the assistant and speakers are stand-ins that play a long reply and note when they
    are told to stop): from the first speech sample to ``speakers.stop()``.
(c) Word error rate of the words heard while spoken against the one-shot transcript of
    the same recording (and both against what was said).
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from bench import corpus, measure
from bench.common import RunConfig, packaged
from bench.report import Section, Table, cpu_features, cpu_model, load_average

log = logging.getLogger(__name__)

TARGET_FIRST_AUDIO = 0.8  # s from the last speech sample to the first reply audio (the target)
TARGET_BARGE_IN = 0.3  # s from speech onset over a reply to playback stopped
BLOCK_SECONDS = 0.1  # what a microphone hands over at a time (as polychat talk reads it)
LEAD_SECONDS = 0.5  # silence before each utterance
PHRASE_PAUSE_SECONDS = 0.35  # the natural pause between an utterance's two phrases
LIVE_MODEL = "package:whisper-tiny.en"  # a faster model for live speech (the live_transcribe_model setting)
SHORT_SILENCE_SECONDS = 0.5  # a shorter end-of-turn silence (the end_silence_seconds setting), for comparison
TAIL_SECONDS = 2.0  # silence after each utterance (more than the end-of-turn silence + grace)
VOICE_MODELS = {"transcribe_audio": "package:whisper-base", "speak_text": "package:piper-joe"}
VOICE_BACKENDS = {"transcribe_audio": "faster-whisper", "speak_text": "piper"}
RATE = 16_000

# Requests the router answers without a chat model ("say ..."): two phrases each.
REQUESTS: tuple[tuple[str, str], ...] = (
    ("Say the weather is lovely today,", "so we are going for a walk in the park."),
    ("Please say remind me to call my sister,", "right after dinner tonight."),
    ("Say the train to the city leaves from the main station,", "every hour of the day."),
    ("Say I like to read books about history,", "and about old ships and their sailors."),
    ("Say good morning to everybody in the room,", "and thank you all for coming."),
    ("Please say the picture shows a red house,", "under a clear blue sky."),
)
BARGE_PHRASES: tuple[str, ...] = (
    "Wait, stop for a moment please.",
    "Actually, say thank you instead.",
    "No, that is not what I asked.",
)


# -- inputs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Utterance:
    """One spoken request: its samples (16 kHz) and where its speech ends.

    Attributes:
        samples: the utterance, without the lead or tail silence.
        text: what is said.
        voice: the synthesizer (``espeak-ng`` or ``piper``).
        speech_start / speech_end: seconds into ``samples`` of the first and last voiced sample.
    """

    samples: np.ndarray = field(repr=False)
    text: str
    voice: str
    speech_start: float
    speech_end: float

    @property
    def seconds(self) -> float:
        return self.samples.size / RATE


def speech_bounds(samples: np.ndarray, rate: int = RATE, *, threshold: float = 0.01,
                  frame_seconds: float = 0.01) -> tuple[float, float]:
    """Seconds of the first and last frame louder than ``threshold`` (RMS); (0, 0) for silence."""
    frame = max(1, round(frame_seconds * rate))
    count = samples.size // frame
    if count == 0:
        return 0.0, 0.0
    frames = samples[: count * frame].reshape(count, frame).astype(np.float64)
    loud = np.flatnonzero(np.sqrt(np.mean(frames**2, axis=1)) > threshold)
    if loud.size == 0:
        return 0.0, 0.0
    return loud[0] * frame / rate, (loud[-1] + 1) * frame / rate


def join_phrases(phrases: list[np.ndarray], pause_seconds: float, rate: int = RATE) -> np.ndarray:
    """The phrases one after another, each trimmed to its speech, with a pause between them."""
    pause = np.zeros(round(pause_seconds * rate), dtype=np.float32)
    pieces: list[np.ndarray] = []
    for index, phrase in enumerate(phrases):
        start, end = speech_bounds(phrase, rate)
        if end <= start:
            continue
        if pieces:
            pieces.append(pause)
        pieces.append(np.asarray(phrase[round(start * rate) : round(end * rate)], dtype=np.float32))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)


def make_utterances(folder: Path, settings: Any, count: int) -> list[Utterance]:
    """``count`` spoken requests, alternating Piper and espeak-ng (whichever are installed)."""
    folder.mkdir(parents=True, exist_ok=True)
    speakers: list[tuple[str, Callable[[str, Path], corpus.Clip]]] = []
    if corpus.piper_available():
        piper = corpus.PiperSpeaker(settings)
        speakers.append(("piper", piper.clip))
    if corpus.espeak_available():
        speakers.append(("espeak-ng", corpus.espeak_clip))
    if not speakers:
        raise RuntimeError("no speech synthesizer: install espeak-ng or the [offline] extra for Piper")
    made: list[Utterance] = []
    for index in range(count):
        voice, say = speakers[index % len(speakers)]
        phrases = REQUESTS[(index // len(speakers)) % len(REQUESTS)]
        clips = [say(text, folder / f"{voice}-{index}-{part}.wav") for part, text in enumerate(phrases)]
        samples = join_phrases([clip.samples() for clip in clips], PHRASE_PAUSE_SECONDS)
        start, end = speech_bounds(samples)
        made.append(Utterance(samples, " ".join(phrases), voice, start, end))
    return made


def paced_blocks(samples: np.ndarray, started: float, *, block_seconds: float = BLOCK_SECONDS,
                 rate: int = RATE, clock: Callable[[], float] = time.perf_counter,
                 sleep: Callable[[float], None] = time.sleep) -> Iterator[np.ndarray]:
    """The samples in blocks, each handed over when a microphone started at ``started`` would have it."""
    step = max(1, round(block_seconds * rate))
    for start in range(0, samples.size, step):
        end = min(samples.size, start + step)
        wait = started + end / rate - clock()
        if wait > 0:
            sleep(wait)
        yield samples[start:end]


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100, linear interpolation), None without values (a table's empty cell)."""
    return measure.percentile(values, q / 100) if values else None


def barge_in_by_construction(block_seconds: float = BLOCK_SECONDS) -> dict[str, float]:
    """The barge-in delay the rules build in: the sustain rule in VAD windows, plus at most one block."""
    from agent.voice.playback import BARGE_IN_SECONDS
    from agent.voice.vad import WINDOW

    window = WINDOW / RATE
    needed = max(1, int(np.ceil(BARGE_IN_SECONDS / window - 1e-9)))
    return {"window": window, "windows": needed, "sustain": needed * window, "block": block_seconds,
            "most": needed * window + block_seconds}


# -- (a) end of speech → first audio --------------------------------------------------------------


@dataclass(frozen=True)
class LiveTurn:
    """One utterance heard live and answered, timed from its last speech sample (seconds).

    Attributes:
        heard: the listener said the utterance ended (end-of-turn silence + grace + VAD).
        text_ready: its words were ready (only the tail was left to transcribe).
        speak_started: the turn's ``speak_text`` step started (turn start + routing).
        first_audio: the first ``audio.chunk``.
        paused_first_audio: the first reply audio played by ``polychat talk``'s loop, which
            answers at the pause and plays as the end-of-turn silence ends.
        tiny_first_audio: the same with :data:`LIVE_MODEL` hearing the speech live.
        short_first_audio: the same again with the end-of-turn silence set to :data:`SHORT_SILENCE_SECONDS`.
        whole_first_audio: the same, on the whole-recording path started when ``heard`` was.
        whole_transcribe: that path's transcription step.
        live_text / whole_text: what each path heard.
        reference: what was said.
    """

    heard: float
    text_ready: float
    speak_started: float
    first_audio: float
    paused_first_audio: float
    tiny_first_audio: float
    short_first_audio: float
    whole_first_audio: float
    whole_transcribe: float
    live_text: str
    whole_text: str
    reference: str
    voice: str
    seconds: float

    @property
    def parts(self) -> dict[str, float]:
        return {
            "silence": self.heard,
            "tail": self.text_ready - self.heard,
            "route": self.speak_started - self.text_ready,
            "first_sentence": self.first_audio - self.speak_started,
        }


LIVE_PARTS: tuple[tuple[str, str], ...] = (
    ("silence", "end-of-turn silence + grace window, as heard (last speech sample → utterance ended)"),
    ("tail", "tail transcription (utterance ended → `heard.text()` returns)"),
    ("route", "turn start + routing (→ `speak_text` starts)"),
    ("first_sentence", "first sentence synthesized (→ first `audio.chunk`)"),
)


def _first_audio(assistant: Any, session: Any, note: Any, transcript: str | None,
                 started: float) -> tuple[dict[str, float], str, float]:
    """Run a voice turn; (times of its milestones from ``started``, transcript, transcription step s)."""
    marks: dict[str, float] = {}
    heard = ""
    transcribe = 0.0
    for event in assistant.stream(session, "", [note], voice=True, transcript=transcript):
        now = time.perf_counter() - started
        kind = getattr(event, "type", "")
        if kind == "transcript":
            heard = event.text
        elif kind == "step.started" and event.tool == "speak_text":
            marks.setdefault("speak", now)
        elif kind == "audio.chunk":
            marks.setdefault("audio", now)
        elif kind == "done":
            for step in event.reply.steps:
                if step.tool == "transcribe_audio":
                    transcribe = step.seconds
    if "audio" not in marks:
        raise RuntimeError(f"the turn spoke nothing (heard {heard!r})")
    return marks, heard, transcribe


def live_turn(assistant: Any, manager: Any, settings: Any, sessions: Path, utterance: Utterance) -> LiveTurn:
    """Feed one utterance in real time, answer it live, then on the whole-recording path."""
    from agent.media import encode_wav
    from agent.turn.session import Session
    from agent.voice.live import Heard, LiveListener

    audio = np.concatenate([np.zeros(round(LEAD_SECONDS * RATE), np.float32), utterance.samples,
                            np.zeros(round(TAIL_SECONDS * RATE), np.float32)])
    listener = LiveListener(settings, RATE, models=manager, language="en")
    heard: Heard | None = None
    started = time.perf_counter()
    speech_end = started + LEAD_SECONDS + utterance.speech_end  # the wall time of the last speech sample
    try:
        for block in paced_blocks(audio, started):
            found = [e for e in listener.feed(block) if isinstance(e, Heard)]
            if found:
                heard = found[0]
                break
    finally:
        listener.close()
    if heard is None:
        raise RuntimeError(f"the listener did not hear the end of {utterance.text!r}")
    heard_at = time.perf_counter() - speech_end
    session = Session(sessions, assistant.settings)
    session.set_language("en")
    note = session.attach(encode_wav(heard.audio, heard.rate), name="voice message.wav", kind="audio")
    text = heard.text()
    text_ready = time.perf_counter() - speech_end
    if text is None:
        raise RuntimeError("the words were not transcribed while spoken")
    marks, _, _ = _first_audio(assistant, session, note, text, speech_end)

    whole_session = Session(sessions, assistant.settings)
    whole_session.set_language("en")
    whole_note = whole_session.attach(encode_wav(heard.audio, heard.rate), name="voice message.wav", kind="audio")
    began = time.perf_counter()
    whole_marks, whole_text, transcribe = _first_audio(assistant, whole_session, whole_note, None, began)
    paused = paused_turn(assistant, manager, settings, sessions, utterance)
    tiny = settings.with_overrides(live_transcribe_model=LIVE_MODEL)
    fast = paused_turn(assistant, manager, tiny, sessions, utterance)
    short = paused_turn(assistant, manager, tiny.with_overrides(end_silence_seconds=SHORT_SILENCE_SECONDS),
                        sessions, utterance)
    return LiveTurn(heard_at, text_ready, marks["speak"], marks["audio"], paused, fast, short,
                    heard_at + whole_marks["audio"],
                    transcribe, text, whole_text, utterance.text, utterance.voice, utterance.seconds)


def paused_turn(assistant: Any, manager: Any, settings: Any, sessions: Path, utterance: Utterance) -> float:
    """``polychat talk``'s loop on the microphone's clock, the real assistant, stand-in speakers.

    Returns:
        Seconds from the last speech sample to the first reply audio handed to the speakers.
    """
    from agent.cli.talk import OnsetWatch, Talk
    from agent.turn.session import Session
    from agent.voice import vad
    from agent.voice.live import LiveListener

    audio = np.concatenate([np.zeros(round(LEAD_SECONDS * RATE), np.float32), utterance.samples,
                            np.zeros(round(TAIL_SECONDS * RATE), np.float32)])
    watch = OnsetWatch(vad.make_scorer())
    listener = LiveListener(settings, RATE, models=manager, language="en", scorer=watch)
    session = Session(sessions, assistant.settings)
    session.set_language("en")
    speakers = _Speakers()
    talk = Talk(session, assistant, virtual=False, barge_in=True, speakers=speakers, out=None,
                tool_defaults={}, listener=listener, watch=watch, stream=io.StringIO())
    started = time.perf_counter()
    talk.run(paced_blocks(audio, started))
    if not speakers.played or len(session.turns) != 1:
        raise RuntimeError(f"the talk loop did not answer {utterance.text!r} once ({len(session.turns)} turns)")
    return speakers.played[0] - (started + LEAD_SECONDS + utterance.speech_end)


# -- (b) barge-in ---------------------------------------------------------------------------


class _Speakers:
    """Stands in for the speakers: notes when a reply was played and when it was stopped."""

    def __init__(self) -> None:
        self.played: list[float] = []
        self.stopped: list[float] = []

    def play(self, samples: Any, rate: int) -> None:
        self.played.append(time.perf_counter())

    def stop(self) -> None:
        self.stopped.append(time.perf_counter())

    def wait(self) -> None:
        return None


class _Replier:
    """Stands in for the assistant: every utterance gets a long spoken reply at once."""

    def __init__(self, settings: Any, seconds: float = 6.0) -> None:
        self.settings, self.seconds = settings, seconds

    def stream(self, session: Any, text: str, attachments: list, *, voice: bool, transcript: str | None = None,
               tool_defaults: Any = None, cancel: Any = None) -> Iterator[Any]:
        from agent.turn.events import AudioChunk, Transcript

        yield Transcript(transcript or "", "en")
        yield AudioChunk(1, 0, "A long reply.", np.zeros(round(self.seconds * 22_050), np.float32), 22_050)


@dataclass(frozen=True)
class BargeIn:
    """One interruption, in seconds from the first speech sample over the reply.

    Attributes:
        stopped: ``speakers.stop()`` was called (wall clock).
        noticed: the talk's onset watch found the speech sustained (stream time).
    """

    stopped: float
    noticed: float
    voice: str


def barge_in(manager: Any, settings: Any, sessions: Path, request: Utterance, over: Utterance) -> BargeIn:
    """``polychat talk``'s loop on the microphone's clock: a request, its reply, speech over it."""
    from agent.cli.talk import OnsetWatch, Talk
    from agent.turn.session import Session
    from agent.voice import vad
    from agent.voice.live import LiveListener

    gap = settings.end_silence_seconds + 0.5 + 1.0  # the end of turn, the reply starts, the echo window passes
    audio = np.concatenate([np.zeros(round(LEAD_SECONDS * RATE), np.float32), request.samples,
                            np.zeros(round(gap * RATE), np.float32), over.samples,
                            np.zeros(round(TAIL_SECONDS * RATE), np.float32)])
    onset = LEAD_SECONDS + request.seconds + gap + over.speech_start  # stream seconds of the first speech sample
    watch = OnsetWatch(vad.make_scorer())
    listener = LiveListener(settings, RATE, models=manager, language="en", scorer=watch)
    session = Session(sessions, settings)
    session.set_language("en")
    speakers = _Speakers()
    talk = Talk(session, _Replier(settings), virtual=False, barge_in=True, speakers=speakers, out=None,
                tool_defaults={}, listener=listener, watch=watch, stream=io.StringIO())
    started = time.perf_counter()
    talk.run(paced_blocks(audio, started))
    first = talk.exchanges[0] if talk.exchanges else None
    if first is None or first.interrupted_at is None or not speakers.stopped:
        raise RuntimeError("the speech over the reply did not interrupt it")
    return BargeIn(speakers.stopped[0] - (started + onset), first.interrupted_at - onset, over.voice)


# -- the section ------------------------------------------------------------------------------


def intro_text() -> str:
    """The module's description as one Markdown paragraph (Sphinx roles as code)."""
    text = " ".join(__doc__.split("\n\n", 1)[1].split())
    text = re.sub(r":class:`~?(?:[\w.]+\.)?(\w+)`", r"`\1`", text)
    return text.replace("``", "`")


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "not measured"
    if value <= target:
        return f"met ({value:.2f} s ≤ {target:.2f} s)"
    return f"**not met** ({value:.2f} s > {target:.2f} s, {value - target:.2f} s over)"


def latency_table(turns: list[LiveTurn], command: str) -> Table:
    table = Table(
        f"End of speech → first reply audio ({len(turns)} utterances of "
        f"{min(t.seconds for t in turns):.1f}–{max(t.seconds for t in turns):.1f} s, real-time pacing)",
        ["path", "runs", "p50 (s)", "p95 (s)", "min–max (s)", f"target p50 ≤ {TARGET_FIRST_AUDIO} s"],
        command=command,
    )
    for label, values in (
        ("answered at the pause, played as the end-of-turn silence ends (`polychat talk`'s loop)",
         [t.paused_first_audio for t in turns]),
        (f"answered at the pause, live_transcribe_model = {LIVE_MODEL}", [t.tiny_first_audio for t in turns]),
        (f"answered at the pause, live_transcribe_model = {LIVE_MODEL}, end_silence_seconds = "
         f"{SHORT_SILENCE_SECONDS}", [t.short_first_audio for t in turns]),
        ("answered when the utterance ended, after the grace window (words heard while spoken)",
         [t.first_audio for t in turns]),
        ("whole recording transcribed after the utterance ended (before)", [t.whole_first_audio for t in turns]),
    ):
        p50 = percentile(values, 50)
        table.add(label, len(values), p50, percentile(values, 95), f"{min(values):.2f}–{max(values):.2f}",
                  "met" if p50 is not None and p50 <= TARGET_FIRST_AUDIO else "not met")
    return table


def parts_table(turns: list[LiveTurn], command: str) -> Table:
    table = Table("Where the live path's time goes (from the last speech sample)",
                  ["part", "p50 (s)", "min–max (s)"], command=command)
    for key, label in LIVE_PARTS:
        values = [t.parts[key] for t in turns]
        table.add(label, percentile(values, 50), f"{min(values):.2f}–{max(values):.2f}")
    after = [t.first_audio - t.heard for t in turns]
    table.add("= after the utterance ended (tail + routing + first sentence)", percentile(after, 50),
              f"{min(after):.2f}–{max(after):.2f}")
    whole = [t.whole_transcribe for t in turns]
    table.add("(before: transcribing the whole recording, the `transcribe_audio` step)", percentile(whole, 50),
              f"{min(whole):.2f}–{max(whole):.2f}")
    return table


def wer_table(turns: list[LiveTurn], command: str) -> Table:
    table = Table("Words heard while spoken vs one-shot transcription of the same recording",
                  ["voice", "utterances", "WER live vs one-shot", "WER live vs said", "WER one-shot vs said"],
                  command=command)
    for voice in sorted({t.voice for t in turns}) + ["all"]:
        chosen = [t for t in turns if voice in ("all", t.voice)]
        table.add(voice, len(chosen),
                  corpus.word_error_rate([t.whole_text for t in chosen], [t.live_text for t in chosen]),
                  corpus.word_error_rate([t.reference for t in chosen], [t.live_text for t in chosen]),
                  corpus.word_error_rate([t.reference for t in chosen], [t.whole_text for t in chosen]))
    return table


def barge_table(trials: list[BargeIn], command: str) -> Table:
    built = barge_in_by_construction()
    table = Table("Speech onset over a reply → playback stopped (`polychat talk`'s barge-in path, microphone mode)",
                  ["measure", "runs", "p50 (s)", "max (s)", f"target ≤ {TARGET_BARGE_IN} s"], command=command)
    table.add(f"by construction: {built['windows']} VAD windows of {built['window'] * 1000:.0f} ms sustained "
              f"+ up to one {built['block']:.1f} s block", None, built["sustain"], built["most"],
              "met" if built["most"] <= TARGET_BARGE_IN else "not met")
    for label, values in (("measured in stream time: first speech sample → onset watch fires",
                           [t.noticed for t in trials]),
                          ("measured on the wall clock: first speech sample delivered → `speakers.stop()`",
                           [t.stopped for t in trials])):
        p50 = percentile(values, 50)
        table.add(label, len(values), p50, max(values), "met" if p50 is not None and p50 <= TARGET_BARGE_IN
                  else "not met")
    return table


def run(config: RunConfig) -> Section:
    from agent.models.manager import ModelManager
    from agent.turn.assistant import Assistant
    from agent.voice.vad import GRACE_SECONDS, PAUSE_SECONDS

    section = Section("live", "Live voice: hearing while you speak, answering, interrupting", intro_text())
    if not (packaged("whisper-base") and packaged("whisper-tiny.en") and packaged("piper-joe")):
        raise RuntimeError("needs the packaged Whisper base and tiny.en and the Piper voice (the [offline] extra)")
    command = config.section_command("live")
    count = 4 if config.quick else 10
    barges = 2 if config.quick else 5
    load_before = load_average()
    settings = config.settings_for(models=VOICE_MODELS, backends=VOICE_BACKENDS)
    utterances = make_utterances(config.work / "live", config.settings, count)
    over = make_utterances_over(config.work / "live-over", config.settings, barges)
    manager = ModelManager(settings)
    sessions = config.work / "live-sessions"
    try:
        assistant = Assistant(settings, manager)
        cold = live_turn(assistant, manager, settings, sessions, utterances[0])  # loads the models
        turns = [live_turn(assistant, manager, settings, sessions, u) for u in utterances]
        trials = [barge_in(manager, settings, sessions, utterances[i % len(utterances)], o)
                  for i, o in enumerate(over)]
        chosen = {slot: manager.choose(slot) for slot in ("transcribe_audio", "speak_text")}
    finally:
        manager.close()

    latency = latency_table(turns, command)
    paused_p50 = percentile([t.paused_first_audio for t in turns], 50)
    short_p50 = percentile([t.short_first_audio for t in turns], 50)
    tiny_p50 = percentile([t.tiny_first_audio for t in turns], 50)
    live_p50 = percentile([t.first_audio for t in turns], 50)
    whole_p50 = percentile([t.whole_first_audio for t in turns], 50)
    silence = percentile([t.parts["silence"] for t in turns], 50) or 0.0
    after_p50 = percentile([t.first_audio - t.heard for t in turns], 50) or 0.0
    voices = sorted({t.voice for t in turns})
    latency.notes.append(
        f"The utterances are synthesized voices ({', '.join(voices)}), not recorded people: each is a 'say ...' "
        f"request said as two phrases joined by a {PHRASE_PAUSE_SECONDS:.2f} s pause, after {LEAD_SECONDS} s of "
        f"silence and followed by {TAIL_SECONDS} s of it. Blocks of {BLOCK_SECONDS} s are handed to the listener "
        "when a microphone would deliver them (real time, wall clock), so the end-of-turn silence and the "
        "transcription done while the person speaks cost what they would live. Each turn runs to its end before "
        "the next utterance; the whole-recording turn of the same utterance runs after the live one and is "
        "counted from the moment the listener said the utterance ended (the same silence). Both with the "
        "conversation's language known (`en`), as after the first confident detection. One cold utterance first "
        f"(models loaded), not counted: {cold.first_audio:.2f} s live."
    )
    latency.notes.append(
        f"Target p50 ≤ {TARGET_FIRST_AUDIO} s: {verdict(paused_p50, TARGET_FIRST_AUDIO)} answering at the pause; "
        f"{live_p50 or 0:.2f} s when the turn waits for the utterance to end; before (whole recording): "
        f"{whole_p50 or 0:.2f} s. Answering at the pause, the turn starts after {PAUSE_SECONDS:.1f} s of silence "
        "on the words heard so far (the last piece transcribed then), routes and makes its first sentence while "
        f"the {settings.end_silence_seconds:.1f} s end-of-turn silence passes, and plays as it ends; the person "
        "going on withdraws it (the phrase pause inside each utterance does that once per utterance here). So "
        f"the end-of-turn silence itself ({settings.end_silence_seconds:.1f} s, a setting) is the floor of this "
        f"figure, plus the VAD's lag in hearing speech end and up to one {BLOCK_SECONDS} s block, unless the "
        "last piece takes longer to transcribe than the silence lasts. With the faster live model "
        f"({LIVE_MODEL}): {verdict(tiny_p50, TARGET_FIRST_AUDIO)}; with it and end_silence_seconds = "
        f"{SHORT_SILENCE_SECONDS}: {verdict(short_p50, TARGET_FIRST_AUDIO)}. Waiting for the end adds the {GRACE_SECONDS:.1f} s grace window ({silence:.2f} s of silence as "
        f"heard) and then {after_p50:.2f} s (p50) of work."
    )
    latency.notes.append("Models: " + "; ".join(f"{slot} = {c.backend} · {c.source}"
                                                + (f" ({c.note})" if c.note else "") for slot, c in chosen.items())
                         + ".")
    section.tables += [latency, parts_table(turns, command), wer_table(turns, command)]
    barge = barge_table(trials, command)
    built = barge_in_by_construction()
    stopped_p50 = percentile([t.stopped for t in trials], 50)
    barge.notes.append(
        f"The phrases over the reply are synthesized too ({', '.join(sorted({t.voice for t in trials}))}). The "
        "talk loop runs as with a microphone (blocks on the wall clock, the echo guard on, Whisper transcribing the "
        "new speech in the background); the assistant and speakers are stand-ins, so the reply starts at once and "
        "stopping costs nothing (real speakers add their own output latency). The onset watch needs "
        f"{built['windows']} windows of speech in a row ({built['sustain']:.3f} s) after Silero's own onset lag; "
        f"the loop checks after each {BLOCK_SECONDS} s block. Target ≤ {TARGET_BARGE_IN} s: "
        f"{verdict(stopped_p50, TARGET_BARGE_IN)}."
    )
    section.tables.append(barge)
    section.notes.append(
        f"Measured on {cpu_model()} ({cpu_features() or 'CPU features unknown'}), "
        f"{psutil.cpu_count(logical=False) or '?'} physical / {psutil.cpu_count()} logical cores; load average "
        f"(1, 5, 15 min) {load_before} before, {load_average()} after. Real-time pacing makes these numbers "
        "sensitive to other work on the machine."
    )
    section.findings["live"] = {
        "first_audio_p50": paused_p50, "first_audio_p95": percentile([t.paused_first_audio for t in turns], 95),
        "at_end_first_audio_p50": live_p50, "live_model_first_audio_p50": tiny_p50,
        "live_model_short_silence_first_audio_p50": short_p50,
        "whole_first_audio_p50": whole_p50, "target": TARGET_FIRST_AUDIO,
        "met": paused_p50 is not None and paused_p50 <= TARGET_FIRST_AUDIO,
        "barge_in_p50": stopped_p50, "barge_in_target": TARGET_BARGE_IN,
    }
    return section


def make_utterances_over(folder: Path, settings: Any, count: int) -> list[Utterance]:
    """``count`` short phrases said over a reply, alternating the synthesizers."""
    folder.mkdir(parents=True, exist_ok=True)
    speakers: list[tuple[str, Callable[[str, Path], corpus.Clip]]] = []
    if corpus.espeak_available():
        speakers.append(("espeak-ng", corpus.espeak_clip))
    if corpus.piper_available():
        speakers.append(("piper", corpus.PiperSpeaker(settings).clip))
    made = []
    for index in range(count):
        voice, say = speakers[index % len(speakers)]
        text = BARGE_PHRASES[(index // len(speakers)) % len(BARGE_PHRASES)]
        clip = say(text, folder / f"{voice}-{index}.wav")
        samples = join_phrases([clip.samples()], 0.0)
        start, end = speech_bounds(samples)
        made.append(Utterance(samples, text, voice, start, end))
    return made
