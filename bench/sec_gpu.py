"""Section ``gpu``: what a CUDA GPU changes: fp16 vs fp32, SDPA vs eager attention, Stable
Diffusion at 512×512 with 25 steps, batched Whisper. Runs only when torch sees CUDA;
otherwise the section says how to run it.

The measuring functions take the device and dtypes as arguments, so the tests run the
same code on the CPU with tiny sizes.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import realsize
from bench.common import RunConfig, packaged
from bench.engines import HfWhisper
from bench.measure import (
    MB,
    cuda_allocated_mb,
    cuda_available,
    cuda_peak_mb,
    interleaved,
    release_memory,
    reset_cuda_peak,
    synchronize,
)
from bench.report import RANDOM_REAL_SIZE, REAL_WEIGHTS, TINY_RANDOM, Section, Table, ratio

log = logging.getLogger(__name__)

SD_REPO = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SD_PROMPT = "a red fox in a snowy forest, watercolor"
SD_SEED = 0
GPU_COMMAND = "python -m bench --sections gpu"
VRAM_COLUMN = "VRAM: weights + run peak (MB)"

# stable-diffusion-v1-5's UNet, VAE and CLIP text encoder dimensions.
SD_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=768, attention_head_dim=8,
)
SD_VAE = dict(
    in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=[128, 256, 512, 512], layers_per_block=2,
    latent_channels=4, sample_size=512,
)
SD_TEXT = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
               num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768)


def dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def weights_mb(*modules: Any) -> float:
    """Memory of the parameters and buffers of torch modules, in MB."""
    total = 0
    for module in modules:
        total += sum(p.numel() * p.element_size() for p in module.parameters())
        total += sum(b.numel() * b.element_size() for b in module.buffers())
    return total / MB


def _timed_with_memory(contenders: dict[Any, Callable[[], Any]], runs: int,
                       weights: dict[Any, float]) -> tuple[dict[Any, Any], dict[Any, float | None]]:
    """Warm up each contender while reading its memory, then time them in turns.

    All contenders stay loaded together, so a contender's VRAM is its own weights plus the
    peak its run adds above what was allocated before it (None without CUDA).
    """
    peaks: dict[Any, float | None] = {}
    for key, run in contenders.items():
        before = cuda_allocated_mb()
        reset_cuda_peak()
        run()
        peak = cuda_peak_mb()
        peaks[key] = None if peak is None else weights[key] + max(0.0, peak - before)

    def synced(run: Callable[[], Any]) -> Callable[[], Any]:
        def call() -> Any:
            result = run()
            synchronize()
            return result

        return call

    timings, _ = interleaved({key: synced(run) for key, run in contenders.items()}, runs)
    return timings, peaks


def whisper_precision_rows(path: Path, *, device: str, dtypes: list[Any], attentions: list[str], tokens: int,
                           runs: int) -> list[list[Any]]:
    """Rows (dtype, attention, median s, min–max, × vs the first, VRAM MB) for one Whisper checkpoint."""
    import numpy as np

    audio = np.zeros(5 * 16_000, dtype=np.float32)
    contenders, weights = {}, {}
    for dtype in dtypes:
        for attention in attentions:
            engine = HfWhisper.load(path, device=device, dtype=dtype, attention=attention)
            features = engine.features(audio)
            key = (dtype_name(dtype), attention)
            contenders[key] = lambda e=engine, f=features: e.generate(f, tokens)
            weights[key] = weights_mb(engine.model)
    timings, peaks = _timed_with_memory(contenders, runs, weights)
    first = next(iter(timings.values())).median
    return [[key[0], key[1], t.median, t.spread(), ratio(first, t.median), peaks[key]] for key, t in timings.items()]


def whisper_batch_rows(path: Path, *, device: str, dtype: Any, batches: list[int], tokens: int,
                       runs: int) -> list[list[Any]]:
    """Rows (batch, median s, per clip s, clips/s, VRAM MB): several 30 s windows decoded at once."""
    import numpy as np

    engine = HfWhisper.load(path, device=device, dtype=dtype)
    contenders = {}
    for batch in batches:
        features = engine.features([np.zeros(5 * 16_000, dtype=np.float32)] * batch)
        contenders[batch] = lambda f=features: engine.generate(f, tokens)
    timings, peaks = _timed_with_memory(contenders, runs, dict.fromkeys(batches, weights_mb(engine.model)))
    return [[batch, t.median, t.median / batch, batch / t.median, peaks[batch]] for batch, t in timings.items()]


def random_sd_pipeline(*, unet: dict[str, Any] = SD_UNET, vae: dict[str, Any] = SD_VAE,
                       text: dict[str, Any] = SD_TEXT) -> Any:
    """A Stable Diffusion pipeline of v1.5's dimensions with random weights (DPM-Solver++ as polychat uses)."""
    import torch
    from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from agent.models.tiny_tokenizers import clip_tokenizer

    tokenizer = clip_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(realsize.SEED)
        text_config = dict(text, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                           pad_token_id=tokenizer.pad_token_id)
        pipeline = StableDiffusionPipeline(
            vae=AutoencoderKL(**vae), text_encoder=CLIPTextModel(CLIPTextConfig(**text_config)), tokenizer=tokenizer,
            unet=UNet2DConditionModel(**unet),
            scheduler=DPMSolverMultistepScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                                  num_train_timesteps=1000, steps_offset=1),
            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def sd_rows(make_pipeline: Callable[[Any], Any], *, device: str, dtypes: list[Any], steps: int, size: int,
            runs: int) -> list[list[Any]]:
    """Rows (dtype, median s, min–max, s per step, VRAM MB) for one image of ``size``² in ``steps`` steps."""
    import torch

    contenders, weights = {}, {}
    for dtype in dtypes:
        pipeline = make_pipeline(dtype).to(device)

        def generate(p: Any = pipeline) -> Any:
            generator = torch.Generator(device=device).manual_seed(SD_SEED)
            return p(SD_PROMPT, num_inference_steps=steps, height=size, width=size, generator=generator).images[0]

        contenders[dtype_name(dtype)] = generate
        weights[dtype_name(dtype)] = weights_mb(pipeline.unet, pipeline.vae, pipeline.text_encoder)
    timings, peaks = _timed_with_memory(contenders, runs, weights)
    return [[key, t.median, t.spread(), t.median / steps, peaks[key]] for key, t in timings.items()]


