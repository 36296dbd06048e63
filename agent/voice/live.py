"""One microphone stream, heard as the person talks: onsets, partial words, finished utterances.

:class:`LiveListener` is what every face that listens runs (the browser's microphone,
``polychat talk``): the stream is cut into utterances by voice activity
(:class:`~agent.voice.vad.UtteranceDetector`, with its end-of-turn silence and grace
window), and each utterance is transcribed while it is spoken
(:class:`~agent.voice.incremental.IncrementalTranscriber`), so when the person stops
only the last piece is left. Feeding never waits for a model::

    listener = LiveListener(settings, rate, models=manager, language=session.language)
    for event in listener.feed(chunk):
        if isinstance(event, SpeechOnset): ...      # barge-in: the person started speaking
        elif isinstance(event, Partial): ...        # show event.text (it grows)
        elif isinstance(event, Heard): ...          # answer it: event.text() (in a worker)

Answering at once: the person may be done when they pause. :class:`Paused` comes after
a short silence with the utterance so far, and its words through ``text()``; a face
starts the turn then and holds its reply until :class:`EndOfTurn` (the end-of-turn
silence has passed), so the reply starts as the silence ends. :class:`Resumed` (they
went on) voids that turn; the utterance continues, and its next pause comes again.
The final :class:`Heard` still comes after the grace window::

        elif isinstance(event, Paused): ...         # start the turn on event.text(); hold the reply
        elif isinstance(event, EndOfTurn): ...      # play the held reply
        elif isinstance(event, Resumed): ...        # withdraw the held or playing reply
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.config import Settings
from agent.media import to_pcm16
from agent.voice.vad import PRE_ROLL_SECONDS, SpeechScorer, UtteranceDetector, pcm16_to_float

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeechOnset:
    """The person started speaking (``seconds`` into the stream): what barge-in listens for."""

    seconds: float


@dataclass(frozen=True)
class Partial:
    """The words of the utterance in progress so far (each event holds the whole text so far)."""

    text: str


@dataclass(frozen=True)
class Heard:
    """An utterance that ended: its audio and, through :meth:`text`, its words.

    Attributes:
        audio: the utterance at the stream's rate (float samples).
        rate: that rate, in Hz.
        seconds: where in the stream it ended (the end of the end-of-turn silence).
    """

    audio: np.ndarray
    rate: int
    seconds: float
    _transcriber: Any = field(default=None, repr=False)
    _partial: str = ""

    def text(self, timeout: float | None = 120.0) -> str | None:
        """The utterance's words: only the last piece is left to transcribe (blocks for it).

        Returns:
            The text, or None when it was not transcribed while spoken (no model given,
            or transcription failed): the caller then transcribes the recording itself.
        """
        if self._transcriber is None:
            return None
        try:
            return self._transcriber.finish(timeout)
        except Exception as e:  # noqa: BLE001 - the recording is still there to transcribe whole
            log.warning("Transcribing while the person spoke failed (%s); the whole recording will be.", e)
            return None
        finally:
            self._transcriber.close()

    def discard(self) -> None:
        """Not to be answered: stop transcribing it."""
        if self._transcriber is not None:
            self._transcriber.close()

    @property
    def language(self) -> str | None:
        """The language the utterance was transcribed in (given, or detected confidently)."""
        return getattr(self._transcriber, "language", None)


@dataclass(frozen=True)
class Paused:
    """The person paused after enough speech: maybe done (the utterance goes on until :class:`Heard`).

    Attributes:
        audio: the utterance so far at the stream's rate (float samples).
        rate: that rate, in Hz.
        seconds: where in the stream the pause was noticed.
    """

    audio: np.ndarray
    rate: int
    seconds: float
    _transcriber: Any = field(default=None, repr=False)

    def text(self, timeout: float | None = 120.0) -> str | None:
        """The words so far (blocks while the piece up to the pause is transcribed).

        Returns:
            The text, or None when it could not be had (no model given, the utterance went
            on or was closed meanwhile, or transcription failed): wait for :class:`Heard`.
        """
        if self._transcriber is None:
            return None
        try:
            return self._transcriber.text_so_far(timeout)
        except Exception as e:  # noqa: BLE001 - the Heard at the end still has the words
            log.debug("The words at a pause could not be had (%s).", e)
            return None

    @property
    def language(self) -> str | None:
        return getattr(self._transcriber, "language", None)


@dataclass(frozen=True)
class EndOfTurn:
    """The end-of-turn silence has passed after a :class:`Paused`: the moment to answer aloud."""

    seconds: float


@dataclass(frozen=True)
class Resumed:
    """The person went on speaking after a :class:`Paused`: what was started on it is void."""

    seconds: float


ListenEvent = SpeechOnset | Partial | Paused | EndOfTurn | Resumed | Heard


class LiveListener:
    """Cuts a live stream into utterances and transcribes each one while it is spoken.

    Args:
        settings: supply ``end_silence_seconds`` and ``max_audio_seconds``.
        rate: the stream's sample rate, in Hz.
        models: the model manager; None hears utterances without transcribing them.
        language: the conversation's language (ISO code), or None to detect it.
        scorer: the voice activity scorer for end of turn (default: Silero VAD).
        engine: what transcribes a piece (tests; default: Whisper through ``models``).
        piece_scorer: makes the scorer each utterance's transcriber cuts pieces with
            (default: its own Silero VAD; scorers keep state, so each thread has its own).
        model_kwargs: passed to ``models.use`` for the transcriber (``model=``, ``backend=``).
    """

    def __init__(
        self,
        settings: Settings,
        rate: int,
        *,
        models: Any = None,
        language: str | None = None,
        scorer: SpeechScorer | None = None,
        engine: Any = None,
        model_kwargs: dict[str, Any] | None = None,
        piece_scorer: Any = None,
    ) -> None:
        self.detector = UtteranceDetector.from_settings(rate, settings, scorer=scorer)
        self.live_model = settings.live_transcribe_model.strip()
        self.rate = int(rate)
        self.language = language
        self._models, self._engine, self._model_kwargs = models, engine, model_kwargs or {}
        self._piece_scorer = piece_scorer
        self._fed = 0  # stream samples fed so far
        self._transcriber: Any = None
        self._made: list[Any] = []  # every transcriber started, so close() can wait for their workers
        self._shown = ""
        self._recent = np.zeros(0, dtype=np.float32)  # the last pre-roll of the stream, before speech
        self._pre_roll = round(PRE_ROLL_SECONDS * self.rate) + self.rate // 10

    @property
    def heard_speech(self) -> bool:
        return self.detector.heard_speech

    @property
    def speaking(self) -> bool:
        return self.detector.speaking

    def feed(self, data: bytes | np.ndarray) -> list[ListenEvent]:
        """Add a chunk of the stream (PCM16 bytes or float samples); return what it brought."""
        if isinstance(data, bytes | bytearray | memoryview):
            samples, raw = pcm16_to_float(bytes(data)), bytes(data)
        else:
            samples = np.asarray(data, dtype=np.float32)
            raw = to_pcm16(samples).tobytes()
        found: list[ListenEvent] = []
        fed = False
        for event in self.detector.feed_events(raw):
            if event.kind == "started":
                found.append(SpeechOnset(event.seconds))
                self._start_transcribing()
                if self._transcriber is not None:
                    self._feed(np.concatenate([self._recent, samples]))
                    fed = True
            elif event.kind == "pause" and event.audio is not None:
                if self._transcriber is not None and not fed:
                    self._feed(samples)
                    fed = True
                found.append(Paused(event.audio, self.rate, event.seconds, self._transcriber))
            elif event.kind == "silence":
                found.append(EndOfTurn(event.seconds))
            elif event.kind == "resumed":
                found.append(Resumed(event.seconds))
            elif event.kind == "ended" and event.audio is not None:
                if self._transcriber is not None and not fed:
                    self._feed(samples)
                    fed = True
                found.append(Heard(event.audio, self.rate, event.seconds, self._transcriber, self._shown))
                self._transcriber, self._shown = None, ""
        if self._transcriber is not None and not fed:
            self._feed(samples)
        self._fed += samples.size
        self._recent = np.concatenate([self._recent, samples])[-self._pre_roll :]
        if self._transcriber is not None:
            text = self._transcriber.partial()
            if text and text != self._shown:
                self._shown = text
                found.append(Partial(text))
        return found

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until the utterance in progress is transcribed as far as the audio fed allows.

        A recording read on a virtual clock (``polychat talk --file``) calls this after each
        chunk, so its pieces are cut where the speech pauses, as on a machine that keeps up,
        whatever this machine's speed: the same recording always gives the same words.
        """
        transcriber = self._transcriber
        return True if transcriber is None else transcriber.wait_idle(timeout)

    def flush(self) -> Heard | None:
        """The stream ended: the utterance in progress, if it holds enough speech."""
        audio = self.detector.flush()
        transcriber, self._transcriber = self._transcriber, None
        if audio is None:
            if transcriber is not None:
                transcriber.close()
            return None
        shown, self._shown = self._shown, ""
        return Heard(audio, self.rate, self._fed / self.rate, transcriber, shown)

    def wait_for_silence(self) -> None:
        """Listen again only after a moment of quiet (see ``UtteranceDetector.wait_for_silence``)."""
        self.detector.wait_for_silence()
        self._drop()

    def close(self, wait: float | None = 0.0) -> None:
        """Stop transcribing (the stream is gone).

        Args:
            wait: seconds to wait for transcribers still busy (utterances heard and not
                asked for, one already transcribing a piece) to end; None waits as long as
                it takes. A process about to exit waits, or a busy model aborts it.
        """
        self._drop()
        made, self._made = self._made, []
        if wait == 0.0:
            return
        for transcriber in made:
            transcriber.close()
            transcriber.join(wait)

    def _drop(self) -> None:
        if self._transcriber is not None:
            self._transcriber.close()
        self._transcriber, self._shown = None, ""
        self._recent = np.zeros(0, dtype=np.float32)

    def _start_transcribing(self) -> None:
        if self._transcriber is not None:
            self._transcriber.close()
        self._transcriber = None
        if self._models is None and self._engine is None:
            return
        from agent.voice.incremental import IncrementalTranscriber

        self._transcriber = IncrementalTranscriber(
            self._models, language=self.language, rate=self.rate, engine=self._engine,
            model_kwargs=self._hearing_model(),
            scorer=self._piece_scorer() if self._piece_scorer is not None else None,
        )
        self._made = [t for t in self._made if not t.join(0)] + [self._transcriber]

    def _hearing_model(self) -> dict[str, Any]:
        """``models.use`` arguments for the next utterance: the live model while it can hear the language.

        ``live_transcribe_model`` (a setting) may be a faster model than the transcribe
        tool's; an English-only one (its name ends in ``.en``) is used only while the
        conversation's language is known to be English.
        """
        model = self.live_model
        if not model or "model" in self._model_kwargs:
            return self._model_kwargs
        if model.lower().endswith(".en") and self.language != "en":
            return self._model_kwargs
        return {**self._model_kwargs, "model": model}

    def _feed(self, samples: np.ndarray) -> None:
        try:
            self._transcriber.feed(samples)
        except RuntimeError:  # finished already: the next utterance starts a new one
            self._transcriber = None
