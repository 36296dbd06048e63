"""How a turn looks in the browser chat: tool step texts, progress lines, inline media, titles."""

from __future__ import annotations

import logging
import wave
from typing import Any

import chainlit as cl

from agent.web.store import keep_once

log = logging.getLogger(__name__)

TITLE_CHARS = 80  # characters of a conversation title
UNTITLED = ("", "audio")  # titles Chainlit gives a thread whose first turn was not typed


def upload_problem(name: str, reason: str) -> str:
    """The chat sentence for a refused upload."""
    return f"I couldn't use {name}: {reason}"


def progress_text(label: str, done: int, total: int, unit: str = "") -> str:
    """``step 3 of 20`` for image generation, ``Downloading Stable Diffusion 1.5 (1.9 of 4.1 GB)``
    for a download, ``Reading lines: 3 of 20`` for the rest."""
    if unit == "bytes":
        from agent.models.hub import of_total

        return f"{label} ({of_total(done, total)})"
    if label == "generate_image":
        return f"step {done} of {total}"
    return f"{label}: {done} of {total}"


def step_result_text(outcome: Any) -> tuple[str, bool]:
    """What a finished tool step shows: its result or error, then its seconds; and whether it failed."""
    if outcome.ok:
        text = outcome.result.text if outcome.result is not None else ""
    else:
        text = outcome.error or f"{outcome.tool} failed."
    seconds = f"_{outcome.seconds:.2f} s_"
    return (f"{text}\n\n{seconds}" if text else seconds), not outcome.ok


def spoken_seconds(reply: Any) -> float:
    """How long the reply's audio plays, in seconds (0 without audio)."""
    total = 0.0
    for artifact in reply.audio:
        try:
            with wave.open(str(artifact.path), "rb") as wav:
                total += wav.getnframes() / float(wav.getframerate())
        except (OSError, EOFError, wave.Error):
            continue
    return total


async def name_thread(thread_id: str, title: str) -> None:
    """Title a conversation that Chainlit left untitled (first turn by voice, or files only)."""
    from chainlit.data import get_data_layer

    layer = get_data_layer()
    title = " ".join(title.split())[:TITLE_CHARS]
    if layer is None or not title:
        return
    try:
        thread = await layer.get_thread(thread_id)
        if thread is not None and (thread.get("name") or "").strip() in UNTITLED:
            await layer.update_thread(thread_id, name=title)
    except Exception:  # a title is a courtesy; never let it break a turn
        log.debug("Naming the thread failed", exc_info=True)


def reply_elements(reply: Any, *, auto_play: bool = True) -> list[Any]:
    """The reply's media: pictures inline, audio with a player (kept for replay and history).

    Args:
        reply: the turn's Reply.
        auto_play: the player starts by itself (leave it off when the reply was already
            heard, streamed sentence by sentence).
    """
    elements: list[Any] = []
    for artifact in reply.artifacts:
        keep_once(artifact.path)  # the chat history's copy will be this same file
        if artifact.kind == "image":
            elements.append(cl.Image(name=artifact.id, path=str(artifact.path), mime=artifact.mime, display="inline"))
        elif artifact.kind == "audio":
            elements.append(
                cl.Audio(
                    name=artifact.id, path=str(artifact.path), mime=artifact.mime, display="inline", auto_play=auto_play
                )
            )
    return elements
