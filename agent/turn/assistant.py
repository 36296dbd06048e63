"""One turn of conversation, as a stream of events that flows one way.

    voice note? -> transcribe -> route -> run the steps -> chat model -> speak the reply
        │              │            │          │              │               │
     events:       transcript     plan     step.*        text.delta      audio.chunk ... done

Adapters (terminal, browser, HTTP) put the person's files into the session's artifact
store, then read ``Assistant.stream``; ``Assistant.respond`` is the same stream
collected into its final ``Reply``. A turn can be stopped at any time through its
``cancel`` event: between steps, tokens and spoken sentences, and inside long steps
that report progress. A stopped turn keeps what was already delivered and is recorded
as the person saw and heard it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from agent.artifacts import Artifact
from agent.config import Settings, get_settings
from agent.errors import PolychatError, TurnCancelled, storage_error
from agent.models import hub
from agent.router.plan import Plan, Step
from agent.turn.events import (
    AudioChunk,
    PlanMade,
    Reply,
    StepFinished,
    StepProgress,
    StepStarted,
    TextDelta,
    Transcript,
    TurnDone,
    TurnEvent,
)
from agent.turn.executor import MEDIA_TOOLS, ExecutionLog, Executor

log = logging.getLogger(__name__)

DOWNLOAD_REPORT_SECONDS = 0.25  # a download's progress is reported at most this often

__all__ = ["NO_CHAT_MODEL", "NO_WORDS_HEARD", "Assistant", "Reply", "cancel_running_turns"]

NO_CHAT_MODEL = (
    "There is no chat model on this machine for open conversation "
    "(run 'polychat models pull chat', or set POLYCHAT_CHAT_URL to an Ollama or OpenAI-compatible server)."
)
NO_WORDS_HEARD = "I couldn't hear any words in that recording; please try again."
LANGUAGE_CONFIDENCE = 0.8  # a voice note's detected language is remembered from this probability up
_FINISHED = object()  # the turn's thread is done

_running: set[threading.Event] = set()  # the cancel events of the turns running in this process
_running_lock = threading.Lock()


def cancel_running_turns() -> int:
    """Stop every turn running in this process (the process is shutting down); return how many.

    Each stops at its next check and is recorded with what it had delivered, as if its
    person had pressed stop.
    """
    with _running_lock:
        running = list(_running)
    for cancel in running:
        cancel.set()
    return len(running)


def turn_too_long(limit: float) -> str:
    """The sentence a turn stopped by ``max_turn_seconds`` ends with."""
    return (f"This turn took longer than the {limit:g}-second limit and was stopped "
            "(set POLYCHAT_MAX_TURN_SECONDS to allow more).")


class Assistant:
    """Runs turns for any number of sessions, sharing one model manager.

    Args:
        settings: the settings in force.
        models: the shared ModelManager (default: the process-wide one).
        chat_model: a langchain-core chat model to use instead of the configured one
            (tests pass fake chat models here).
    """

    def __init__(self, settings: Settings | None = None, models: Any = None, chat_model: Any = None) -> None:
        from agent.models.manager import get_manager

        self.settings = settings or get_settings()
        self.models = models or get_manager()
        self._chat_model = chat_model
        self._chat_loaded = chat_model is not None
        self._chat_lock = threading.Lock()

    @property
    def chat_model(self) -> Any:
        """The configured chat model (loaded on first use), or None when there is none."""
        with self._chat_lock:
            if not self._chat_loaded:
                from agent.turn.chat import load_chat_model

                models = self.models.bound(self.settings) if hasattr(self.models, "bound") else self.models
                try:
                    self._chat_model = load_chat_model(self.settings, models)
                except PolychatError as e:
                    log.warning("%s", e)
                    self._chat_model = None
                self._chat_loaded = True
        return self._chat_model

    def stream(
        self,
        session: Any,
        text: str = "",
        attachments: list[Artifact] | None = None,
        *,
        voice: bool = False,
        tool_defaults: dict[str, dict[str, Any]] | None = None,
        cancel: threading.Event | None = None,
        transcript: str | None = None,
        client_tools: Any = None,
    ) -> Iterator[TurnEvent]:
        """Answer one turn of ``session``, yielding its events as they happen; ``done`` is last.

        The turn runs in a worker thread; reading the events never waits for more than
        the next one. Leaving the loop early (``break``, closing the iterator) stops the
        turn as ``cancel`` would, and waits until it has stopped and been recorded.

        Args:
            session: the conversation (``agent.turn.session.Session``).
            text: what the user typed (may be empty).
            attachments: artifacts the user attached this turn (already in the store).
            voice: the turn arrived as a voice note (the reply is spoken too).
            tool_defaults: per-person argument defaults by tool, e.g.
                ``{"generate_image": {"steps": 30, "seed": 7}}``; they fill arguments a
                step leaves out (the step's own values win) and show in the plan.
            cancel: set it (from any thread) to stop the turn.
            transcript: the voice note's words when they are already known (transcribed
                while the person spoke, ``agent.voice``): the turn does not transcribe
                it again. Empty: nothing was heard.
            client_tools: tools the client runs itself (``agent.turn.chat.ClientTools``):
                offered to the chat model, its calls of them end the turn (``Reply.tool_calls``).

        Raises:
            LimitError: the message is longer than ``max_message_chars`` (nothing was started).
            PolychatError: the turn could not start (e.g. a bad setting), or could not be
                saved (``StorageError``: disk full, read-only data dir), in one sentence.
        """
        cancel = cancel if cancel is not None else threading.Event()
        events: queue.Queue[Any] = queue.Queue()
        worker = self._start(session, text, attachments, voice, tool_defaults, cancel, events.put, transcript,
                             client_tools)
        try:
            while True:
                event = events.get()
                if event is _FINISHED:
                    return
                if isinstance(event, BaseException):
                    raise event
                yield event
        finally:
            if worker.is_alive():
                cancel.set()
                worker.join()

    async def astream(
        self,
        session: Any,
        text: str = "",
        attachments: list[Artifact] | None = None,
        *,
        voice: bool = False,
        tool_defaults: dict[str, dict[str, Any]] | None = None,
        cancel: threading.Event | None = None,
        transcript: str | None = None,
        client_tools: Any = None,
    ) -> AsyncIterator[TurnEvent]:
        """:meth:`stream` for asyncio code (the browser, the HTTP API): the same events.

        The turn runs in its own thread and never blocks the event loop. When the reader
        goes away (its task is cancelled, e.g. the client disconnected, or it stops
        iterating), the turn is stopped; it finishes and is recorded in its own thread.
        """
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Any] = asyncio.Queue()
        cancel = cancel if cancel is not None else threading.Event()

        def hand_over(item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
                loop.call_soon_threadsafe(events.put_nowait, item)

        worker = self._start(session, text, attachments, voice, tool_defaults, cancel, hand_over, transcript,
                             client_tools)
        try:
            while True:
                event = await events.get()
                if event is _FINISHED:
                    return
                if isinstance(event, BaseException):
                    raise event
                yield event
        finally:
            if worker.is_alive():
                cancel.set()

    def _start(
        self,
        session: Any,
        text: str,
        attachments: list[Artifact] | None,
        voice: bool,
        tool_defaults: dict[str, dict[str, Any]] | None,
        cancel: threading.Event,
        emit: Callable[[Any], None],
        transcript: str | None = None,
        client_tools: Any = None,
    ) -> threading.Thread:
        """Start a turn in its own thread; its events, then any error, then ``_FINISHED`` go to ``emit``.

        The turn is stopped through ``cancel`` when it runs past ``max_turn_seconds`` or the
        process shuts down (:func:`cancel_running_turns`).
        """
        from agent.limits import check_message

        check_message(text, self.settings)
        turn = _Turn(self, session, text, list(attachments or []), voice, tool_defaults, cancel, emit, transcript,
                     client_tools)

        def work() -> None:
            try:
                turn.run()
            except BaseException as e:  # noqa: BLE001 - handed to the reader
                emit(e)
            finally:
                with _running_lock:
                    _running.discard(cancel)
                emit(_FINISHED)

        with _running_lock:
            _running.add(cancel)
        worker = threading.Thread(target=work, name=f"polychat-turn-{session.id}", daemon=True)
        worker.start()
        return worker

    def respond(
        self,
        session: Any,
        text: str = "",
        attachments: list[Artifact] | None = None,
        *,
        voice: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
        tool_defaults: dict[str, dict[str, Any]] | None = None,
        cancel: threading.Event | None = None,
        transcript: str | None = None,
        client_tools: Any = None,
    ) -> Reply:
        """Answer one turn and return the whole reply: :meth:`stream`, collected.

        Args:
            progress: called as ``progress(label, done, total)`` during long steps.
            (the others as in :meth:`stream`)
        """
        reply: Reply | None = None
        events = self.stream(
            session, text, attachments, voice=voice, tool_defaults=tool_defaults, cancel=cancel, transcript=transcript,
            client_tools=client_tools,
        )
        for event in events:
            if isinstance(event, StepProgress) and progress is not None:
                progress(event.label, event.done, event.total)
            elif isinstance(event, TurnDone):
                reply = event.reply
        assert reply is not None, "a turn always ends with done"
        return reply


class ReplyText:
    """The reply's words, built from parts (one per tool text, one for the chat model).

    Parts are stripped and joined by blank lines; each piece is sent as a ``text.delta``
    the moment it is known, so the deltas joined are exactly the reply's text.
    """

    SEPARATOR = "\n\n"

    def __init__(self, emit: Callable[[TurnEvent], None]) -> None:
        self.emit = emit
        self.parts: list[str] = []
        self._started = False  # the part being streamed has shown a character
        self._held = ""  # trailing whitespace held back until more text follows

    @property
    def text(self) -> str:
        return self.SEPARATOR.join(self.parts)

    def add(self, part: str | None) -> None:
        """A whole part at once (a tool's text, a sentence of the agent's own)."""
        self.begin()
        self.stream(part or "")
        self.begin()

    def begin(self) -> None:
        """Start a new part (what follows is separated from what came before)."""
        self._started, self._held = False, ""

    def stream(self, piece: str) -> None:
        """More text of the current part."""
        out = ""
        if not self._started:
            piece = piece.lstrip()
            if not piece:
                return
            out = self.SEPARATOR if self.parts else ""
            self.parts.append("")
            self._started = True
        body = self._held + piece
        kept = body.rstrip()
        self._held = body[len(kept) :]
        if kept:
            self.parts[-1] += kept
            out += kept
        if out:
            self.emit(TextDelta(out))


class _Turn:
    """One turn in progress: its context, its log, its text, and where its events go."""

    def __init__(
        self,
        assistant: Assistant,
        session: Any,
        text: str,
        attachments: list[Artifact],
        voice: bool,
        tool_defaults: dict[str, dict[str, Any]] | None,
        cancel: threading.Event,
        emit: Callable[[TurnEvent], None],
        transcript: str | None = None,
        client_tools: Any = None,
    ) -> None:
        from tools import default_tools
        from tools.base import ToolContext

        self.assistant, self.session, self.settings = assistant, session, assistant.settings
        self.text, self.attachments, self.cancel, self.emit = text, attachments, cancel, emit
        self.known_transcript = transcript  # the voice note's words, heard while it was spoken
        self.client_tools = client_tools  # tools the client runs (ClientTools), or None
        self.client_calls: list[dict[str, Any]] = []  # the chat model's calls of them
        self.voice = voice or (not text.strip() and any(a.kind == "audio" for a in attachments))
        self.number = 0  # known once the turn holds its conversation (see run)
        models = assistant.models
        models = models.bound(self.settings) if hasattr(models, "bound") else models
        self.context = ToolContext(
            self.settings, models, session.artifacts, turn=self.number,
            progress=self._progress, cancel=cancel, on_audio=self._audio,
            spoken_chars_left=self.settings.max_spoken_chars if self.settings.max_spoken_chars > 0 else None,
        )
        if self.settings.cluster:  # the tools run on the cluster's services (agent.cluster)
            from agent.cluster.remote import remote_tools

            self.tools = {tool.name: tool for tool in remote_tools(self.context)}
        else:
            self.tools = {tool.name: tool for tool in default_tools(self.context)}
        self.executor = Executor(self.tools, tool_defaults, listener=self._step_event, cancel=cancel)
        self.log = ExecutionLog()
        self.reply = ReplyText(emit)
        self.user_text = text
        self.transcript = ""
        self.plan = Plan()
        self._shown: Callable[[Any], str] = lambda outcome: ""  # which step texts join the reply
        self._quiet = False  # the voice note's transcription shows as its transcript, not as a step
        self._sentences: dict[int, int] = {}  # spoken sentences so far, per step
        self.timed_out = False  # stopped by max_turn_seconds
        self._last_download_report = 0.0
        self._running_step: tuple[int, str] = (0, "chat")  # the step running now (0: none shown)

    def expire(self) -> None:
        """The turn ran past ``max_turn_seconds``: stop it, and say so in its reply."""
        self.timed_out = True
        self.cancel.set()

    # -- the flow ------------------------------------------------------------------------
    def run(self) -> None:
        """Hold the conversation (turns of one conversation run one at a time), then answer."""
        hold = getattr(self.session, "turn", None)
        try:
            with hold(self.cancel) if hold is not None else contextlib.nullcontext(), \
                    hub.reporting_downloads(self._downloading):
                self._answer()
        except TurnCancelled:  # stopped while the conversation's previous turn ran: it never began
            self.emit(TurnDone(Reply(text="", user_text=self.text, cancelled=True)))
        except OSError as e:  # the conversation's folder cannot be made or locked (read-only, full)
            raise storage_error(e, getattr(self.session, "folder", None)) from e

    def _answer(self) -> None:
        """Answer, once the conversation is this turn's; its time limit counts from here."""
        self.number = self.context.turn = self.session.new_turn_number()
        limit = self.settings.max_turn_seconds
        timer = threading.Timer(limit, self.expire) if limit > 0 else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        cancelled = False
        try:
            self._flow()
        except TurnCancelled:
            cancelled = True
        finally:
            if timer is not None:
                timer.cancel()
        if cancelled and self.timed_out:
            self.reply.add(turn_too_long(self.settings.max_turn_seconds))
        reply = Reply(
            text=self.reply.text,
            plan=self.log.to_json(),
            artifacts=self.log.artifacts(),
            steps=self.log.outcomes,
            user_text=self.user_text,
            turn=self.number,
            transcript=self.transcript,
            cancelled=cancelled,
            tool_calls=self.client_calls,
        )
        try:
            self._remember(reply)
        except OSError as e:  # disk full, read-only: the person hears why, the old history stays whole
            raise storage_error(e, self.session.folder) from e
        self.emit(TurnDone(reply))

    def _flow(self) -> None:
        from agent.router import route

        if self.client_tools is not None and self.client_tools.follow_up:  # the client ran the calls
            self.emit(PlanMade([], True, None))
            self._converse()
            return
        audios = [a for a in self.attachments if a.kind == "audio"]
        if not self.text.strip() and audios:  # a voice note: its words are what was said
            heard = self._transcribe(audios[0])
            if heard is None:
                return
            self.user_text = self.transcript = heard
            plan = route(heard, [], self.session.state(), voice=True, settings=self.settings)
        else:
            plan = route(self.text, self.attachments, self.session.state(), voice=self.voice, settings=self.settings)
        self.plan = plan
        self.emit(PlanMade(plan.to_json(), plan.chat, plan.reply))
        self.reply.add(plan.reply)

        several = len(plan.steps) > 1
        self._shown = lambda o: _routed_text(o, several)
        self.executor.run(plan.steps, self.log)
        if plan.chat:
            self._converse()
        if plan.speak_reply and self.settings.spoken_replies:
            self._speak_reply()

    def _transcribe(self, audio: Artifact) -> str | None:
        """Transcribe the voice note (the first step of the turn); None when it gave no words."""
        from tools.transcribe import is_silence_phrase, no_speech_sentence

        if self.known_transcript is not None:  # transcribed while the person spoke
            heard = self.known_transcript.strip()
            heard = "" if is_silence_phrase(heard) else heard
            self.emit(Transcript(heard, getattr(self.session, "language", None)))
            if not heard:
                self.reply.add(NO_WORDS_HEARD)
            return heard or None

        args = {"audio": audio.id}
        known = getattr(self.session, "language", None)
        if known:  # the conversation's language: Whisper skips detecting it again
            args["language"] = known
        self._shown, self._quiet = (lambda outcome: ""), True
        try:
            self.executor.run([Step("transcribe_audio", args)], self.log)
        finally:
            self._quiet = False
        outcome = self.log.outcomes[-1]
        heard = outcome.output_text.strip() if outcome.ok else ""
        data = (outcome.result.data or {}) if outcome.ok and outcome.result else {}
        language = data.get("language")
        self.emit(Transcript(heard, language))
        if not outcome.ok:
            silent = outcome.error == no_speech_sentence(audio.id)  # silence or noise, not a failure
            self.reply.add(NO_WORDS_HEARD if silent else outcome.error)
        elif not heard:
            self.reply.add(NO_WORDS_HEARD)
        elif not known and language and float(data.get("language_probability") or 0) >= LANGUAGE_CONFIDENCE:
            remember = getattr(self.session, "remember_language", None)
            if remember is not None:
                remember(language)
        return heard or None

    def _converse(self) -> None:
        """The chat model's reply, streamed; tools it asks for run like any other step."""
        from langchain_core.messages import ToolMessage

        import prompts
        from agent.router import describe_capabilities
        from agent.turn.chat import conversation_messages, offer_tools, stream_answer

        model = self.assistant.chat_model
        if model is None:
            self.reply.add(f"{NO_CHAT_MODEL}\n\n{describe_capabilities()}")
            return
        data = [f"- {o.tool}: {o.output_text}" for o in self.log.outcomes if o.ok and o.tool not in MEDIA_TOOLS]
        messages = conversation_messages(
            prompts.load("system.txt").strip(),
            self.session.history(self.settings.history_turns),
            data,
            self.user_text,
        )
        known = ", ".join(a.describe() for a in self.session.artifacts.all()) or "none yet"
        client = self.client_tools
        offered = [*self.tools.values(), *(client.tools if client is not None else [])]
        bound = offer_tools(model, offered, messages, prompts.load("tool_selection.txt").format(artifacts=known))
        if client is not None:
            messages.extend(client.follow_up)
        self.reply.begin()
        answer = stream_answer(bound, messages, self.reply.stream, self.cancel)
        if answer is None:
            self.reply.add(describe_capabilities())
            return
        if client is not None:  # the client runs these and sends back what they gave
            self.client_calls = [{"id": c["id"], "name": c["name"], "args": c["args"]}
                                 for c in answer.tool_calls or [] if c["name"] in client.names]
            if self.client_calls:
                return
        calls = [c for c in (answer.tool_calls or []) if c["name"] in self.tools]
        if not calls:
            return
        first = len(self.log.outcomes)
        self._shown = _chat_step_text
        self.executor.run([Step(c["name"], dict(c["args"])) for c in calls], self.log)
        messages.append(answer)
        for call, outcome in zip(calls, self.log.outcomes[first:], strict=False):
            content = outcome.output_text if outcome.ok else f"Error: {outcome.error}"
            messages.append(ToolMessage(content=content, tool_call_id=call["id"], name=call["name"]))
        self.reply.begin()
        stream_answer(model, messages, self.reply.stream, self.cancel)

    def _speak_reply(self) -> None:
        """Speak the reply (voice in, voice out), sentence by sentence as each is made."""
        speech = self.reply.text[: self.settings.max_text_chars]
        if not speech.strip() or any(o.tool == "speak_text" and o.ok for o in self.log.outcomes):
            return
        self._shown = lambda outcome: ""
        self.executor.run([Step("speak_text", {"text": speech})], self.log)
        outcome = self.log.outcomes[-1]
        if not outcome.ok:
            log.info("Spoken reply failed: %s", outcome.error)
        elif outcome.result is not None and "spoken_chars" in outcome.result.data:
            from tools.speak import spoken_cut_note

            self.reply.add(spoken_cut_note(outcome.result.data["spoken_chars"], outcome.result.data["text_chars"]))

    # -- listening to the steps ------------------------------------------------------------
    def _step_event(self, event: TurnEvent) -> None:
        if isinstance(event, StepStarted) and not self._quiet:
            self._running_step = (event.step, event.tool)
        elif isinstance(event, StepFinished):
            self._running_step = (0, "chat")
        if self._quiet:
            return
        self.emit(event)
        if isinstance(event, StepFinished):
            self.reply.add(self._shown(event.outcome))

    def _progress(self, label: str, done: int, total: int) -> None:
        if self._quiet:
            return
        step = self.context.step or 0
        tool = self.log.steps[step - 1].tool if 0 < step <= len(self.log.steps) else ""
        self.emit(StepProgress(step, tool, str(label), int(done), int(total)))

    def _downloading(self, title: str, done: int, total: int) -> None:
        """A model this turn needs is downloading: its bytes show as the step's progress.

        Reports come at most every ``DOWNLOAD_REPORT_SECONDS`` (and at the end); a stopped
        turn stops the download here (its part is kept and resumes next time).
        """
        self.context.check_cancelled()
        now = time.monotonic()
        if done < total and now - self._last_download_report < DOWNLOAD_REPORT_SECONDS:
            return
        self._last_download_report = now
        step, tool = self._running_step
        self.emit(StepProgress(step, tool, f"Downloading {title}", int(done), int(total), "bytes"))

    def _audio(self, words: str, samples: Any, sample_rate: int) -> None:
        step = self.context.step or 0
        index = self._sentences.get(step, 0)
        self._sentences[step] = index + 1
        self.emit(AudioChunk(step, index, words, samples, int(sample_rate)))

    # -- the record ----------------------------------------------------------------------
    def _remember(self, reply: Reply) -> None:
        from agent.turn.session import TurnRecord

        outputs = [o.output_text for o in self.log.outcomes if o.ok and o.tool not in MEDIA_TOOLS]
        self.session.record(
            TurnRecord(
                number=self.number,
                user_text=reply.user_text,
                attachments=[a.id for a in self.attachments],
                plan=reply.plan,
                reply_text=reply.text,
                artifacts=[a.id for a in reply.artifacts],
                outputs=outputs,
                voice=self.voice,
                cancelled=reply.cancelled,
            )
        )


def _routed_text(outcome: Any, several_steps: bool) -> str:
    """What a routed step adds to the reply: its text or its error; a spoken line only alone."""
    if not outcome.ok:
        return outcome.error or f"{outcome.tool} failed."
    if outcome.tool == "speak_text" and several_steps:
        return ""  # the audio speaks for itself
    return outcome.result.text if outcome.result is not None else ""


def _chat_step_text(outcome: Any) -> str:
    """What a step the chat model asked for adds to the reply (its spoken line does not)."""
    if not outcome.ok:
        return outcome.error or ""
    if outcome.tool == "speak_text" or outcome.result is None:
        return ""
    return outcome.result.text