def _sd_factory(config: RunConfig) -> tuple[Callable[[Any], Any], str]:
    """A function dtype → pipeline, and the weights label: real weights when cached, else random of real size."""
    from agent.models.catalog import hub_cached

    if hub_cached(SD_REPO, "diffusers"):
        from agent.models.loaders import load_stable_diffusion
        from agent.models.weights import cached_folder

        folder = cached_folder(SD_REPO)
        return (lambda dtype: load_stable_diffusion(folder, "cpu", dtype).model), REAL_WEIGHTS
    built: list[Any] = []

    def random_pipeline(dtype: Any) -> Any:  # built once (a minute of random init), copied per dtype
        if not built:
            built.append(random_sd_pipeline())
        return copy.deepcopy(built[0]).to(dtype)

    return random_pipeline, RANDOM_REAL_SIZE


# -- every model through polychat's own loader, and the memory budget ------------------------------

# One call of each tool the GPU path serves (arguments beyond the input artifact); (tool, backend, args).
# faster-whisper runs the packaged real Whisper base (the ``offline`` extra), float16 on CUDA.
MODEL_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("transcribe_audio", "transformers", {}),
    ("transcribe_audio", "faster-whisper", {}),
    ("caption_image", "transformers", {}),
    ("answer_image_question", "transformers", {"question": "what is in the picture?"}),
    ("read_image_text", "trocr", {}),
    ("translate_text", "marian", {"text": "The weather is nice today.", "source_language": "en",
                                   "target_language": "fr"}),
    ("speak_text", "speecht5", {"text": "The weather is nice today."}),
    ("generate_image", "diffusers", {"prompt": SD_PROMPT, "steps": 4, "width": 256, "height": 256, "seed": SD_SEED}),
]
INPUT_OF = {"transcribe_audio": "audio", "caption_image": "image", "answer_image_question": "image",
            "read_image_text": "image"}


