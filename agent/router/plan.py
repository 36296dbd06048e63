"""Plans: the ordered tool steps a turn becomes, and how steps point at each other."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

STEP_REF = re.compile(r"^\$(\d+)\.(text|image|audio)$")
"""An argument value ``$2.text`` means "the text output of step 2" (steps count from 1);
``$1.image`` / ``$1.audio`` mean the image / audio artifact that step 1 produced."""


def step_ref(step: int, output: str = "text") -> str:
    """The argument value that points at an earlier step's output."""
    return f"${step}.{output}"


@dataclass
class Step:
    """One tool call of a plan; ``args`` may hold artifact ids and step references."""

    tool: str
    args: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "args": dict(self.args)}


@dataclass
class Plan:
    """What a turn will do.

    Attributes:
        steps: tool calls in order (empty for pure conversation).
        chat: the chat model writes the reply (conversation, or words around tool results).
        speak_reply: add a spoken version of the reply (voice in, voice out).
        reply: a fixed reply when no tool and no chat model are needed
            (e.g. "There is no image in this conversation yet; attach one.").
        user_text: the text the plan was made from (a voice note's transcript, when routed).
    """

    steps: list[Step] = field(default_factory=list)
    chat: bool = False
    speak_reply: bool = False
    reply: str | None = None
    user_text: str = ""

    def to_json(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.steps]

    def add(self, tool: str, **args: Any) -> str:
        """Append a step; return the reference to its text output (``$n.text``)."""
        self.steps.append(Step(tool, args))
        return step_ref(len(self.steps))
