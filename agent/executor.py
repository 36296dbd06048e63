"""Runs a plan step by step: resolves references, times each step, turns errors into words."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from agent.errors import ModelUnavailableError, PolychatError
from agent.plan import STEP_REF, Plan, Step

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
        result: the tool's ToolResult, when it succeeded.
    """

    tool: str
    args: dict[str, Any]
    seconds: float = 0.0
    ok: bool = False
    error: str | None = None
    result: Any = None

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
    """The outcomes of a plan's steps, in order."""

    outcomes: list[StepOutcome] = field(default_factory=list)

    def artifacts(self) -> list[Any]:
        return [a for o in self.outcomes if o.ok and o.result for a in o.result.artifacts]


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
    log.exception("Step %s failed", tool, exc_info=error)
    return f"Something went wrong inside {tool} ({type(error).__name__}); the other steps went on."


def run_step(tool: Any, step: Step, args: dict[str, Any]) -> StepOutcome:
    """Run one tool with resolved arguments, timing it and catching its errors."""
    outcome = StepOutcome(step.tool, args)
    started = time.perf_counter()
    try:
        outcome.result = tool.execute(**args)
        outcome.ok = True
    except ModelUnavailableError as e:
        outcome.error = str(e)
    except Exception as e:  # any tool failure becomes a sentence; the plan goes on
        outcome.error = friendly_error(step.tool, e)
    outcome.seconds = time.perf_counter() - started
    return outcome


class Executor:
    """Runs plans against a set of tools bound to one context.

    Args:
        tools: tool name -> tool (``PolychatTool``), usually ``default_tools(context)``.
    """

    def __init__(self, tools: dict[str, Any]) -> None:
        self.tools = tools

    def run(self, plan: Plan, *, first_step: int = 1, log_so_far: ExecutionLog | None = None) -> ExecutionLog:
        """Run every step of ``plan`` in order and return what happened.

        A step that fails does not stop the plan: steps that need its output are
        skipped with a sentence, the others still run.
        """
        record = log_so_far or ExecutionLog()
        for number, step in enumerate(plan.steps, start=1):
            if number < first_step:
                continue
            tool = self.tools.get(step.tool)
            if tool is None:
                record.outcomes.append(StepOutcome(step.tool, step.args, error=f"There is no tool called {step.tool}."))
                continue
            if hasattr(tool, "context"):
                tool.context.step = number
            try:
                args = resolve_args(step.args, record.outcomes)
            except UnresolvedReference as e:
                record.outcomes.append(StepOutcome(step.tool, dict(step.args), error=f"Skipped {step.tool}: {e}."))
                continue
            record.outcomes.append(run_step(tool, step, args))
        return record
