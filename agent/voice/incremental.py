"""Transcribing while a person speaks, so that little is left when they stop.

An :class:`IncrementalTranscriber` takes the audio of one utterance as it arrives. A
background worker (one thread per stream) scores it with voice activity detection and
cuts it into pieces at the person's short pauses (or, in a long run without one, at
the quietest moment of the window): each piece is transcribed once, with the text
before it as Whisper's prompt and the language hint when one is known. ``partial()``
is the text so far (a live partial transcript); ``finish()`` transcribes only what is
left after the last piece and returns the whole text. ``text_so_far()`` transcribes what
follows the last piece up to where the audio fed ends (the person paused) and returns
the whole text without ending the utterance: a turn can start on it. That guess is not
a piece (a pause mid-sentence would make scraps, which Whisper hears badly): if the
person goes on, the audio is transcribed again with what follows; if not, the guess is
the tail, and ``finish()`` has nothing left to do.

The model comes through the project's one loader (``models.use("transcribe_audio")``)
and runs through the same engine functions as the transcribe tool.

Typical use with :class:`~agent.voice.vad.UtteranceDetector` events::

    for event in detector.feed_events(chunk):
        if event.kind == "started":
            live = IncrementalTranscriber(models, rate=detector.stream_rate)
        ...
    live.feed(samples)                # every chunk while speaking (never blocks)
    show(live.partial())              # now and then
    text = live.finish()              # on "ended": only the tail is left to transcribe
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from agent.media import SAMPLE_RATE, resample
from agent.voice.vad import SILENCE_THRESHOLD, SPEECH_THRESHOLD, WINDOW, SpeechScorer, make_scorer, pcm16_to_float

log = logging.getLogger(__name__)

PIECE_PAUSE_SECONDS = 0.3  # s of silence inside an utterance at which the speech so far is cut into a piece
MAX_PIECE_SECONDS = 8.0  # s; a piece without such a pause is cut at its quietest moment
MIN_PIECE_SECONDS = 1.0  # s; shorter pieces wait for more (Whisper does poorly on scraps)
MIN_PIECE_SPEECH_SECONDS = 0.25  # s of speech a piece needs to be worth transcribing
LEAD_SECONDS = 0.2  # s of silence kept before the first speech of a piece
PROMPT_CHARS = 200  # characters of the text before a piece given as its prompt
LANGUAGE_LOCK_PROBABILITY = 0.7  # a detected language this sure is used for the pieces after
LIVE_BEAM_SIZE = 1  # greedy decoding for live pieces: about 0.1 s less per piece, the same words (BENCHMARKS.md)

Engine = Callable[[np.ndarray, "str | None", "str | None"], dict[str, Any]]
"""Transcribes 16 kHz samples given a prompt and a language code (or None); returns at least
``text``, and ``language`` / ``language_probability`` when it detected the language."""


def whisper_engine(
    models: Any, *, slot: str = "transcribe_audio", task: str = "transcribe", beam_size: int = LIVE_BEAM_SIZE,
    **model_kwargs: Any,
) -> Engine:
    """An :data:`Engine` running the slot's model through ``models.use`` and tools.transcribe's engines."""
    from tools import transcribe

    def run(audio: np.ndarray, prompt: str | None, language: str | None) -> dict[str, Any]:
        def quiet(*_: Any) -> None:
            return None

        with models.use(slot, **model_kwargs) as bundle:
            if transcribe._is_faster_whisper(bundle):
                return transcribe.run_faster_whisper(bundle, audio, task=task, language=language, timestamps=False,
                                                     slot=slot, report=quiet, prompt=prompt, beam_size=beam_size)
            return transcribe.run_transformers(bundle, audio, task=task, language=language, slot=slot,
                                               report=quiet, prompt=prompt)

    return run


CONTINUING_WORDS = frozenset(
    "to and or but nor with without for of in on at from about into onto than because so that which who whom "
    "whose when while where whether if as like by after before until since through over under".split()
)
"""Words that go on a sentence: a piece starting with one continues the piece before it."""


def join_pieces(texts: list[str]) -> str:
    """The pieces' texts as one text, mending the sentence breaks that pauses put in.

    Whisper ends each piece with a full stop and starts the next with a capital, so
    "Say good morning" [pause] "to all of my friends" comes back as "Say good morning.
    To all of my friends." A piece whose first word is one that goes on a sentence
    ("to", "and", "because", ...) continues the one before it.
    """
    joined = ""
    for text in (t.strip() for t in texts):
        if not text:
            continue
        first = text.split(maxsplit=1)[0].strip(",;:").lower()
        if joined.endswith(".") and not joined.endswith("..") and first in CONTINUING_WORDS:
            joined = joined[:-1]
            text = text[0].lower() + text[1:]
        joined = f"{joined} {text}" if joined else text
    return joined


def _prompt(texts: list[str]) -> str | None:
    text = " ".join(texts).strip()
    if len(text) > PROMPT_CHARS:
        text = text[-PROMPT_CHARS:]
        text = text[text.find(" ") + 1 :] if " " in text else text
    return text or None


class IncrementalTranscriber:
    """Transcribes one utterance piece by piece while it is spoken.

    Args:
        models: the model manager (anything with ``use(slot, **kwargs)``); not needed
            when ``engine`` is given.
        language: the language spoken, as an ISO code, or None to detect it (the first
            confident detection is then used for the pieces after).
        rate: the sample rate of the audio fed, in Hz.
        scorer: voice activity scorer of 512-sample windows at 16 kHz (default:
            :func:`~agent.voice.vad.make_scorer`, Silero VAD); used by the worker only.
        engine: what transcribes a piece (default: :func:`whisper_engine` over ``models``).
        slot: the model slot, ``transcribe_audio`` (or ``translate_speech`` with ``task``).
        task: ``transcribe`` or ``translate``.
        model_kwargs: passed to ``models.use`` (``model=``, ``backend=``, ...).
        pause_seconds / max_piece_seconds / min_piece_seconds: where pieces are cut.

    Attributes:
        calls: pieces handed to the engine so far (the tail included).
        language: the language used for the pieces (the hint, or the one detected).
    """

    def __init__(
        self,
        models: Any = None,
        *,
        language: str | None = None,
        rate: int = SAMPLE_RATE,
        scorer: SpeechScorer | None = None,
        engine: Engine | None = None,
        slot: str = "transcribe_audio",
        task: str = "transcribe",
        model_kwargs: dict[str, Any] | None = None,
        pause_seconds: float = PIECE_PAUSE_SECONDS,
        max_piece_seconds: float = MAX_PIECE_SECONDS,
        min_piece_seconds: float = MIN_PIECE_SECONDS,
    ) -> None:
        if engine is None:
            if models is None:
                raise ValueError("IncrementalTranscriber needs the model manager (models=) or an engine")
            engine = whisper_engine(models, slot=slot, task=task, **(model_kwargs or {}))
        self.engine = engine
        self.rate = int(rate)
        self.language = language
        self._scorer = scorer
        self._pause_windows = max(1, round(pause_seconds * SAMPLE_RATE / WINDOW))
        self._max_piece = max(2 * WINDOW, round(max_piece_seconds * SAMPLE_RATE))
        self._min_piece = round(min_piece_seconds * SAMPLE_RATE)
        self._min_speech_windows = max(1, round(MIN_PIECE_SPEECH_SECONDS * SAMPLE_RATE / WINDOW))
        self._lead = round(LEAD_SECONDS * SAMPLE_RATE)
        self.calls = 0
        # shared with the worker, under self._lock
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._chunks: list[np.ndarray] = []  # 16 kHz samples fed and not yet taken by the worker
        self._texts: list[str] = []  # text of each piece transcribed, in order
        self._busy = False  # the worker is scoring or transcribing
        self._finishing = False
        self._closed = False
        self._final: str | None = None
        self._cuts_asked: list[int] = []  # 16 kHz positions text_so_far() asked for the words up to
        self._cuts_made = 0  # how many of those asks are done
        self._so_far = ""  # the answer to the latest of them
        self._so_far_failed = False  # the latest could not be transcribed
        self._guess: tuple[int, int, str] | None = None  # (start, end, text) after the last piece, at a pause
        self._error: BaseException | None = None
        self._done = threading.Event()
        # the worker's own
        self._audio = np.zeros(0, dtype=np.float32)  # the utterance at 16 kHz
        self._probabilities: list[float] = []  # per window of the utterance
        self._energies: list[float] = []
        self._cut = 0  # where the next piece starts (16 kHz index, a window boundary)
        self._piece_speech = 0  # speech windows since the cut
        self._silent_run = 0  # silent windows in a row
        self._broken = False  # a piece failed: the rest waits for finish()
        self._thread = threading.Thread(target=self._run, name="incremental-transcriber", daemon=True)
        self._thread.start()

    # -- the caller's side -------------------------------------------------------------------

    def feed(self, samples: np.ndarray) -> None:
        """Add float samples at :attr:`rate` (never blocks on transcription)."""
        samples = resample(np.asarray(samples, dtype=np.float32), self.rate, SAMPLE_RATE)
        with self._wake:
            if self._finishing or self._closed:
                raise RuntimeError("this utterance is finished; start a new IncrementalTranscriber")
            self._chunks.append(samples)
            self._wake.notify()

    def feed_pcm16(self, data: bytes) -> None:
        """Add little-endian 16-bit PCM at :attr:`rate`."""
        self.feed(pcm16_to_float(data))

    def partial(self) -> str:
        """The text of the pieces transcribed so far."""
        with self._lock:
            return join_pieces(self._texts)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every piece the audio fed so far allows is transcribed (tests, benchmarks)."""
        with self._wake:
            return self._wake.wait_for(lambda: self._closed or self._done.is_set()
                                       or (not self._chunks and not self._busy), timeout)

    def text_so_far(self, timeout: float | None = None) -> str:
        """The whole text of the audio fed so far (blocks while what follows the last piece is transcribed).

        For the moment the person pauses: the words up to here, while the utterance goes
        on. Silence after the last piece is not transcribed (nor invented).

        Raises:
            TimeoutError: not done within ``timeout`` seconds.
            RuntimeError: the transcriber was closed or finished, or failed.
        """
        with self._wake:
            if self._closed or self._finishing:
                raise RuntimeError("this utterance is finished; ask finish() for its text")
            fed = self._audio.size + sum(chunk.size for chunk in self._chunks)
            self._cuts_asked.append(fed // WINDOW * WINDOW)
            asked = len(self._cuts_asked)
            self._wake.notify_all()
            if not self._wake.wait_for(lambda: self._cuts_made >= asked or self._closed or self._done.is_set(),
                                       timeout):
                raise TimeoutError(f"the words so far were not ready within {timeout} s")
            if self._cuts_made < asked:
                raise RuntimeError("this utterance was closed before its words so far were made")
            if self._broken or self._so_far_failed:
                raise RuntimeError("a piece of this utterance could not be transcribed")
            return self._so_far

    def finish(self, timeout: float | None = None) -> str:
        """No more audio: transcribe what is left after the last piece; return the whole text.

        Raises:
            TimeoutError: not done within ``timeout`` seconds.
            Exception: what the engine raised, when the text could not be made.
        """
        with self._wake:
            if self._closed and not self._done.is_set():
                raise RuntimeError("this IncrementalTranscriber was closed")
            self._finishing = True
            self._wake.notify_all()
        if not self._done.wait(timeout):
            raise TimeoutError(f"the transcript was not ready within {timeout} s")
        if self._error is not None:
            raise self._error
        assert self._final is not None
        return self._final

    def close(self) -> None:
        """Stop: no more pieces are transcribed (one already running finishes in the background)."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker to end (after :meth:`close` or :meth:`finish`); whether it has.

        A program about to exit waits here: a piece still being transcribed when the
        interpreter shuts down takes the process with it.
        """
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def __enter__(self) -> IncrementalTranscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the worker --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self._scorer is None:
                self._scorer = make_scorer()  # loaded here, so the caller never waits for it
            while True:
                with self._wake:
                    self._wake.wait_for(lambda: self._closed or self._finishing or self._chunks
                                        or len(self._cuts_asked) > self._cuts_made)
                    if self._closed:
                        return
                    chunks, self._chunks = self._chunks, []
                    finishing = self._finishing and not chunks
                    self._busy = True
                if chunks:
                    self._audio = np.concatenate([self._audio, *chunks])
                    self._score_new()
                self._cut_where_asked()
                if finishing:
                    self._finish_tail()
                    return
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()
        except BaseException as e:  # noqa: BLE001 - handed to finish()
            log.exception("incremental transcription failed")
            self._error = e
            self._done.set()
        finally:
            with self._wake:
                self._busy = False
                self._wake.notify_all()

    def _score_new(self) -> None:
        assert self._scorer is not None
        while (len(self._probabilities) + 1) * WINDOW <= self._audio.size:
            if self._closed:
                return
            start = len(self._probabilities) * WINDOW
            window = self._audio[start : start + WINDOW]
            probability = float(self._scorer(window.copy()))
            self._probabilities.append(probability)
            self._energies.append(float(np.mean(np.square(window))))
            end = start + WINDOW
            if probability >= SPEECH_THRESHOLD:
                self._piece_speech += 1
                self._silent_run = 0
            elif probability < SILENCE_THRESHOLD:
                self._silent_run += 1
                if self._piece_speech == 0:  # no speech in the piece yet: drop its leading silence
                    self._cut = max(self._cut, (end - self._lead) // WINDOW * WINDOW)
            if self._broken or self._finishing:  # at the end, what is left goes as one piece
                continue
            enough = self._piece_speech >= self._min_speech_windows and end - self._cut >= self._min_piece
            if enough and self._silent_run >= self._pause_windows:
                self._piece(end - (self._silent_run * WINDOW) // 2 // WINDOW * WINDOW)
            elif end - self._cut >= self._max_piece and self._piece_speech >= self._min_speech_windows:
                self._piece(self._quietest(self._cut + (end - self._cut) // 2, end))

    def _cut_where_asked(self) -> None:
        """Answer each text_so_far(): the pieces, and a guess at what follows them up to the position asked."""
        with self._lock:
            asked = self._cuts_asked[self._cuts_made :]
        for end in asked:
            end = min(end, len(self._probabilities) * WINDOW)
            failed = False
            guess = ""
            if not self._broken and end > self._cut:
                if any(p >= SPEECH_THRESHOLD for p in self._probabilities[self._cut // WINDOW : end // WINDOW]):
                    guess = self._guess_tail(end)
                    failed = guess is None
            with self._wake:
                self._so_far = join_pieces([*self._texts, guess] if guess else self._texts)
                self._so_far_failed = failed
                self._cuts_made += 1
                self._wake.notify_all()

    def _guess_tail(self, end: int) -> str | None:
        """Transcribe [cut, end) without making it a piece; None when that failed."""
        known = self._guessed(self._cut, end)
        if known is not None:
            return known
        with self._lock:
            prompt = _prompt(self._texts)
        self.calls += 1
        try:
            result = self.engine(self._audio[self._cut : end], prompt, self.language)
        except Exception:
            log.warning("the words so far could not be transcribed; they wait for the end", exc_info=True)
            return None
        text = str(result.get("text", "")).strip()
        self._guess = (self._cut, end, text)
        return text

    def _guessed(self, start: int, end: int) -> str | None:
        """The guess's text when it covers [start, end) (only silence after it), else None."""
        guess = self._guess
        if guess is None or guess[0] != start:
            return None
        low, high = sorted((guess[1], end))  # the two may end at different points of the same pause
        if any(p >= SPEECH_THRESHOLD for p in self._probabilities[low // WINDOW : high // WINDOW]):
            return None  # the person went on: the audio is heard again with what follows
        return guess[2]

    def _quietest(self, first: int, last: int) -> int:
        """The boundary after the quietest window in [first, last) (16 kHz indices)."""
        windows = range(first // WINDOW, max(first // WINDOW + 1, last // WINDOW))
        quietest = min(windows, key=lambda k: (self._probabilities[k], self._energies[k]))
        return (quietest + 1) * WINDOW

    def _piece(self, end: int) -> None:
        """Transcribe [cut, end) and move the cut past it."""
        start = self._cut
        if self._transcribe(start, end):
            self._cut = end
            windows = self._probabilities[end // WINDOW :]
            self._piece_speech = sum(p >= SPEECH_THRESHOLD for p in windows)
        else:
            self._broken = True

    def _transcribe(self, start: int, end: int, *, final: bool = False) -> bool:
        known = self._guessed(start, end)
        if known is not None:  # guessed at the pause, and nothing was said after it
            self._guess = None
            if known:
                with self._lock:
                    self._texts.append(known)
            return True
        with self._lock:
            prompt = _prompt(self._texts)
        self.calls += 1
        try:
            result = self.engine(self._audio[start:end], prompt, self.language)
        except Exception:
            if final:
                raise
            log.warning("a piece of live speech could not be transcribed; it waits for the end", exc_info=True)
            return False
        if self.language is None and result.get("language_probability", 0.0) >= LANGUAGE_LOCK_PROBABILITY:
            self.language = result.get("language")
        text = str(result.get("text", "")).strip()
        if text:
            with self._lock:
                self._texts.append(text)
        return True

    def _finish_tail(self) -> None:
        tail = self._probabilities[self._cut // WINDOW :]
        if any(p >= SPEECH_THRESHOLD for p in tail):  # a tail of silence is not transcribed (nor invented)
            self._transcribe(self._cut, self._audio.size, final=True)
            self._cut = self._audio.size
        with self._lock:
            self._final = join_pieces(self._texts)
        self._done.set()
