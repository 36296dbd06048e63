"""The browser chat: a Chainlit app over the same Session and Assistant as ``polychat chat``.

People type, attach images and audio, or talk: the microphone streams PCM to the
server, voice activity detection ends each utterance after a short pause, and the
answer comes back as it is made (``agent.web.live``): each tool call shows as a step
when it starts, with its inputs, progress and time; the words stream into the
message; the spoken reply plays sentence by sentence while the rest is still being
synthesized; pictures and the whole recording are attached at the end. The stop
button (or leaving) stops the turn; what was delivered until then is kept.
Conversations are stored (``agent.web.db``, ``agent.web.store``) and can be reopened
after a restart.

Start it with ``polychat serve`` (``agent.cli.serve``), which sets Chainlit up
before this module is imported. Models load on first use, in worker threads, so
the page stays responsive and several people can chat at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import chainlit as cl
import numpy as np
from chainlit.config import config as chainlit_config
from chainlit.server import app as chainlit_app

from agent.web import db as web_db
from agent.web import store as web_store
from agent.web.api import mount_api
from agent.config import get_settings, parse_auth_users
from agent.errors import PolychatError, os_error_sentence
from agent.media import encode_wav
from agent.web.prefs import MAX_SEED, Prefs, parse_seed, settings_panel
from agent.web.hosts import guard_with_login, guard_without_login
from agent.turn.events import TurnDone
from agent.web.live import LiveTurn, TurnFeed
from agent.web.login import LOCAL_PROVIDER, PasswordBook, SignIns, check_chainlit_tokens
from agent.web.render import name_thread, upload_problem
from agent.voice.live import EndOfTurn, Heard, LiveListener, Partial, Paused, Resumed, SpeechOnset
from agent.voice.playback import BARGE_IN_SECONDS, ECHO_DEAF_SECONDS, ECHO_MARGIN, is_stop_request
from agent.voice.vad import pcm16_to_float

log = logging.getLogger(__name__)

SETTINGS = get_settings()
STORAGE = web_store.LocalStorageClient(web_store.web_dir(SETTINGS) / "files")
BROWSER_SAMPLE_RATE = 24_000  # Hz, the rate Chainlit 2.x's browser recorder always records at
REPLY_ECHO_GUARD_SECONDS = 0.5  # seconds after a spoken reply ends in which speech is still taken as its echo
PARTIAL_EVERY_SECONDS = 0.3  # the partial transcript is redrawn at most this often
FAILURE = "Something went wrong on my side while answering; please try again."
NOTHING_SENT = "Type a message, attach a picture or a recording, or press the microphone."

STARTERS = [
    cl.Starter(label="Draw something", message="Draw a lighthouse on a cliff at sunset, watercolor"),
    cl.Starter(label="Describe my photo", message="Describe my photo"),
    cl.Starter(label="Read the text in an image", message="Read the text in my image"),
    cl.Starter(label="Talk to me", message="Hello! How can I talk to you?"),
]

# Chainlit's own limits follow the settings, so the upload dialog and the server agree.
if chainlit_config.features.spontaneous_file_upload is not None:
    chainlit_config.features.spontaneous_file_upload.max_size_mb = max(1, math.ceil(SETTINGS.max_upload_mb))
chainlit_config.ui.name = "polychat"
MICROPHONE_RATE = int(getattr(chainlit_config.features.audio, "sample_rate", 0) or BROWSER_SAMPLE_RATE)
if MICROPHONE_RATE != BROWSER_SAMPLE_RATE:
    log.warning(
        "[features.audio] sample_rate is %d in .chainlit/config.toml, but the browser records at %d Hz; "
        "set it to %d or voice messages will sound slowed down or sped up.",
        MICROPHONE_RATE, BROWSER_SAMPLE_RATE, BROWSER_SAMPLE_RATE,
    )
web_store.mount_file_route(chainlit_app, STORAGE)
mount_api(chainlit_app, SETTINGS)  # the HTTP API (/api/turn ...) beside the web UI


# --------------------------------------------------------------------------- per-user state


def current_prefs() -> Prefs:
    """This person's preferences, from the settings panel of this conversation."""
    return Prefs.from_panel(cl.context.session.chat_settings, SETTINGS)


