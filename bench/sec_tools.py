"""Section ``tools``: what each tool costs: cold load, warm latency, memory.

Each row runs the real tool through a fresh ``ModelManager`` in a process of its own
(with ``--quick``, all rows share one process to save start-up time), so the peak RSS
of a row is that of a process holding only that tool's models.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import asdict

from bench import corpus, realsize
from bench.common import PROJECT_ROOT, RunConfig, packaged, tesseract_available
from bench.measure import stats
from bench.report import RANDOM_REAL_SIZE, REAL_WEIGHTS, TINY_RANDOM, Section, Table
from bench.tool_worker import RowResult, ToolRow

log = logging.getLogger(__name__)

WORKER_TIMEOUT = 1200  # s for one worker process
OUTPUT_CHARS = 48  # characters of each tool's output shown in the table
SPEAK_TEXT = "Hello! This is a short test of the speech system."
TRANSLATE_TEXT = "The weather is nice today, so we are going to the beach."
IMAGE_PROMPT = "a red house under a blue sky, watercolor"


def make_inputs(config: RunConfig) -> tuple[dict[str, str], str]:
    """The input files (see ``tool_worker.INPUT_ORDER``) and what the English clip says."""
    folder = config.work / "tool-inputs"
    folder.mkdir(parents=True, exist_ok=True)
    text = corpus.ENGLISH_SENTENCES[0]
    if corpus.piper_available():
        english = corpus.PiperSpeaker(config.settings).clip(text, folder / "english.wav")
    else:
        english = corpus.espeak_clip(text, folder / "english.wav")
    if corpus.espeak_available():
        french = corpus.espeak_clip(corpus.FRENCH_SENTENCE, folder / "french.wav", "fr")
    else:
        french = english
    inputs = {
        "audio_en": str(english.path),
        "audio_fr": str(french.path),
        "scene": str(corpus.scene_image(folder / "scene.png")),
        "page": str(corpus.page_image(folder / "page.png")),
    }
    return inputs, text


def plan_rows(config: RunConfig, reference: str) -> list[ToolRow]:
    """The rows this run measures: real weights where installed, tiny models, and (full run) real-size ones."""
    light, heavy = config.runs(5, 2), config.runs(3, 1)
    page = "\n".join(corpus.PAGE_LINES)
    audio, french = {"audio": "audio-1"}, {"audio": "audio-2"}
    scene, question = {"image": "image-1"}, {"image": "image-1", "question": "What colour is the house?"}
    speak = {"text": SPEAK_TEXT}
    translate = {"text": TRANSLATE_TEXT, "target_language": "French", "source_language": "English"}
    rows: list[ToolRow] = []
    if packaged("whisper-base"):
        rows.append(ToolRow("transcribe_audio", "faster-whisper int8 · whisper-base (packaged)", REAL_WEIGHTS,
                            "default", audio, light, "package:whisper-base", "faster-whisper", reference=reference))
        rows.append(ToolRow("translate_speech", "faster-whisper int8 · whisper-base (packaged)", REAL_WEIGHTS,
                            "default", french, light, "package:whisper-base", "faster-whisper"))
    if packaged("whisper-tiny.en"):
        rows.append(ToolRow("transcribe_audio", "faster-whisper int8 · whisper tiny.en (packaged)", REAL_WEIGHTS,
                            "default", audio, light, "package:whisper-tiny.en", "faster-whisper", reference=reference))
    # Random Whisper runs every window to the token limit through the whole temperature ladder: slow, so few runs.
    rows.append(ToolRow("transcribe_audio", "transformers · tiny Whisper", TINY_RANDOM, "tiny", audio, heavy))
    rows.append(ToolRow("caption_image", "transformers · tiny BLIP", TINY_RANDOM, "tiny", scene, light))
    rows.append(ToolRow("answer_image_question", "transformers · tiny BLIP VQA", TINY_RANDOM, "tiny", question, light))
    if not config.quick:
        rows.append(ToolRow("caption_image", "transformers · BLIP base size (3 beams, 30 tokens)", RANDOM_REAL_SIZE,
                            "default", scene, heavy, str(realsize.blip_caption(config.cache))))
        rows.append(ToolRow("answer_image_question", "transformers · BLIP VQA base size (3 beams, 10 tokens)",
                            RANDOM_REAL_SIZE, "default", question, heavy, str(realsize.blip_vqa(config.cache))))
    if tesseract_available():
        rows.append(ToolRow("read_image_text", "Tesseract", REAL_WEIGHTS, "default", {"image": "image-2"}, light,
                            backend="tesseract", reference=page))
    if packaged("rapidocr"):
        rows.append(ToolRow("read_image_text", "RapidOCR (onnxruntime)", REAL_WEIGHTS, "default", {"image": "image-2"},
                            light, backend="rapidocr", reference=page))
    rows.append(ToolRow("read_image_text", "transformers · tiny TrOCR", TINY_RANDOM, "tiny", {"image": "image-2"},
                        light))
    rows.append(ToolRow("generate_image", "diffusers · tiny Stable Diffusion (512×512, default steps)", TINY_RANDOM,
                        "tiny", {"prompt": IMAGE_PROMPT, "seed": 0}, config.runs(3, 1)))
    if packaged("piper-joe"):
        rows.append(ToolRow("speak_text", "Piper · joe (packaged)", REAL_WEIGHTS, "default", speak, light,
                            backend="piper"))
    rows.append(ToolRow("speak_text", "transformers · tiny SpeechT5 + HiFi-GAN", TINY_RANDOM, "tiny", speak, light))
    if not config.quick:
        tts, vocoder = realsize.speecht5(config.cache)
        rows.append(ToolRow("speak_text", "transformers · SpeechT5 + HiFi-GAN real size", RANDOM_REAL_SIZE, "default",
                            speak, heavy, str(tts), "speecht5", models={"speak_text_vocoder": str(vocoder)}))
    rows.append(ToolRow("translate_text", "transformers · tiny Marian", TINY_RANDOM, "tiny", translate, light))
    if not config.quick:
        rows.append(ToolRow("translate_text", f"transformers · opus-mt base size ({realsize.MARIAN_BEAMS} beams, "
                            f"≤{realsize.MARIAN_MAX_LENGTH} tokens)", RANDOM_REAL_SIZE, "default", translate, heavy,
                            str(realsize.marian(config.cache))))
    return rows


def run_worker(rows: list[ToolRow], inputs: dict[str, str], config: RunConfig, tag: str) -> list[RowResult]:
    """Measure ``rows`` in a new Python process."""
    spec = config.work / f"tool-spec-{tag}.json"
    out = config.work / f"tool-result-{tag}.json"
    spec.write_text(json.dumps({"rows": [asdict(r) for r in rows], "inputs": inputs, "device": config.device}))
    env = dict(os.environ, HF_HUB_OFFLINE=os.environ.get("HF_HUB_OFFLINE", "1"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    try:
        done = subprocess.run([sys.executable, "-m", "bench.tool_worker", str(spec), str(out)], env=env,
                              cwd=PROJECT_ROOT, timeout=WORKER_TIMEOUT, capture_output=True, text=True, check=False)
    except subprocess.TimeoutExpired:
        return [RowResult(error=f"timed out after {WORKER_TIMEOUT} s") for _ in rows]
    if done.returncode != 0 or not out.is_file():
        tail = " ".join(done.stderr.strip().splitlines()[-1:])[:200]
        return [RowResult(error=f"worker exited with {done.returncode}: {tail}") for _ in rows]
    return [RowResult(**r) for r in json.loads(out.read_text())]


def _quality(row: ToolRow, result: RowResult) -> str | None:
    if result.score is None:
        return None
    return f"{'CER' if row.tool == 'read_image_text' else 'WER'} {result.score:.2f}"


def run(config: RunConfig) -> Section:
    section = Section(
        "tools", "Per-tool cost",
        "Cold load is the time the model manager spent loading the tool's models in a fresh process "
        "(engine imports included); first call is the rest of the first request (warm-up); warm latency "
        "covers later requests through the real tool, pre- and post-processing included. "
        "Peak RSS is the process's highest resident memory while the row ran.",
    )
    inputs, reference = make_inputs(config)
    rows = plan_rows(config, reference)
    if config.quick:
        results = run_worker(rows, inputs, config, "all")
    else:
        results = [run_worker([row], inputs, config, str(i))[0] for i, row in enumerate(rows)]
    cuda = config.device == "cuda"
    columns = ["tool", "engine", "weights", "warm runs", "cold load (s)", "first call (s)", "warm median (s)",
               "warm min–max (s)", "RSS after load (MB)", "peak RSS (MB)"]
    columns += (["VRAM peak (MB)"] if cuda else []) + ["quality", "output"]
    table = Table("Per-tool cost", columns, command=config.section_command("tools"))
    for row, result in zip(rows, results):
        if result.error:
            table.add(row.tool, row.engine, row.label, row.runs, *([None] * (len(columns) - 6)),
                      f"failed: {result.error}")
            log.warning("%s · %s failed: %s", row.tool, row.engine, result.error)
            continue
        warm = stats(result.warm_s or [result.first_s or 0.0])
        output = result.output[:OUTPUT_CHARS] + ("…" if len(result.output) > OUTPUT_CHARS else "")
        vram = [result.vram_peak_mb] if cuda else []
        table.add(row.tool, row.engine, row.label, row.runs, result.load_s, result.first_s, warm.median, warm.spread(),
                  round(result.rss_after_load_mb or 0), round(result.peak_rss_mb or 0), *vram, _quality(row, result),
                  output)
        section.findings.setdefault("tools", []).append(
            {"tool": row.tool, "engine": row.engine, "label": row.label, "backend": row.backend, "warm": warm.median,
             "load": result.load_s, "score": result.score, "peak_rss": result.peak_rss_mb})
    table.notes.append(f"Inputs: a {corpus.ENGLISH_SENTENCES[0]!r} voice clip, a French espeak-ng clip, a 640×480 "
                       "drawing of a house, a printed page of four lines; speak_text says "
                       f"{SPEAK_TEXT!r}; translate_text translates {TRANSLATE_TEXT!r} to French.")
    if config.quick:
        table.notes.append("--quick: all rows ran in one process, so RSS includes what earlier rows left behind.")
    section.tables.append(table)
    return section
