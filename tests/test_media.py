"""Tests for agent.media: sniffing, upload checks, audio decoding and image loading on real files."""

from __future__ import annotations

import io
import random
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from agent import media
from agent.config import Settings
from agent.errors import MediaError

sys.path.insert(0, str(Path(__file__).parent))
from audio_helpers import (  # noqa: E402
    AUDIO_ENCODINGS,
    EXPECTED_MIME,
    encode_audio,
    espeak_available,
    read_wav,
    sine,
    speak_to_wav,
)

SPEECH = "Hello, this is a test of the polychat audio decoder. It should come out at sixteen kilohertz."


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, int]:
    """A spoken sentence from espeak-ng: (mono float32 samples, sample rate)."""
    if not espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng); it makes the speech these tests decode")
    path = speak_to_wav(SPEECH, tmp_path_factory.mktemp("speech") / "speech.wav")
    return read_wav(path)


@pytest.fixture(scope="module")
def encoded_speech(speech: tuple[np.ndarray, int]) -> dict[str, bytes]:
    """The speech in every container and codec the tests cover."""
    samples, rate = speech
    return {name: encode_audio(samples, rate, name) for name in AUDIO_ENCODINGS}


def image_bytes(fmt: str, mode: str = "RGB", size: tuple[int, int] = (32, 24), **save_args: object) -> bytes:
    """A small gradient image saved in ``fmt``."""
    width, height = size
    gradient = np.zeros((height, width, 3), dtype=np.uint8)
    gradient[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    gradient[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    gradient[..., 2] = 90
    image = Image.fromarray(gradient, "RGB")
    if mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def png_with_header_size(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width``×``height`` but whose data is a few bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[np.argmax(spectrum)])


# --------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize("encoding", list(AUDIO_ENCODINGS))
def test_sniff_type_detects_each_audio_encoding(encoded_speech: dict[str, bytes], encoding: str) -> None:
    assert media.sniff_type(encoded_speech[encoding]) == ("audio", EXPECTED_MIME[encoding])


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [
        ("PNG", "image/png"),
        ("JPEG", "image/jpeg"),
        ("GIF", "image/gif"),
        ("WEBP", "image/webp"),
        ("BMP", "image/bmp"),
        ("TIFF", "image/tiff"),
    ],
)
def test_sniff_type_detects_each_image_format(fmt: str, mime: str) -> None:
    assert media.sniff_type(image_bytes(fmt)) == ("image", mime)


def test_sniff_type_reads_mpeg_frames_without_an_id3_tag(encoded_speech: dict[str, bytes]) -> None:
    tagged = encoded_speech["mp3"]
    assert tagged.startswith(b"ID3")
    bare = tagged[media._id3_end(tagged) :]
    assert bare[0] == 0xFF
    assert media.sniff_type(bare) == ("audio", "audio/mpeg")


def test_sniff_type_looks_past_an_id3_tag(encoded_speech: dict[str, bytes]) -> None:
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10  # a 10-byte empty tag
    assert media.sniff_type(tag + encoded_speech["aac"]) == ("audio", "audio/aac")
    assert media.sniff_type(tag + encoded_speech["flac"]) == ("audio", "audio/flac")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is just text\n",
        b"%PDF-1.7\n",
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00",  # a HEIC photo: an ISO file, but not audio
        b"RIFF\x10\x00\x00\x00AVI LIST",
        b"BM this line starts like a bitmap",
        b"\xff\xff\xff\xff\xff\xff",
        bytes(range(256)),
    ],
)
def test_sniff_type_returns_none_for_other_bytes(data: bytes) -> None:
    assert media.sniff_type(data) is None


def test_sniff_file_reads_only_the_head(tmp_path: Path, encoded_speech: dict[str, bytes]) -> None:
    path = tmp_path / "voice.png"  # the name lies; the bytes decide
    path.write_bytes(encoded_speech["ogg_opus"])
    assert media.sniff_file(path) == ("audio", "audio/ogg")


# --------------------------------------------------------------------------- uploads


def test_check_upload_returns_kind_and_mime(encoded_speech: dict[str, bytes]) -> None:
    settings = Settings()
    assert media.check_upload(image_bytes("PNG"), settings=settings) == ("image", "image/png")
    assert media.check_upload(encoded_speech["webm"], settings=settings, expected_kind="audio") == (
        "audio",
        "audio/webm",
    )


def test_check_upload_refuses_an_empty_file() -> None:
    with pytest.raises(MediaError, match=r"The file is empty \(0 bytes\); attach it again"):
        media.check_upload(b"", settings=Settings(), expected_kind="image")


