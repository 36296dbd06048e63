"""Bytes in, samples and pictures out: sniff, check, decode and encode media.

Everything that touches an uploaded file's bytes goes through here, so that the
rest of polychat sees only 16 kHz mono float32 audio and loaded RGB images, and a
broken, oversized or mislabelled file becomes one readable sentence
(:class:`~agent.errors.MediaError`) instead of a decoder's traceback.

The type of a file is always decided from its bytes, never from its name.
"""

from __future__ import annotations

import io
import struct
import wave
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from agent.config import Settings
from agent.errors import MediaError

SAMPLE_RATE = 16_000  # Hz, what Whisper expects

DURATION_SLACK_SECONDS = 0.5  # s; encoder padding (AAC priming, MP3 frames) is not held against a clip

MIME_EXTENSIONS: dict[str, str] = {
    "audio/wav": "wav",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
    "audio/ogg": "ogg",
    "audio/webm": "webm",
    "audio/flac": "flac",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
}
"""The file extension polychat writes for each media type it accepts."""

AUDIO_FORMATS = "WAV, MP3, M4A/AAC, OGG/Opus, WEBM or FLAC"
IMAGE_FORMATS = "PNG, JPEG, GIF, WEBP, BMP or TIFF"

# The only demuxer FFmpeg may use for each type: never let it probe freely, since
# playlist formats (HLS, concat) would open other files named inside the upload.
_AV_FORMATS: dict[str, str] = {
    "audio/wav": "wav",
    "audio/mpeg": "mp3",
    "audio/mp4": "mov",
    "audio/aac": "aac",
    "audio/ogg": "ogg",
    "audio/webm": "matroska",
    "audio/flac": "flac",
}

_PIL_FORMATS = ["PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"]  # JPEG also opens multi-picture (MPO) photos

# Errors Pillow's plugins raise on broken or hostile files.
_PIL_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    EOFError,
    IndexError,
    KeyError,
    struct.error,
    ZeroDivisionError,
    Image.DecompressionBombError,
)

# ISO base media brands that mean a still image (HEIC, AVIF), not audio.
_IMAGE_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis", b"crx "}

_BMP_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}


# --------------------------------------------------------------------------- sniffing


def _sniff_audio_frame(data: bytes) -> tuple[str, str] | None:
    """ADTS AAC or an MPEG audio frame header at the start of ``data``."""
    if len(data) < 3 or data[0] != 0xFF:
        return None
    if data[1] & 0xF6 == 0xF0:  # 12-bit sync, layer 00: ADTS (0xFFF1 / 0xFFF9)
        return "audio", "audio/aac"
    if data[1] & 0xE0 == 0xE0:  # 11-bit MPEG audio frame sync
        version = (data[1] >> 3) & 0b11
        layer = (data[1] >> 1) & 0b11
        bitrate = data[2] >> 4
        rate = (data[2] >> 2) & 0b11
        if version != 0b01 and layer != 0 and bitrate != 0xF and rate != 0b11:
            return "audio", "audio/mpeg"
    return None


def _id3_end(data: bytes) -> int:
    """The offset just past an ID3v2 tag that starts ``data`` (needs 10 bytes)."""
    flags = data[5]
    size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F)
    return 10 + size + (10 if flags & 0x10 else 0)


def _sniff_head(data: bytes) -> tuple[str, str] | None:
    """Magic numbers at the start of ``data``, ID3 tags not handled."""
    if len(data) >= 12 and data[:4] == b"RIFF":
        if data[8:12] == b"WAVE":
            return "audio", "audio/wav"
        if data[8:12] == b"WEBP":
            return "image", "image/webp"
        return None
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image", "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image", "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image", "image/gif"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image", "image/tiff"
    if len(data) >= 18 and data[:2] == b"BM" and struct.unpack_from("<I", data, 14)[0] in _BMP_HEADER_SIZES:
        return "image", "image/bmp"
    if data[:4] == b"OggS":
        return "audio", "audio/ogg"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "audio", "audio/webm"
    if data[:4] == b"fLaC":
        return "audio", "audio/flac"
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return None if data[8:12] in _IMAGE_BRANDS else ("audio", "audio/mp4")
    return _sniff_audio_frame(data)


def _after_id3(rest: bytes) -> tuple[str, str]:
    """What an ID3-tagged file holds, given the bytes after its tag."""
    inner = _sniff_head(rest)
    if inner is not None and inner[0] == "audio":
        return inner
    return "audio", "audio/mpeg"


