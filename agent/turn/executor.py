"""The one place steps run: the routed plan's, the chat model's and the spoken reply's.

Steps run in order; references (``$2.text``) resolve to earlier outputs; each step is
timed and its errors become sentences; a failed step skips only the steps that need it.
What ran is kept in an ``ExecutionLog`` of its own (the routed ``Plan`` never changes),
and every start and finish is reported to a listener as it happens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.errors import (
    MediaError,
    ModelUnavailableError,
    PolychatError,
    ServiceBusy,
    TurnCancelled,
    os_error_sentence,
)
from agent.router.plan import STEP_REF, Plan, Step, step_ref
from agent.turn.events import StepFinished, StepStarted, TurnEvent

log = logging.getLogger(__name__)

# Tools whose text output is a line about the file they made, not content to show.
MEDIA_TOOLS = frozenset({"generate_image", "speak_text"})


@dataclass
class StepOutcome:
    """What one step did.

    Attributes:
        tool: the tool's name.
        args: the arguments it ran with (references resolved).
        seconds: how long it took.
        ok: whether it succeeded.
        error: the one-sentence error, when it failed or was skipped.
        result: the tool's ToolResult, when it succeeded (or had delivered part of its
            work when the turn was stopped).
        cancelled: the turn was stopped during this step.
        media_error: it failed because a file it was given cannot be used (corrupt, empty,
            too short, not the right kind): the person's file, not polychat, is at fault.
        retry_after: it failed because its service on the cluster had no room (``ServiceBusy``):
            the seconds after which to try again.
    """

    tool: str
    args: dict[str, Any]
    seconds: float = 0.0
    ok: bool = False
    error: str | None = None
    result: Any = None
    cancelled: bool = False
    media_error: bool = False
    retry_after: int | None = None

    @property
    def output_text(self) -> str:
        """The text the next step reads: the data's ``text`` when the tool gives one."""
        if not self.ok or self.result is None:
            return ""
        data = self.result.data or {}
        for key in ("text", "answer", "caption"):
            if isinstance(data.get(key), str):
                return data[key]
        return self.result.text

    def artifact_id(self, kind: str) -> str | None:
        if not self.ok or self.result is None:
            return None
        return next((a.id for a in self.result.artifacts if a.kind == kind), None)

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"tool": self.tool, "seconds": round(self.seconds, 3), "ok": self.ok}
        if self.error:
            entry["error"] = self.error
        return entry


@dataclass
class ExecutionLog:
    """The steps a turn ran, in order, and what each did.

    Attributes:
        steps: each step as it ran: defaults filled in, references numbered within the turn.
        outcomes: what each step did (same order).
    """

    steps: list[Step] = field(default_factory=list)
    outcomes: list[StepOutcome] = field(default_factory=list)

    def artifacts(self) -> list[Any]:
        return [a for o in self.outcomes if o.ok and o.result for a in o.result.artifacts]

    def to_json(self) -> list[dict[str, Any]]:
        """The steps that ran, as the turn's JSON ``plan`` lists them."""
        return [step.to_json() for step in self.steps]


class UnresolvedReference(PolychatError):
    """A step points at an earlier step that failed or made nothing of that kind."""


def resolve_args(args: dict[str, Any], done: list[StepOutcome]) -> dict[str, Any]:
    """Replace ``$n.text`` / ``$n.image`` / ``$n.audio`` with earlier steps' outputs."""
    resolved: dict[str, Any] = {}
    for name, value in args.items():
        match = STEP_REF.match(value) if isinstance(value, str) else None
        if match is None:
            resolved[name] = value
            continue
        index, output = int(match.group(1)), match.group(2)
        if not 1 <= index <= len(done):
            raise UnresolvedReference(f"step {index} has not run yet")
        source = done[index - 1]
        if not source.ok:
            raise UnresolvedReference(f"it needs the result of {source.tool}, which failed")
        if output == "text":
            text = source.output_text
            if not text.strip():
                raise UnresolvedReference(f"{source.tool} gave no text to pass on")
            resolved[name] = text
        else:
            artifact = source.artifact_id(output)
            if artifact is None:
                raise UnresolvedReference(f"{source.tool} made no {output}")
            resolved[name] = artifact
    return resolved


def friendly_error(tool: str, error: BaseException) -> str:
    """One sentence for a person; the traceback goes to the log only."""
    if isinstance(error, PolychatError):
        return str(error)
    if isinstance(error, OSError):  # disk full, read-only data dir: the fix, not the exception's name
        return os_error_sentence(error)
    log.exception("Step %s failed", tool, exc_info=error)
    return f"Something went wrong inside {tool} ({type(error).__name__}); the other steps went on."


