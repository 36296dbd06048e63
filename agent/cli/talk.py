"""``polychat talk``: a hands-free spoken conversation through the microphone and speakers.

One loop reads audio in short blocks (the microphone, or a recording with ``--file``),
cuts it into utterances by voice activity, and answers each one as a voice turn: the
transcript and the reply print as they come, each spoken sentence plays as soon as it
is made. The answer starts when the person pauses: the turn runs on the words heard so
far while the end-of-turn silence passes, and its reply plays as that silence ends; if
they go on speaking (before the reply or in the grace window after it begins) that turn
is withdrawn, record and files, and the whole utterance is answered when they stop.
Speaking over a reply (speech sustained for :data:`BARGE_IN_SECONDS`) stops it at once,
cancels the rest of the turn, keeps in the history only the words that were played, and
the new utterance is answered.

With ``--file`` the recording is read on a virtual clock instead of waiting in real
time: a block of audio advances the clock by its length, a reply plays on the same
clock, and the assistant's thinking takes no time on it. So a recording gives the same
conversation on any machine, fast, and a second utterance that starts while the first
reply would still be playing interrupts it. ``--out DIR`` saves what was played
(``turn-01-reply.wav``, ...) and ``talk.json``, a log of what played when.

The assistant's own voice (microphone only, no echo cancellation in a terminal):
for :data:`ECHO_DEAF_SECONDS` after a reply starts playing, nothing interrupts it, and
what the microphone hears then is taken as the reply's echo; for the rest of the reply,
only speech at least :data:`ECHO_MARGIN` times louder than that interrupts, and speech
over the reply that does not interrupt it is not taken as the next question.
Headphones avoid the problem; ``--no-barge-in`` turns interrupting off.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import queue
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent.errors import PolychatError, ToolError
from agent.media import SAMPLE_RATE
from agent.voice.playback import BARGE_IN_SECONDS, ECHO_DEAF_SECONDS, ECHO_MARGIN, words_played

log = logging.getLogger(__name__)

BLOCK_SECONDS = 0.1  # seconds of audio read at a time (how quickly speech over a reply is noticed)
DEFAULT_SILENCE = 0.8  # seconds of silence that end an utterance
LOG_NAME = "talk.json"


# -- hearing speech over a reply ------------------------------------------------------------
class OnsetWatch:
    """Wraps the VAD's speech scorer to notice speech sustained for :data:`BARGE_IN_SECONDS`.

    It sees every 32 ms window the detector scores, so it knows the exact stream time at
    which speech had lasted long enough, and how loud it was (for the echo guard).
    """

    def __init__(self, scorer: Any) -> None:
        from agent.voice.vad import WINDOW

        self.scorer = scorer
        self.window_seconds = WINDOW / SAMPLE_RATE
        self.needed = max(1, math.ceil(BARGE_IN_SECONDS / self.window_seconds))
        self.windows = 0  # windows scored so far
        self.run = 0  # loud enough speech windows in a row
        self.floor = 0.0  # RMS a window needs to count (the echo guard's level; 0 off)
        self.loudest = 0.0  # the loudest window since measuring started
        self.sustained_at: float | None = None  # stream seconds when the run reached the length

    def __call__(self, window: np.ndarray) -> float:
        from agent.voice.vad import SILENCE_THRESHOLD, SPEECH_THRESHOLD

        probability = self.scorer(window)
        self.windows += 1
        rms = float(np.sqrt(np.mean(np.square(window)))) if window.size else 0.0
        self.loudest = max(self.loudest, rms)
        if probability >= SPEECH_THRESHOLD and rms >= self.floor:
            self.run += 1
            if self.run == self.needed:
                self.sustained_at = self.windows * self.window_seconds
        elif probability < SILENCE_THRESHOLD or rms < self.floor:
            self.run = 0
        return probability

    def reset(self) -> None:
        reset = getattr(self.scorer, "reset", None)
        if reset is not None:
            reset()

    def take(self) -> float | None:
        """The time sustained speech was noticed since the last call, if it was."""
        moment, self.sustained_at = self.sustained_at, None
        return moment


# -- what a reply played --------------------------------------------------------------------
@dataclass
class Sentence:
    """One spoken sentence on the reply's timeline (seconds on the talk's clock)."""

    text: str
    samples: np.ndarray = field(repr=False)
    sample_rate: int
    start: float
    played: float | None = None  # seconds played, once cut off

    @property
    def seconds(self) -> float:
        return self.samples.size / float(self.sample_rate)

    @property
    def end(self) -> float:
        return self.start + self.seconds

    def heard(self, now: float) -> float:
        """Seconds of it played by ``now``."""
        if self.played is not None:
            return self.played
        return min(self.seconds, max(0.0, now - self.start))


@dataclass
class Exchange:
    """One utterance and its answer: the turn running, its reply's timeline, how it ended."""

    index: int  # 1, 2, ... in this talk
    heard_at: float  # when the utterance ended
    cancel: threading.Event = field(default_factory=threading.Event)
    events: queue.Queue = field(default_factory=queue.Queue)
    thread: threading.Thread | None = None
    sentences: list[Sentence] = field(default_factory=list)
    transcript: str = ""
    reply: Any = None  # the Reply, once the turn is done
    finished: bool = False  # the turn's last event was read
    interrupted_at: float | None = None
    started_playing: float | None = None
    shown_text: bool = False  # some of the reply's text was printed
    saved: bool = False
    held: bool = False  # started at a pause: its reply waits for the end-of-turn silence
    tentative: bool = False  # its utterance may still go on (until the final end of it)
    withdrawn: bool = False  # the person went on: taken back, record and files
    turn_hint: int = 0  # the number its turn has (the voice note's), to withdraw it before it is recorded

    def playing_until(self) -> float:
        return max((s.end for s in self.sentences), default=self.heard_at)

    def active(self, now: float) -> bool:
        """Still answering: thinking, or its reply still playing at ``now``."""
        if self.interrupted_at is not None:
            return False
        return not self.finished or self.playing_until() > now

    def cut(self, now: float) -> None:
        self.interrupted_at = now
        for sentence in self.sentences:
            sentence.played = sentence.heard(now)
        self.cancel.set()

    def heard_text(self) -> str:
        """The words that were played: whole sentences, and the played share of a cut one."""
        now = self.interrupted_at if self.interrupted_at is not None else math.inf
        return words_played((s.text, s.seconds, s.heard(now)) for s in self.sentences)