_assistants: dict[tuple[Any, ...], Any] = {}


def assistant_for(prefs: Prefs) -> Any:
    """The shared Assistant for these preferences (all share one model manager)."""
    from agent.turn.assistant import Assistant
    from agent.models.manager import get_manager

    key = (prefs.spoken_replies, prefs.voice, prefs.target_language)
    if key not in _assistants:
        _assistants[key] = Assistant(settings=prefs.settings(), models=get_manager())
    return _assistants[key]


def conversation() -> Any:
    """This chat's Session, in ``<data dir>/web/threads/<thread id>`` (made on first use)."""
    session = cl.user_session.get("polychat_session")
    if session is None:
        from agent.turn.session import open_session

        session = open_session(web_store.threads_dir(SETTINGS), SETTINGS, cl.context.session.thread_id, create=True)
        cl.user_session.set("polychat_session", session)
    return session


# --------------------------------------------------------------------------- chat events


@cl.set_starters
async def starters(user: Any = None, language: Any = None) -> list[cl.Starter]:
    return STARTERS


@cl.on_chat_start
async def on_chat_start() -> None:
    await settings_panel(current_prefs()).send()


@cl.on_chat_resume
async def on_chat_resume(thread: dict[str, Any]) -> None:
    cl.user_session.set("polychat_session", None)
    await asyncio.to_thread(conversation)
    await settings_panel(current_prefs()).send()


@cl.on_settings_update
async def on_settings_update(chosen: dict[str, Any]) -> None:
    seed = str(chosen.get("image_seed") or "").strip()
    if seed and parse_seed(seed) is None:
        await cl.Message(
            content=f"The image seed {seed!r} is not a whole number from 0 to {MAX_SEED}; "
            "I'll pick a new seed each time until you fix it."
        ).send()


@cl.on_message
async def on_message(message: cl.Message) -> None:
    from agent.limits import check_message, check_upload_sizes, file_sizes, uploaded_bytes

    try:
        check_message(message.content, SETTINGS)  # before any work: a refused message costs nothing
        session = await asyncio.to_thread(conversation)
        paths = [element.path for element in message.elements or [] if getattr(element, "path", None)]
        if paths:
            stored = await asyncio.to_thread(uploaded_bytes, session.artifacts)
            check_upload_sizes(file_sizes(paths), SETTINGS, stored=stored)
        attachments, problems = await accept_uploads(session, message.elements or [])
        for problem in problems:
            await cl.Message(content=problem).send()
        if not message.content.strip() and not attachments:
            if not problems:
                await cl.Message(content=NOTHING_SENT).send()
            return
        await answer(session, message, message.content, attachments)
    except PolychatError as e:  # over a limit: nothing was stored or started
        await cl.Message(content=str(e)).send()
    except OSError as e:  # disk full, read-only data dir
        log.warning("Turn failed: %s", e)
        await cl.Message(content=os_error_sentence(e)).send()
    except Exception:
        log.exception("Turn failed")
        await cl.Message(content=FAILURE).send()


async def accept_uploads(session: Any, elements: list[Any]) -> tuple[list[Any], list[str]]:
    """Put the message's files into the session's store; the refused ones become sentences."""
    accepted, problems = [], []
    for element in elements:
        name = getattr(element, "name", None) or "the file"
        path = getattr(element, "path", None)
        if not path:
            problems.append(f"I couldn't read {name}; please attach it again.")
            continue
        try:
            artifact = await asyncio.to_thread(session.attach, path, name=name)
        except PolychatError as e:
            problems.append(upload_problem(name, str(e)))
            continue
        await asyncio.to_thread(web_store.keep_once, artifact.path)  # the chat history's copy is the same file
        accepted.append(artifact)
    return accepted, problems


