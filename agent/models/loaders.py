"""Loaders: how each kind of model folder becomes a ready model.

Each backend declaration (``agent.models.backends.Backend``, beside its tool) names its
loader here; only ``agent.models.manager.ModelManager`` calls them, tools ask the manager.
Every loader takes (path, device, dtype) and returns a ``Bundle``; a loader's name, less
``load_``, is the family of the models it makes (``load_blip_caption`` -> ``blip-caption``).
Heavy imports stay inside the loaders.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Bundle:
    """A loaded model with what it needs to run.

    Attributes:
        model: the model object (a torch module, a pipeline, an engine).
        processor: its processor or tokenizer, if any.
        device: ``cpu``, ``cuda`` or ``mps``.
        dtype: the torch dtype it runs in (None for non-torch engines).
        path: where it was loaded from.
        extra: anything else a tool needs (e.g. a Piper voice config).
    """

    model: Any
    processor: Any = None
    device: str = "cpu"
    dtype: Any = None
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _prepare(model: Any, device: str, dtype: Any) -> Any:
    model = model.to(device)
    model.eval()
    return model


def load_whisper(path: Path, device: str, dtype: Any) -> Bundle:
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    processor = WhisperProcessor.from_pretrained(path)
    model = WhisperForConditionalGeneration.from_pretrained(path, dtype=dtype, attn_implementation="sdpa")
    return Bundle(_prepare(model, device, dtype), processor, device, dtype, path)


def load_faster_whisper(path: Path, device: str, dtype: Any) -> Bundle:
    from faster_whisper import WhisperModel

    compute_type = "float16" if device == "cuda" else "int8"
    model = WhisperModel(str(path), device="cuda" if device == "cuda" else "cpu", compute_type=compute_type)
    return Bundle(model, None, device, None, path, {"compute_type": compute_type})


def load_blip_caption(path: Path, device: str, dtype: Any) -> Bundle:
    from transformers import BlipForConditionalGeneration, BlipProcessor

    processor = BlipProcessor.from_pretrained(path)
    model = BlipForConditionalGeneration.from_pretrained(path, dtype=dtype)
    return Bundle(_prepare(model, device, dtype), processor, device, dtype, path)


def load_blip_vqa(path: Path, device: str, dtype: Any) -> Bundle:
    from transformers import BlipForQuestionAnswering, BlipProcessor

    processor = BlipProcessor.from_pretrained(path)
    model = BlipForQuestionAnswering.from_pretrained(path, dtype=dtype)
    return Bundle(_prepare(model, device, dtype), processor, device, dtype, path)


def load_trocr(path: Path, device: str, dtype: Any) -> Bundle:
    from transformers import TrOCRProcessor, VisionEncoderDecoderModel

    processor = TrOCRProcessor.from_pretrained(path)
    model = VisionEncoderDecoderModel.from_pretrained(path, dtype=dtype)
    return Bundle(_prepare(model, device, dtype), processor, device, dtype, path)


def load_tesseract(path: Path, device: str, dtype: Any) -> Bundle:
    import pytesseract

    pytesseract.pytesseract.tesseract_cmd = str(path)
    return Bundle(pytesseract, None, "cpu", None, path, {"version": str(pytesseract.get_tesseract_version())})


def load_rapidocr(path: Path, device: str, dtype: Any) -> Bundle:
    from rapidocr_onnxruntime import RapidOCR

    return Bundle(RapidOCR(), None, "cpu", None, path)


def diffusers_variant(path: Path, dtype: Any) -> str | None:
    """``fp16`` when the pipeline folder holds the fp16 weights and they are wanted (half precision)
    or the only ones there (``polychat models pull`` fetches just one precision); else None."""
    unet = path / "unet"
    half = any(unet.glob("*.fp16.safetensors")) or any(unet.glob("*.fp16.bin"))
    full = any((unet / name).exists() for name in ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"))
    if half and (not full or str(dtype) == "torch.float16"):
        return "fp16"
    return None


def load_stable_diffusion(path: Path, device: str, dtype: Any) -> Bundle:
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(path, dtype=dtype, variant=diffusers_variant(path, dtype))
    # DPM-Solver++ finishes an image in 20-25 steps, where the stock PNDM scheduler needs ~50.
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)  # the tool reports steps itself
    return Bundle(pipe, None, device, dtype, path)


def load_speecht5(path: Path, device: str, dtype: Any) -> Bundle:
    from transformers import SpeechT5ForTextToSpeech, SpeechT5Processor

    processor = SpeechT5Processor.from_pretrained(path)
    model = SpeechT5ForTextToSpeech.from_pretrained(path, dtype=dtype)
    return Bundle(_prepare(model, device, dtype), processor, device, dtype, path)


def load_hifigan(path: Path, device: str, dtype: Any) -> Bundle:
    from transformers import SpeechT5HifiGan

    model = SpeechT5HifiGan.from_pretrained(path, dtype=dtype)
    return Bundle(_prepare(model, device, dtype), None, device, dtype, path)


def load_piper(path: Path, device: str, dtype: Any) -> Bundle:
    from piper import PiperVoice

    model_path = path
    if path.is_dir():
        voices = sorted(path.glob("*.onnx"))
        if not voices:
            from agent.errors import ModelUnavailableError

            raise ModelUnavailableError(f"The folder {path} holds no Piper .onnx voice; point the model at a .onnx file.")
        model_path = voices[0]
    config_path = Path(f"{model_path}.json")
    voice = PiperVoice.load(str(model_path), config_path=str(config_path), use_cuda=device == "cuda")
    return Bundle(voice, None, device, None, model_path, {"sample_rate": voice.config.sample_rate})


def load_marian(path: Path, device: str, dtype: Any) -> Bundle:
    from transformers import MarianMTModel, MarianTokenizer

    tokenizer = MarianTokenizer.from_pretrained(path)
    model = MarianMTModel.from_pretrained(path, dtype=dtype)
    return Bundle(_prepare(model, device, dtype), tokenizer, device, dtype, path)


def load_chat_transformers(path: Path, device: str, dtype: Any) -> Bundle:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    return Bundle(_prepare(model, device, dtype), tokenizer, device, dtype, path)


def estimate_bytes(bundle: Bundle) -> int:
    """Memory a loaded model holds: parameters and buffers for torch, file sizes otherwise."""
    model = bundle.model
    modules = []
    if hasattr(model, "components"):  # a diffusers pipeline
        modules = [m for m in model.components.values() if hasattr(m, "parameters")]
    elif hasattr(model, "parameters") and hasattr(model, "buffers"):
        modules = [model]
    if modules:
        total = 0
        for module in modules:
            total += sum(p.numel() * p.element_size() for p in module.parameters())
            total += sum(b.numel() * b.element_size() for b in module.buffers())
        return total
    path = bundle.path
    if path is None or not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
