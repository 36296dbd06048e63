"""The polychat command in a subprocess, as a person runs it: the tiny profile, offline, own data dir."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This environment without any POLYCHAT_* setting, then the tiny profile on the CPU in ``data_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYCHAT_")}
    env.update({
        "POLYCHAT_PROFILE": "tiny", "POLYCHAT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1",
        "POLYCHAT_DEVICE": "cpu",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    })
    env.update(extra)
    return env