async def answer(
    session: Any,
    asked: cl.Message | None,
    text: str,
    attachments: list[Any],
    *,
    voice: bool = False,
    transcript: str | None = None,
    started: Callable[[LiveTurn], None] | None = None,
    early: EarlyAnswer | None = None,
    shown: Callable[[], Awaitable[cl.Message]] | None = None,
) -> LiveTurn | None:
    """Run one turn and show it as it happens; return it once its message is complete.

    Tool steps go under ``asked`` (or Chainlit's run). For a voice message, ``asked`` is
    the placeholder user message, which shows the transcript as soon as it is known. The
    stop button and a disconnect stop the turn (see :func:`on_stop`); the message then
    keeps what was delivered and says it was stopped. None when the turn could not start.
    ``transcript``: a voice note's words, already heard (not transcribed again).
    ``started``: told the turn's :class:`LiveTurn` at once (what barge-in cuts off).
    ``early``: the turn answers a pause; nothing is drawn until the end-of-turn silence
    has passed, and if the person goes on it is withdrawn (record, files and messages);
    ``shown`` then shows the user's message (``asked``) and returns it.
    """
    prefs = current_prefs()
    run = cl.context.current_step  # Chainlit's "on_message" run, where tool steps belong
    parent_id = run.id if run is not None else (asked.id if asked is not None else None)
    cancel = threading.Event()
    live = LiveTurn(parent_id, cancel, voice_message=asked if voice else None)
    running = running_turns()
    running.add(live)
    if started is not None:
        started(live)
    interrupted = False  # Chainlit cancelled this task (its stop button)
    try:
        async with turn_lock():  # one turn at a time per conversation (typing while a voice turn runs)
            assistant = assistant_for(prefs)
            feed = TurnFeed(
                lambda: assistant.stream(
                    session, text, attachments, voice=voice, tool_defaults=prefs.tool_defaults(), cancel=cancel,
                    transcript=transcript,
                ),
                cancel,
            )
            if early is not None:
                early.live = live
                if not await early.held():  # the person went on before the reply could play
                    await take_back(session, feed, live, early)
                    return None
                if shown is not None:
                    asked = await shown()
                    live.voice_message = asked if voice else None
                    live.parent_id = live.parent_id or asked.id
            try:
                while True:
                    try:
                        await follow(feed, live)
                        break
                    except asyncio.CancelledError:  # the turn stops at its next check; show what it delivered
                        interrupted = True
                        await live.stop()
            finally:
                if not feed.finished:  # drawing failed: stop the turn rather than leave it unwatched
                    cancel.set()
            if early is not None and early.withdrawn:  # the person went on while it began to play
                await take_back(session, feed, live, early)
                return None
            await live.finish()
            await keep_played(session, live)  # cut off while it played: before the next turn reads the history
    except PolychatError as e:
        await cl.Message(content=str(e)).send()
        return None
    finally:
        running.discard(live)
    if interrupted:
        raise asyncio.CancelledError
    reply = live.reply
    if reply is not None and reply.turn == 1:
        title = reply.user_text or ", ".join(a.name or a.id for a in attachments) or "Voice message"
        await name_thread(cl.context.session.thread_id, title)
    return live


async def follow(feed: TurnFeed, live: LiveTurn) -> None:
    """Draw the turn's events until it is over."""
    while (event := await feed.next_event()) is not None:
        await live.show(event)


async def take_back(session: Any, feed: TurnFeed, live: LiveTurn, early: EarlyAnswer) -> None:
    """Withdraw an answer begun at a pause: stop its turn, then remove its record, files and reply."""
    live.cancel.set()
    await live.interrupt_speech()
    while (event := await feed.next_event()) is not None:  # not drawn: only its record is wanted
        if isinstance(event, TurnDone):
            live.reply = event.reply
    reply = live.reply
    number = reply.turn if reply is not None and reply.turn else early.number
    made = [a.id for a in reply.artifacts] if reply is not None else []
    await asyncio.to_thread(session.withdraw, number, [early.note, *made])
    if early.released:  # what was drawn of it goes too
        with contextlib.suppress(Exception):  # the browser may be gone
            for drawn in [*live.drawn_steps, live.message]:
                await drawn.remove()


def running_turns() -> set[LiveTurn]:
    """This chat's turns in progress (or waiting for the one in progress): what stop stops."""
    turns = cl.user_session.get("running_turns")
    if turns is None:
        turns = set()
        cl.user_session.set("running_turns", turns)
    return turns


@cl.on_stop
async def on_stop() -> None:
    """The stop button: stop this chat's turns; a spoken reply falls silent."""
    for live in list(running_turns()):
        await live.stop()


