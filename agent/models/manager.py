"""The one loader: every model in polychat is loaded, shared and unloaded here.

Nothing loads at import. The first ``get`` of a model loads it, later calls reuse it;
two tools naming the same checkpoint share one instance. Each model has its own lock:
``use()`` holds it while a tool runs the model, so concurrent callers queue instead of
corrupting state, and a model in use is never evicted. A memory budget evicts the
least recently used idle model; an optional idle timeout unloads models nobody uses.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from agent.models import catalog, weights
from agent.config import Settings, get_settings
from agent.errors import ConfigError, ModelUnavailableError
from agent.models.loaders import Bundle, estimate_bytes

log = logging.getLogger(__name__)

MB = 1024 * 1024  # bytes

ModelKey = tuple[str, str, str, str]  # (family, path, device, dtype name)


@dataclass
class LoadedModel:
    """One model in memory, with its lock and bookkeeping."""

    key: ModelKey
    bundle: Bundle
    nbytes: int
    lock: threading.RLock = field(default_factory=threading.RLock)
    last_used: float = 0.0
    load_seconds: float = 0.0
    users: int = 0  # callers inside ``use()`` right now; such a model is never unloaded

    @property
    def family(self) -> str:
        return self.key[0]


def resolve_device(setting: str) -> str:
    """``auto`` becomes the best device present: CUDA, then MPS, then CPU."""
    if setting != "auto":
        if setting == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise ConfigError("POLYCHAT_DEVICE is cuda but no CUDA GPU is available; set it to auto or cpu.")
        return setting
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(setting: str, device: str) -> Any:
    """``auto`` is float16 on CUDA and float32 elsewhere."""
    import torch

    if setting == "auto":
        return torch.float16 if device == "cuda" else torch.float32
    return getattr(torch, setting)


class ModelManager:
    """Loads models on first use and keeps them within a memory budget.

    Args:
        settings: the settings in force (default: the process-wide settings).
        clock: a monotonic clock in seconds (tests pass a fake one).
        loaders: loaders to use instead of the declared ones, by family (tests).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        loaders: dict[str, Callable[..., Bundle]] | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self._clock = clock
        self._loaders = dict(loaders or {})
        self._models: dict[ModelKey, LoadedModel] = {}
        self._key_locks: dict[Any, threading.Lock] = {}  # per model key, and per ("files", choice)
        self._paths: dict[tuple[Any, ...], Any] = {}  # where each choice's files are
        self._lock = threading.RLock()  # guards the dicts above
        self._device: str | None = None
        self._sweeper: threading.Thread | None = None
        self._stop = threading.Event()
        self.load_count = 0  # how many loads happened (tests and `models check` read it)

    # -- device -----------------------------------------------------------------
    @property
    def device(self) -> str:
        """The device chosen once from the settings."""
        if self._device is None:
            self._device = resolve_device(self.settings.device)
        return self._device

    # -- loading ----------------------------------------------------------------
    def choose(
        self, slot: str, *, model: str | None = None, backend: str | None = None, settings: Settings | None = None
    ) -> catalog.ModelChoice:
        """Which model ``slot`` will use (no loading, no network)."""
        return catalog.resolve(slot, settings or self.settings, model=model, backend=backend)

    def bound(self, settings: Settings) -> BoundModels:
        """A view of this manager that chooses models by ``settings`` (shares the loaded models)."""
        return BoundModels(self, settings)

    def get(
        self,
        slot: str,
        *,
        model: str | None = None,
        backend: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        variant: dict[str, str] | None = None,
        settings: Settings | None = None,
    ) -> LoadedModel:
        """The loaded model for a slot, loading it on first use.

        Args:
            slot: a tool name, ``speak_text_vocoder`` or ``chat``.
            model: one-off model override (hub id or local folder).
            backend: one-off backend override.
            device: one-off device (``cpu``, ``cuda``, ``mps``; default: settings).
            dtype: one-off dtype name (``float32``, ``float16``; default: settings).
            variant: values for a templated source, e.g. a translation pair.
            settings: choose the model by these settings instead of the manager's.

        Raises:
            ModelUnavailableError: weights absent and not fetchable now (one sentence).
        """
        choice = self.choose(slot, model=model, backend=backend, settings=settings)
        return self.load(choice, device=device, dtype=dtype, variant=variant, settings=settings)

    def load(
        self,
        choice: catalog.ModelChoice,
        *,
        device: str | None = None,
        dtype: str | None = None,
        variant: dict[str, str] | None = None,
        settings: Settings | None = None,
    ) -> LoadedModel:
        """Load (or reuse) the model of a resolved choice."""
        settings = settings or self.settings
        spec = choice.spec
        family = spec.family
        loader = self._loaders.get(family, spec.load)
        if loader is None:
            raise ConfigError(f"{choice.slot} cannot be loaded by polychat itself (backend {choice.backend}).")
        if family not in self._loaders and not spec.installed():
            raise ModelUnavailableError(spec.not_installed(choice.slot))
        the_device = resolve_device(device) if device else self.device
        the_dtype = resolve_dtype(dtype or settings.dtype, the_device) if spec.torch else None
        path = self._where(choice, settings, variant)
        key: ModelKey = (family, str(path), the_device, str(the_dtype).removeprefix("torch.") if the_dtype else "-")

        with self._lock:
            found = self._models.get(key)
            if found is not None:
                found.last_used = self._clock()
                return found
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one loader per key; others wait here and then reuse
            with self._lock:
                found = self._models.get(key)
                if found is not None:
                    found.last_used = self._clock()
                    return found
            log.info("Loading %s model from %s on %s…", choice.slot, path, the_device)
            started = time.perf_counter()
            bundle = loader(path, the_device, the_dtype)
            loaded = LoadedModel(key, bundle, estimate_bytes(bundle), last_used=self._clock())
            loaded.load_seconds = time.perf_counter() - started
            log.info("Loaded %s in %.1f s (%.0f MB).", choice.slot, loaded.load_seconds, loaded.nbytes / MB)
            with self._lock:
                self._models[key] = loaded
                self.load_count += 1
            self._enforce_budget(keep=key)
            self._start_sweeper()
            return loaded

    def _where(self, choice: catalog.ModelChoice, settings: Settings, variant: dict[str, str] | None) -> Any:
        """The files of a choice, found (or fetched, joined, built) once per process, not per call."""
        key = (choice, tuple(sorted((variant or {}).items())), settings.data_dir)
        with self._lock:
            path = self._paths.get(key)
            if path is not None and path.exists():
                return path
            files_lock = self._key_locks.setdefault(("files", key), threading.Lock())
        with files_lock:  # single flight: one caller fetches, joins or builds; the others wait and reuse
            with self._lock:
                path = self._paths.get(key)
            if path is None or not path.exists():
                path = weights.materialize(choice, settings, variant=variant)
                with self._lock:
                    self._paths[key] = path
        return path

    @contextmanager
    def use(self, slot: str, **kwargs: Any) -> Iterator[Bundle]:
        """Hold a model's lock while running it: ``with models.use("caption_image") as m: ...``."""
        while True:
            loaded = self.get(slot, **kwargs)
            with loaded.lock:
                with self._lock:
                    still_loaded = self._models.get(loaded.key) is loaded
                if not still_loaded:  # evicted between get and lock: load again
                    continue
                loaded.last_used = self._clock()
                loaded.users += 1
                try:
                    yield loaded.bundle
                finally:
                    loaded.users -= 1
                    loaded.last_used = self._clock()
                return

    # -- unloading --------------------------------------------------------------
    def loaded(self) -> list[LoadedModel]:
        """The models in memory, least recently used first."""
        with self._lock:
            return sorted(self._models.values(), key=lambda m: m.last_used)

    def total_bytes(self) -> int:
        with self._lock:
            return sum(m.nbytes for m in self._models.values())

    def unload(self, key: ModelKey) -> bool:
        """Drop one model if nobody is using it; True if it was unloaded."""
        with self._lock:
            loaded = self._models.get(key)
            if loaded is None or loaded.users > 0 or not loaded.lock.acquire(blocking=False):
                return False
            try:
                del self._models[key]
            finally:
                loaded.lock.release()
        log.info("Unloaded %s (%s).", key[0], key[1])
        del loaded
        _free_memory()
        return True

    def unload_all(self) -> None:
        for model in self.loaded():
            self.unload(model.key)

    def _enforce_budget(self, keep: ModelKey) -> None:
        budget = int(self.settings.memory_budget_mb * MB)
        if budget <= 0:
            return
        for model in self.loaded():  # least recently used first
            if self.total_bytes() <= budget:
                break
            if model.key != keep:
                self.unload(model.key)

    def sweep_idle(self) -> list[ModelKey]:
        """Unload models idle longer than ``idle_unload_seconds``; return their keys."""
        limit = self.settings.idle_unload_seconds
        if limit <= 0:
            return []
        now = self._clock()
        return [m.key for m in self.loaded() if now - m.last_used >= limit and self.unload(m.key)]

    def _start_sweeper(self) -> None:
        limit = self.settings.idle_unload_seconds
        if limit <= 0 or self._sweeper is not None:
            return

        def run() -> None:
            while not self._stop.wait(max(1.0, limit / 4)):
                self.sweep_idle()

        self._sweeper = threading.Thread(target=run, name="polychat-idle-unload", daemon=True)
        self._sweeper.start()

    def close(self) -> None:
        """Stop the idle sweeper and unload everything."""
        self._stop.set()
        self.unload_all()