def model_weights(config: RunConfig, device: str) -> tuple[dict[str, str], dict[str, str]]:
    """Model overrides by slot for the check, and the weights label of each slot.

    Real weights when they are in the Hugging Face cache; else random weights of real size
    (``bench.realsize``) for Whisper, BLIP, Marian and SpeechT5; else the tiny profile's.
    """
    from agent.models.catalog import resolve

    models: dict[str, str] = {}
    labels: dict[str, str] = {}
    settings = config.settings_for(device=device)
    for slot in ("transcribe_audio", "caption_image", "answer_image_question", "read_image_text", "translate_text",
                 "speak_text", "speak_text_vocoder", "generate_image"):
        choice = resolve(slot, settings)
        if choice.where == "hub cache":  # the real weights, named outright (the check runs the tiny profile)
            models[slot], labels[slot] = choice.source, REAL_WEIGHTS
    if config.quick:
        return models, labels
    built = {
        "transcribe_audio": lambda: realsize.whisper("small", config.cache),
        "caption_image": lambda: realsize.blip_caption(config.cache),
        "answer_image_question": lambda: realsize.blip_vqa(config.cache),
        "translate_text": lambda: realsize.marian(config.cache),
        "speak_text": lambda: realsize.speecht5(config.cache)[0],
        "speak_text_vocoder": lambda: realsize.speecht5(config.cache)[1],
    }
    for slot, build in built.items():
        if slot not in labels:
            models[slot], labels[slot] = str(build()), RANDOM_REAL_SIZE
    return models, labels


def attention_of(bundle: Any) -> str:
    """How a loaded model computes attention: ``sdpa``/``eager`` (transformers), the processor (diffusers)."""
    model = bundle.model
    unet = getattr(model, "unet", None)
    if unet is not None:
        processors = {type(p).__name__ for p in unet.attn_processors.values()}
        return ", ".join(sorted(processors))
    config = getattr(model, "config", None)
    found = getattr(config, "_attn_implementation", None) if config is not None else None
    return str(found) if found else "-"