@cl.on_chat_end
async def on_chat_end() -> None:
    """The person left (closed the tab or lost the connection): nobody is listening any more."""
    for live in list(running_turns()):
        live.cancel.set()


def turn_lock() -> asyncio.Lock:
    """The lock that keeps this conversation's turns in order."""
    lock = cl.user_session.get("turn_lock")
    if lock is None:
        lock = asyncio.Lock()
        cl.user_session.set("turn_lock", lock)
    return lock


# --------------------------------------------------------------------------- voice
#
# The microphone streams PCM to a LiveListener, which transcribes each utterance while it
# is spoken: its partial words show in a "🎤 …" message as the person talks, and when
# they stop only the last piece is left to transcribe, so the turn starts with its words.
#
# Barge-in (hands-free, the barge_in preference): the microphone stays open while a reply
# plays. Speech that starts over the reply and lasts BARGE_IN_SECONDS silences the reply
# at once, cancels the rest of its turn, keeps in the history only the words that played,
# and is answered as the next question. The browser's echo cancellation (on by default,
# asked for explicitly by public/polychat.js) removes most of the reply from the
# microphone; what is left is guarded against: onsets in the first ECHO_DEAF_SECONDS of a
# reply's playback do not interrupt, and the loudest chunk heard then is taken as the
# echo level, which interrupting speech must exceed ECHO_MARGIN times. Speech over a reply
# that does not interrupt it is not taken as a question, unless it only asks to stop
# ("stop", "be quiet"): that stops the reply and starts no turn.


@dataclass
class EarlyAnswer:
    """A voice turn begun when the person paused, before they are known to be done.

    Its turn runs at once (the words so far, routing, the first spoken sentence), but
    nothing shows until the end-of-turn silence has passed (:meth:`release`). If the
    person goes on first, or speaks over its reply in the grace window after, it is
    withdrawn (:meth:`withdraw`): no record, no files, no messages; the utterance goes
    on and its next pause begins a new answer.
    """

    number: int = 0  # the turn number its voice note was attached for
    note: str = ""  # that voice note's artifact id
    live: LiveTurn | None = None
    released: bool = False
    withdrawn: bool = False
    _decided: asyncio.Event = field(default_factory=asyncio.Event)

    async def held(self) -> bool:
        """Wait until it may be shown (True) or is withdrawn (False)."""
        await self._decided.wait()
        return self.released and not self.withdrawn

    def release(self) -> None:
        if not self.withdrawn:
            self.released = True
            self._decided.set()

    async def withdraw(self) -> None:
        """The person went on: void it (a reply already playing falls silent now)."""
        if self.withdrawn:
            return
        self.withdrawn = True
        self._decided.set()
        live = self.live
        if live is not None:
            live.cancel.set()
            await live.interrupt_speech()


@dataclass
class Listening:
    """The microphone stream of one browser tab, and the utterance in progress in it."""

    listener: LiveListener
    closed: bool = False  # we told the browser to stop recording
    answering: int = 0  # voice turns in flight (from the end of the utterance until the turn is over)
    current: LiveTurn | None = None  # the newest voice turn's reply (running, or still playing)
    fed_seconds: float = 0.0  # stream seconds heard so far
    echo_level: float = 0.0  # the loudest chunk while the current reply began playing
    tasks: set[asyncio.Task] = field(default_factory=set)
    early: EarlyAnswer | None = None  # the answer begun at the utterance's pause, while it may go on
    # the utterance in progress
    over_reply: bool = False  # it began while a reply was being answered or played
    barged: bool = False  # it interrupted that reply
    onset: float | None = None  # stream seconds it began, while it may still interrupt
    onset_level: float = 0.0  # its loudest chunk since then
    said: cl.Message | None = None  # its "🎤 …" message, once partial words show
    partial: str = ""  # its newest partial words
    shown: str = ""  # the partial words on screen
    shown_at: float = -math.inf  # loop time they were shown

    def replying(self, now: float) -> bool:
        """A voice turn is being answered, or its reply still plays (with a short echo tail)."""
        current = self.current
        if self.answering > 0:
            return True
        if current is None or current.cut_at is not None or not current.audio_chunks:
            return False
        return now < current.playing_until + REPLY_ECHO_GUARD_SECONDS

    def begin_utterance(self, now: float, seconds: float) -> None:
        self.over_reply = self.replying(now)
        self.barged = False
        self.onset = seconds if self.over_reply else None
        self.onset_level = 0.0
        self.said, self.partial, self.shown, self.shown_at = None, "", "", -math.inf

    def end_utterance(self) -> tuple[bool, bool, cl.Message | None]:
        """Forget the utterance that ended: (began over a reply, interrupted it, its message)."""
        ended = (self.over_reply, self.barged, self.said)
        self.over_reply = self.barged = False
        self.onset, self.said, self.partial, self.shown = None, None, "", ""
        return ended


