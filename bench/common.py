"""What every section of a benchmark run shares: the run's options, settings and input files."""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import Settings, load_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class RunConfig:
    """The options of one benchmark run.

    Attributes:
        quick: fewer runs and smaller models (CI, a first look).
        device: ``cpu`` or ``cuda``: where the tools run.
        work: a scratch folder for inputs made during the run.
        settings: the user's settings (their data dir holds packaged and tiny models).
        command: the command line that started the run, for the report.
    """

    quick: bool
    device: str
    work: Path
    settings: Settings = field(default_factory=load_settings)
    command: str = "python -m bench"

    @property
    def cache(self) -> Path:
        """Where real-size random models are built once and kept."""
        return self.settings.data_dir / "bench-models"

    def runs(self, full: int, quick: int = 1) -> int:
        """How many timed runs: ``quick`` with --quick, else ``full``."""
        return quick if self.quick else full

    def section_command(self, key: str) -> str:
        """The command that reproduces one section alone."""
        return f"python -m bench --sections {key}" + (" --quick" if self.quick else "")

    def settings_for(self, profile: str = "default", *, models: dict[str, str] | None = None,
                     backends: dict[str, str] | None = None, device: str | None = None, **changes: Any) -> Settings:
        """The user's settings with the benchmark's choices only: their model and backend picks are dropped."""
        return dataclasses.replace(
            self.settings, profile=profile, device=device or self.device, models=dict(models or {}),
            backends=dict(backends or {}), **changes,
        )


def tesseract_available() -> bool:
    return shutil.which("tesseract") is not None


def packaged(name: str) -> bool:
    """Whether packaged weights ``package:NAME`` are installed."""
    from agent.models.catalog import packaged_present

    return packaged_present(name)
