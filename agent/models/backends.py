"""Backend declarations: each engine that can fill a model slot, declared once beside its tool.

A tool module declares the backends of its slots in a module-level ``BACKENDS`` dict
(slot name -> backends, the first being the default engine) and the weights that
Python packages ship for them in ``PACKAGED``; ``agent.turn.chat`` does the same for the
chat model. The catalog, the manager, the weights finder and ``polychat models`` read
these declarations; nothing else lists backends by tool name.

Reading the declarations imports the declaring modules on first use, never at import
time (they import ``agent.models`` themselves), and imports no torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.config import Settings
    from agent.models.loaders import Bundle

Loader = Callable[[Path, str, Any], "Bundle"]
"""``load(path, device, dtype) -> Bundle``: turns a folder (or file) of weights into a ready model."""


@dataclass(frozen=True)
class Packaged:
    """Real weights shipped inside installed Python packages (the ``[offline]`` extra).

    Attributes:
        name: what follows ``package:`` in a source, e.g. ``whisper-base``.
        modules: the Python modules that must be installed for the weights to be here.
        about: what the weights are, in a few words.
        path: ``path(settings)`` gives the file or folder to load (may join parts once).
    """

    name: str
    modules: tuple[str, ...]
    about: str
    path: Callable[[Settings], Path]

    @property
    def source(self) -> str:
        """The source that names these weights: ``package:NAME``."""
        return f"package:{self.name}"

    def installed(self) -> bool:
        """Whether every package carrying the weights is installed (nothing is imported)."""
        return all(module_present(m) for m in self.modules)


@dataclass(frozen=True)
class HubFiles:
    """Named files of a hub repo an engine needs beside its model (e.g. a dataset's one archive).

    Attributes:
        repo: the hub id.
        files: the exact paths to fetch.
        title: what they are, for people.
        repo_type: ``model`` or ``dataset``.
    """

    repo: str
    files: tuple[str, ...]
    title: str
    repo_type: str = "dataset"


@dataclass(frozen=True)
class Backend:
    """One engine for one slot: how it loads and where its weights come from.

    Attributes:
        name: as users write it in ``POLYCHAT_<TOOL>_BACKEND`` and ``--backend``.
        load: the loader (``agent.models.loaders``); None for a server the chat model talks to.
        default: the weights used when the user names none: a hub id (``{src}``/``{tgt}`` for
            a template), ``package:NAME`` or ``system:PROGRAM``.
        tiny: the ``tiny:KIND`` source of the ``tiny`` profile (one backend per slot has one).
        offline: installed stand-ins (``package:``/``system:`` sources) used, in this order,
            when the hub weights of the default are absent.
        module: the Python module the engine needs; a default or ``tried_first`` engine whose
            module is missing is skipped.
        torch: whether the model is a torch module (device and dtype apply).
        marker: the file whose presence in the Hugging Face cache proves a hub download.
        tried_first: tried before the slot's default engine when its module is installed
            (the faster engine on CPU, as BENCHMARKS.md measured).
        recognizes: ``recognizes(model)`` is True for a user-named model meant for this engine
            (a CTranslate2 folder, an ``.onnx`` voice), so the user need not name the backend.
        install: what to ``pip install`` when ``module`` is missing (e.g. ``polychat[ocr]``).
        layout: how its hub repos are read, which files the loader needs (``agent.models.hub.LAYOUTS``:
            ``transformers``, ``diffusers``, ``ctranslate2``).
        title: the default model's name for people (``Stable Diffusion 1.5``), shown while it downloads.
        companions: other hub files the engine needs beside its model (SpeechT5's speaker voices).
    """

    name: str
    load: Loader | None
    default: str
    tiny: str | None = None
    offline: tuple[str, ...] = ()
    module: str | None = None
    torch: bool = False
    marker: str = "config.json"
    tried_first: bool = False
    recognizes: Callable[[str], bool] | None = None
    install: str | None = None
    layout: str = "transformers"
    title: str = ""
    companions: tuple[HubFiles, ...] = ()

    @property
    def family(self) -> str:
        """The kind of model its loader makes (``load_blip_caption`` -> ``blip-caption``).

        Loaded models are keyed by family and path, so two slots running the same loader on
        the same weights share one instance.
        """
        if self.load is None:
            return f"server-{self.name}"
        return self.load.__name__.removeprefix("load_").replace("_", "-")

    @property
    def server(self) -> bool:
        """Whether the model runs on a server polychat talks to, not in this process."""
        return self.load is None

    def installed(self) -> bool:
        """Whether the engine's Python module is installed (True when it names none)."""
        return self.module is None or module_present(self.module)

    def not_installed(self, slot: str) -> str:
        """The sentence for a person whose install lacks this engine's package."""
        package = self.install or (self.module or "").replace("_", "-")
        return (
            f"The {self.name} backend of {slot} needs the Python package {self.module}, which is not installed; "
            f"install it with pip install '{package}', or choose another backend."
        )


def module_present(name: str) -> bool:
    """Whether a Python module can be imported, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


# --------------------------------------------------------------------------- reading the declarations


def declaring_modules() -> tuple[str, ...]:
    """The modules that declare backends: every tool module, then the chat model's."""
    from tools import TOOL_CLASSES

    return (*dict.fromkeys(module for module, _ in TOOL_CLASSES.values()), "agent.turn.chat")


@dataclass(frozen=True)
class _Declarations:
    slots: dict[str, tuple[Backend, ...]]
    packaged: dict[str, Packaged]
    declared_in: dict[str, str]


_declarations: _Declarations | None = None
_declarations_lock = threading.Lock()


def _read() -> _Declarations:
    global _declarations
    if _declarations is not None:
        return _declarations
    with _declarations_lock:  # the declaring modules' own imports never come back here
        if _declarations is None:
            slots: dict[str, tuple[Backend, ...]] = {}
            packaged: dict[str, Packaged] = {}
            declared_in: dict[str, str] = {}
            for module_name in declaring_modules():
                module = importlib.import_module(module_name)
                for slot, backends in getattr(module, "BACKENDS", {}).items():
                    if slot in declared_in:
                        raise RuntimeError(f"{slot} is declared in both {declared_in[slot]} and {module_name}.")
                    names = [b.name for b in backends]
                    if not backends or len(set(names)) != len(names):
                        raise RuntimeError(f"{module_name} declares {slot} with no backend or one twice: {names}.")
                    slots[slot] = tuple(backends)
                    declared_in[slot] = module_name
                for item in getattr(module, "PACKAGED", ()):
                    if item.name in packaged:
                        raise RuntimeError(f"The packaged weights {item.name} are declared twice.")
                    packaged[item.name] = item
            _declarations = _Declarations(slots, packaged, declared_in)
    return _declarations


def slots() -> dict[str, tuple[Backend, ...]]:
    """Every declared slot and its backends, the default first."""
    return dict(_read().slots)


def backends_of(slot: str) -> tuple[Backend, ...]:
    """The backends of a slot, the default first (KeyError for an unknown slot)."""
    return _read().slots[slot]


def backend(slot: str, name: str) -> Backend:
    """The backend ``name`` of ``slot`` (KeyError when the slot has no such backend)."""
    for candidate in backends_of(slot):
        if candidate.name == name:
            return candidate
    raise KeyError(f"{slot} has no backend {name!r}")


def declared_in(slot: str) -> str:
    """The module that declares a slot's backends."""
    return _read().declared_in[slot]


def packaged() -> dict[str, Packaged]:
    """Every declared set of packaged weights, by name."""
    return dict(_read().packaged)


def marker_of(backend_name: str) -> str:
    """The hub download marker of the engine called ``backend_name`` (``config.json`` when unknown)."""
    for backends in _read().slots.values():
        for candidate in backends:
            if candidate.name == backend_name:
                return candidate.marker
    return "config.json"


class BackendNames(Sequence[str]):
    """The backend names of a slot, read from the declarations only when first looked at.

    ``polychat`` builds its argument parser for every command; reading the names lazily
    keeps the tool modules from being imported just to print the ``--backend`` choices.
    """

    def __init__(self, slot: str) -> None:
        self.slot = slot

    def _names(self) -> tuple[str, ...]:
        return tuple(b.name for b in backends_of(self.slot))

    def __getitem__(self, index: Any) -> Any:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __repr__(self) -> str:
        return f"BackendNames({self.slot!r})"