def sniff_type(data: bytes) -> tuple[str, str] | None:
    """Detect an audio or image type from the first bytes of a file.

    Args:
        data: the file's bytes (the first few hundred are enough, except after
            a large ID3 tag, whose contents are then assumed to be MP3).

    Returns:
        ``(kind, mime)`` with kind ``"audio"`` or ``"image"``, e.g.
        ``("audio", "audio/ogg")``, or None when the bytes are no format polychat reads.
    """
    data = bytes(data[:1 << 20]) if len(data) > 1 << 20 else bytes(data)
    if data[:3] == b"ID3" and len(data) >= 10:
        end = _id3_end(data)
        return _after_id3(data[end : end + 64] if end < len(data) else b"")
    return _sniff_head(data)


def sniff_file(path: Path | str) -> tuple[str, str] | None:
    """Like :func:`sniff_type`, for a file on disk, reading only its head (and past an ID3 tag).

    Raises:
        OSError: the file cannot be read.
    """
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(64)
        if head[:3] == b"ID3" and len(head) >= 10:
            f.seek(_id3_end(head))
            return _after_id3(f.read(64))
    return _sniff_head(head)


def _describe_unknown(data: bytes) -> str | None:
    """A name for common files polychat cannot read, to make refusals specific."""
    head = data[:512]
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive (or an Office document)"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:
        return "a HEIC or AVIF image"
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<svg", b"<?xml")) and b"<svg" in stripped:
        return "an SVG drawing"
    if stripped.startswith((b"<!doctype html", b"<html")):
        return "a web page"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text and all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return "text"
    return None


# --------------------------------------------------------------------------- uploads