def chunk_level(data: bytes) -> float:
    """The loudness (RMS, 0..1) of a chunk of 16-bit PCM."""
    samples = pcm16_to_float(data)
    return float(np.sqrt(np.mean(np.square(samples)))) if samples.size else 0.0


def make_listener(prefs: Prefs, language: str | None) -> LiveListener:
    """A listener with this person's end-of-turn silence, transcribing in the conversation's language."""
    from agent.models.manager import get_manager

    return LiveListener(prefs.listening_settings(), MICROPHONE_RATE, models=get_manager(), language=language)


@cl.on_audio_start
async def on_audio_start() -> bool:
    session = await asyncio.to_thread(conversation)
    listener = await asyncio.to_thread(make_listener, current_prefs(), session.language)
    cl.user_session.set("listening", Listening(listener))
    return True


@cl.on_audio_chunk
async def on_audio_chunk(chunk: cl.InputAudioChunk) -> None:
    state: Listening | None = cl.user_session.get("listening")
    if state is None or state.closed:
        return
    now = asyncio.get_running_loop().time()
    level = chunk_level(chunk.data)
    current = state.current
    if current is not None and current.started_playing is not None and now < current.started_playing + ECHO_DEAF_SECONDS:
        state.echo_level = max(state.echo_level, level)
    events = state.listener.feed(chunk.data)
    state.fed_seconds += len(chunk.data) // 2 / state.listener.rate
    for event in events:
        if isinstance(event, SpeechOnset):
            state.begin_utterance(now - (state.fed_seconds - event.seconds), event.seconds)
        elif isinstance(event, Partial):
            state.partial = event.text
        elif isinstance(event, Paused):
            await paused(state, event)
        elif isinstance(event, EndOfTurn):
            if state.early is not None:
                state.early.release()
        elif isinstance(event, Resumed):
            await resumed(state, event, now)
        elif isinstance(event, Heard):
            await heard(state, event)
    if state.onset is not None and not state.barged:
        await watch_barge_in(state, now, level)
    await show_partial(state, now)


async def watch_barge_in(state: Listening, now: float, level: float) -> None:
    """Speech over a reply: once it has lasted BARGE_IN_SECONDS, it may interrupt the reply."""
    assert state.onset is not None
    if not state.listener.speaking:  # too short to be more than a click or a cough
        state.onset = None
        return
    state.onset_level = max(state.onset_level, level)
    if state.fed_seconds - state.onset < BARGE_IN_SECONDS:
        return
    onset, state.onset = state.onset, None  # decided now, once
    prefs = current_prefs()
    current = state.current
    early = state.early
    if early is not None and early.live is current and not early.withdrawn:
        # The person went on in the grace window, while the answer to their pause began to
        # play: they had not finished. (The VAD heard them resume the same utterance.)
        await early.withdraw()
        return
    if not (prefs.keep_listening and prefs.barge_in) or current is None or current.cut_at is not None:
        return
    began = now - (state.fed_seconds - onset)  # loop time the speech began
    if current.started_playing is not None:
        if began < current.started_playing + ECHO_DEAF_SECONDS:
            return  # the reply had just started: what the microphone hears is most likely the reply
        if current.playing(began) and state.onset_level < ECHO_MARGIN * state.echo_level:
            return  # no louder than the reply's own echo
    state.barged = True
    await cut_reply(current)


async def cut_reply(live: LiveTurn) -> None:
    """Silence a reply now, cancel the rest of its turn, keep only what was played."""
    await live.cut(asyncio.get_running_loop().time())
    session = cl.user_session.get("polychat_session")
    if session is not None:
        await keep_played(session, live)


