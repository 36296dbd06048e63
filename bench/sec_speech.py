"""Sections ``asr`` and ``tts``: real-time factors, word error rates, language detection.

Real-time factor (RTF) = processing seconds / audio seconds; below 1 is faster than
real time. The configurations run in turns, clip by clip, so a burst of load from
elsewhere touches them all alike.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.config import Settings
from bench import corpus, realsize
from bench.common import RunConfig, packaged
from bench.engines import HfWhisper
from bench.measure import stats
from bench.report import RANDOM_REAL_SIZE, REAL_WEIGHTS, TINY_RANDOM, Section, Table

log = logging.getLogger(__name__)

THREAD_CHOICES = (1, 2 * (os.cpu_count() or 1))  # faster-whisper cpu_threads compared with its default (0)


@dataclass
class AsrConfig:
    """One way of running speech recognition, as one row of the table."""

    name: str
    weights: str
    model: str  # packaged name, or "hf" for the real-size transformers checkpoint
    compute_type: str = "int8"
    beams: int = 5
    threads: int = 0  # 0: the engine's default
    engine: Any = None
    seconds: list[float] = field(default_factory=list)
    rtf: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    language: str | None = None
    probability: float | None = None
    error: str | None = None


def _asr_configs(config: RunConfig) -> list[AsrConfig]:
    cuda = config.device == "cuda"
    fast, exact = ("int8_float16", "float16") if cuda else ("int8", "float32")
    configs: list[AsrConfig] = []
    if packaged("whisper-base"):
        grid = [(fast, 1), (fast, 5), (exact, 5)] if config.quick else [(fast, 1), (fast, 5), (exact, 1), (exact, 5)]
        configs += [AsrConfig("faster-whisper · whisper-base", REAL_WEIGHTS, "whisper-base", c, b) for c, b in grid]
        if not config.quick and not cuda:  # one thread, and twice as many threads as cores
            configs += [AsrConfig("faster-whisper · whisper-base", REAL_WEIGHTS, "whisper-base", fast, 5, threads)
                        for threads in THREAD_CHOICES]
    if packaged("whisper-tiny.en"):
        grid = [(fast, 5)] if config.quick else [(fast, 1), (fast, 5), (exact, 5)]
        configs += [AsrConfig("faster-whisper · whisper tiny.en", REAL_WEIGHTS, "whisper-tiny.en", c, b)
                    for c, b in grid]
    dims = "tiny" if config.quick else "base"
    precision = "float16" if cuda else "float32"
    for beams in (1,) if config.quick else (1, 5):
        configs.append(AsrConfig(f"transformers · whisper-{dims} size", RANDOM_REAL_SIZE, "hf", precision, beams))
    return configs


def _load(item: AsrConfig, config: RunConfig) -> None:
    if item.model == "hf":
        import torch

        dtype = torch.float16 if item.compute_type == "float16" else torch.float32
        item.engine = HfWhisper.load(realsize.whisper("tiny" if config.quick else "base", config.cache),
                                     device=config.device, dtype=dtype)
        return
    from faster_whisper import WhisperModel

    from agent.models.weights import packaged_path

    path = packaged_path(item.model, config.settings)
    item.engine = WhisperModel(str(path), device=config.device, compute_type=item.compute_type,
                               cpu_threads=item.threads)


def _transcribe(item: AsrConfig, audio: np.ndarray, forced_tokens: int) -> tuple[str, int, str | None, float | None]:
    """(text, tokens decoded, language, its probability) for one clip."""
    if item.model == "hf":
        features = item.engine.features(audio)
        item.engine.generate(features, max(1, forced_tokens), item.beams)
        return "", forced_tokens, None, None
    from tools.transcribe import VAD_FILTER

    segments, info = item.engine.transcribe(audio, beam_size=item.beams, vad_filter=VAD_FILTER)
    segments = list(segments)
    text = "".join(s.text for s in segments).strip()
    return text, sum(len(s.tokens) for s in segments), info.language, info.language_probability


def run_asr(config: RunConfig) -> Section:
    from tools.transcribe import BEAM_SIZE

    section = Section(
        "asr", "Speech recognition",
        "Every configuration transcribes the same clips: English sentences spoken by espeak-ng and by the "
        "Piper voice, and one French sentence for language detection, with the tool's own options (VAD "
        "filter, language detection). The transformers rows run a random Whisper of real size with the "
        "decoding length fixed to the number of tokens the real whisper-base decoded for each clip, so they "
        "time the same amount of work (they are told the language, so they skip detection); their WER means "
        "nothing.",
    )
    failed: list[AsrConfig] = []
    clips, french = corpus.speech_clips(config.work / "asr", config.settings, sentences=1 if config.quick else 5)
    clips = clips * config.runs(2, 1)  # the full run transcribes every clip twice
    audio = [clip.samples() for clip in clips]
    configs = []
    for item in _asr_configs(config):
        try:
            _load(item, config)
            configs.append(item)
        except Exception as e:  # e.g. CTranslate2 without its CUDA libraries: report the row, go on
            item.error = f"{type(e).__name__}: {' '.join(str(e).split())[:160]}"
            log.warning("%s %s could not load: %s", item.name, item.compute_type, item.error)
            failed.append(item)
    reference_tokens = [len(clip.text.split()) * 2 for clip in clips]  # until whisper-base says otherwise
    for item in configs:  # warm-up: the first call of an engine pays one-time costs
        _transcribe(item, audio[0][: 16_000 * 2], 4)
    for index, samples in enumerate(audio):
        for item in configs:
            started = time.perf_counter()
            text, tokens, _, _ = _transcribe(item, samples, reference_tokens[index])
            seconds = time.perf_counter() - started
            item.seconds.append(seconds)
            item.rtf.append(seconds / clips[index].seconds)
            item.texts.append(text)
            if item.model == "whisper-base" and item.beams == 5 and tokens:
                reference_tokens[index] = tokens
    if french is not None:
        french_audio = french.samples()
        for item in configs:
            if item.model != "hf":
                _, _, item.language, item.probability = _transcribe(item, french_audio, 0)

    audio_seconds = sum(clip.seconds for clip in clips)
    table = Table(
        f"Speech recognition on {len(clips)} clips ({audio_seconds:.0f} s of speech)",
        ["engine · model", "weights", "compute type", "beam", "threads", "RTF (total)", "RTF per clip min–max",
         "WER espeak-ng", "WER Piper", "French clip → language (p)"],
        command=config.section_command("asr"),
    )
    for item in configs:
        by_voice = {}
        for voice in ("espeak-ng", "piper"):
            pairs = [(c.text, t) for c, t in zip(clips, item.texts) if c.voice == voice]
            if pairs and item.model != "hf":
                by_voice[voice] = corpus.word_error_rate([p[0] for p in pairs], [p[1] for p in pairs])
        rtf = sum(item.seconds) / audio_seconds
        spread = stats(item.rtf).spread()
        if item.model == "hf":
            detected = None
        elif item.language is None:
            detected = "no French clip"
        else:
            detected = f"{item.language} ({item.probability:.2f})"
        threads = "default" if item.threads == 0 else item.threads
        table.add(item.name, item.weights, item.compute_type, item.beams, threads, rtf, spread,
                  by_voice.get("espeak-ng"), by_voice.get("piper"), detected)
        wers = list(by_voice.values())
        section.findings.setdefault("asr", []).append(
            {"model": item.model, "compute_type": item.compute_type, "beams": item.beams, "threads": item.threads,
             "rtf": rtf, "wer": sum(wers) / len(wers) if wers else None})
    for item in failed:
        table.add(item.name, item.weights, item.compute_type, item.beams, item.threads or "default", None, None,
                  None, None, f"failed: {item.error}")
    table.notes.append("WER: word error rate after lowercasing and removing punctuation (0 = every word right). "
                       "RTF below 1 is faster than real time.")
    table.notes.append(f"polychat's transcribe tool uses beam {BEAM_SIZE} and the int8 compute type on CPU "
                       "(float16 on CUDA), with the engine's default thread count (cpu_threads=0: CTranslate2 "
                       "chooses).")
    if not config.quick:
        table.notes.append("Every clip was transcribed twice (the clip count above counts both passes).")
    section.tables.append(table)
    return section


# -- text to speech -------------------------------------------------------------------------


def _tts_contexts(config: RunConfig) -> list[tuple[str, str, Any]]:
    """(engine, weights label, ToolContext) for each voice backend measured."""
    from agent.artifacts import ArtifactStore
    from agent.models.manager import ModelManager
    from tools.base import ToolContext

    def context(settings: Settings, **overrides: Any) -> Any:
        store = ArtifactStore(tempfile.mkdtemp(prefix="tts-store-", dir=config.work), settings)
        return ToolContext(settings, ModelManager(settings), store, overrides=overrides)

    contexts = []
    if packaged("piper-joe"):
        contexts.append(("Piper · joe (packaged)", REAL_WEIGHTS, context(config.settings_for(), backend="piper")))
    contexts.append(("SpeechT5 + HiFi-GAN · tiny", TINY_RANDOM, context(config.settings_for("tiny"))))
    if not config.quick:
        tts, vocoder = realsize.speecht5(config.cache)
        settings = config.settings_for(models={"speak_text": str(tts), "speak_text_vocoder": str(vocoder)})
        contexts.append(("SpeechT5 + HiFi-GAN · real size", RANDOM_REAL_SIZE, context(settings, backend="speecht5")))
    return contexts


def run_tts(config: RunConfig) -> Section:
    from tools.speak import synthesize_sentences

    section = Section(
        "tts", "Text to speech",
        "Each backend speaks the same English sentences one at a time through speak_text's own synthesis "
        "(`tools.speak.synthesize_sentences`). RTF = synthesis seconds / seconds of audio produced. Random "
        "SpeechT5 never predicts the end of speech, so it speaks for the tool's upper bound (4 decoder steps per "
        "character); its RTF still measures the cost per second of audio.",
    )
    sentences = list(corpus.ENGLISH_SENTENCES[: 2 if config.quick else 5])
    contexts = _tts_contexts(config)
    loads: dict[str, float] = {}
    for name, _, context in contexts:  # load and warm up each voice once
        started = time.perf_counter()
        list(synthesize_sentences(context, "Ready."))
        loads[name] = time.perf_counter() - started
    rtf: dict[str, list[float]] = {name: [] for name, _, _ in contexts}
    seconds_out: dict[str, float] = dict.fromkeys(rtf, 0.0)
    for sentence in sentences:
        for name, _, context in contexts:
            if name.endswith("real size") and len(rtf[name]) >= 2:
                continue  # two sentences are enough to time the slow random model
            started = time.perf_counter()
            pieces = list(synthesize_sentences(context, sentence))
            elapsed = time.perf_counter() - started
            produced = sum(len(samples) / rate for samples, rate in pieces)
            rtf[name].append(elapsed / produced)
            seconds_out[name] += produced
    table = Table("Text-to-speech real-time factor", ["engine", "weights", "sentences", "audio made (s)",
                  "load + first sentence (s)", "RTF median", "RTF min–max"], command=config.section_command("tts"))
    for name, label, context in contexts:
        summary = stats(rtf[name])
        table.add(name, label, len(rtf[name]), seconds_out[name], loads[name], summary.median, summary.spread())
        section.findings.setdefault("tts", []).append({"engine": name, "label": label, "rtf": summary.median})
        context.models.close()
    section.tables.append(table)
    return section