def test_check_upload_refuses_an_oversized_file() -> None:
    settings = Settings(max_upload_mb=0.001)  # about 1 KB
    with pytest.raises(MediaError) as caught:
        media.check_upload(image_bytes("BMP", size=(64, 64)), settings=settings)
    message = str(caught.value)
    assert "12.1 KB" in message
    assert "the limit is 0.001 MB" in message
    assert "POLYCHAT_MAX_UPLOAD_MB" in message


def test_check_upload_refuses_text_named_like_an_image(tmp_path: Path) -> None:
    fake = tmp_path / "photo.png"
    fake.write_text("this is not a picture at all\n")
    with pytest.raises(MediaError) as caught:
        media.check_upload(fake.read_bytes(), settings=Settings())
    message = str(caught.value)
    assert "is text, which polychat cannot read" in message
    assert "PNG, JPEG" in message and "WAV, MP3" in message


def test_check_upload_names_a_pdf() -> None:
    with pytest.raises(MediaError, match="PDF document"):
        media.check_upload(b"%PDF-1.4\n%...", settings=Settings(), expected_kind="image")


def test_check_upload_refuses_audio_where_an_image_is_expected(encoded_speech: dict[str, bytes]) -> None:
    with pytest.raises(MediaError) as caught:
        media.check_upload(encoded_speech["mp3"], settings=Settings(), expected_kind="image")
    message = str(caught.value)
    assert "is audio (audio/mpeg), not an image" in message
    assert "attach this file as audio" in message


def test_check_upload_refuses_an_image_where_audio_is_expected() -> None:
    with pytest.raises(MediaError, match=r"is an image \(image/jpeg\), not audio"):
        media.check_upload(image_bytes("JPEG"), settings=Settings(), expected_kind="audio")


def test_check_upload_rejects_an_unknown_expected_kind() -> None:
    with pytest.raises(ValueError):
        media.check_upload(b"x", settings=Settings(), expected_kind="video")


# --------------------------------------------------------------------------- audio


@pytest.mark.parametrize("encoding", list(AUDIO_ENCODINGS))
def test_decode_audio_gives_16khz_mono_float32(
    speech: tuple[np.ndarray, int], encoded_speech: dict[str, bytes], encoding: str
) -> None:
    samples, rate = speech
    expected = samples.size / rate * media.SAMPLE_RATE
    audio = media.decode_audio(encoded_speech[encoding])
    assert audio.dtype == np.float32
    assert audio.ndim == 1
    assert abs(audio.size - expected) <= 0.05 * expected
    assert float(np.sqrt(np.mean(audio**2))) > 0.02  # speech, not silence
    assert float(np.abs(audio).max()) <= 1.0


@pytest.mark.parametrize("encoding", ["mp3", "m4a", "webm", "flac"])
def test_decode_audio_reads_a_path_whatever_its_name(
    tmp_path: Path, speech: tuple[np.ndarray, int], encoded_speech: dict[str, bytes], encoding: str
) -> None:
    path = tmp_path / "recording.dat"
    path.write_bytes(encoded_speech[encoding])
    from_path = media.decode_audio(path)
    from_bytes = media.decode_audio(encoded_speech[encoding])
    np.testing.assert_array_equal(from_path, from_bytes)
    assert media.decode_audio(str(path)).size == from_path.size


def test_decode_audio_resamples_to_16khz() -> None:
    tone = sine(2.0, rate=44_100, freq=1_000.0)
    audio = media.decode_audio(encode_audio(tone, 44_100, "flac"))
    assert abs(audio.size - 2.0 * media.SAMPLE_RATE) <= 0.01 * 2.0 * media.SAMPLE_RATE
    assert dominant_frequency(audio, media.SAMPLE_RATE) == pytest.approx(1_000.0, abs=5.0)


@pytest.mark.parametrize("encoding", ["wav", "mp3", "m4a", "ogg_opus"])
def test_decode_audio_downmixes_loud_stereo_without_clipping(encoding: str) -> None:
    tone = sine(1.0, rate=48_000, freq=300.0, amplitude=0.9)
    audio = media.decode_audio(encode_audio(tone, 48_000, encoding, channels=2))
    assert 0.8 < float(np.abs(audio).max()) < 0.99


