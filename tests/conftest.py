"""Shared fixtures: tiny models built once per test session, settings and contexts.

No test reaches the network: the hub is switched off for the whole session.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from agent.config import Settings, set_settings  # noqa: E402


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir for the session, so tiny models are built once and shared."""
    return tmp_path_factory.mktemp("polychat-data")


@pytest.fixture(scope="session")
def tiny_settings(data_root: Path) -> Settings:
    """Settings of the tiny profile: every tool backed by a tiny random model."""
    return Settings(profile="tiny", data_dir=data_root, device="cpu")


@pytest.fixture(scope="session")
def tiny_manager(tiny_settings: Settings):
    """A model manager shared by the session's tests (tiny models load once)."""
    from agent.models.manager import ModelManager

    manager = ModelManager(tiny_settings)
    yield manager
    manager.close()


@pytest.fixture
def tiny_context(tiny_settings: Settings, tiny_manager, tmp_path: Path):
    """A ToolContext over the tiny profile with a fresh artifact store."""
    from agent.artifacts import ArtifactStore
    from tools.base import ToolContext

    return ToolContext(
        settings=tiny_settings,
        models=tiny_manager,
        artifacts=ArtifactStore(tmp_path / "session", tiny_settings),
        turn=1,
        step=1,
    )


@pytest.fixture
def use_settings():
    """Install settings process-wide for a test and restore afterwards."""
    installed: list[Settings] = []

    def install(settings: Settings) -> Settings:
        installed.append(settings)
        set_settings(settings)
        return settings

    yield install
    set_settings(None)
    from agent.models.manager import set_manager

    set_manager(None)