# -- the conversation -----------------------------------------------------------------------
class Talk:
    """The loop: blocks in, utterances out, turns answered, replies played (or saved).

    Args:
        session: the conversation the turns go into.
        assistant: answers the turns (``Assistant``).
        virtual: read a recording on a virtual clock (``--file``); else the microphone.
        barge_in: speech over a reply interrupts it.
        speakers: plays the replies (``Speakers``); None plays nothing.
        out: a folder to save what was played in, or None.
        tool_defaults: argument defaults for the turns' tools (voice, language).
        listener: hears the input (a :class:`~agent.voice.live.LiveListener` built with an
            :class:`OnsetWatch` as its scorer): utterances, transcribed while they are spoken.
        watch: that watch.
        stream: where the conversation is printed.
    """

    def __init__(self, session: Any, assistant: Any, *, virtual: bool, barge_in: bool, speakers: Any,
                 out: Path | None, tool_defaults: dict[str, dict[str, Any]], listener: Any, watch: OnsetWatch,
                 stream: Any = None) -> None:
        self.session, self.assistant = session, assistant
        self.virtual, self.barge_in, self.speakers, self.out = virtual, barge_in, speakers, out
        self.tool_defaults = tool_defaults
        self.listener, self.watch = listener, watch
        self.stream = stream or sys.stdout
        self.clock = 0.0  # seconds of input read
        self.exchanges: list[Exchange] = []
        self.withdrawing: list[Exchange] = []  # answers taken back whose turns are still stopping
        self._download_shown: dict[str, int] = {}  # the tenth of each download last shown
        self.current: Exchange | None = None
        self.barged = False  # the speech in progress interrupted a reply: answer it
        self.over_reply = False  # the speech in progress began while a reply was being made or played
        self.echo_until: float | None = None  # microphone: end of the echo-measuring window
        self.partial_shown = False  # microphone: a partial transcript is on the current line

    # -- the loop --------------------------------------------------------------------------
    def run(self, blocks: Iterator[np.ndarray]) -> None:
        from agent.voice.live import EndOfTurn, Heard, Partial, Paused, Resumed, SpeechOnset

        try:
            for block in blocks:
                self._pump()
                self._guard_echo()
                events = self.listener.feed(block)
                if self.virtual:  # transcribing while it is spoken takes no time on the recording's clock
                    self.listener.settle()
                self.clock += block.size / SAMPLE_RATE
                self._check_barge_in()
                for event in events:
                    if isinstance(event, SpeechOnset):
                        current = self.current
                        self.over_reply = current is not None and current.active(self.clock)
                    elif isinstance(event, Paused):
                        self._paused(event)
                    elif isinstance(event, EndOfTurn):
                        self._release()
                    elif isinstance(event, Resumed):
                        self._resumed()
                    elif isinstance(event, Heard):
                        self._heard(event)
                    elif isinstance(event, Partial):
                        self._show_partial(event.text)
                self._settle()
            heard = self.listener.flush()
            if heard is not None:
                self._heard(heard)
            else:
                self._withdraw_tentative()  # a pause the recording ended in, too short to be a turn
            self._finish()
        finally:
            self.listener.close(wait=60.0)  # no model left busy when the process exits

    def stop(self) -> None:
        """Leave now (Ctrl+C): stop playing, cancel the turn in progress, save what was played."""
        if self.speakers is not None:
            self.speakers.stop()
        current = self.current
        if current is not None and current.active(self.clock):
            current.cut(self.clock)
        if current is not None and current.thread is not None:
            current.thread.join(timeout=5)
            self._pump()
        for exchange in self.exchanges:
            self._save(exchange, final=True)

    def _finish(self) -> None:
        """The input ended: let the last reply be made and play out."""
        for exchange in list(self.withdrawing):
            if exchange.thread is not None:
                exchange.thread.join()
        self._pump()
        current = self.current
        if current is not None:
            if current.thread is not None:
                current.thread.join()
            self._pump()
            if self.virtual:
                self.clock = max(self.clock, current.playing_until())
            elif self.speakers is not None:
                self.speakers.wait()
                self.clock = max(self.clock, current.playing_until())
        for exchange in self.exchanges:
            self._save(exchange, final=True)

    # -- utterances ------------------------------------------------------------------------
    def _paused(self, paused: Any) -> None:
        """The person paused: maybe done. Answer on the words so far; hold the reply."""
        if self._tentative() is not None:
            return  # already answering this utterance (it went on over its own reply's echo)
        if not self._may_answer():
            return
        self._answer(paused, tentative=True)

    def _release(self) -> None:
        """The end-of-turn silence has passed: the answer held since the pause plays now."""
        exchange = self._tentative()
        if exchange is not None and exchange.held:
            exchange.held = False
            self._pump()

    def _resumed(self) -> None:
        """The person went on after a pause: the answer started on it is void.

        Before its reply plays, it is withdrawn at once. Once it plays (the grace window),
        speech over it withdraws it by the barge-in rule (sustained, and in microphone
        mode louder than the reply's echo), so its own echo does not.
        """
        exchange = self._tentative()
        if exchange is None:
            return
        if exchange.held or not exchange.sentences or exchange.playing_until() <= self.clock:
            self._withdraw(exchange)  # not playing now: nothing of it can be mistaken for the person

    def _heard(self, heard: Any) -> None:
        """The utterance ended for good (after the grace window)."""
        self._clear_partial()
        exchange = self._tentative()
        if exchange is not None:  # answered at its pause: that answer stands
            exchange.tentative = False
            if exchange.held:
                self._release()
            # Its words may still be on their way to that turn (the same transcriber): let it
            # finish (nothing is left after the pause) rather than close it under them.
            threading.Thread(target=heard.text, name="polychat-talk-heard", daemon=True).start()
            self.barged = False
            return
        if not self._may_answer():
            log.debug("Speech over the reply was not taken as a question (%.1f s).", heard.audio.size / heard.rate)
            heard.discard()
            return
        self.barged = False
        self._answer(heard)

    def _may_answer(self) -> bool:
        """Whether the speech in progress is a question: it interrupted the reply, or none was playing.

        Speech that began over a reply and did not interrupt it is not, even when the reply
        has ended by the time the person pauses.
        """
        current = self.current
        if self.barged:
            return True
        return not self.over_reply and (current is None or not current.active(self.clock))

    def _tentative(self) -> Exchange | None:
        current = self.current
        return current if current is not None and current.tentative and not current.withdrawn else None

    def _withdraw_tentative(self) -> None:
        exchange = self._tentative()
        if exchange is not None:
            self._withdraw(exchange)

    def _withdraw(self, exchange: Exchange) -> None:
        """Take an answer back: silence it, stop its turn; its record and files go when it ends."""
        if exchange.sentences and self.speakers is not None and exchange.active(self.clock):
            self.speakers.stop()
        exchange.cut(self.clock)
        exchange.withdrawn = True
        self.exchanges.remove(exchange)
        self.current = self.exchanges[-1] if self.exchanges else None
        log.debug("The person went on speaking: the answer to turn %d is withdrawn.", exchange.turn_hint)
        if exchange.finished:
            self._take_back(exchange)
            return
        self.withdrawing.append(exchange)
        if self.virtual and exchange.thread is not None:
            exchange.thread.join()
        self._pump()

    def _take_back(self, exchange: Exchange) -> None:
        """A withdrawn answer's turn has ended: remove its record and files."""
        reply = exchange.reply
        self.session.withdraw(reply.turn if reply is not None and reply.turn else exchange.turn_hint)

    def _answer(self, heard: Any, *, tentative: bool = False) -> None:
        """Answer an utterance with the words heard while it was spoken (only its tail is left).

        The words are awaited in the turn's own thread, so the loop keeps listening; on the
        recording's virtual clock that wait, like the rest of the turn, takes no time. When
        they could not be had, the turn transcribes the recording itself, as before.
        """
        from agent.media import encode_wav

        for withdrawn in list(self.withdrawing):  # its record and files go before this turn takes a number
            if withdrawn.thread is not None:
                withdrawn.thread.join()
        self._pump()
        exchange = Exchange(index=len(self.exchanges) + 1, heard_at=self.clock, held=tentative, tentative=tentative)
        note = self.session.attach(encode_wav(heard.audio, heard.rate), name="voice message.wav", kind="audio")
        exchange.turn_hint = note.turn
        self.exchanges.append(exchange)
        self.current = exchange

        def work() -> None:
            try:
                transcript = heard.text()
                if transcript is not None and heard.language and getattr(self.session, "language", None) is None:
                    self.session.remember_language(heard.language)  # the next utterances skip detecting it
                    self.listener.language = self.session.language
                for event in self.assistant.stream(self.session, "", [note], voice=True, transcript=transcript,
                                                   tool_defaults=self.tool_defaults, cancel=exchange.cancel):
                    exchange.events.put(event)
            except PolychatError as e:
                exchange.events.put(e)
            except Exception as e:  # noqa: BLE001 - one failed turn must not end the conversation
                log.debug("Turn failed", exc_info=e)
                exchange.events.put(ToolError("Something went wrong answering that; please say it again."))
            finally:
                exchange.events.put(None)

        exchange.thread = threading.Thread(target=work, name=f"polychat-talk-{exchange.index}", daemon=True)
        exchange.thread.start()
        if self.virtual:  # the assistant's thinking takes no time on the recording's clock
            exchange.thread.join()
            self._pump()

    # -- the reply -------------------------------------------------------------------------
    def _pump(self) -> None:
        """Show, play and record what the turns have emitted, without waiting for more."""
        from agent.turn.events import AudioChunk, StepProgress, TextDelta, Transcript, TurnDone

        for exchange in list(self.withdrawing):
            while not exchange.finished:
                try:
                    event = exchange.events.get_nowait()
                except queue.Empty:
                    break
                if isinstance(event, TurnDone):
                    exchange.reply = event.reply
                elif event is None:
                    exchange.finished = True
                    self.withdrawing.remove(exchange)
                    self._take_back(exchange)
        for exchange in self.exchanges:
            while not exchange.finished and not exchange.held:
                try:
                    event = exchange.events.get_nowait()
                except queue.Empty:
                    break
                if event is None:
                    exchange.finished = True
                    self._done(exchange)
                elif isinstance(event, PolychatError):
                    self._say(f"polychat: {event}")
                elif isinstance(event, Transcript):
                    exchange.transcript = event.text
                    self._say(f"you: {event.text}" if event.text else "you: …")
                elif isinstance(event, TextDelta):
                    if exchange.reply is None and exchange.interrupted_at is None:
                        self._print(event.text, prefix=not exchange.shown_text)
                        exchange.shown_text = True
                elif isinstance(event, AudioChunk) and exchange.interrupted_at is None:
                    self._play(exchange, event)
                elif isinstance(event, StepProgress) and event.unit == "bytes":
                    self._downloading(event)
                elif isinstance(event, TurnDone):
                    exchange.reply = event.reply

    def _downloading(self, event: Any) -> None:
        """A model the reply needs is downloading (first use): a line at its start and every tenth."""
        from agent.models.hub import of_total

        tenth = 10 * event.done // max(1, event.total)
        if self._download_shown.get(event.label) == tenth:
            return
        self._download_shown[event.label] = tenth
        self._say(f"polychat: {event.label} ({of_total(event.done, event.total)})")

    def _play(self, exchange: Exchange, chunk: Any) -> None:
        last = exchange.sentences[-1].end if exchange.sentences else self.clock
        start = max(self.clock, last)
        if not exchange.sentences:
            exchange.started_playing = start
            if not self.virtual:
                self.echo_until = start + ECHO_DEAF_SECONDS
                self.watch.loudest, self.watch.floor = 0.0, 0.0
        exchange.sentences.append(Sentence(chunk.text, np.asarray(chunk.samples, dtype=np.float32),
                                           int(chunk.sample_rate), start))
        if self.speakers is not None:
            self.speakers.play(chunk.samples, chunk.sample_rate)

    def _done(self, exchange: Exchange) -> None:
        if exchange.shown_text:
            print(file=self.stream, flush=True)
        if exchange.interrupted_at is not None:
            self._keep_heard(exchange)

    def _keep_heard(self, exchange: Exchange) -> None:
        reply = exchange.reply
        if reply is None or not reply.turn:
            return
        self.session.interrupted(reply.turn, exchange.heard_text())

    # -- interrupting ----------------------------------------------------------------------
    def _guard_echo(self) -> None:
        """Microphone: measure the reply's echo while it starts, then demand louder speech."""
        if self.virtual or self.echo_until is None:
            return
        current = self.current
        if current is None or not current.active(self.clock):
            self.echo_until, self.watch.floor = None, 0.0
        elif self.clock >= self.echo_until and self.watch.floor == 0.0:
            self.watch.floor = max(ECHO_MARGIN * self.watch.loudest, 1e-4)

    def _check_barge_in(self) -> None:
        moment = self.watch.take()
        current = self.current
        if moment is None or not self.barge_in or current is None or not current.active(moment):
            return
        if not self.virtual and self.echo_until is not None and moment < self.echo_until:
            return  # the reply just started: what the microphone hears is most likely the reply
        if current.tentative:  # speech in the grace window: the person had not finished
            self._withdraw(current)
            return
        if self.speakers is not None:
            self.speakers.stop()
        current.cut(moment)
        self.barged = True
        self._say("(interrupted)")
        if current.finished:
            self._keep_heard(current)

    def _settle(self) -> None:
        """A reply that has played out: save it; speech that began over it is not a question."""
        current = self.current
        if current is None or current.saved or current.tentative or current.active(self.clock):
            return
        if current.interrupted_at is None and self.listener.speaking and not self.barged:
            self.listener.wait_for_silence()
        self._save(current, final=False)

    # -- saving ----------------------------------------------------------------------------
    def _save(self, exchange: Exchange, *, final: bool) -> None:
        if exchange.saved or self.out is None or not (exchange.finished or final):
            return
        from agent.media import encode_wav, resample

        exchange.saved = True
        now = exchange.interrupted_at if exchange.interrupted_at is not None else math.inf
        name = None
        if exchange.sentences:
            rate = exchange.sentences[0].sample_rate
            pieces = []
            for sentence in exchange.sentences:
                played = sentence.heard(now)
                samples = resample(sentence.samples, sentence.sample_rate, rate)
                pieces.append(samples[: int(round(played * rate))])
            played_audio = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
            if played_audio.size:
                name = f"turn-{exchange.index:02d}-reply.wav"
                (self.out / name).write_bytes(encode_wav(played_audio, rate))
        self._write_log()
        if name:
            log.debug("Saved %s", self.out / name)

    def _write_log(self) -> None:
        entries = []
        for exchange in self.exchanges:
            if not exchange.saved:
                continue
            now = exchange.interrupted_at if exchange.interrupted_at is not None else math.inf
            reply = exchange.reply
            entries.append({
                "turn": reply.turn if reply is not None else None,
                "heard": exchange.transcript,
                "heard_at": round(exchange.heard_at, 3),
                "reply": reply.text if reply is not None else "",
                "played_text": exchange.heard_text(),
                "interrupted_at": None if exchange.interrupted_at is None else round(exchange.interrupted_at, 3),
                "reply_seconds": round(sum(s.seconds for s in exchange.sentences), 3),
                "played_seconds": round(sum(s.heard(now) for s in exchange.sentences), 3),
                "sentences": [
                    {"text": s.text, "start": round(s.start, 3), "seconds": round(s.seconds, 3),
                     "played": round(s.heard(now), 3)}
                    for s in exchange.sentences
                ],
                "audio": f"turn-{exchange.index:02d}-reply.wav" if any(s.heard(now) > 0 for s in exchange.sentences)
                else None,
            })
        from agent.files import write_atomically

        write_atomically(self.out / LOG_NAME, json.dumps({"turns": entries}, ensure_ascii=False, indent=1).encode())

    # -- printing --------------------------------------------------------------------------
    def _say(self, line: str) -> None:
        self._clear_partial()
        print(line, file=self.stream, flush=True)

    def _show_partial(self, text: str) -> None:
        """Microphone: the words heard so far, on one line that updates as they grow."""
        if self.virtual or not getattr(self.stream, "isatty", lambda: False)():
            return
        current = self.current
        if current is not None and current.shown_text and not current.finished:
            return  # the reply's text is being printed on this line
        width = 78
        line = f"you: {text} …"
        if len(line) > width:
            line = "you: …" + line[-(width - 6) :]
        print("\r\033[K" + line, end="", file=self.stream, flush=True)
        self.partial_shown = True

    def _clear_partial(self) -> None:
        if self.partial_shown:
            print("\r\033[K", end="", file=self.stream, flush=True)
            self.partial_shown = False

    def _print(self, text: str, *, prefix: bool) -> None:
        self._clear_partial()
        print(("polychat: " if prefix else "") + text, end="", file=self.stream, flush=True)