async def keep_played(session: Any, live: LiveTurn) -> None:
    """A reply cut off while it played: its turn in the history keeps only the words played (once)."""
    if live.cut_at is None or live.reply is None or not live.audio_chunks or live.kept_played:
        return  # (a reply cut before it spoke keeps what its cancelled turn recorded)
    live.kept_played = True
    await asyncio.to_thread(session.interrupted, live.reply.turn, live.words_played())


async def show_partial(state: Listening, now: float) -> None:
    """Show the utterance's partial words (a few times a second at most)."""
    if state.over_reply and not state.barged:  # most likely the reply's own voice: not shown
        return
    if not state.partial or state.partial == state.shown or now - state.shown_at < PARTIAL_EVERY_SECONDS:
        return
    state.shown, state.shown_at = state.partial, now
    content = f"🎤 {state.partial} …"
    if state.said is None:
        state.said = cl.Message(content=content, author="You", type="user_message")
        await state.said.send()
    else:
        state.said.content = content
        await state.said.update()


async def paused(state: Listening, pause: Paused) -> None:
    """The person paused (hands-free): begin answering on the words so far, held until the silence ends."""
    if (state.early is not None and not state.early.withdrawn) or state.closed or not current_prefs().keep_listening:
        return
    if state.over_reply and not state.barged:
        return  # speech over a reply that did not interrupt it: not a question
    early = EarlyAnswer()
    state.early = early
    state.answering += 1
    task = asyncio.create_task(voice_turn(state, pause, state.said, over_reply=state.over_reply, early=early))
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)


async def resumed(state: Listening, event: Resumed, now: float) -> None:
    """The person went on after a pause: the answer begun there is void.

    Before its reply plays it is withdrawn at once. While it plays (the grace window),
    the speech must pass the barge-in rule (sustained, louder than the reply's echo), so
    the reply's own voice does not withdraw it.
    """
    early = state.early
    if early is None or early.withdrawn:
        return
    live = early.live
    if not early.released or live is None or not live.playing(now):
        await early.withdraw()
        state.early = None
        return
    state.onset, state.onset_level = event.seconds, 0.0  # judged like speech over a reply


async def heard(state: Listening, utterance: Heard) -> None:
    """An utterance ended: answer it (or, spoken over a reply, stop the reply if it asks to)."""
    early, state.early = state.early, None
    if early is not None and not early.withdrawn:  # answered at its pause: that answer stands
        early.release()
        state.end_utterance()
        # Its words may still be on their way to that answer (the same transcriber): let it
        # finish (nothing is left to transcribe after the pause) rather than close it under them.
        task = asyncio.create_task(asyncio.to_thread(utterance.text))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)
        return
    over_reply, barged, said = state.end_utterance()
    if over_reply and not barged:
        task = asyncio.create_task(stop_if_asked(state, utterance))
    else:
        if not state.closed and not current_prefs().keep_listening:
            state.closed = True
            await cl.context.emitter.update_audio_connection("off")
        state.answering += 1
        task = asyncio.create_task(voice_turn(state, utterance, said, over_reply=over_reply))
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)


async def stop_if_asked(state: Listening, utterance: Heard) -> None:
    """Speech over a reply that did not interrupt it: stop the reply if it only says "stop"."""
    try:
        text = await asyncio.to_thread(utterance.text)
        current = state.current
        if is_stop_request(text) and current is not None and current.cut_at is None:
            await cut_reply(current)
    except Exception:
        log.exception("Hearing speech over a reply failed")


@cl.on_audio_end
async def on_audio_end() -> None:
    state: Listening | None = cl.user_session.get("listening")
    cl.user_session.set("listening", None)
    if state is None:
        return
    state.closed = True
    utterance = state.listener.flush()
    if utterance is not None:
        await heard(state, utterance)
    elif not state.listener.heard_speech and not state.tasks and not state.answering:
        await cl.Message(content="I didn't hear any speech; check the microphone and try again.").send()
    state.listener.close()


