"""Inputs of the benchmarks, made on the spot: spoken sentences, a scene and a page of text.

Speech comes from two real synthesizers, espeak-ng (formant, robotic) and the packaged
Piper voice (neural, natural), so recognition is measured on two kinds of voice. The
sentences have no digits or British/American spellings, so a word error is an error.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from agent.config import Settings
from agent.media import SAMPLE_RATE, decode_audio

log = logging.getLogger(__name__)

ENGLISH_SENTENCES: tuple[str, ...] = (
    "The weather is lovely today, so we are going for a walk in the park.",
    "Please remind me to call my sister after dinner.",
    "Can you describe the picture I sent you this morning?",
    "The train to the city leaves from the main station every hour.",
    "I like to read books about history and old ships.",
)
FRENCH_SENTENCE = "Bonjour, je voudrais réserver une table pour deux personnes ce soir."
VOICE_NOTE_TEXT = "Hello there. What can you do for me today? Please tell me what you can help with."
REPLY_TEXT = (  # a spoken reply of several sentences, for time-to-first-audio
    "Here is what I found. The picture shows a red house under a blue sky. "
    "The sun is shining and the grass is green. Would you like me to read any text in it?"
)
PAGE_LINES: tuple[str, ...] = (
    "INVOICE NUMBER 2417",
    "Total due: 48.50 EUR",
    "Thank you for your order",
    "Please pay within thirty days",
)
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)
FONT_SIZE = 30  # px, a clearly printed line


@dataclass(frozen=True)
class Clip:
    """One spoken sentence on disk.

    Attributes:
        path: the WAV file.
        text: what is said.
        voice: which synthesizer said it (``espeak-ng`` or ``piper``).
        language: ISO code of the language spoken.
        seconds: its length.
    """

    path: Path
    text: str
    voice: str
    language: str
    seconds: float

    def samples(self) -> np.ndarray:
        """The clip as 16 kHz mono float32, what Whisper reads."""
        return decode_audio(self.path)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def piper_available() -> bool:
    from agent.models.catalog import packaged_present

    return packaged_present("piper-joe")


def _seconds(path: Path) -> float:
    return len(decode_audio(path)) / SAMPLE_RATE


def espeak_clip(text: str, path: Path, language: str = "en") -> Clip:
    """Say ``text`` with espeak-ng into ``path``."""
    subprocess.run(["espeak-ng", "-v", language, "-w", str(path), text], check=True, capture_output=True)
    return Clip(path, text, "espeak-ng", language, _seconds(path))


class PiperSpeaker:
    """The packaged Piper voice, loaded once, writing sentences to WAV files."""

    def __init__(self, settings: Settings) -> None:
        from piper import PiperVoice

        from agent.models.weights import packaged_path

        model = packaged_path("piper-joe", settings)
        self.voice = PiperVoice.load(str(model), config_path=f"{model}.json")

    def clip(self, text: str, path: Path) -> Clip:
        with wave.open(str(path), "wb") as wav_file:
            self.voice.synthesize_wav(text, wav_file)
        return Clip(path, text, "piper", "en", _seconds(path))


def speech_clips(folder: Path, settings: Settings, *, sentences: int) -> tuple[list[Clip], Clip | None]:
    """English clips (``sentences`` per available voice) and one French clip (None without espeak-ng).

    Raises:
        RuntimeError: neither espeak-ng nor Piper is installed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    chosen = ENGLISH_SENTENCES[:sentences]
    clips: list[Clip] = []
    if espeak_available():
        clips += [espeak_clip(text, folder / f"espeak-{i}.wav") for i, text in enumerate(chosen)]
    if piper_available():
        speaker = PiperSpeaker(settings)
        clips += [speaker.clip(text, folder / f"piper-{i}.wav") for i, text in enumerate(chosen)]
    if not clips:
        raise RuntimeError("no speech synthesizer: install espeak-ng or the [offline] extra for Piper")
    french = espeak_clip(FRENCH_SENTENCE, folder / "french.wav", "fr") if espeak_available() else None
    return clips, french


def voice_note(folder: Path, settings: Settings) -> Clip:
    """A voice note of about five seconds (espeak-ng, else Piper)."""
    folder.mkdir(parents=True, exist_ok=True)
    if espeak_available():
        return espeak_clip(VOICE_NOTE_TEXT, folder / "voice-note.wav")
    return PiperSpeaker(settings).clip(VOICE_NOTE_TEXT, folder / "voice-note.wav")


# -- scoring --------------------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """Lowercase words without punctuation, single-spaced: what WER and CER compare."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^\w\s']", " ", text)
    return " ".join(text.split())


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER (all errors over all reference words) after ``normalize_text``."""
    import jiwer

    refs = [normalize_text(r) for r in references]
    hyps = [normalize_text(h) or "<empty>" for h in hypotheses]
    return float(jiwer.wer(refs, hyps))


def char_error_rate(reference: str, hypothesis: str) -> float:
    """CER of one text after ``normalize_text``."""
    import jiwer

    return float(jiwer.cer(normalize_text(reference), normalize_text(hypothesis) or "<empty>"))


# -- images ---------------------------------------------------------------------------------


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size=size)


def scene_image(path: Path) -> Path:
    """A 640×480 drawing of a house under the sun, for captioning and questions."""
    image = Image.new("RGB", (640, 480))
    draw = ImageDraw.Draw(image)
    for y in range(300):  # sky, lighter towards the horizon
        shade = 150 + y * 100 // 300
        draw.line([(0, y), (640, y)], fill=(shade // 2, shade - 30, 255))
    draw.rectangle([0, 300, 640, 480], fill=(60, 160, 60))
    draw.ellipse([500, 40, 580, 120], fill=(255, 220, 60))
    draw.rectangle([200, 200, 400, 360], fill=(190, 40, 40))
    draw.polygon([(180, 200), (300, 110), (420, 200)], fill=(110, 60, 40))
    draw.rectangle([280, 280, 320, 360], fill=(80, 50, 30))
    image.save(path)
    return path


def page_image(path: Path) -> Path:
    """A white page with ``PAGE_LINES`` printed on it, for OCR."""
    font = _font(FONT_SIZE)
    image = Image.new("RGB", (760, 80 + 60 * len(PAGE_LINES)), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(PAGE_LINES):
        draw.text((40, 40 + 60 * i), line, fill="black", font=font)
    image.save(path)
    return path