def model_rows(config: RunConfig, *, device: str, runs: int, models: dict[str, str] | None = None,
               labels: dict[str, str] | None = None, budget_mb: float = 0.0) -> tuple[list[list[Any]], Any]:
    """Each tool's model loaded by polychat's ModelManager on ``device`` in the settings' dtype (auto:
    fp16 on CUDA), run once to load and warm, then timed.

    Rows: tool, backend, weights, device, dtype, attention, first call s (load + run), median s,
    manager MB, CUDA allocated MB. Returns the rows and the manager (its models still loaded).
    """
    import tempfile

    from agent.artifacts import ArtifactStore
    from agent.models.manager import ModelManager
    from bench import corpus
    from tools import make_tool
    from tools.base import ToolContext

    settings = config.settings_for("tiny", models=models or {}, device=device, memory_budget_mb=budget_mb)
    manager = ModelManager(settings)
    store = ArtifactStore(Path(tempfile.mkdtemp(prefix="gpu-store-", dir=config.work)), settings)
    inputs = {
        "image": store.add_file(corpus.scene_image(config.work / "gpu-scene.png")).id,
        "audio": store.add_file(_speech(config.work / "gpu-speech.wav")).id,
    }
    rows, loaded_choices = [], []
    for tool_name, backend, args in MODEL_CALLS:
        overrides: dict[str, Any] = {"backend": backend}
        label = (labels or {}).get(tool_name) or (RANDOM_REAL_SIZE if tool_name in (models or {}) else TINY_RANDOM)
        if backend == "faster-whisper":
            if not packaged("whisper-base"):
                continue
            overrides["model"], label = "package:whisper-base", REAL_WEIGHTS
        context = ToolContext(settings, manager, store, turn=1, step=1, overrides=overrides)
        tool = make_tool(tool_name, context)
        call_args = dict(args)
        if tool_name in INPUT_OF:
            call_args[INPUT_OF[tool_name]] = inputs[INPUT_OF[tool_name]]
        if tool_name == "read_image_text":
            call_args["image"] = store.add_file(corpus.page_image(config.work / "gpu-page.png")).id

        def call(t: Any = tool, a: dict[str, Any] = call_args) -> Any:
            result = t.execute(**a)
            synchronize()
            return result

        started = time.perf_counter()
        call()
        first = time.perf_counter() - started
        timings, _ = interleaved({"call": call}, runs)
        choice = manager.choose(tool_name, **overrides)
        loaded = next((m for m in reversed(manager.loaded()) if m.family == choice.family), None)
        if loaded is None:
            continue
        loaded_choices.append(choice)
        bundle = loaded.bundle
        dtype = dtype_name(bundle.dtype) if bundle.dtype is not None else bundle.extra.get("compute_type", "-")
        rows.append([tool_name, backend, label, bundle.device, dtype, attention_of(bundle), first,
                     timings["call"].median, loaded.nbytes / MB, cuda_allocated_mb() if device == "cuda" else None])
    return rows, (manager, loaded_choices)


def _speech(path: Path) -> Path:
    """A spoken sentence (espeak-ng when installed, else a tone) for the Whisper rows."""
    from bench import corpus

    if corpus.espeak_available():
        return corpus.espeak_clip("The weather is nice today.", path).path
    import numpy as np

    from agent.media import SAMPLE_RATE, encode_wav

    tone = 0.2 * np.sin(2 * np.pi * 220 * np.arange(SAMPLE_RATE * 2) / SAMPLE_RATE).astype("float32")
    path.write_bytes(encode_wav(tone, SAMPLE_RATE))
    return path


def budget_rows(loaded: tuple[Any, list[Any]]) -> tuple[list[list[Any]], bool]:
    """Load the same models again under a memory budget of half of what they took together.

    Rows: model loaded, models resident, resident MB (the manager's count), CUDA allocated MB.
    Returns the rows and whether the budget held after every load (one model alone may exceed it).
    """
    import dataclasses

    from agent.models.manager import ModelManager

    manager, choices = loaded
    total_mb = manager.total_bytes() / MB
    budget = dataclasses.replace(manager.settings, memory_budget_mb=total_mb / 2)
    manager.unload_all()
    release_memory()
    small = ModelManager(budget)
    rows, held = [], True
    for choice in choices:
        model = small.load(choice, variant={"src": "en", "tgt": "fr"})
        used = small.total_bytes() / MB
        held = held and (used <= budget.memory_budget_mb or len(small.loaded()) == 1)
        rows.append([f"{choice.slot} ({model.family})", len(small.loaded()), used,
                     cuda_allocated_mb() if small.device == "cuda" else None])
    small.unload_all()
    release_memory()
    return rows, held


