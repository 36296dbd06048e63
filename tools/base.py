"""What every polychat tool shares: its context, its result and its base class."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.tools import BaseTool
from pydantic import ConfigDict

from agent.artifacts import Artifact, ArtifactStore
from agent.config import Settings
from agent.errors import ToolError, TurnCancelled
from agent.models.manager import ModelManager

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(label, done, total)`` during long work (diffusion steps, chunks)."""

AudioCallback = Callable[[str, Any, int], None]
"""Called as ``on_audio(words, samples, sample_rate)`` for each sentence as soon as it is spoken."""

TextCallback = Callable[[str], None]
"""Called as ``on_text(piece)`` with each piece of a tool's text as soon as it exists (a transcript's
segments as Whisper decodes them); the pieces joined and stripped are the tool's text."""


@dataclass
class ToolContext:
    """Everything a tool may use besides its arguments.

    Attributes:
        settings: the settings in force.
        models: the shared model manager (the only way to get a model).
        artifacts: the session's artifact store (ids in, ids out).
        turn: the current turn number, recorded on artifacts the tool makes.
        step: the current step number in the plan.
        progress: optional progress callback for long work.
        overrides: one-off model/backend/device per call (CLI ``--model`` etc.).
        cancel: set when the turn is stopped; long work checks it (see ``report``).
        on_audio: receives each spoken sentence as soon as it is made (streamed speech).
        on_text: receives each piece of the tool's text as soon as it is made (streamed transcripts).
        spoken_chars_left: how many more characters speak_text may say in this turn
            (``max_spoken_chars`` at the start of a conversation turn); None: no limit.
    """

    settings: Settings
    models: ModelManager
    artifacts: ArtifactStore
    turn: int = 0
    step: int | None = None
    progress: ProgressCallback | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event | None = None
    on_audio: AudioCallback | None = None
    on_text: TextCallback | None = None
    spoken_chars_left: int | None = None

    def check_cancelled(self) -> None:
        """Stop here if the turn was cancelled.

        Raises:
            TurnCancelled: the turn's cancel signal is set.
        """
        if self.cancel is not None and self.cancel.is_set():
            raise TurnCancelled()

    def report(self, label: str, done: int, total: int) -> None:
        """Report progress if anyone listens; a cancelled turn stops here.

        Raises:
            TurnCancelled: the turn's cancel signal is set.
        """
        self.check_cancelled()
        if self.progress is not None:
            self.progress(label, done, total)

    def partial_text(self, piece: str) -> None:
        """Hand out a piece of the text being made, if anyone listens; a cancelled turn stops here.

        Raises:
            TurnCancelled: the turn's cancel signal is set.
        """
        self.check_cancelled()
        if self.on_text is not None:
            self.on_text(piece)

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``ModelManager.get/use`` from the overrides."""
        return {k: v for k, v in self.overrides.items() if k in ("model", "backend", "device", "dtype") and v}

    def generated(self, tool: str) -> dict[str, Any]:
        """Origin keyword arguments for an artifact this tool makes."""
        return {"origin": "generated", "turn": self.turn, "step": self.step, "tool": tool}


@dataclass
class ToolResult:
    """What a tool returns.

    Attributes:
        text: the text result (a transcript, a caption, a translation, or a short
            line such as "Made image-2."); the next step of a plan reads it.
        artifacts: media the tool produced, already in the artifact store.
        data: structured extras for JSON output (language, segments, seed, ...).
    """

    text: str
    artifacts: list[Artifact] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


class PolychatTool(BaseTool):
    """Base class of the eight tools: a langchain-core tool bound to a ``ToolContext``.

    Subclasses implement ``execute(**args) -> ToolResult``. Through langchain
    (``invoke``) the tool answers ``(text, ToolResult)`` as content and artifact.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    context: ToolContext
    response_format: str = "content_and_artifact"

    def execute(self, **kwargs: Any) -> ToolResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def _run(self, *args: Any, run_manager: Any = None, **kwargs: Any) -> tuple[str, ToolResult]:
        result = self.execute(**kwargs)
        return result.text, result

    # helpers shared by the tools -------------------------------------------------
    def check_text(self, text: str, what: str = "text") -> str:
        """Strip text and enforce the non-empty and length limits."""
        text = (text or "").strip()
        if not text:
            raise ToolError(f"The {what} is empty; give {self.name} some words to work with.")
        limit = self.context.settings.max_text_chars
        if len(text) > limit:
            raise ToolError(
                f"The {what} is {len(text)} characters long; the limit is {limit} "
                f"(set POLYCHAT_MAX_TEXT_CHARS to raise it)."
            )
        return text
