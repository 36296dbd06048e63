"""Shared plumbing of the one-shot commands (``polychat caption IMAGE`` and friends)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from agent.config import get_settings


def add_common_options(parser: argparse.ArgumentParser, *, backends_of: str | None = None) -> None:
    """Add ``--model``, ``--backend`` (the backends of slot ``backends_of``, if given), ``--device`` and ``--json``."""
    parser.add_argument("--model", help="hub id or local folder of the model to use")
    if backends_of:
        from agent.models.backends import BackendNames

        backend = parser.add_argument("--backend", help="which engine runs the model")
        # set after add_argument: argparse reads choices only to check a value or print help,
        # so the declaring tool module is imported only then
        backend.choices = BackendNames(backends_of)
    parser.add_argument("--device", choices=("cpu", "cuda", "mps"), help="run on this device")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


class ProgressBar:
    """A progress callback that draws a tqdm bar on stderr, one bar per label."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr is not None
        self._bars: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, label: str, done: int, total: int, unit: str = "") -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        with self._lock:
            bar = self._bars.get(label)
            if bar is None:
                shape = {"unit": "B", "unit_scale": True, "unit_divisor": 1000} if unit == "bytes" else {"unit": "step"}
                bar = self._bars[label] = tqdm(total=total, desc=label, file=sys.stderr, leave=False, **shape)
            bar.total = total
            bar.n = done
            bar.refresh()
            if done >= total:
                bar.close()
                del self._bars[label]


def make_context(args: argparse.Namespace, *, workdir: Path | None = None):
    """A ToolContext for one command: shared manager, a fresh artifact store, CLI overrides."""
    from agent.artifacts import ArtifactStore
    from agent.models.manager import get_manager
    from tools.base import ToolContext

    settings = get_settings()
    root = workdir or Path(tempfile.mkdtemp(prefix="oneshot-", dir=_oneshot_dir(settings.data_dir)))
    overrides = {
        "model": getattr(args, "model", None),
        "backend": getattr(args, "backend", None),
        "device": getattr(args, "device", None),
    }
    return ToolContext(
        settings=settings,
        models=get_manager(),
        artifacts=ArtifactStore(root, settings),
        turn=1,
        step=1,
        progress=ProgressBar(enabled=sys.stderr.isatty()),
        overrides=overrides,
    )


def _oneshot_dir(data_dir: Path) -> Path:
    folder = data_dir / "oneshot"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def emit(args: argparse.Namespace, text: str, payload: dict[str, Any]) -> None:
    """Print a result: the JSON object with ``--json``, else the text."""
    if getattr(args, "json", False):
        print(json.dumps(payload, ensure_ascii=False, default=str))
    else:
        print(text)