def test_decode_audio_refuses_audio_over_max_seconds(encoded_speech: dict[str, bytes]) -> None:
    with pytest.raises(MediaError) as caught:
        media.decode_audio(encoded_speech["m4a"], max_seconds=2)
    message = str(caught.value)
    assert message.startswith("The audio is 5.7 seconds long; the limit is 2 seconds")
    assert "POLYCHAT_MAX_AUDIO_SECONDS" in message


def test_decode_audio_accepts_audio_at_the_limit() -> None:
    tone = sine(3.0, rate=16_000)
    for encoding in ("wav", "m4a", "mp3"):
        assert media.decode_audio(encode_audio(tone, 16_000, encoding), max_seconds=3).size > 2.9 * 16_000


def test_decode_audio_stops_early_when_the_header_says_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    long_tone = encode_audio(sine(60.0, rate=16_000), 16_000, "flac")
    decoded = []
    real_downmix = media._downmix

    def counting_downmix(frames: list, chunks: list) -> int:
        added = real_downmix(frames, chunks)
        decoded.append(added)
        return added

    monkeypatch.setattr(media, "_header_seconds", lambda container, stream: None)
    monkeypatch.setattr(media, "_downmix", counting_downmix)
    with pytest.raises(MediaError) as caught:
        media.decode_audio(long_tone, max_seconds=2)
    assert "runs past the 2-second limit" in str(caught.value)
    assert "POLYCHAT_MAX_AUDIO_SECONDS" in str(caught.value)
    assert sum(decoded) < 5 * media.SAMPLE_RATE  # stopped near 2 s, not after 60


def test_decode_audio_refuses_a_wav_header_followed_by_junk() -> None:
    junk = random.Random(7).randbytes(4_000)
    data = b"RIFF" + struct.pack("<I", len(junk) + 4) + b"WAVE" + junk
    with pytest.raises(MediaError, match="could not be decoded; it may be corrupt or truncated"):
        media.decode_audio(data)


@pytest.mark.parametrize("encoding", ["wav", "mp3", "m4a", "ogg_opus", "webm", "flac"])
def test_decode_audio_refuses_a_file_cut_after_its_header(encoded_speech: dict[str, bytes], encoding: str) -> None:
    data = encoded_speech[encoding]
    with pytest.raises(MediaError, match="truncated"):
        media.decode_audio(data[:40])


def test_decode_audio_refuses_empty_and_non_audio_input(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="The audio file is empty"):
        media.decode_audio(b"")
    with pytest.raises(MediaError, match=r"is an image \(image/png\), not audio"):
        media.decode_audio(image_bytes("PNG"))
    with pytest.raises(MediaError, match="not audio polychat can read"):
        media.decode_audio(b"#EXTM3U\n#EXT-X-VERSION:3\nfile:///etc/passwd\n")
    with pytest.raises(MediaError, match="does not exist"):
        media.decode_audio(tmp_path / "missing.wav")


def test_decode_audio_survives_damaged_files(encoded_speech: dict[str, bytes]) -> None:
    rng = random.Random(1234)
    for encoding in ("wav", "mp3", "m4a", "aac", "ogg_opus", "webm", "flac"):
        original = encoded_speech[encoding]
        for _ in range(12):
            damaged = bytearray(original[: rng.randrange(16, len(original))])
            for _ in range(rng.randrange(0, 40)):
                damaged[rng.randrange(16, len(damaged))] = rng.randrange(256)
            try:
                audio = media.decode_audio(bytes(damaged))
            except MediaError:
                continue
            assert audio.dtype == np.float32 and float(np.abs(audio).max()) <= 1.0


def test_encode_wav_round_trips_and_clips() -> None:
    samples = np.array([0.0, 0.5, -0.5, 2.0, -3.0, np.nan], dtype=np.float32)
    data = media.encode_wav(samples, 22_050)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    decoded, rate = sf.read(io.BytesIO(data), dtype="int16")
    assert rate == 22_050
    assert decoded.tolist() == [0, 16384, -16384, 32767, -32767, 0]


def test_encode_wav_writes_stereo_and_decodes_back() -> None:
    tone = sine(1.0, rate=24_000)
    data = media.encode_wav(np.stack([tone, tone], axis=1), 24_000)
    info = sf.info(io.BytesIO(data))
    assert (info.channels, info.samplerate, info.subtype) == (2, 24_000, "PCM_16")
    assert media.decode_audio(data).size == media.SAMPLE_RATE


def test_encode_wav_rejects_a_bad_sample_rate() -> None:
    with pytest.raises(ValueError):
        media.encode_wav(np.zeros(10), 0)


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_load_image_gives_loaded_rgb(fmt: str) -> None:
    image = media.load_image(image_bytes(fmt))
    assert image.mode == "RGB"
    assert image.size == (32, 24)
    assert image.getpixel((31, 0))[0] > 200  # the gradient survived