def shift_refs(step: Step, offset: int) -> Step:
    """The same step with its ``$n.x`` references moved by ``offset`` steps."""
    args = {}
    for name, value in step.args.items():
        match = STEP_REF.match(value) if isinstance(value, str) else None
        args[name] = step_ref(int(match.group(1)) + offset, match.group(2)) if match else value
    return Step(step.tool, args)


def run_step(tool: Any, step: Step, args: dict[str, Any]) -> StepOutcome:
    """Run one tool with resolved arguments, timing it and catching its errors.

    A stop (``TurnCancelled``) is caught too: the outcome is marked ``cancelled`` and
    keeps what the tool had delivered; the caller decides to stop.
    """
    outcome = StepOutcome(step.tool, args)
    started = time.perf_counter()
    try:
        outcome.result = tool.execute(**args)
        outcome.ok = True
    except TurnCancelled as stop:
        outcome.cancelled = True
        outcome.result = stop.partial
        outcome.ok = stop.partial is not None
        outcome.error = None if outcome.ok else f"Stopped {step.tool}."
    except ModelUnavailableError as e:
        outcome.error = str(e)
    except Exception as e:  # any tool failure becomes a sentence; the plan goes on
        outcome.error = friendly_error(step.tool, e)
        outcome.media_error = isinstance(e, MediaError)
        outcome.retry_after = e.retry_after if isinstance(e, ServiceBusy) else None
    outcome.seconds = time.perf_counter() - started
    return outcome


EventListener = Callable[[TurnEvent], None]


class Executor:
    """Runs steps against a set of tools bound to one context.

    Args:
        tools: tool name -> tool (``PolychatTool``), usually ``default_tools(context)``.
        defaults: per-tool argument defaults (e.g. a person's image steps and seed);
            they fill only arguments the step leaves out and the tool's schema knows.
        listener: receives ``StepStarted`` / ``StepFinished`` as they happen.
        cancel: when set, no further step starts (and the running one stops at its next check).
    """

    def __init__(
        self,
        tools: dict[str, Any],
        defaults: dict[str, dict[str, Any]] | None = None,
        *,
        listener: EventListener | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.tools = tools
        self.defaults = defaults or {}
        self.listener = listener
        self.cancel = cancel

    def run(self, steps: Plan | Sequence[Step], log: ExecutionLog | None = None) -> ExecutionLog:
        """Run ``steps`` in order, adding them to ``log``, and return the log.

        ``$n`` references in ``steps`` count within ``steps`` (as a routed plan or a chat
        model's calls write them); the log numbers them within the whole turn. A step that
        fails does not stop the others: steps that need its output are skipped with a
        sentence.

        Raises:
            TurnCancelled: the turn was stopped; the log holds what ran until then.
        """
        steps = steps.steps if isinstance(steps, Plan) else list(steps)
        log = log if log is not None else ExecutionLog()
        base = len(log.outcomes)
        batch: list[StepOutcome] = []
        for step in steps:
            if self.cancel is not None and self.cancel.is_set():
                raise TurnCancelled()
            step = self._with_defaults(step)
            number = len(log.outcomes) + 1
            log.steps.append(shift_refs(step, base))
            outcome = self._run_one(step, number, batch)
            batch.append(outcome)
            log.outcomes.append(outcome)
            self._tell(StepFinished(number, outcome))
            if outcome.cancelled:
                raise TurnCancelled()
        return log

    def _run_one(self, step: Step, number: int, batch: list[StepOutcome]) -> StepOutcome:
        tool = self.tools.get(step.tool)
        if tool is None:
            self._tell(StepStarted(number, step.tool, dict(step.args)))
            return StepOutcome(step.tool, dict(step.args), error=f"There is no tool called {step.tool}.")
        try:
            args = resolve_args(step.args, batch)
        except UnresolvedReference as e:
            self._tell(StepStarted(number, step.tool, dict(step.args)))
            return StepOutcome(step.tool, dict(step.args), error=f"Skipped {step.tool}: {e}.")
        if hasattr(tool, "context"):
            tool.context.step = number
        self._tell(StepStarted(number, step.tool, dict(args)))
        return run_step(tool, step, args)

    def _with_defaults(self, step: Step) -> Step:
        """The step with the per-tool defaults it leaves out filled in (known arguments only)."""
        defaults = self.defaults.get(step.tool)
        if not defaults:
            return step
        schema = getattr(self.tools.get(step.tool), "args_schema", None)
        known = getattr(schema, "model_fields", {})
        args = dict(step.args)
        for name, value in defaults.items():
            if name in known and args.get(name) is None:
                args[name] = value
        return Step(step.tool, args)

    def _tell(self, event: TurnEvent) -> None:
        if self.listener is not None:
            self.listener(event)
