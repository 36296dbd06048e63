"""Test helpers that make real audio files: speech from espeak-ng, re-encoded with PyAV."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import soundfile as sf

# name -> (container format, codec, sample rate the codec is given or None to keep the input's,
#          extra codec options)
AUDIO_ENCODINGS: dict[str, tuple[str, str, int | None, dict[str, str]]] = {
    "wav": ("wav", "pcm_s16le", None, {}),
    "mp3": ("mp3", "libmp3lame", None, {}),
    "m4a": ("ipod", "aac", None, {}),
    "mp4": ("mp4", "aac", None, {}),
    "aac": ("adts", "aac", None, {}),
    "ogg_opus": ("ogg", "libopus", 48_000, {}),
    "ogg_vorbis": ("ogg", "vorbis", 44_100, {"strict": "experimental"}),
    "webm": ("webm", "libopus", 48_000, {}),
    "flac": ("flac", "flac", None, {}),
}
"""Every encoding the tests feed to ``decode_audio``."""

EXPECTED_MIME: dict[str, str] = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "mp4": "audio/mp4",
    "aac": "audio/aac",
    "ogg_opus": "audio/ogg",
    "ogg_vorbis": "audio/ogg",
    "webm": "audio/webm",
    "flac": "audio/flac",
}


def espeak_available() -> bool:
    """Whether the espeak-ng command is on PATH."""
    return shutil.which("espeak-ng") is not None


def speak_to_wav(text: str, path: Path, voice: str = "en") -> Path:
    """Say ``text`` with espeak-ng into a WAV file (22.05 kHz mono 16-bit)."""
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples and the sample rate of a WAV file."""
    samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return samples.mean(axis=1).astype(np.float32), rate


def sine(seconds: float, rate: int = 16_000, freq: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    """A mono float32 sine tone."""
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def encode_audio(samples: np.ndarray, rate: int, encoding: str, channels: int = 1) -> bytes:
    """Encode a mono float waveform into one of :data:`AUDIO_ENCODINGS`.

    Args:
        samples: mono float32 samples in [-1, 1].
        rate: their sample rate in Hz.
        encoding: a key of ``AUDIO_ENCODINGS``.
        channels: 1, or 2 to write the same signal on both channels (Vorbis is
            always written as stereo).

    Returns:
        The encoded file's bytes.
    """
    container_format, codec, codec_rate, options = AUDIO_ENCODINGS[encoding]
    if codec == "vorbis":
        channels = 2  # FFmpeg's own Vorbis encoder writes stereo only
    layout = "mono" if channels == 1 else "stereo"
    planar = np.tile(np.asarray(samples, dtype=np.float32).reshape(1, -1), (channels, 1))
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as out:
        stream = out.add_stream(codec, rate=codec_rate or rate, layout=layout)
        stream.codec_context.options = dict(options)
        frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=layout)
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()
