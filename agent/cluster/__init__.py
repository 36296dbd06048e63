"""Beyond one machine: the tools as Ray Serve deployments.

Each capability runs as a Ray Serve deployment of its own (``services``): replicas,
CPUs and GPUs (fractions allowed), autoscaling bounds and a bounded queue, all Ray
Serve's. The front end (router, sessions, web UI, HTTP APIs) stays one light process;
when a cluster is configured (``POLYCHAT_CLUSTER`` / ``polychat serve --cluster``) its
turns call the tools through deployment handles (``remote``) instead of in-process:
the same tool names, results and artifacts; media travel as bytes.

Without a cluster nothing here is imported, and neither is Ray (the ``[cluster]`` extra).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

SERVICES: dict[str, tuple[str, ...]] = {
    "speech": ("transcribe_audio", "translate_speech"),
    "vision": ("caption_image", "answer_image_question"),
    "reader": ("read_image_text",),
    "painter": ("generate_image",),
    "voice": ("speak_text",),
    "translator": ("translate_text",),
}
"""Each service (a deployment) and the tools it runs."""

SERVICE_NAMES: dict[str, str] = {
    "speech": "speech service",
    "vision": "image understanding service",
    "reader": "reading service",
    "painter": "image service",
    "voice": "voice service",
    "translator": "translation service",
}
"""How a person hears of each service (in "the image service is busy")."""

APP_PREFIX = "polychat-"  # each service is the Ray Serve application ``polychat-<service>``

ID = re.compile(r"\b(?:image|audio)-[1-9][0-9]*\b")
"""An artifact id in a text or an argument."""
MADE = "\u27e6made:{}\u27e7"
"""What a service writes for an artifact its call made (by its place in the result's list)."""
MADE_PATTERN = re.compile("\u27e6made:([0-9]+)\u27e7")


def swap_ids(value: Any, swap: Callable[[str], str], pattern: re.Pattern[str] = ID) -> Any:
    """``value`` with each match of ``pattern`` in its strings replaced by ``swap(match)`` (dicts and lists walked).

    The service swaps the caller's artifact ids for its own and back; the caller swaps the
    ``MADE`` placeholders for the ids its own store gave the results.
    """
    if isinstance(value, str):
        return pattern.sub(lambda m: swap(m.group(0)), value)
    if isinstance(value, dict):
        return {k: swap_ids(v, swap, pattern) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(swap_ids(v, swap, pattern) for v in value)
    return value


def tool_for(name: str, context: object) -> object:
    """The tool ``name`` bound to ``context``: on its service when a cluster is configured, else here."""
    if getattr(context.settings, "cluster", "") and service_of(name) is not None:  # type: ignore[attr-defined]
        from agent.cluster.remote import remote_tool

        return remote_tool(name, context)
    from tools import make_tool

    return make_tool(name, context)  # type: ignore[arg-type]


def service_of(tool: str) -> str | None:
    """The service that runs ``tool`` (None for a tool no service runs)."""
    return next((name for name, tools in SERVICES.items() if tool in tools), None)