async def voice_turn(
    state: Listening, utterance: Heard | Paused, said: cl.Message | None, *, over_reply: bool = False,
    early: EarlyAnswer | None = None,
) -> None:
    """Answer one spoken utterance: store it, show the transcript as the user's message, reply.

    ``early``: it answers a pause (``utterance`` is the :class:`Paused`): the user's message
    shows the words only once the end-of-turn silence has passed, and not at all if the
    person went on.
    """
    chat = cl.context.session
    first = not chat.has_first_interaction
    await cl.context.emitter.task_start()
    try:
        transcript = await asyncio.to_thread(utterance.text)  # only the last piece is left
        if early is not None and (transcript is None or early.withdrawn):
            await early.withdraw()  # no words yet (or the person went on): the end of the utterance answers
            return
        if over_reply and is_stop_request(transcript):  # "stop" over a reply: it stopped, nothing to answer
            if said is not None:
                await said.remove()
            return
        session = await asyncio.to_thread(conversation)
        if transcript and utterance.language and session.language is None:
            await asyncio.to_thread(session.remember_language, utterance.language)
        wav = encode_wav(utterance.audio, utterance.rate)
        note = await asyncio.to_thread(session.attach, wav, name="voice message.wav", kind="audio")
        if early is not None:
            early.number, early.note = note.turn, note.id

        async def show_words() -> cl.Message:
            message = said if early is None else (state.said or said)  # the partial words' message, if shown
            await asyncio.to_thread(web_store.keep_once, note.path)
            if message is None:
                message = cl.Message(content="🎤 …", author="You", type="user_message")
                await message.send()
                if early is not None:
                    state.said = message  # the partial words of the rest, if the person goes on
            message.content = transcript or "🎤 …"  # the final words replace the partial ones
            message.elements = [cl.Audio(name=note.id, path=str(note.path), mime=note.mime, display="inline")]
            await message.update()
            return message

        def started(live: LiveTurn) -> None:
            state.current, state.echo_level = live, 0.0

        if early is None:
            said = await show_words()
            live = await answer(session, said, "", [note], voice=True, transcript=transcript, started=started)
        else:
            live = await answer(session, None, "", [note], voice=True, transcript=transcript, started=started,
                                early=early, shown=show_words)
        reply = live.reply if live is not None else None
        if first and not chat.has_first_interaction:
            chat.has_first_interaction = True
            await cl.context.emitter.init_thread((reply.user_text if reply else "") or "Voice message")
    except Exception:
        log.exception("Voice turn failed")
        await cl.Message(content=FAILURE).send()
    finally:
        state.answering -= 1
        await cl.context.emitter.task_end()


# --------------------------------------------------------------------------- storage and login


@cl.data_layer
def data_layer() -> Any:
    return web_db.make_data_layer(SETTINGS, STORAGE)


USERS = PasswordBook(parse_auth_users(SETTINGS.auth_users))
SIGN_INS = SignIns(USERS, web_store.ensure_auth_secret(SETTINGS), web_store.web_dir(SETTINGS))
check_chainlit_tokens(SIGN_INS)  # a removed user, a new password or a logout ends a sign-in

if USERS:

    @cl.password_auth_callback
    def password_login(username: str, password: str) -> cl.User | None:
        if not USERS.verify(username, password):
            return None
        return cl.User(identifier=username, metadata=SIGN_INS.claims(username))

    # Any name may reach a server with login, but another site's page may not drive it.
    guard_with_login(chainlit_app, SETTINGS.allowed_hosts)

    @cl.on_logout
    def sign_out(request: Any, response: Any) -> dict[str, bool]:
        """Logging out ends the sign-in for good: its token is refused even if a copy was kept."""
        from chainlit.auth import get_token_from_cookies

        token = get_token_from_cookies(request.cookies)
        authorization = request.headers.get("Authorization", "")
        if not token and authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        if token:
            SIGN_INS.end(token)
        return {"success": True}

else:

    @cl.header_auth_callback
    def local_login(headers: Any) -> cl.User:
        """Without configured users, everyone on this machine is the one local user."""
        return cl.User(identifier="local", display_name="You", metadata={"provider": LOCAL_PROVIDER})

    # ... and only pages served from this machine (or allowed hosts) may drive it.
    guard_without_login(chainlit_app, SETTINGS.allowed_hosts, chainlit_config.run.host)
