"""Which model and backend each tool uses, and whether its weights are on this machine.

A *source* names where weights come from:

- a hub id (``openai/whisper-small``), found in the normal Hugging Face cache;
- a local folder (or file, for Piper ``.onnx`` voices);
- ``package:NAME``: real weights shipped inside an installed Python package
  (the ``[offline]`` extra), declared beside the tool that uses them;
- ``system:NAME``: a program installed on the system (Tesseract);
- ``tiny:KIND``: a tiny random model built locally (the ``tiny`` profile).

The backends of each slot, their default, tiny and offline sources are declared
beside their tools (see ``agent.models.backends``); this module only reads them.
Nothing here loads weights or touches the network: it only looks at disks.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from agent.config import MODEL_SLOTS, Settings
from agent.errors import ConfigError
from agent.models import backends
from agent.models.backends import Backend

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
    def spec(self) -> Backend:
        """The declaration of the backend that runs this choice (how it loads, its sources)."""
        return backends.backend(self.slot, self.backend)

    @property
    def family(self) -> str:
        """The kind of model its loader makes (``whisper``, ``blip-caption``, ...)."""
        return self.spec.family


def packaged_present(name: str) -> bool:
    """Whether the packages carrying ``package:NAME`` weights are installed."""
    return backends.packaged()[name].installed()


def hub_cached(repo_id: str, backend: str | Backend = "transformers") -> bool:
    """Whether a hub repo is in the local Hugging Face cache (no network).

    Args:
        repo_id: the hub id.
        backend: the engine (or its name) whose marker file proves the download.
    """
    from huggingface_hub import try_to_load_from_cache

    marker = backend.marker if isinstance(backend, Backend) else backends.marker_of(backend)
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
        packaged = backends.packaged()
        if name not in packaged:
            raise ConfigError(f"Unknown packaged model {name!r} for {slot}; use one of {', '.join(packaged)}.")
        return "package", packaged[name].installed()
    if source.startswith("system:"):
        return "system", shutil.which(source.removeprefix("system:")) is not None
    spec = backends.backend(slot, backend)
    if spec.server:
        return "server", True
    if looks_like_path(source):
        return "local folder", Path(source).expanduser().exists()
    if "{src}" in source:
        src, tgt = DEFAULT_TRANSLATION_PAIR
        return "hub cache", hub_cached(source.format(src=src, tgt=tgt), spec)
    return "hub cache", hub_cached(source, spec)


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
    declared = backends.backends_of(slot)
    allowed = [b.name for b in declared]
    chosen_backend = backend or settings.backend_for(slot)
    if chosen_backend is not None and chosen_backend not in allowed:
        raise ConfigError(f"{slot} has no backend {chosen_backend!r}; choose one of {', '.join(allowed)}.")
    chosen_model = model or settings.model_for(slot)
    if slot == "chat" and chosen_backend is None and settings.chat_url:
        chosen_backend = "ollama" if ":11434" in settings.chat_url else "openai"

    if chosen_model:  # the user named a model: use it, whatever the profile
        the_backend = chosen_backend or _backend_for_model(declared, chosen_model)
        where, present = locate(chosen_model, the_backend, slot)
        return ModelChoice(slot, the_backend, chosen_model, where if present else "absent", present)

    tiny = next((b for b in declared if b.tiny), None)
    if settings.profile == "tiny" and tiny is not None and chosen_backend in (None, tiny.name):
        return ModelChoice(slot, tiny.name, tiny.tiny, "tiny", True, "tiny profile")

    if chosen_backend is not None:
        candidates = [backends.backend(slot, chosen_backend)]
    else:
        candidates = [backends.backend(slot, name) for name in preferred_backends(slot)]
    for candidate in candidates:  # the fastest engine whose default weights are here
        where, present = locate(candidate.default, candidate.name, slot)
        if present:
            return ModelChoice(slot, candidate.name, candidate.default, where, True)
    the_backend = candidates[0]
    if chosen_backend is None:  # only fall back when the user did not pin a backend
        for stand_in, fb_source in offline_fallbacks(slot):
            fb_where, fb_present = locate(fb_source, stand_in.name, slot)
            if fb_present:
                note = f"{the_backend.default} not downloaded; using installed weights"
                return ModelChoice(slot, stand_in.name, fb_source, fb_where, True, note)
    return ModelChoice(slot, the_backend.name, the_backend.default, "absent", False)


def preferred_backends(slot: str) -> list[str]:
    """Backends in the order polychat tries them for a slot when none is configured.

    Engines declared ``tried_first`` (the faster ones on CPU, by BENCHMARKS.md) come before
    the default engine; the slot's other engines only run when asked for. An engine whose
    Python module is missing is skipped.
    """
    declared = backends.backends_of(slot)
    default = declared[0]
    ordered = [b for b in (*(b for b in declared if b.tried_first), default) if b.installed()]
    return list(dict.fromkeys(b.name for b in ordered)) or [default.name]


def offline_fallbacks(slot: str) -> list[tuple[Backend, str]]:
    """The installed stand-ins of a slot in order of preference: (the backend that runs it, source)."""
    return [(b, source) for b in backends.backends_of(slot) for source in b.offline]


def _backend_for_model(declared: tuple[Backend, ...], model: str) -> str:
    """The backend of a user-named model: the first that recognizes it, else the default."""
    for candidate in declared:
        if candidate.recognizes is not None and candidate.recognizes(model):
            return candidate.name
    return declared[0].name


def describe_all(settings: Settings) -> list[ModelChoice]:
    """The choice for every slot, in display order (for ``polychat models list``)."""
    return [resolve(slot, settings) for slot in MODEL_SLOTS]