def run(config: RunConfig) -> Section:
    section = Section(
        "gpu", "GPU",
        "fp16 against fp32 and SDPA against eager attention for Whisper (transformers), Stable Diffusion at "
        "512×512 with 25 steps (DPM-Solver++, as generate_image uses), and Whisper decoding several 30 s "
        "windows at once. VRAM is what one contender needs alone: its weights plus the peak of "
        "`torch.cuda.max_memory_allocated` its run adds.",
    )
    if not cuda_available():
        section.notes.append(f"No CUDA GPU on this machine, so nothing was measured here. On a machine with one, "
                             f"run `{GPU_COMMAND}` (the full `python -m bench` runs it too) to fill this section.")
        section.findings["gpu"] = None
        return section
    import torch

    card = torch.cuda.get_device_name(0)
    runs, tokens = config.runs(5, 2), config.runs(64, 16)
    dims = "base" if config.quick else "small"
    whisper = realsize.whisper(dims, config.cache)
    precision = Table(f"Whisper whisper-{dims} size on {card}: precision and attention ({tokens} tokens forced)",
                      ["dtype", "attention", "median (s)", "min–max (s)", "× vs fp32 sdpa", VRAM_COLUMN],
                      command=config.section_command("gpu"))
    found: dict[str, Any] = {"card": card, "whisper": {}, "sd": {}}
    for row in whisper_precision_rows(whisper, device="cuda", dtypes=[torch.float32, torch.float16],
                                      attentions=["sdpa", "eager"], tokens=tokens, runs=runs):
        precision.add(*row)
        found["whisper"][(row[0], row[1])] = row[2]
    precision.notes.append(f"{RANDOM_REAL_SIZE}: random weights of real size, one 30 s window, greedy decoding.")
    section.tables.append(precision)
    release_memory()

    batched = Table(f"Whisper whisper-{dims} size on {card}: batched windows (float16, sdpa, {tokens} tokens each)",
                    ["batch", "median (s)", "per window (s)", "windows per second", VRAM_COLUMN],
                    command=config.section_command("gpu"))
    for row in whisper_batch_rows(whisper, device="cuda", dtype=torch.float16, batches=[1, 4] if config.quick
                                  else [1, 4, 8, 16], tokens=tokens, runs=runs):
        batched.add(*row)
    section.tables.append(batched)
    release_memory()

    factory, label = _sd_factory(config)
    steps = config.runs(25, 5)
    diffusion = Table(f"Stable Diffusion v1.5 ({label}) on {card}: one 512×512 image, {steps} steps",
                      ["dtype", "median (s)", "min–max (s)", "per step (s)", VRAM_COLUMN],
                      command=config.section_command("gpu"))
    for row in sd_rows(factory, device="cuda", dtypes=[torch.float32, torch.float16], steps=steps, size=512,
                       runs=config.runs(3, 1)):
        diffusion.add(*row)
        found["sd"][row[0]] = row[1]
    section.tables.append(diffusion)
    release_memory()

    models, labels = model_weights(config, "cuda")
    every = Table(f"Every model on {card} through polychat's ModelManager (dtype auto: float16 on CUDA)",
                  ["tool", "backend", "weights", "device", "dtype", "attention", "first call (s)", "median (s)",
                   "model MB", "CUDA allocated MB"], command=config.section_command("gpu"))
    rows, loaded = model_rows(config, device="cuda", runs=config.runs(3, 1), models=models, labels=labels)
    for row in rows:
        every.add(*row)
    every.notes.append("First call: loading from disk plus one run. generate_image here is 256×256 in 4 steps; "
                       "the table above times 512×512. Attention is SDPA wherever transformers offers it for the "
                       "architecture; BLIP and SpeechT5 have only eager attention there.")
    section.tables.append(every)
    found["models"] = {(r[0], r[1]): (r[4], r[5]) for r in rows}
    found["model_seconds"] = {(r[0], r[1]): r[7] for r in rows if r[2] != TINY_RANDOM}  # for capacity on paper

    budget, held = budget_rows(loaded)
    resident = Table(f"Memory budget on {card}: the same models loaded again under half the memory they took",
                     ["model loaded", "models resident", "resident MB", "CUDA allocated MB"],
                     command=config.section_command("gpu"))
    for row in budget:
        resident.add(*row)
    resident.notes.append(f"The budget {'held' if held else 'did NOT hold'} after every load: the least recently "
                          f"used idle models were unloaded and their CUDA memory freed.")
    section.tables.append(resident)
    found["budget_held"] = held
    section.findings["gpu"] = found
    release_memory()
    return section
