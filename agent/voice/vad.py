"""Hands-free voice input: cut a live microphone stream into utterances.

The browser streams 16-bit PCM chunks while the microphone is on. An
:class:`UtteranceDetector` runs voice activity detection on them (Silero VAD when
the ``silero-vad`` package is installed, a simple loudness gate otherwise) and
hands back one utterance as soon as speech has been followed by
:data:`END_SILENCE_SECONDS` of silence, so a person can just talk and pause.

A person who pauses mid-sentence is not cut off: a detector made with a grace
window (:data:`GRACE_SECONDS`, see :meth:`UtteranceDetector.from_settings`) waits that
much longer after the end-of-turn silence, and speech within it resumes the same
utterance. :meth:`UtteranceDetector.feed_events` tells what happens as it happens, so
a caller can start work early and throw it away if the person goes on:

- ``started``: speech began (an utterance is in progress);
- ``pause``: silence began after enough speech, a speculative end; ``audio`` holds the
  utterance so far;
- ``silence``: (with a grace window only) the end-of-turn silence has passed: the
  moment to answer; speech in the grace window after it still ``resumed`` the utterance;
- ``resumed``: speech came back after a ``pause``; work started on it is void;
- ``ended``: the final end of the utterance; ``audio`` holds it (also what
  :meth:`UtteranceDetector.feed` returns).

So a face can start answering at ``pause`` (transcribing the last piece, routing, even
making the first spoken sentence), hold the answer until ``silence``, and throw it away
on ``resumed``: the reply starts as the end-of-turn silence ends, not after the grace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from agent.media import resample

if TYPE_CHECKING:
    from agent.config import Settings

log = logging.getLogger(__name__)

VAD_RATE = 16_000  # Hz, the rate Silero VAD works at
WINDOW = 512  # samples at 16 kHz (32 ms), the window Silero VAD scores
END_SILENCE_SECONDS = 0.8  # seconds of silence after speech that end an utterance (Settings.end_silence_seconds)
GRACE_SECONDS = 0.5  # seconds after the end-of-turn silence in which new speech resumes the same utterance
PAUSE_SECONDS = 0.2  # seconds of silence after speech that make a speculative end (the ``pause`` event)
MIN_SPEECH_SECONDS = 0.25  # seconds; shorter bursts (a click, a cough) are ignored
PRE_ROLL_SECONDS = 0.3  # seconds of audio kept from before speech starts
REARM_SILENCE_SECONDS = 0.3  # seconds of quiet needed before listening again after a pause in listening
SPEECH_THRESHOLD = 0.5  # probability above which a window is speech
SILENCE_THRESHOLD = 0.35  # probability below which a window is silence (hysteresis)

SpeechScorer = Callable[[np.ndarray], float]
"""Scores one window of :data:`WINDOW` float samples at 16 kHz: the probability of speech."""


EventKind = Literal["started", "pause", "silence", "resumed", "ended"]


@dataclass(frozen=True)
class VoiceEvent:
    """Something that happened in the stream.

    Attributes:
        kind: ``started``, ``pause``, ``silence``, ``resumed`` or ``ended`` (see the module notes).
        seconds: where in the stream it happened, in seconds from the first sample fed.
        audio: for ``pause`` the utterance so far, for ``ended`` the whole utterance,
            at the stream's rate; None for the others.
    """

    kind: EventKind
    seconds: float
    audio: np.ndarray | None = None


def pcm16_to_float(data: bytes) -> np.ndarray:
    """Little-endian 16-bit PCM bytes to float32 samples in [-1, 1] (a trailing odd byte is dropped)."""
    usable = len(data) - (len(data) % 2)
    return np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0


class LoudnessScorer:
    """A fallback speech scorer: loudness above an adaptive noise floor."""

    def __init__(self) -> None:
        self.noise_floor = 0.003  # RMS of the quietest recent windows

    def __call__(self, window: np.ndarray) -> float:
        rms = float(np.sqrt(np.mean(np.square(window)))) if window.size else 0.0
        self.noise_floor = min(rms, self.noise_floor * 1.01) if rms > 0 else self.noise_floor
        self.noise_floor = max(self.noise_floor, 1e-4)
        return 1.0 if rms > max(0.01, 4 * self.noise_floor) else 0.0


class SileroScorer:
    """Silero VAD (its ONNX model, shipped inside the ``silero-vad`` package); one per stream."""

    def __init__(self) -> None:
        import torch
        from silero_vad import load_silero_vad

        self._torch = torch
        self._model = load_silero_vad(onnx=True)

    def __call__(self, window: np.ndarray) -> float:
        return float(self._model(self._torch.from_numpy(window), VAD_RATE).item())

    def reset(self) -> None:
        self._model.reset_states()


def make_scorer() -> SpeechScorer:
    """Silero VAD when installed, else :class:`LoudnessScorer` (logged once per call)."""
    try:
        return SileroScorer()
    except ImportError:
        log.info("silero-vad is not installed; hands-free voice uses a loudness gate (pip install silero-vad).")
    except Exception as e:  # noqa: BLE001 - a broken model file must not cost the microphone
        log.warning("Silero VAD could not load (%s); hands-free voice uses a loudness gate.", e)
    return LoudnessScorer()


class UtteranceDetector:
    """Collects a PCM16 stream and cuts it into utterances by voice activity.

    Voice activity is judged on a 16 kHz copy of the stream; the utterances handed
    back keep the stream's own rate (:attr:`stream_rate`), so the speech recogniser
    gets the untouched samples and does its own, better resampling.

    Args:
        stream_rate: the sample rate of the incoming PCM, in Hz.
        scorer: scores 512-sample windows at 16 kHz (default: :func:`make_scorer`).
        max_seconds: an utterance is cut after this many seconds even without a pause.
        end_silence_seconds: the silence after speech that ends an utterance.
        grace_seconds: after that silence, how much longer speech may resume the same
            utterance before it ends (0: none, the utterance ends with the silence).
        pause_seconds: the silence after speech that raises a ``pause`` event.
    """

    def __init__(
        self,
        stream_rate: int,
        scorer: SpeechScorer | None = None,
        max_seconds: float = 60.0,
        *,
        end_silence_seconds: float = END_SILENCE_SECONDS,
        grace_seconds: float = 0.0,
        pause_seconds: float = PAUSE_SECONDS,
    ) -> None:
        self.stream_rate = int(stream_rate)
        self.scorer = scorer if scorer is not None else make_scorer()
        self.max_windows = max(1, int(max_seconds * VAD_RATE / WINDOW))
        self.end_silence_seconds = float(end_silence_seconds)
        self.grace_seconds = max(0.0, float(grace_seconds))
        self.pause_seconds = min(float(pause_seconds), self.end_silence_seconds)
        self._events: list[VoiceEvent] = []
        self._paused = False  # a pause event was raised and speech has not resumed since
        self._quiet = False  # a silence event was raised and speech has not resumed since
        self._pending = np.zeros(0, dtype=np.float32)  # 16 kHz samples not yet scored (< one window)
        self._raw = np.zeros(0, dtype=np.float32)  # stream samples kept (pre-roll and utterance)
        self._raw_start = 0  # stream index of self._raw[0]
        self._scored = 0  # 16 kHz samples scored so far
        self._start: int | None = None  # 16 kHz index where the utterance in progress begins
        self._speech_windows = 0
        self._silent_windows = 0
        self._windows = 0  # windows in the utterance in progress
        self._quiet_needed = 0  # silent windows still needed before an utterance may start
        self.heard_speech = False  # any utterance started since the detector was made

    @classmethod
    def from_settings(
        cls, stream_rate: int, settings: Settings, scorer: SpeechScorer | None = None
    ) -> UtteranceDetector:
        """A detector for live conversation: the settings' end-of-turn silence, with the grace window."""
        return cls(
            stream_rate,
            scorer,
            settings.max_audio_seconds,
            end_silence_seconds=settings.end_silence_seconds,
            grace_seconds=GRACE_SECONDS,
        )

    @property
    def speaking(self) -> bool:
        """Whether an utterance is in progress."""
        return self._start is not None

    def wait_for_silence(self) -> None:
        """Start a new utterance only after a moment of quiet.

        Called when listening resumes after a gap (the agent was answering), so a
        sentence already under way is not picked up half-way through.
        """
        self._end_utterance()
        self._quiet_needed = round(REARM_SILENCE_SECONDS * VAD_RATE / WINDOW)

    def feed(self, data: bytes) -> list[np.ndarray]:
        """Add a chunk of PCM16 audio; return the utterances it completed (usually none)."""
        return [event.audio for event in self.feed_events(data) if event.kind == "ended" and event.audio is not None]

    def feed_events(self, data: bytes) -> list[VoiceEvent]:
        """Add a chunk of PCM16 audio; return what happened in it, in order (usually nothing).

        Every ``ended`` event carries an utterance; ``pause`` and ``ended`` come only after
        at least :data:`MIN_SPEECH_SECONDS` of speech (a click or a cough raises neither).
        """
        raw = pcm16_to_float(data)
        self._raw = np.concatenate([self._raw, raw]) if self._raw.size else raw
        samples = resample(raw, self.stream_rate, VAD_RATE)
        self._pending = np.concatenate([self._pending, samples]) if self._pending.size else samples
        whole = self._pending.size // WINDOW * WINDOW
        for start in range(0, whole, WINDOW):
            self._score(self._pending[start : start + WINDOW].copy())
        self._pending = self._pending[whole:]
        if self._start is None:  # nothing to keep but the pre-roll
            self._drop_before(self._scored - round(PRE_ROLL_SECONDS * VAD_RATE))
        events, self._events = self._events, []
        return events

    def flush(self) -> np.ndarray | None:
        """End of the stream: the utterance in progress, if it holds enough speech."""
        utterance = None
        if self._start is not None and self._speech_windows * WINDOW >= MIN_SPEECH_SECONDS * VAD_RATE:
            utterance = self._raw[self._to_raw(self._start) - self._raw_start :].copy()
        self._end_utterance()
        self._scored += self._pending.size  # the unscored tail counts as heard
        self._pending = np.zeros(0, dtype=np.float32)
        self._drop_before(self._scored)
        return utterance

    def _score(self, window: np.ndarray) -> None:
        probability = self.scorer(window)
        window_start, self._scored = self._scored, self._scored + WINDOW
        if self._start is None:
            if self._quiet_needed:
                if probability < SILENCE_THRESHOLD:
                    self._quiet_needed -= 1
                else:
                    self._quiet_needed = round(REARM_SILENCE_SECONDS * VAD_RATE / WINDOW)
                return
            if probability >= SPEECH_THRESHOLD:
                self._start = max(0, window_start - round(PRE_ROLL_SECONDS * VAD_RATE))
                self._speech_windows, self._silent_windows, self._windows = 1, 0, 1
                self.heard_speech = True
                self._event("started")
            return
        self._windows += 1
        if probability >= SPEECH_THRESHOLD:
            self._speech_windows += 1
            self._silent_windows = 0
            if self._paused:
                self._paused = self._quiet = False
                self._event("resumed")
        elif probability < SILENCE_THRESHOLD:
            self._silent_windows += 1
        enough_speech = self._speech_windows * WINDOW >= MIN_SPEECH_SECONDS * VAD_RATE
        silence = self._silent_windows * WINDOW
        if enough_speech and not self._paused and silence and silence >= self.pause_seconds * VAD_RATE:
            self._paused = True
            self._event("pause", self._utterance())
        ended = silence >= (self.end_silence_seconds + self.grace_seconds) * VAD_RATE
        if (self._paused and not self._quiet and not ended and self.grace_seconds
                and silence >= self.end_silence_seconds * VAD_RATE):
            self._quiet = True
            self._event("silence")
        if not ended and self._windows < self.max_windows:
            return
        if enough_speech:
            self._event("ended", self._utterance())
        self._drop_before(self._scored)
        self._end_utterance()

    def _utterance(self) -> np.ndarray:
        """The stream samples of the utterance in progress, up to the last window scored."""
        assert self._start is not None
        first, last = self._to_raw(self._start) - self._raw_start, self._to_raw(self._scored) - self._raw_start
        return self._raw[max(0, first) : max(0, last)].copy()

    def _event(self, kind: EventKind, audio: np.ndarray | None = None) -> None:
        self._events.append(VoiceEvent(kind, self._scored / VAD_RATE, audio))

    def _to_raw(self, index16: int) -> int:
        """The stream index of a 16 kHz index."""
        return round(index16 * self.stream_rate / VAD_RATE)

    def _drop_before(self, index16: int) -> None:
        """Forget stream samples before a 16 kHz index."""
        cut = min(self._raw.size, max(0, self._to_raw(index16) - self._raw_start))
        if cut:
            self._raw = self._raw[cut:]
            self._raw_start += cut

    def _end_utterance(self) -> None:
        self._start = None
        self._paused = self._quiet = False
        self._speech_windows = self._silent_windows = self._windows = 0
        reset = getattr(self.scorer, "reset", None)
        if reset is not None:
            reset()