class BoundModels:
    """The manager seen through other settings: choices follow them, models are shared.

    A session whose settings name another model (or a per-user override) gets its own
    choice, while two sessions naming the same checkpoint still share one instance.
    """

    def __init__(self, manager: ModelManager, settings: Settings) -> None:
        self.manager = manager
        self.settings = settings

    def choose(self, slot: str, **kwargs: Any) -> catalog.ModelChoice:
        return self.manager.choose(slot, settings=self.settings, **kwargs)

    def get(self, slot: str, **kwargs: Any) -> LoadedModel:
        return self.manager.get(slot, settings=self.settings, **kwargs)

    def load(self, choice: catalog.ModelChoice, **kwargs: Any) -> LoadedModel:
        return self.manager.load(choice, settings=self.settings, **kwargs)

    @contextmanager
    def use(self, slot: str, **kwargs: Any) -> Iterator[Bundle]:
        with self.manager.use(slot, settings=self.settings, **kwargs) as bundle:
            yield bundle

    def __getattr__(self, name: str) -> Any:
        return getattr(self.manager, name)


def _free_memory() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


_manager: ModelManager | None = None
_manager_lock = threading.Lock()


def get_manager() -> ModelManager:
    """The process-wide model manager (created on first use, loads nothing)."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = ModelManager()
        return _manager


def set_manager(manager: ModelManager | None) -> None:
    """Replace the process-wide manager (tests, or after settings change)."""
    global _manager
    with _manager_lock:
        if _manager is not None and manager is not _manager:
            _manager.close()
        _manager = manager