def _format_bytes(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _format_seconds(seconds: float) -> str:
    return f"{seconds:.0f}" if seconds >= 10 else f"{seconds:.1f}".removesuffix(".0")


def _formats_for(kind: str | None) -> str:
    if kind == "image":
        return f"an image ({IMAGE_FORMATS})"
    if kind == "audio":
        return f"audio ({AUDIO_FORMATS})"
    return f"an image ({IMAGE_FORMATS}) or audio ({AUDIO_FORMATS})"


def upload_size_error(size: int, settings: Settings) -> MediaError:
    """The sentence refusing a file of ``size`` bytes, over ``settings.max_upload_mb``."""
    return MediaError(
        f"The file is {_format_bytes(size)}; the limit is {settings.max_upload_mb:g} MB "
        "(set POLYCHAT_MAX_UPLOAD_MB to raise it, or send a smaller file)."
    )


def check_upload(data: bytes, *, settings: Settings, expected_kind: str | None = None) -> tuple[str, str]:
    """Check that uploaded bytes are a non-empty, small enough image or audio file.

    Only the bytes' header is inspected; decoding happens later, in
    :func:`decode_audio` and :func:`load_image`.

    Args:
        data: the uploaded file.
        settings: supplies ``max_upload_mb``.
        expected_kind: ``"image"`` or ``"audio"`` when the caller needs one of them,
            None to accept either.

    Returns:
        ``(kind, mime)`` as detected from the bytes.

    Raises:
        MediaError: the file is empty, too large, of an unsupported type, or of
            the other kind than ``expected_kind``.
        ValueError: ``expected_kind`` is not None, ``"image"`` or ``"audio"``.
    """
    if expected_kind not in (None, "image", "audio"):
        raise ValueError(f"expected_kind must be None, 'image' or 'audio', not {expected_kind!r}")
    if not data:
        raise MediaError("The file is empty (0 bytes); attach it again, or record it again if it was a voice note.")
    limit = settings.upload_limit_bytes
    if len(data) > limit:
        raise upload_size_error(len(data), settings)
    detected = sniff_type(data)
    if detected is None:
        what = _describe_unknown(data)
        found = f"is {what}, which polychat cannot read" if what else "is not a format polychat can read"
        raise MediaError(f"The file {found}; send {_formats_for(expected_kind)}.")
    kind, mime = detected
    if expected_kind is not None and kind != expected_kind:
        wanted = "an image" if expected_kind == "image" else "audio"
        found = "audio" if kind == "audio" else "an image"
        raise MediaError(
            f"The file is {found} ({mime}), not {wanted}; send {_formats_for(expected_kind)}, "
            f"or attach this file as {found}."
        )
    return kind, mime


# --------------------------------------------------------------------------- audio


def _audio_mime(source: bytes | str | Path) -> str:
    """The sniffed audio type of ``source``; MediaError when it is not audio."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise MediaError(f"The audio file {path} does not exist; check the path.")
        if path.stat().st_size == 0:
            raise MediaError("The audio file is empty; record or attach it again.")
        try:
            detected = sniff_file(path)
        except OSError as e:
            raise MediaError(f"The audio file {path} could not be read ({e.strerror}); check its permissions.") from e
    else:
        if not source:
            raise MediaError("The audio file is empty; record or attach it again.")
        detected = sniff_type(source)
    if detected is None:
        raise MediaError(f"The file is not audio polychat can read; send {AUDIO_FORMATS} audio.")
    kind, mime = detected
    if kind != "audio":
        raise MediaError(f"The file is an image ({mime}), not audio; send {AUDIO_FORMATS} audio instead.")
    return mime


def _header_seconds(container: av.container.InputContainer, stream: av.audio.AudioStream) -> float | None:
    """The duration the file's header announces, if any (may be an estimate)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _too_long(seconds: float, limit: float) -> MediaError:
    return MediaError(
        f"The audio is {_format_seconds(seconds)} seconds long; the limit is {_format_seconds(limit)} seconds "
        "(set POLYCHAT_MAX_AUDIO_SECONDS to raise it)."
    )


def _downmix(frames: list[av.AudioFrame], chunks: list[np.ndarray]) -> int:
    """Append the frames' channel average to ``chunks``; return the samples added.

    Averaging keeps a loud stereo recording inside [-1, 1], where FFmpeg's own
    stereo-to-mono matrix (0.707 per channel, not normalised for float) would clip it.
    """
    added = 0
    for frame in frames:
        planes = frame.to_ndarray()  # (channels, samples) for planar float
        mono = planes[0] if planes.shape[0] == 1 else planes.mean(axis=0, dtype=np.float32)
        chunks.append(mono)
        added += mono.size
    return added


def decode_audio(source: bytes | str | Path, *, max_seconds: float | None = None) -> np.ndarray:
    """Decode an audio file to 16 kHz mono float32 samples.

    Args:
        source: the file's bytes, or a path to it. WAV, MP3, M4A/AAC, raw AAC,
            OGG (Opus, Vorbis), WEBM/Matroska and FLAC are read.
        max_seconds: refuse audio longer than this many seconds (None: no limit).
            The header's duration is checked before decoding, and decoding stops
            as soon as the limit is passed, so a long file costs little to refuse.
            Half a second of slack absorbs encoder padding.

    Returns:
        A 1-D float32 array at :data:`SAMPLE_RATE`, values in [-1, 1].

    Raises:
        MediaError: the source is missing, empty, not audio, corrupt, without any
            samples, or longer than ``max_seconds``.
    """
    mime = _audio_mime(source)
    # A path is opened here, not by FFmpeg, so that a name like "concat:a|b" stays a file name.
    try:
        file = Path(source).open("rb") if isinstance(source, (str, Path)) else io.BytesIO(bytes(source))
    except OSError as e:
        raise MediaError(f"The audio file {source} could not be read ({e.strerror}); check its permissions.") from e
    limit = None if max_seconds is None else int((max_seconds + DURATION_SLACK_SECONDS) * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        with av.open(file, mode="r", format=_AV_FORMATS[mime], metadata_errors="replace") as container:
            if not container.streams.audio:
                raise MediaError("The file has no audio track; send a recording with sound in it.")
            stream = container.streams.audio[0]
            announced = _header_seconds(container, stream)
            if max_seconds is not None and announced is not None and announced > max_seconds + DURATION_SLACK_SECONDS:
                raise _too_long(announced, max_seconds)
            resampler: av.AudioResampler | None = None
            setup: tuple[str, str, int] | None = None
            for frame in container.decode(stream):
                frame_setup = (frame.format.name, frame.layout.name, frame.sample_rate)
                if frame_setup != setup:  # first frame, or the stream changed mid-way
                    if resampler is not None:
                        total += _downmix(resampler.resample(None), chunks)
                    resampler = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=SAMPLE_RATE)
                    setup = frame_setup
                total += _downmix(resampler.resample(frame), chunks)
                if limit is not None and total > limit:
                    raise MediaError(
                        f"The audio runs past the {_format_seconds(max_seconds)}-second limit "
                        "(set POLYCHAT_MAX_AUDIO_SECONDS to raise it, or send a shorter clip)."
                    )
            if resampler is not None:
                total += _downmix(resampler.resample(None), chunks)
    except MediaError:
        raise
    except (av.FFmpegError, ValueError, UnicodeDecodeError, EOFError) as e:
        raise MediaError("The audio file could not be decoded; it may be corrupt or truncated.") from e
    finally:
        file.close()
    if limit is not None and total > limit:
        raise _too_long(total / SAMPLE_RATE, max_seconds)
    if total == 0:
        raise MediaError("The audio file holds no sound samples; it may be truncated, so record or attach it again.")
    audio = np.concatenate(chunks).astype(np.float32, copy=False)
    np.nan_to_num(audio, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(audio, -1.0, 1.0, out=audio)


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples as little-endian 16-bit integers: clipped to [-1, 1], NaN as silence."""
    audio = np.clip(np.nan_to_num(np.asarray(samples, dtype=np.float64), nan=0.0), -1.0, 1.0)
    return np.round(audio * 32767.0).astype("<i2")


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Linear-interpolation resampling, good enough for speech recognition, VAD and playback."""
    if rate == target or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    count = max(1, round(samples.size * target / rate))
    positions = np.arange(count, dtype=np.float64) * (rate / target)
    return np.interp(positions, np.arange(samples.size), samples).astype(np.float32)


def encode_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """Encode float samples as a 16-bit PCM WAV file.

    Args:
        samples: shape ``(n,)`` for mono or ``(n, channels)``; values are clipped
            to [-1, 1] (NaN becomes silence).
        sample_rate: in Hz.

    Returns:
        The WAV file's bytes.

    Raises:
        ValueError: the sample rate is not positive or the array has more than 2 dimensions.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, not {sample_rate}")
    audio = np.asarray(samples, dtype=np.float64)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2:
        raise ValueError(f"samples must be 1-D or (frames, channels), not shape {audio.shape}")
    pcm = to_pcm16(audio)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(pcm.shape[1])
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


# --------------------------------------------------------------------------- images


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB: alpha composited on white, 16-bit and float scaled to 8 bits."""
    if image.mode == "RGB":
        return image
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode in ("PA", "LA", "La", "RGBa"):
        image = image.convert("RGBA")
    elif image.mode.startswith("I") or image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16"):
            values = values / 257.0
        elif image.mode == "F" and values.size and np.nanmax(values) <= 1.0:
            values = values * 255.0
        elif values.size and np.nanmax(values) > 255:
            values = values * (255.0 / (65535.0 if np.nanmax(values) <= 65535 else np.nanmax(values)))
        gray = np.clip(np.nan_to_num(values), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def _open_image(data: bytes, max_pixels: int | None) -> Image.Image:
    """Open an image lazily (header only) with one of the supported Pillow plugins.

    With ``max_pixels`` given, that limit replaces Pillow's global bomb check, which
    would otherwise refuse the file inside ``Image.open`` before its size is known
    (and could not be raised per call without changing ``Image.MAX_IMAGE_PIXELS``
    for the whole process). Without it, ``Image.open`` and its check are used.
    """
    if max_pixels is None:
        return Image.open(io.BytesIO(data), formats=_PIL_FORMATS)
    Image.init()
    prefix = data[:16]
    for name in _PIL_FORMATS:
        factory, accept = Image.OPEN[name]
        verdict = accept(prefix) if accept is not None else True
        if verdict and not isinstance(verdict, str):  # a string is Pillow's "recognised, unsupported"
            return factory(io.BytesIO(data), None)
    raise UnidentifiedImageError("no supported Pillow plugin accepts these bytes")


def load_image(source: bytes | str | Path, *, max_pixels: int | None = None) -> Image.Image:
    """Open an image, upright and in RGB, refusing decompression bombs before decoding.

    Args:
        source: the file's bytes, or a path to it (PNG, JPEG, GIF, WEBP, BMP, TIFF;
            for animations the first frame).
        max_pixels: refuse images with more pixels than this, judged from the
            header before any pixel is decoded; it replaces Pillow's own
            ``Image.MAX_IMAGE_PIXELS`` check (None: Pillow's check only).

    Returns:
        A loaded RGB image, rotated as its EXIF orientation says, with
        transparency composited onto white.

    Raises:
        MediaError: the source is missing, empty, not an image, corrupt, or too large.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise MediaError(f"The image file {path} does not exist; check the path.")
        try:
            data = path.read_bytes()
        except OSError as e:
            raise MediaError(f"The image file {path} could not be read ({e.strerror}); check its permissions.") from e
    else:
        data = bytes(source)
    if not data:
        raise MediaError("The image file is empty; attach it again.")
    detected = sniff_type(data)
    if detected is None:
        raise MediaError(f"The file is not an image polychat can read; send {IMAGE_FORMATS}.")
    if detected[0] != "image":
        raise MediaError(f"The file is audio ({detected[1]}), not an image; send {IMAGE_FORMATS} instead.")
    try:
        with _open_image(data, max_pixels) as image:
            width, height = image.size
            if max_pixels is not None and width * height > max_pixels:
                raise MediaError(
                    f"The image is {width}×{height} ({width * height:,} pixels); the limit is "
                    f"{max_pixels:,} pixels (set POLYCHAT_MAX_IMAGE_PIXELS to raise it, or send a smaller image)."
                )
            image.load()
            try:
                upright = ImageOps.exif_transpose(image)
            except _PIL_ERRORS:  # a broken EXIF block should not cost the picture
                upright = image.copy()
            return _to_rgb(upright if upright is not None else image.copy())
    except MediaError:
        raise
    except Image.DecompressionBombError as e:
        raise MediaError(
            "The image is too large to open safely (it may be a decompression bomb); send a smaller image."
        ) from e
    except MemoryError as e:
        raise MediaError("The image is too large to load in memory; send a smaller image.") from e
    except _PIL_ERRORS as e:
        raise MediaError("The image file could not be decoded; it may be corrupt or truncated.") from e
