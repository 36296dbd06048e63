"""What a turn emits, in the order it happens, and the Reply it ends with.

``Assistant.stream`` yields these events; every face (terminal, browser, HTTP) reads
them. Each event has a ``type`` and a JSON form (``to_json``), which is what
``polychat ask --stream`` prints one per line and ``POST /api/turn`` with
``stream=true`` sends as server-sent events:

====================  ===========================================================
``transcript``        the voice note's words (before anything is routed)
``plan``              the routed plan: its steps, whether the chat model answers
``step.started``      a step begins (its number in the turn, tool, arguments)
``step.progress``     long work inside a step (diffusion step i of n, sentences)
``step.finished``     a step ends: ok or its error, seconds, text, artifacts
``text.delta``        more reply text (tool text as soon as it exists, chat tokens)
``audio.chunk``       one spoken sentence, as soon as it is synthesized
``done``              the whole Reply (the JSON of ``--json``); always last
====================  ===========================================================
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from agent.artifacts import Artifact


def artifact_json(artifact: Artifact) -> dict[str, Any]:
    """An artifact as the turn's JSON shows it."""
    return {"id": artifact.id, "kind": artifact.kind, "path": str(artifact.path)}


@dataclass
class Reply:
    """What the agent answers to one turn.

    Attributes:
        text: the reply's words (what the person saw).
        plan: the steps that ran, in order, as ``{"tool", "args"}``.
        artifacts: the media the turn made.
        steps: one ``StepOutcome`` per step that ran.
        user_text: what the user said: their text, or their voice note's transcript.
        turn: the turn's number in its session.
        transcript: the voice note's transcript, when the turn was one.
        cancelled: the turn was stopped before it finished; the rest is what was delivered.
        tool_calls: the chat model's calls of tools the client runs itself (``ClientTools``),
            as ``{"id", "name", "args"}``; the turn ends with them.
    """

    text: str
    plan: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    steps: list[Any] = field(default_factory=list)
    user_text: str = ""
    turn: int = 0
    transcript: str = ""
    cancelled: bool = False
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def images(self) -> list[Artifact]:
        return [a for a in self.artifacts if a.kind == "image"]

    @property
    def audio(self) -> list[Artifact]:
        return [a for a in self.artifacts if a.kind == "audio"]

    def to_json(self) -> dict[str, Any]:
        """The turn's JSON shape (CLI ``--json``, HTTP API).

        A voice note adds its ``transcript``; a stopped turn adds ``"cancelled": true``.
        """
        shape: dict[str, Any] = {
            "text": self.text,
            "plan": self.plan,
            "artifacts": [artifact_json(a) for a in self.artifacts],
            "steps": [s.to_json() for s in self.steps],
        }
        if self.transcript:
            shape["transcript"] = self.transcript
        if self.cancelled:
            shape["cancelled"] = True
        if self.tool_calls:
            shape["tool_calls"] = self.tool_calls
        return shape


@dataclass
class TurnEvent:
    """One thing that happened in a turn."""

    type: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **self._fields()}

    def _fields(self) -> dict[str, Any]:
        return {}


@dataclass
class Transcript(TurnEvent):
    """The voice note's words, before they are routed like typed words."""

    type: ClassVar[str] = "transcript"
    text: str
    language: str | None = None

    def _fields(self) -> dict[str, Any]:
        return {"text": self.text, "language": self.language}


@dataclass
class PlanMade(TurnEvent):
    """The plan the router made (it does not change afterwards)."""

    type: ClassVar[str] = "plan"
    plan: list[dict[str, Any]]
    chat: bool = False
    reply: str | None = None

    def _fields(self) -> dict[str, Any]:
        return {"plan": self.plan, "chat": self.chat, "reply": self.reply}


@dataclass
class StepStarted(TurnEvent):
    """A step begins. ``step`` counts the turn's steps from 1, as the turn's JSON lists them."""

    type: ClassVar[str] = "step.started"
    step: int
    tool: str
    args: dict[str, Any]

    def _fields(self) -> dict[str, Any]:
        return {"step": self.step, "tool": self.tool, "args": self.args}


@dataclass
class StepProgress(TurnEvent):
    """Long work inside a step: ``done`` of ``total`` (diffusion steps, sentences, lines).

    A model downloading for the step reports bytes: ``label`` is ``Downloading <model>`` and
    ``unit`` is ``bytes`` (the JSON carries ``unit`` only then). Step 0 is the chat model's.
    """

    type: ClassVar[str] = "step.progress"
    step: int
    tool: str
    label: str
    done: int
    total: int
    unit: str = ""

    def _fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"step": self.step, "tool": self.tool, "label": self.label, "done": self.done,
                                  "total": self.total}
        if self.unit:
            fields["unit"] = self.unit
        return fields


@dataclass
class StepFinished(TurnEvent):
    """A step ended: its outcome (``StepOutcome``) with its text and artifacts."""

    type: ClassVar[str] = "step.finished"
    step: int
    outcome: Any

    @property
    def tool(self) -> str:
        return self.outcome.tool

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    @property
    def artifacts(self) -> list[Artifact]:
        result = self.outcome.result
        return list(result.artifacts) if self.outcome.ok and result is not None else []

    @property
    def text(self) -> str:
        result = self.outcome.result
        return result.text if self.outcome.ok and result is not None else ""

    def _fields(self) -> dict[str, Any]:
        fields = {"step": self.step, **self.outcome.to_json(), "text": self.text}
        fields["artifacts"] = [artifact_json(a) for a in self.artifacts]
        return fields


@dataclass
class TextDelta(TurnEvent):
    """More reply text; the reply's text is all deltas joined."""

    type: ClassVar[str] = "text.delta"
    text: str

    def _fields(self) -> dict[str, Any]:
        return {"text": self.text}


@dataclass
class AudioChunk(TurnEvent):
    """One spoken sentence, sent as soon as it is synthesized.

    Attributes:
        step: the speak_text step it belongs to.
        index: the sentence's number in that step, from 0.
        text: the words spoken.
        samples: float32 mono samples in [-1, 1].
        sample_rate: in Hz.
    """

    type: ClassVar[str] = "audio.chunk"
    step: int
    index: int
    text: str
    samples: np.ndarray = field(repr=False)
    sample_rate: int

    @property
    def seconds(self) -> float:
        return self.samples.size / float(self.sample_rate)

    def wav_bytes(self) -> bytes:
        """The sentence as a 16-bit mono WAV file."""
        from agent.media import encode_wav

        return encode_wav(self.samples, self.sample_rate)

    def pcm16(self, rate: int | None = None) -> bytes:
        """The sentence as little-endian 16-bit PCM, resampled to ``rate`` Hz when given."""
        from agent.media import resample, to_pcm16

        samples = resample(self.samples, self.sample_rate, rate) if rate else self.samples
        return to_pcm16(samples).tobytes()

    def _fields(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "index": self.index,
            "text": self.text,
            "sample_rate": self.sample_rate,
            "seconds": round(self.seconds, 3),
            "mime": "audio/wav",
            "audio": base64.b64encode(self.wav_bytes()).decode("ascii"),
        }


@dataclass
class TurnDone(TurnEvent):
    """The turn is over; ``reply`` is what ``Assistant.respond`` returns."""

    type: ClassVar[str] = "done"
    reply: Reply

    def _fields(self) -> dict[str, Any]:
        return {"reply": self.reply.to_json()}
