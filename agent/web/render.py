"""How a turn looks in the browser chat: tool steps, live progress, inline media."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import wave
from datetime import datetime, timedelta, timezone
from typing import Any

import chainlit as cl

log = logging.getLogger(__name__)

TITLE_CHARS = 80  # characters of a conversation title
UNTITLED = ("", "audio")  # titles Chainlit gives a thread whose first turn was not typed


def _timestamp(moment: datetime) -> str:
    """Chainlit's timestamp format: naive UTC ISO with a ``Z``."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"


def upload_problem(name: str, reason: str) -> str:
    """The chat sentence for a refused upload."""
    return f"I couldn't use {name}: {reason}"


def progress_text(label: str, done: int, total: int) -> str:
    """``step 3 of 20`` for image generation, ``Reading lines: 3 of 20`` for the rest."""
    if label == "generate_image":
        return f"step {done} of {total}"
    return f"{label}: {done} of {total}"


class ProgressRelay:
    """A progress callback for worker threads that shows a live step in the chat.

    Tools call it from the thread running the turn; each call is handed to the
    event loop, where one task keeps a ``cl.Step`` up to date (only the newest
    report is drawn when several arrive at once). :meth:`close` removes the step.

    Args:
        loop: the event loop of the chat session.
        parent_id: the step or message the progress belongs to.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, parent_id: str | None = None) -> None:
        self.loop = loop
        self.parent_id = parent_id
        self.queue: asyncio.Queue[tuple[str, int, int] | None] = asyncio.Queue()
        self.step: cl.Step | None = None
        self.reports = 0
        self.task = loop.create_task(self._run())

    def __call__(self, label: str, done: int, total: int) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is watching any more
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (str(label), int(done), int(total)))

    async def _run(self) -> None:
        while True:
            item = await self.queue.get()
            stop = item is None
            while not self.queue.empty():  # draw only the newest report
                newer = self.queue.get_nowait()
                if newer is None:
                    stop = True
                else:
                    item = newer
            if item is not None:
                await self._draw(*item)
            if stop:
                return

    async def _draw(self, label: str, done: int, total: int) -> None:
        self.reports += 1
        try:
            if self.step is None:
                self.step = cl.Step(name=label, type="run", show_input=False, parent_id=self.parent_id)
                self.step.output = progress_text(label, done, total)
                await self.step.send()
            else:
                self.step.name = label
                self.step.output = progress_text(label, done, total)
                await self.step.update()
        except Exception:  # progress is a courtesy; never let it break a turn
            log.debug("Progress update failed", exc_info=True)

    async def close(self) -> None:
        """Stop relaying and take the progress step away."""
        self.queue.put_nowait(None)
        await self.task
        if self.step is not None:
            try:
                await self.step.remove()
            except Exception:
                log.debug("Removing the progress step failed", exc_info=True)
            self.step = None


async def show_steps(outcomes: list[Any], parent_id: str | None = None) -> None:
    """One ``tool`` step per tool call: its inputs, its result or error, and its seconds.

    Args:
        outcomes: the turn's ``StepOutcome`` list.
        parent_id: the message the steps belong to (shown inside it).
    """
    now = datetime.now(timezone.utc)
    for outcome in outcomes:
        step = cl.Step(name=outcome.tool, type="tool", parent_id=parent_id)
        step.input = dict(outcome.args)
        if outcome.ok:
            text = outcome.result.text if outcome.result is not None else ""
        else:
            text = outcome.error or f"{outcome.tool} failed."
            step.is_error = True
        step.output = f"{text}\n\n_{outcome.seconds:.2f} s_" if text else f"_{outcome.seconds:.2f} s_"
        step.start = _timestamp(now - timedelta(seconds=outcome.seconds))
        step.end = _timestamp(now)
        await step.send()


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


def reply_elements(reply: Any) -> list[Any]:
    """The reply's media: pictures inline, audio with a player that starts by itself."""
    elements: list[Any] = []
    for artifact in reply.artifacts:
        if artifact.kind == "image":
            elements.append(cl.Image(name=artifact.id, path=str(artifact.path), mime=artifact.mime, display="inline"))
        elif artifact.kind == "audio":
            elements.append(
                cl.Audio(
                    name=artifact.id, path=str(artifact.path), mime=artifact.mime, display="inline", auto_play=True
                )
            )
    return elements
