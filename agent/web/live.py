"""A turn shown in the browser as it happens.

``Assistant.stream`` is a synchronous iterator that runs the turn in a worker thread.
:class:`TurnFeed` reads it in a thread of its own and hands each event to the chat's
event loop; :class:`LiveTurn` draws them: a tool step appears when it starts (with its
inputs), shows "step i of n" while it works and ends with its result and seconds; the
reply's words stream into the message; each spoken sentence goes to the browser's
audio player as soon as it exists; the pictures and the whole recording are attached
when the turn is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import chainlit as cl
from chainlit.utils import utc_now

from agent.turn.events import (
    AudioChunk,
    StepFinished,
    StepProgress,
    StepStarted,
    TextDelta,
    Transcript,
    TurnDone,
)
from agent.voice.playback import words_played
from agent.web.render import progress_text, reply_elements, spoken_seconds, step_result_text

log = logging.getLogger(__name__)

PLAYER_RATE = 24_000  # Hz, the rate Chainlit 2.x's browser stream player plays PCM at
PLAYER_FORMAT = "pcm16"  # what that player takes: little-endian 16-bit mono samples
STOPPED_NOTE = "_You stopped this reply._"
VOICE_PLACEHOLDER = "(voice message)"  # the user's message when a voice note held no words


class _End:
    """The feed's last item: the turn's thread is done (``error`` when it failed)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class TurnFeed:
    """Reads a turn's events in a worker thread and hands them to the event loop.

    Args:
        events: starts the turn and returns its (synchronous) event iterator; called in
            the worker thread, so starting the turn never blocks the loop.
        cancel: the turn's stop signal; leaving early sets it.
    """

    def __init__(self, events: Callable[[], Iterable[Any]], cancel: threading.Event) -> None:
        self.cancel = cancel
        self._ended = False  # the worker thread is done
        self._pending: deque[Any] = deque()  # events arrived, not yet handed out
        self._loop = asyncio.get_running_loop()
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._thread = threading.Thread(target=self._read, args=(events,), name="polychat-web-turn", daemon=True)
        self._thread.start()

    def _hand_over(self, item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is watching any more
            self._loop.call_soon_threadsafe(self._inbox.put_nowait, item)

    def _read(self, events: Callable[[], Iterable[Any]]) -> None:
        error = None
        try:
            for event in events():
                self._hand_over(event)
        except BaseException as e:  # noqa: BLE001 - handed to the loop, raised there
            error = e
        self._hand_over(_End(error))

    async def next_event(self) -> Any | None:
        """The next event (waiting for it), or None once the turn is over.

        Progress reports that a newer report of the same step has overtaken are skipped.

        Raises:
            PolychatError: the turn could not start (whatever the iterator raised).
        """
        while not self._pending:
            if self._ended:
                return None
            arrived = [await self._inbox.get()]
            while not self._inbox.empty():
                arrived.append(self._inbox.get_nowait())
            if isinstance(arrived[-1], _End):
                self._ended = True
                if arrived[-1].error is not None:
                    raise arrived[-1].error
                arrived.pop()
            self._pending.extend(arrived)
            self._pending = deque(newest_progress_only(list(self._pending)))
        return self._pending.popleft()

    @property
    def finished(self) -> bool:
        """The turn is over and every event was handed out."""
        return self._ended and not self._pending


def newest_progress_only(batch: list[Any]) -> list[Any]:
    """The batch without progress reports that a later report of the same step supersedes."""
    later: set[int] = set()
    kept: list[Any] = []
    for event in reversed(batch):
        if isinstance(event, StepProgress):
            if event.step in later:
                continue
            later.add(event.step)
        kept.append(event)
    kept.reverse()
    return kept


class LiveTurn:
    """Draws one turn's events in the chat, as they arrive.

    Args:
        parent_id: the run or message the tool steps belong to.
        cancel: the turn's stop signal (set by the stop button or a disconnect).
        voice_message: the "🎤 …" user message of a voice turn; the transcript replaces its text.
    """

    def __init__(self, parent_id: str | None, cancel: threading.Event, voice_message: cl.Message | None = None) -> None:
        self.parent_id = parent_id
        self.cancel = cancel
        self.voice_message = voice_message
        self.message = cl.Message(content="")
        self.steps: dict[int, cl.Step] = {}
        self._downloads: dict[str, cl.Step] = {}  # downloads outside any tool step, by label
        self.drawn_steps: list[cl.Step] = []  # every step shown (to take back a withdrawn answer)
        self.reply: Any = None
        self.audio_chunks = 0  # spoken sentences sent to the browser's player
        self.playing_until = 0.0  # loop time when the sentences sent so far end playing
        self.started_playing: float | None = None  # loop time the first sentence was sent
        self.sentences: list[tuple[str, float, float]] = []  # (words, loop time it starts playing, seconds)
        self.cut_at: float | None = None  # loop time the person cut the spoken reply off
        self.kept_played = False  # the history was told what was played (see agent.web.app.keep_played)
        self._interrupted = False
        self._heard = False  # the voice message shows its transcript

    @property
    def track(self) -> str:
        """The player track of this reply's sentences (one per reply, so a stop silences only it)."""
        return self.message.id

    async def show(self, event: Any) -> None:
        """Draw one event."""
        if isinstance(event, Transcript):
            await self._transcript(event)
        elif isinstance(event, StepStarted):
            await self._step_started(event)
        elif isinstance(event, StepProgress):
            await self._step_progress(event)
        elif isinstance(event, StepFinished):
            await self._step_finished(event)
        elif isinstance(event, TextDelta):
            await self.message.stream_token(event.text)
        elif isinstance(event, AudioChunk):
            await self._speak(event)
        elif isinstance(event, TurnDone):
            self.reply = event.reply

    async def finish(self) -> None:
        """Complete the message: its final text, its pictures and recording; persist it."""
        for label, step in list(self._downloads.items()):  # a download the turn left unfinished (stopped, failed)
            del self._downloads[label]
            step.end = utc_now()
            with contextlib.suppress(Exception):
                await step.update()
        reply = self.reply
        if reply is None:  # the turn's thread ended without a reply; keep what was shown
            await self.message.send()
            return
        if self.voice_message is not None and not self._heard:
            await self._transcript(Transcript(reply.user_text))
        text = reply.text
        if reply.cancelled or self.cut_at is not None:
            text = f"{text}\n\n{STOPPED_NOTE}" if text.strip() else STOPPED_NOTE
            await self.interrupt_speech()
        self.message.content = text
        self.message.elements = reply_elements(reply, auto_play=self.audio_chunks == 0 and not reply.cancelled)
        await self.message.send()

    async def stop(self) -> None:
        """Stop the turn (the stop button, or the person left) and silence what it said."""
        self.cancel.set()
        await self.interrupt_speech()

    async def interrupt_speech(self) -> None:
        """Stop the browser playing this reply's sentences (once; only if any were sent)."""
        if self.audio_chunks and not self._interrupted:
            self._interrupted = True
            with contextlib.suppress(Exception):  # the browser may be gone
                await cl.context.emitter.send_audio_interrupt()

    async def cut(self, now: float) -> None:
        """The person spoke over the reply (or asked it to stop): silence it now, stop the turn."""
        if self.cut_at is None:
            self.cut_at = now
            if self.reply is not None and not self.reply.cancelled and self.audio_chunks:
                # the turn was over, only its speech was still playing: say it was cut off
                self.message.content = f"{self.message.content}\n\n{STOPPED_NOTE}"
                with contextlib.suppress(Exception):
                    await self.message.update()
        await self.stop()

    def playing(self, now: float) -> bool:
        """Whether the browser is still playing this reply's sentences at ``now``."""
        return bool(self.audio_chunks) and self.cut_at is None and now < self.playing_until

    def words_played(self) -> str:
        """The words of the spoken sentences that played before the cut (all of them if none)."""
        cut = self.cut_at if self.cut_at is not None else float("inf")
        played = [(text, seconds, min(seconds, max(0.0, cut - start))) for text, start, seconds in self.sentences]
        return words_played(played)

    def speaking_until(self, now: float) -> float:
        """Loop time when the reply's speech ends playing in the browser (``now`` if silent)."""
        if self.audio_chunks:
            return max(now, self.playing_until)
        if self.reply is not None and not self.reply.cancelled:
            return now + spoken_seconds(self.reply)  # the recording plays by itself from now
        return now

    # -- drawing ---------------------------------------------------------------------------
    async def _transcript(self, event: Transcript) -> None:
        if self.voice_message is None:
            return
        self._heard = True
        self.voice_message.content = event.text or VOICE_PLACEHOLDER
        await self.voice_message.update()

    async def _step_started(self, event: StepStarted) -> None:
        # Open while it runs (its progress shows), folded once it ends.
        step = cl.Step(name=event.tool, type="tool", parent_id=self.parent_id, default_open=True, auto_collapse=True)
        step.input = dict(event.args)
        step.start = utc_now()
        self.steps[event.step] = step
        self.drawn_steps.append(step)
        await step.send()

    async def _step_progress(self, event: StepProgress) -> None:
        step = self.steps.get(event.step)
        if step is None and event.unit == "bytes":  # a model downloading outside any shown step (the chat model)
            await self._download_outside_steps(event)
            return
        if step is None:
            return
        step.output = progress_text(event.label, event.done, event.total, event.unit)
        try:  # drawn, not stored: the stored step gets its result when it ends
            await cl.context.emitter.update_step(step.to_dict())
        except Exception:  # progress is a courtesy; never let it break a turn
            log.debug("Progress update failed", exc_info=True)

    async def _download_outside_steps(self, event: StepProgress) -> None:
        """A step of its own for a download no tool step holds; it ends with the download."""
        step = self._downloads.get(event.label)
        if step is None:
            step = cl.Step(name="download", type="tool", parent_id=self.parent_id, default_open=True)
            step.input = {"model": event.label.removeprefix("Downloading ")}
            step.start = utc_now()
            self._downloads[event.label] = step
            self.drawn_steps.append(step)
            await step.send()
        step.output = progress_text(event.label, event.done, event.total, event.unit)
        if event.done >= event.total:
            del self._downloads[event.label]
            step.end = utc_now()
            await step.update()
            return
        try:
            await cl.context.emitter.update_step(step.to_dict())
        except Exception:  # progress is a courtesy; never let it break a turn
            log.debug("Progress update failed", exc_info=True)

    async def _step_finished(self, event: StepFinished) -> None:
        step = self.steps.pop(event.step, None)
        if step is None:  # it never announced its start; show it whole
            step = cl.Step(name=event.tool, type="tool", parent_id=self.parent_id)
            step.input = dict(event.outcome.args)
            step.start = utc_now()
            self.drawn_steps.append(step)
            await step.send()
        text, failed = step_result_text(event.outcome)
        step.output = text
        step.is_error = failed
        step.end = utc_now()
        await step.update()

    async def _speak(self, chunk: AudioChunk) -> None:
        if self.cancel.is_set():  # stopped: what is still on its way is not played
            return
        data = await asyncio.to_thread(chunk.pcm16, PLAYER_RATE)
        await cl.context.emitter.send_audio_chunk(
            cl.OutputAudioChunk(track=self.track, mimeType=PLAYER_FORMAT, data=data)
        )
        now = asyncio.get_running_loop().time()
        start = max(now, self.playing_until)
        if self.started_playing is None:
            self.started_playing = now
        self.sentences.append((chunk.text, start, chunk.seconds))
        self.playing_until = start + chunk.seconds
        self.audio_chunks += 1