# -- the command ----------------------------------------------------------------------------
def _announced(blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """The microphone's blocks, saying once that it listens (after it has opened)."""
    first = True
    for block in blocks:
        if first:
            print("Listening. Talk, then pause; speak over a reply to interrupt it. Ctrl+C leaves.", flush=True)
            first = False
        yield block


def register(subparsers: argparse._SubParsersAction) -> None:
    talk = subparsers.add_parser(
        "talk", help="a hands-free spoken conversation through the microphone and speakers",
        description="Talk and pause; polychat answers aloud. Speak over a reply to interrupt it; Ctrl+C leaves.",
    )
    talk.add_argument("--file", metavar="IN.wav", help="feed a recording instead of the microphone")
    talk.add_argument("--out", metavar="DIR", help="save what was played (turn-01-reply.wav, ..., talk.json)")
    talk.add_argument("--silence", type=float, default=None, metavar="SECONDS",
                      help="silence that ends what you say (default: the end_silence_seconds setting, "
                      f"{DEFAULT_SILENCE})")
    talk.add_argument("--no-barge-in", dest="barge_in", action="store_false",
                      help="do not stop a reply when you speak over it")
    talk.add_argument("--voice", metavar="NAME", help="the voice that speaks the replies, e.g. joe or slt")
    talk.add_argument("--language", metavar="xx", help="the language you speak, e.g. en (skips detecting it)")
    talk.add_argument("--session", metavar="ID", help="continue a saved conversation")
    talk.set_defaults(handler=run_talk)


def run_talk(args: argparse.Namespace) -> int:
    from agent.cli.chat import open_session
    from agent.config import get_settings

    if args.silence is not None and not (0.1 <= args.silence <= 10):
        raise ToolError("--silence must be between 0.1 and 10 seconds.")
    source = Path(args.file).expanduser() if args.file else None
    if source is not None and not source.is_file():
        raise ToolError(f"The file {args.file} does not exist.")
    out = Path(args.out).expanduser() if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    settings = get_settings()
    session = open_session(args.session)

    if source is not None:
        from agent.media import decode_audio

        samples = decode_audio(source, max_seconds=settings.max_audio_seconds)
        step = int(BLOCK_SECONDS * SAMPLE_RATE)
        blocks: Iterator[np.ndarray] = (samples[i : i + step] for i in range(0, samples.size, step))
    else:
        from agent.cli.listen import microphone_blocks

        blocks = microphone_blocks(BLOCK_SECONDS, "talk over a recording with 'polychat talk --file IN.wav'")

    from agent.cli.speakers import Speakers
    from agent.turn.assistant import Assistant
    from agent.voice import vad
    from agent.voice.live import LiveListener

    if args.silence is not None:
        settings = settings.with_overrides(end_silence_seconds=float(args.silence))
    watch = OnsetWatch(vad.make_scorer())
    defaults: dict[str, dict[str, Any]] = {}
    if args.voice:
        defaults["speak_text"] = {"voice": args.voice}
    if args.language is not None:
        session.set_language(args.language)  # the conversation's language: no detection on each turn
    assistant = Assistant(settings)
    # Each utterance is transcribed while it is spoken (with the end-of-turn grace window),
    # by the same model the turn would use; the watch sees every window the VAD scores.
    listener = LiveListener(settings, SAMPLE_RATE, models=assistant.models, language=session.language, scorer=watch)
    talk = Talk(session, assistant, virtual=source is not None, barge_in=args.barge_in,
                speakers=None if source is not None else Speakers(), out=out, tool_defaults=defaults,
                listener=listener, watch=watch)
    if source is None:
        blocks = _announced(blocks)
    try:
        talk.run(blocks)
    except KeyboardInterrupt:
        talk.stop()
        print("\nGoodbye.", flush=True)
        return 0
    if not talk.exchanges:
        print("I didn't hear any speech in that recording." if source is not None
              else "I didn't hear any speech.", flush=True)
    print(f"(session {session.id})", flush=True)
    return 0
