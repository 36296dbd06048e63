"""A real ``polychat serve`` for tests: the tiny profile in a subprocess, on a free loopback port.

The server itself lives in ``bench.server`` (the benchmark's ``load`` section starts the
same one); here it also gets the real Whisper base and Piper voices that ship on PyPI,
so a voice message sent to it is heard and answered out loud.
"""

from __future__ import annotations

from pathlib import Path

from bench import server as _server
from bench.server import START_TIMEOUT, free_port, vm_rss_mb

SPEECH_MODELS = {
    "POLYCHAT_TRANSCRIBE_AUDIO_MODEL": "package:whisper-base",
    "POLYCHAT_SPEAK_TEXT_MODEL": "package:piper-joe",
}


class Server(_server.Server):
    """``python -m agent.cli serve`` in a subprocess, started from outside the repository."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        super().__init__(data_dir, **{**SPEECH_MODELS, **env})


class ApiServer(Server):
    """``python -m agent.cli api``: the OpenAI-compatible API alone, with the same speech models."""

    command = ("api",)
    ready_path = "/v1/models"


__all__ = ["START_TIMEOUT", "SPEECH_MODELS", "ApiServer", "Server", "free_port", "vm_rss_mb"]
