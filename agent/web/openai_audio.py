"""Speech as the bytes of an audio file, written while it is being spoken.

``AudioEncoder`` takes float samples sentence by sentence and hands back the bytes of
the file so far, so an HTTP answer can stream them: raw 16-bit PCM, a WAV whose header
leaves its length open (as streamed WAV always does), or MP3, Opus (in Ogg), FLAC and
AAC (in ADTS) encoded by the FFmpeg inside PyAV. ``speed`` plays the speech faster or
slower without changing its pitch (FFmpeg's ``atempo``).
"""

from __future__ import annotations

import struct
from fractions import Fraction
from typing import Any

import numpy as np

from agent.media import resample, to_pcm16

MEDIA_TYPES = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "pcm16": "audio/pcm",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "flac": "audio/flac",
    "aac": "audio/aac",
}
PCM_RATE = 24_000  # Hz, what OpenAI's raw pcm format is: 24 kHz, 16-bit, mono, little-endian
OPEN_LENGTH = 0xFFFFFFFF  # a streamed WAV's sizes: unknown until the end, so as large as they go
# format -> (PyAV container format, codec, sample rate it is encoded at or None to keep the voice's)
_CODECS: dict[str, tuple[str, str, int | None]] = {
    "mp3": ("mp3", "libmp3lame", None),
    "opus": ("ogg", "libopus", 48_000),
    "flac": ("flac", "flac", None),
    "aac": ("adts", "aac", None),
}
ATEMPO_RANGE = (0.5, 2.0)  # what one atempo filter does; more is a chain of them


def streamed_wav_header(sample_rate: int) -> bytes:
    """The header of a 16-bit mono WAV whose length is not known yet."""
    byte_rate = sample_rate * 2
    return (b"RIFF" + struct.pack("<I", OPEN_LENGTH) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, byte_rate, 2, 16)
            + b"data" + struct.pack("<I", OPEN_LENGTH - 36))


class _Sink:
    """A write-only file for PyAV: what is written waits to be taken."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def _atempo_chain(speed: float) -> list[float]:
    """``speed`` as factors each inside what one atempo filter does."""
    low, high = ATEMPO_RANGE
    factors = []
    while speed > high:
        factors.append(high)
        speed /= high
    while speed < low:
        factors.append(low)
        speed /= low
    factors.append(speed)
    return factors


class AudioEncoder:
    """Encodes speech, one piece at a time, into ``fmt``; ``add`` and ``close`` return the new bytes.

    Args:
        fmt: wav, pcm (or pcm16), mp3, opus, flac or aac.
        speed: 0.25 to 4.0; 1.0 as spoken.
    """

    def __init__(self, fmt: str, speed: float = 1.0) -> None:
        self.fmt = "pcm" if fmt == "pcm16" else fmt
        self.speed = speed
        self.media_type = MEDIA_TYPES[self.fmt]
        self._raw = self.fmt in ("wav", "pcm")  # written here, not by an encoder
        self._rate: int | None = None
        self._container: Any = None
        self._stream: Any = None
        self._graph: Any = None
        self._sink = _Sink()
        self._pts = 0

    def add(self, samples: np.ndarray, sample_rate: int) -> bytes:
        """Encode more samples (float mono in [-1, 1]); return the bytes ready to send."""
        if self._rate is None:
            self._rate = int(sample_rate) if self.fmt != "pcm" else PCM_RATE
            self._open()
        samples = resample(np.asarray(samples, dtype=np.float32), int(sample_rate), self._rate)
        if self._raw and self._graph is None:
            self._sink.write(to_pcm16(samples).tobytes())
        else:
            for frame in self._filtered(self._frame(samples)):
                self._encode(frame)
        return self._sink.take()

    def close(self) -> bytes:
        """Flush the encoder; the last bytes of the file."""
        if self._rate is None:  # nothing was said: an empty file of this format
            self.add(np.zeros(0, dtype=np.float32), PCM_RATE)
        for frame in self._filtered(None):
            self._encode(frame)
        if self._container is not None:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
        return self._sink.take()

    # -- PyAV -------------------------------------------------------------------------
    def _open(self) -> None:
        if self.fmt == "wav":
            self._sink.write(streamed_wav_header(self._rate))
        import av

        if self.speed != 1.0:
            self._graph = av.filter.Graph()
            chain = [self._graph.add_abuffer(format="s16", sample_rate=self._rate, layout="mono",
                                             time_base=f"1/{self._rate}")]
            for factor in _atempo_chain(self.speed):
                chain.append(self._graph.add("atempo", f"{factor:.6f}"))
            chain.append(self._graph.add("abuffersink"))
            for before, after in zip(chain, chain[1:], strict=False):
                before.link_to(after)
            self._graph.configure()
        if self._raw:
            return
        container_format, codec, rate = _CODECS[self.fmt]
        self._container = av.open(self._sink, mode="w", format=container_format)
        self._stream = self._container.add_stream(codec, rate=rate or self._rate, layout="mono")

    def _frame(self, samples: np.ndarray) -> Any:
        import av

        pcm = to_pcm16(samples).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = self._rate
        frame.pts = self._pts
        frame.time_base = Fraction(1, self._rate)
        self._pts += pcm.shape[1]
        return frame

    def _filtered(self, frame: Any) -> list[Any]:
        """The frames out of the speed filter (``None`` flushes it); the frame itself without one."""
        import av

        if self._graph is None:
            return [] if frame is None else [frame]
        if frame is not None and frame.samples == 0:
            return []
        self._graph.push(frame)
        frames = []
        while True:
            try:
                frames.append(self._graph.pull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return frames

    def _encode(self, frame: Any) -> None:
        if frame.samples == 0:
            return
        if self._raw:
            self._sink.write(frame.to_ndarray().astype("<i2").tobytes())
            return
        frame.pts = None  # the encoder numbers the frames it is given
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