def test_load_image_reads_a_path(tmp_path: Path) -> None:
    path = tmp_path / "picture.bin"
    path.write_bytes(image_bytes("WEBP"))
    assert media.load_image(path).size == (32, 24)
    assert media.load_image(str(path)).mode == "RGB"


def test_load_image_composites_alpha_on_white() -> None:
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")
    image = media.load_image(buffer.getvalue())
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (255, 255, 255)
    assert image.getpixel((1, 1)) == (255, 0, 0)


def test_load_image_converts_palette_images() -> None:
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    palette.putpixel((1, 1), 1)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", transparency=0)
    image = media.load_image(buffer.getvalue())
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (255, 255, 255)  # index 0 was transparent
    assert image.getpixel((1, 1)) == (200, 100, 50)
    gif = media.load_image(image_bytes("GIF", mode="P"))
    assert gif.mode == "RGB"


def test_load_image_scales_16_bit_grayscale() -> None:
    values = np.array([[0, 32_896, 65_535]], dtype=np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="PNG")
    image = media.load_image(buffer.getvalue())
    assert [image.getpixel((x, 0)) for x in range(3)] == [(0, 0, 0), (128, 128, 128), (255, 255, 255)]


def test_load_image_converts_cmyk_jpeg() -> None:
    image = media.load_image(image_bytes("JPEG", mode="CMYK"))
    assert image.mode == "RGB"
    assert image.size == (32, 24)


def test_load_image_applies_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    data = image_bytes("JPEG", size=(40, 20), exif=exif)
    with Image.open(io.BytesIO(data)) as raw:
        assert raw.size == (40, 20)
    assert media.load_image(data).size == (20, 40)


def test_load_image_refuses_a_header_claiming_a_huge_size() -> None:
    bomb = png_with_header_size(100_000, 100_000)
    with pytest.raises(MediaError) as caught:
        media.load_image(bomb, max_pixels=40_000_000)
    message = str(caught.value)
    assert "100000×100000 (10,000,000,000 pixels)" in message
    assert "the limit is 40,000,000 pixels" in message
    assert "POLYCHAT_MAX_IMAGE_PIXELS" in message


def test_load_image_falls_back_on_pillows_bomb_check() -> None:
    with pytest.raises(MediaError, match="decompression bomb"):
        media.load_image(png_with_header_size(100_000, 100_000))


def test_load_image_refuses_more_pixels_than_max_pixels() -> None:
    with pytest.raises(MediaError, match=r"32×24 \(768 pixels\); the limit is 500 pixels"):
        media.load_image(image_bytes("PNG"), max_pixels=500)
    assert media.load_image(image_bytes("PNG"), max_pixels=768).size == (32, 24)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "TIFF"])
def test_load_image_refuses_a_truncated_file(fmt: str) -> None:
    data = image_bytes(fmt, size=(64, 64))
    with pytest.raises(MediaError, match="could not be decoded; it may be corrupt or truncated"):
        media.load_image(data[: len(data) // 2])


def test_load_image_refuses_wrong_or_missing_input(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("shopping list: eggs, milk\n")
    with pytest.raises(MediaError, match="not an image polychat can read"):
        media.load_image(text)
    with pytest.raises(MediaError, match="The image file is empty"):
        media.load_image(b"")
    with pytest.raises(MediaError, match="does not exist"):
        media.load_image(tmp_path / "missing.jpg")


def test_load_image_refuses_audio(encoded_speech: dict[str, bytes]) -> None:
    with pytest.raises(MediaError, match=r"is audio \(audio/wav\), not an image"):
        media.load_image(encoded_speech["wav"])


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the broken TIFF tags it skips
def test_load_image_survives_damaged_files() -> None:
    rng = random.Random(99)
    for fmt in ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"):
        original = image_bytes(fmt, size=(48, 40))
        for _ in range(25):
            damaged = bytearray(original[: rng.randrange(12, len(original) + 1)])
            for _ in range(rng.randrange(0, 12)):
                damaged[rng.randrange(12, len(damaged))] = rng.randrange(256)
            try:
                image = media.load_image(bytes(damaged), max_pixels=10_000_000)
            except MediaError:
                continue
            assert image.mode == "RGB"


def test_decode_audio_refuses_a_video_without_sound() -> None:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(MediaError, match="no audio track"):
        media.decode_audio(buffer.getvalue())
