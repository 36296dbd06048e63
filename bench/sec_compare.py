"""Section ``compare``: side by side in one run, with ratios.

(a) a new model for every request (the original script's pattern: ``from_pretrained``
    and run, each time) against polychat's warm path (the ModelManager keeps it loaded);
(b) Whisper through transformers against CTranslate2 (faster-whisper's engine) on the
    SAME checkpoint: a real-size random Whisper saved by transformers and converted with
    ``ctranslate2.converters.TransformersConverter``, decoding a fixed number of tokens;
(c) fp32 against dynamic int8 quantization (``torch.ao.quantization.quantize_dynamic`` on
    ``nn.Linear``) for Whisper and Marian: speed, and how much the output moves;
(d) speaking a reply sentence by sentence against speaking it whole: time to first audio.

Everything here runs on the CPU, where these choices matter; contenders run in turns.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any

import numpy as np

from agent.config import Settings
from agent.media import SAMPLE_RATE
from bench import corpus, realsize
from bench.common import RunConfig, packaged
from bench.engines import Ct2Whisper, HfWhisper, logit_drift, quantize_dynamic_int8, token_agreement
from bench.measure import interleaved
from bench.report import RANDOM_REAL_SIZE, REAL_WEIGHTS, TINY_RANDOM, Section, Table, ratio

log = logging.getLogger(__name__)


def _context(config: RunConfig, settings: Settings, **overrides: Any) -> Any:
    from agent.artifacts import ArtifactStore
    from agent.models.manager import ModelManager
    from tools.base import ToolContext

    store = ArtifactStore(tempfile.mkdtemp(prefix="compare-store-", dir=config.work), settings)
    return ToolContext(settings, ModelManager(settings), store, turn=1, step=1, overrides=overrides)


# -- (a) a model per request vs the warm manager ----------------------------------------------


def _per_request_rows(config: RunConfig, clip: corpus.Clip, scene: str) -> list[tuple[str, str, str, Any, Any]]:
    """(task, model, weights, rebuild-and-run function, warm function) per comparison."""
    from tools import make_tool

    settings = config.settings_for(device="cpu")
    rows = []
    if packaged("whisper-base"):
        from agent.models.weights import packaged_path
        from tools.transcribe import BEAM_SIZE, VAD_FILTER

        path = str(packaged_path("whisper-base", settings))
        audio = clip.samples()

        def rebuild_asr() -> str:
            from faster_whisper import WhisperModel

            model = WhisperModel(path, device="cpu", compute_type="int8")
            segments, _ = model.transcribe(audio, beam_size=BEAM_SIZE, vad_filter=VAD_FILTER)
            return "".join(s.text for s in segments)

        context = _context(config, settings, model="package:whisper-base", backend="faster-whisper")
        audio_id = context.artifacts.add_file(clip.path).id
        tool = make_tool("transcribe_audio", context)
        rows.append((f"transcribe {clip.seconds:.1f} s of speech", "faster-whisper int8 · whisper-base", REAL_WEIGHTS,
                     rebuild_asr, lambda: tool.execute(audio=audio_id)))
    if config.quick:
        from agent.models.tiny import ensure_tiny

        blip, blip_label = ensure_tiny("blip-caption", settings.tiny_dir), TINY_RANDOM
    else:
        blip, blip_label = realsize.blip_caption(config.cache), RANDOM_REAL_SIZE

    def rebuild_caption() -> str:
        import torch
        from transformers import BlipForConditionalGeneration, BlipProcessor

        from agent.media import load_image
        from tools.caption import CAPTION_BEAMS, CAPTION_MAX_NEW_TOKENS

        processor = BlipProcessor.from_pretrained(blip)
        model = BlipForConditionalGeneration.from_pretrained(blip).eval()
        inputs = processor(images=load_image(scene), return_tensors="pt")
        with torch.inference_mode():
            output = model.generate(**inputs, max_new_tokens=CAPTION_MAX_NEW_TOKENS, num_beams=CAPTION_BEAMS)
        return processor.decode(output[0], skip_special_tokens=True)

    context = _context(config, settings, model=str(blip))
    image_id = context.artifacts.add_file(scene).id
    caption = make_tool("caption_image", context)
    rows.append(("caption a 640×480 image", "transformers · BLIP" + (" tiny" if config.quick else " base size"),
                 blip_label, rebuild_caption, lambda: caption.execute(image=image_id)))
    if packaged("piper-joe"):
        from agent.models.weights import packaged_path

        voice_file = packaged_path("piper-joe", settings)

        def rebuild_tts() -> int:
            from piper import PiperVoice

            voice = PiperVoice.load(str(voice_file), config_path=f"{voice_file}.json")
            return sum(len(chunk.audio_float_array) for chunk in voice.synthesize(corpus.ENGLISH_SENTENCES[1]))

        context = _context(config, settings, backend="piper")
        speak = make_tool("speak_text", context)
        rows.append(("speak one sentence", "Piper · joe", REAL_WEIGHTS, rebuild_tts,
                     lambda: speak.execute(text=corpus.ENGLISH_SENTENCES[1])))
    return rows


def per_request_table(config: RunConfig, section: Section) -> Table:
    folder = config.work / "compare"
    folder.mkdir(parents=True, exist_ok=True)
    if corpus.piper_available():
        clip = corpus.PiperSpeaker(config.settings).clip(corpus.ENGLISH_SENTENCES[0], folder / "clip.wav")
    else:
        clip = corpus.espeak_clip(corpus.ENGLISH_SENTENCES[0], folder / "clip.wav")
    scene = str(corpus.scene_image(folder / "scene.png"))
    table = Table("(a) A new model for every request vs the warm model manager",
                  ["request", "model", "weights", "new model per request median (s)", "warm manager median (s)",
                   "warm min–max (s)", "per-request / warm"], command=config.section_command("compare"))
    for task, model, label, rebuild, warm in _per_request_rows(config, clip, scene):
        warm()  # the manager loads once; every later request reuses the model
        timings, _ = interleaved({"rebuild": rebuild, "warm": warm}, config.runs(3, 2))
        slow, fast = timings["rebuild"].median, timings["warm"].median
        table.add(task, model, label, slow, fast, timings["warm"].spread(), ratio(slow, fast))
        section.findings.setdefault("per_request", {})[task] = ratio(slow, fast)
    table.notes.append("\"New model per request\" loads the weights and runs the model every time, as a script "
                       "that calls from_pretrained (or WhisperModel / PiperVoice.load) per request does.")
    return table


# -- (b) and (c) Whisper: transformers vs CTranslate2, fp32 vs int8 -----------------------------


def whisper_engines_table(config: RunConfig, section: Section) -> tuple[Table, list[list[Any]]]:
    """Table (b), and rows for table (c) (Whisper fp32 vs dynamic int8)."""
    import torch

    threads = torch.get_num_threads()
    tokens = config.runs(32, 16)
    if corpus.espeak_available():
        audio = corpus.espeak_clip(corpus.ENGLISH_SENTENCES[0], config.work / "engines.wav").samples()
    else:  # the encoder reads a 30 s window whatever it holds; silence times the same work
        audio = np.zeros(5 * SAMPLE_RATE, dtype=np.float32)
    table = Table(
        f"(b) Whisper on CPU, same checkpoint: transformers vs CTranslate2 ({tokens} tokens forced, {threads} threads)",
        ["checkpoint", "engine", "compute", "median (s)", "min–max (s)", "× faster than transformers fp32",
         "same tokens as transformers fp32"],
        command=config.section_command("compare"),
    )
    drift_rows: list[list[Any]] = []
    for dims in ("tiny",) if config.quick else ("base", "small"):
        hf = HfWhisper.load(realsize.whisper(dims, config.cache))
        hf_int8 = HfWhisper(quantize_dynamic_int8(hf.model), hf.processor)
        ct2_path = realsize.whisper_ct2(dims, config.cache)
        engines = {
            ("transformers", "float32"): hf,
            ("transformers + dynamic int8", "int8 (Linear)"): hf_int8,
            ("CTranslate2", "float32"): Ct2Whisper.load(ct2_path, compute_type="float32", threads=threads),
            ("CTranslate2", "int8"): Ct2Whisper.load(ct2_path, compute_type="int8", threads=threads),
        }
        features, prompt = hf.features(audio), hf.prompt("en")
        contenders = {key: (lambda e=engine, f=features: e.generate(f, tokens)[0]) for key, engine in engines.items()}
        for run in contenders.values():  # warm-up
            run()
        timings, outputs = interleaved(contenders, config.runs(3, 2))
        base = timings[("transformers", "float32")].median
        reference = outputs[("transformers", "float32")]
        for (engine, compute), timing in timings.items():
            speedup = ratio(base, timing.median)
            table.add(f"whisper-{dims} size", engine, compute, timing.median, timing.spread(), speedup,
                      f"{token_agreement(reference, outputs[(engine, compute)]):.0%}")
            section.findings.setdefault("engines", {})[(dims, engine, compute)] = speedup
        drift, top1 = logit_drift(hf.logits(features, prompt + reference), hf_int8.logits(features, prompt + reference))
        int8 = timings[("transformers + dynamic int8", "int8 (Linear)")].median
        same = token_agreement(reference, outputs[("transformers + dynamic int8", "int8 (Linear)")])
        drift_rows.append([f"Whisper · whisper-{dims} size", RANDOM_REAL_SIZE, base, int8, ratio(base, int8), drift,
                           top1, same])
    table.notes.append(f"Random weights of real size ({RANDOM_REAL_SIZE}). One 30 s window of log-mel features "
                       "(computed once, outside the timing) is encoded once; the language is given and the "
                       "end-of-text and timestamp tokens are suppressed, so both engines decode exactly the same "
                       "number of text tokens with greedy search.")
    table.notes.append("\"Same tokens\": share of the decoded tokens equal to transformers fp32's; 100% for "
                       "CTranslate2 fp32 shows the conversion kept the checkpoint; int8 rows may differ.")
    return table, drift_rows


def _marian_drift_row(config: RunConfig) -> list[Any]:
    import torch
    from transformers import MarianMTModel, MarianTokenizer

    from agent.models.tiny import ensure_tiny

    if config.quick:
        path, label, name = ensure_tiny("marian", config.settings.tiny_dir), TINY_RANDOM, "Marian · tiny"
    else:
        path, label, name = realsize.marian(config.cache), RANDOM_REAL_SIZE, "Marian · opus-mt base size"
    tokenizer = MarianTokenizer.from_pretrained(path)
    fp32 = MarianMTModel.from_pretrained(path).eval()
    int8 = quantize_dynamic_int8(fp32)
    inputs = tokenizer([corpus.ENGLISH_SENTENCES[0]], return_tensors="pt")
    tokens = config.runs(32, 16)

    def generate(model: Any) -> list[int]:
        with torch.inference_mode():
            out = model.generate(**inputs, num_beams=1, do_sample=False, max_new_tokens=tokens, min_new_tokens=tokens)
        return out[0].tolist()

    generate(fp32), generate(int8)
    timings, outputs = interleaved({"fp32": lambda: generate(fp32), "int8": lambda: generate(int8)}, config.runs(3, 2))
    with torch.inference_mode():
        decoder = torch.tensor([outputs["fp32"]])
        reference = fp32(**inputs, decoder_input_ids=decoder).logits[0]
        other = int8(**inputs, decoder_input_ids=decoder).logits[0]
    drift, top1 = logit_drift(reference, other)
    slow, fast = timings["fp32"].median, timings["int8"].median
    return [name, label, slow, fast, ratio(slow, fast), drift, top1, token_agreement(outputs["fp32"], outputs["int8"])]


def quantization_table(config: RunConfig, section: Section, whisper_rows: list[list[Any]]) -> Table:
    table = Table("(c) fp32 vs dynamic int8 quantization on CPU (torch quantize_dynamic on nn.Linear)",
                  ["model", "weights", "fp32 median (s)", "int8 median (s)", "fp32 / int8",
                   "max |Δlogit| / max |logit|", "top-1 agreement (teacher-forced)", "same generated tokens"],
                  command=config.section_command("compare"))
    for row in [*whisper_rows, _marian_drift_row(config)]:
        table.add(*row[:6], f"{row[6]:.0%}", f"{row[7]:.0%}")
        section.findings.setdefault("quant", {})[row[0]] = {"speedup": row[4], "drift": row[5], "top1": row[6]}
    table.notes.append("Greedy decoding of a fixed number of tokens. Random weights have flat, noisy logits, "
                       "so the drift here is an upper bound of what trained weights show; the speed-up is real.")
    return table


# -- (d) streaming speech -------------------------------------------------------------------------


def streaming_table(config: RunConfig, section: Section) -> Table:
    from tools import make_tool
    from tools.speak import split_sentences, synthesize_sentences

    if packaged("piper-joe"):
        context = _context(config, config.settings_for(device="cpu"), backend="piper")
        name, label = "Piper · joe", REAL_WEIGHTS
    else:
        context = _context(config, config.settings_for("tiny", device="cpu"))
        name, label = "SpeechT5 · tiny", TINY_RANDOM
    speak = make_tool("speak_text", context)

    def whole() -> None:
        speak.execute(text=corpus.REPLY_TEXT)

    def first_sentence() -> None:
        next(synthesize_sentences(context, corpus.REPLY_TEXT))

    whole()
    timings, _ = interleaved({"whole": whole, "first": first_sentence}, config.runs(5, 2))
    slow, fast = timings["whole"].median, timings["first"].median
    table = Table("(d) Speaking a reply: whole vs sentence by sentence (time to first audio)",
                  ["voice", "weights", "sentences", "whole reply (s)", "first sentence (s)",
                   "first sentence min–max (s)", "whole / first"], command=config.section_command("compare"))
    table.add(name, label, len(split_sentences(corpus.REPLY_TEXT)), slow, fast, timings["first"].spread(),
              ratio(slow, fast))
    section.findings["streaming"] = {"voice": name, "whole": slow, "first": fast}
    return table


def run(config: RunConfig) -> Section:
    section = Section(
        "compare", "Side by side",
        "Four comparisons measured in one run, contenders in turns, on the CPU: (a) a new model for every request "
        "(the original script's pattern) against polychat's warm model manager; (b) Whisper through transformers "
        "against CTranslate2 (faster-whisper's engine) on the same checkpoint; (c) fp32 against dynamic int8 "
        "quantization; (d) speaking a reply sentence by sentence against speaking it whole.",
    )
    section.tables.append(per_request_table(config, section))
    engines, whisper_drift = whisper_engines_table(config, section)
    section.tables.append(engines)
    section.tables.append(quantization_table(config, section, whisper_drift))
    section.tables.append(streaming_table(config, section))
    return section
