"""The model hub: which files each backend needs, what they weigh, and fetching them.

A hub repository often holds far more than polychat loads: BLIP's holds the same weights
three times (safetensors, PyTorch, TensorFlow), opus-mt's also carry Rust and TensorFlow
weights, Stable Diffusion's carry 4-8 GB single-file checkpoints at the root and fp16 /
non-EMA duplicates of every component. Each backend names its *layout* (``Backend.layout``);
the layout picks, from the repo's real file list, the files the loader reads: safetensors
when there are any, one framework, one precision (the fp16 variant of Stable Diffusion on
CUDA, the fp32 safetensors on CPU). Nothing else is downloaded.

Downloads go through ``huggingface_hub`` into the normal Hugging Face cache, one file at a
time: an interrupted file resumes where it stopped, even in a later pull (its part stays in
the cache as ``blobs/<etag>.part``), a finished file's size and SHA-256 are checked against
the hub's listing, and a damaged file is fetched again. ``HF_ENDPOINT`` (a mirror or private hub) and ``HF_TOKEN``
(private and gated repos) are read when the hub is asked, not at import.
"""

from __future__ import annotations

import contextlib
import contextvars
import fnmatch
import hashlib
import json
import logging
import os
import shutil
import struct
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from agent.errors import ModelUnavailableError, PolychatError, TurnCancelled

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
CHUNK_BYTES = 256 * 1024  # bytes written (and reported) at a time; a cut download loses at most this much
DISK_MARGIN = 200 * 1024 * 1024  # bytes left free after a pull, for the cache's own bookkeeping
CONFIG_SUFFIXES = (".json", ".txt", ".model", ".spm", ".tiktoken")  # configs, tokenizers, vocabularies
NOT_LOADED = ("README*", "*.md", ".gitattributes", "LICENSE*", "USE_POLICY*", "*.png", "*.jpg", "*.gif")

DownloadProgress = Callable[[str, int, int], None]
"""Called as ``progress(title, done_bytes, total_bytes)`` while a model downloads."""

download_progress: contextvars.ContextVar[DownloadProgress | None] = contextvars.ContextVar(
    "polychat_download_progress", default=None
)
"""Who hears about downloads started in this context (a turn sets it; see ``reporting_downloads``)."""


@contextlib.contextmanager
def reporting_downloads(listener: DownloadProgress | None) -> Iterator[None]:
    """Downloads started inside the block report to ``listener``."""
    token = download_progress.set(listener)
    try:
        yield
    finally:
        download_progress.reset(token)


# --------------------------------------------------------------------------- where the hub is


def endpoint() -> str:
    """The hub's address: ``HF_ENDPOINT`` (a mirror, a private hub) or huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def cache_dir() -> Path:
    """The Hugging Face cache folder (``HF_HUB_CACHE``, else ``HF_HOME``/hub, else ~/.cache)."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def repo_page(repo: str, repo_type: str = "model") -> str:
    """The repo's page on the hub, where a person accepts a licence."""
    return f"{endpoint()}/{'datasets/' if repo_type == 'dataset' else ''}{repo}"


# --------------------------------------------------------------------------- listings and layouts


@dataclass(frozen=True)
class RepoFile:
    """One file of a hub repo as the hub lists it.

    Attributes:
        path: its path in the repo (``unet/diffusion_pytorch_model.safetensors``).
        size: bytes.
        sha256: the Git LFS SHA-256 of large files (None for small ones kept in git).
    """

    path: str
    size: int
    sha256: str | None = None


def _ignored(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(name, pattern) for pattern in NOT_LOADED)


def _variant(name: str, suffix: str) -> str | None:
    """``fp16`` for ``diffusion_pytorch_model.fp16.safetensors``; None without a variant."""
    stem = name.removesuffix(suffix)
    return stem.rsplit(".", 1)[1] if "." in stem else None


def _choose_weights(files: list[RepoFile], precision: str) -> list[RepoFile]:
    """The weight files of one folder: safetensors over PyTorch pickles; the precision's variant.

    Shards (``model-00001-of-00002.safetensors``) come with their index file.
    """
    for suffix in (".safetensors", ".bin"):
        found = [f for f in files if f.path.endswith(suffix)]
        if suffix == ".bin":  # a PyTorch pickle; training_args.bin and the like are not weights
            found = [f for f in found if "pytorch_model" in f.path or "diffusion_pytorch_model" in f.path]
        if not found:
            continue
        by_variant: dict[str | None, list[RepoFile]] = {}
        for f in found:
            by_variant.setdefault(_variant(f.path.rsplit("/", 1)[-1], suffix), []).append(f)
        wanted = "fp16" if precision == "fp16" else None
        order = [wanted, None, "fp16"] if wanted else [None, "fp16"]
        for variant in order:
            if variant in by_variant:
                chosen = by_variant[variant]
                index_names = {f"{f.path.rsplit('-', 3)[0]}{suffix}.index.json" for f in chosen if "-of-" in f.path}
                return chosen + [f for f in files if f.path in index_names]
    return []


def _configs(files: list[RepoFile]) -> list[RepoFile]:
    return [f for f in files if f.path.endswith(CONFIG_SUFFIXES) and not f.path.endswith(".index.json")]


def transformers_files(files: list[RepoFile], precision: str) -> list[RepoFile]:
    """A transformers checkpoint: the root's configs and tokenizer files, and one set of weights.

    TensorFlow (``tf_model.h5``), Flax (``flax_model.msgpack``), Rust (``rust_model.ot``) and
    ONNX weights, and every subfolder, are left out; PyTorch pickles only when the repo has
    no safetensors.
    """
    root = [f for f in files if "/" not in f.path and not _ignored(f.path)]
    return sorted(_configs(root) + _choose_weights(root, precision), key=lambda f: f.path)


def diffusers_files(files: list[RepoFile], precision: str, components: set[str] | None = None) -> list[RepoFile]:
    """A diffusers pipeline: ``model_index.json`` and, per component folder, its configs and one
    set of weights (the fp16 variant for fp16, else the plain safetensors). The single-file
    checkpoints at the root (``v1-5-pruned.safetensors``, ``.ckpt``) and the non-EMA and EMA-only
    duplicates are left out.

    Args:
        components: the folders ``model_index.json`` names (None: every folder).
    """
    chosen = [f for f in files if f.path == "model_index.json"]
    folders = sorted({f.path.split("/", 1)[0] for f in files if f.path.count("/") == 1})
    for folder in folders:
        if components is not None and folder not in components:
            continue
        inside = [f for f in files if f.path.startswith(folder + "/") and f.path.count("/") == 1 and not _ignored(f.path)]
        chosen += _configs(inside) + _choose_weights(inside, precision)
    return sorted(chosen, key=lambda f: f.path)


def ctranslate2_files(files: list[RepoFile], precision: str) -> list[RepoFile]:
    """A CTranslate2 model (faster-whisper): everything at the root but the read-me and git files."""
    return sorted((f for f in files if "/" not in f.path and not _ignored(f.path)), key=lambda f: f.path)


LAYOUTS: dict[str, Callable[[list[RepoFile], str], list[RepoFile]]] = {
    "transformers": transformers_files,
    "diffusers": diffusers_files,
    "ctranslate2": ctranslate2_files,
}
"""How each kind of repo is read: ``layout(files, precision) -> the files the loader needs``."""


@dataclass
class RepoPlan:
    """What pulling one repo means: the files polychat loads, and those it leaves on the hub.

    Attributes:
        repo: the hub id.
        title: the model's name as a person reads it (``Stable Diffusion 1.5``).
        repo_type: ``model`` or ``dataset``.
        revision: the commit the listing came from (every file is fetched at it).
        files: the files to fetch.
        skipped: the repo's other files.
    """

    repo: str
    title: str
    repo_type: str = "model"
    revision: str | None = None
    files: list[RepoFile] = field(default_factory=list)
    skipped: list[RepoFile] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def skipped_bytes(self) -> int:
        return sum(f.size for f in self.skipped)

    def cached(self, item: RepoFile) -> Path | None:
        """The file in the cache when it is there whole (its listed size); else None."""
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(self.repo, item.path, cache_dir=cache_dir(), revision=self.revision,
                                       repo_type=self.repo_type)
        if isinstance(found, str) and os.path.getsize(found) == item.size:
            return Path(found)
        return None

    def to_fetch(self) -> list[RepoFile]:
        """The files not yet in the cache, whole."""
        return [f for f in self.files if self.cached(f) is None]

    def partial_bytes(self) -> int:
        """Bytes of interrupted downloads already in the cache (a pull resumes from them)."""
        folder = repo_folder(self) / "blobs"
        mine = {f.sha256 for f in self.files if f.sha256}  # large files' parts are named by their SHA-256
        return sum(p.stat().st_size for p in folder.glob("*.part") if p.stem in mine) if folder.is_dir() else 0


def hub_error(repo: str, error: BaseException, repo_type: str = "model") -> PolychatError:
    """The one sentence for a hub failure: gated, missing or private, unreachable, refused."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    page = repo_page(repo, repo_type)
    if isinstance(error, GatedRepoError):
        return ModelUnavailableError(
            f"{repo} is a gated model: accept its licence at {page} while signed in, then set HF_TOKEN to an "
            f"access token of that account (https://huggingface.co/settings/tokens) and pull again."
        )
    if isinstance(error, (RepositoryNotFoundError, RevisionNotFoundError)):
        return ModelUnavailableError(
            f"The hub at {endpoint()} has no repository {repo}, or it is private; check the name, "
            f"or set HF_TOKEN to a token that may read it."
        )
    if isinstance(error, HfHubHTTPError):
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status in (401, 403):
            return ModelUnavailableError(
                f"The hub refused {repo} ({status}); set HF_TOKEN to an access token that may read it and pull again."
            )
        return ModelUnavailableError(
            f"The hub at {endpoint()} answered {status or 'an error'} for {repo}; try again later."
        )
    if isinstance(error, OSError) and error.errno == 28:
        return ModelUnavailableError(f"The disk filled up while downloading {repo}; free some space and pull again.")
    first = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
    return ModelUnavailableError(
        f"Could not download {repo} from {endpoint()} ({first}); check the connection (or HF_ENDPOINT) and pull "
        f"again: finished files are kept and a cut file resumes."
    )


def listing(repo: str, repo_type: str = "model") -> tuple[str | None, list[RepoFile]]:
    """The repo's commit and every file in it with its size, as the hub lists them.

    Raises:
        ModelUnavailableError: the hub cannot be reached, the repo is missing, private or gated.
    """
    from huggingface_hub import HfApi

    try:
        info = HfApi(endpoint=endpoint()).repo_info(repo, repo_type=repo_type, files_metadata=True)
    except Exception as e:  # noqa: BLE001 - every hub failure becomes one sentence
        raise hub_error(repo, e, repo_type) from e
    files = [
        RepoFile(s.rfilename, int(s.size or 0), getattr(s.lfs, "sha256", None) if s.lfs else None)
        for s in info.siblings or []
    ]
    return info.sha, files


def plan(
    repo: str,
    *,
    layout: str = "transformers",
    precision: str = "fp32",
    title: str = "",
    repo_type: str = "model",
    only: tuple[str, ...] = (),
) -> RepoPlan:
    """Ask the hub which files of ``repo`` polychat needs and what they weigh.

    Args:
        repo: the hub id.
        layout: a key of ``LAYOUTS`` (the backend's ``layout``).
        precision: ``fp16`` or ``fp32``: which variant of diffusers weights.
        title: the model's name for people.
        repo_type: ``model`` or ``dataset``.
        only: exact file paths to take instead of the layout's choice (a dataset's one archive).

    Raises:
        ModelUnavailableError: the hub cannot be asked, or the repo holds no weights polychat can load.
    """
    revision, files = listing(repo, repo_type)
    if only:
        needed = [f for f in files if f.path in only]
        absent = sorted(set(only) - {f.path for f in needed})
        if absent:
            raise ModelUnavailableError(f"{repo} on {endpoint()} has no file {absent[0]}; check HF_ENDPOINT.")
    else:
        if layout == "diffusers":  # the pipeline's own index says which folders it loads
            if not any(f.path == "model_index.json" for f in files):
                raise ModelUnavailableError(
                    f"{repo} is not a diffusers pipeline (it has no model_index.json); choose a pipeline repo."
                )
            needed = diffusers_files(files, precision, pipeline_components(repo, revision, files))
        else:
            needed = LAYOUTS[layout](files, precision)
        if not any(f.path.endswith((".safetensors", ".bin")) for f in needed):
            raise ModelUnavailableError(
                f"{repo} holds no PyTorch or safetensors weights polychat can load; choose another model."
            )
    paths = {f.path for f in needed}
    return RepoPlan(repo, title or repo.rsplit("/", 1)[-1], repo_type, revision, needed,
                    [f for f in files if f.path not in paths])


def pipeline_components(repo: str, revision: str | None, files: list[RepoFile]) -> set[str] | None:
    """The component folders a diffusers pipeline loads, read from its ``model_index.json``.

    The index is a few hundred bytes and is needed anyway; None when it cannot be read
    (then every folder counts).
    """
    from huggingface_hub import hf_hub_download

    if not any(f.path == "model_index.json" for f in files):
        return None
    try:
        index = json.loads(Path(hf_hub_download(repo, "model_index.json", revision=revision, cache_dir=cache_dir(),
                                                endpoint=endpoint())).read_text())
    except Exception as e:  # noqa: BLE001 - an unreadable index: take every folder
        log.debug("Could not read %s's model_index.json: %s", repo, e)
        return None
    if not isinstance(index, dict):
        return None
    return {name for name, value in index.items()
            if not name.startswith("_") and isinstance(value, list) and value and value[0] is not None}


# --------------------------------------------------------------------------- sizes and disk


def human_size(size: float) -> str:
    """``1.9 GB``, ``312 MB``, ``18 kB`` (decimal units, as the hub shows them)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{int(size)} B"


def of_total(done: int, total: int) -> str:
    """``1.9 of 4.1 GB``: both numbers in the unit of the total."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if total >= scale:
            return f"{done / scale:.1f} of {total / scale:.1f} {unit}"
    return f"{done} of {total} B"


def check_disk(plans: list[RepoPlan]) -> int:
    """Make sure what is left to fetch fits on the cache's disk; return those bytes.

    Raises:
        PolychatError: it does not fit (one sentence with both sizes and the fix).
    """
    needed = sum(f.size for p in plans for f in p.to_fetch()) - sum(p.partial_bytes() for p in plans)
    needed = max(needed, 0)
    folder = cache_dir()
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed + DISK_MARGIN > free:
        raise PolychatError(
            f"The models need {human_size(needed)} more but only {human_size(free)} is free on the disk of "
            f"{folder}; free some space, or set HF_HOME to a folder on a bigger disk."
        )
    return needed


# --------------------------------------------------------------------------- checking files


def damage(path: Path, expected_size: int | None = None) -> str | None:
    """Why a weights file cannot be loaded (cut short, not what it claims), or None when it looks whole.

    Cheap checks only (no hashing): the listed size; a safetensors header's declared length;
    a PyTorch zip's central directory.
    """
    try:
        size = path.stat().st_size
    except OSError:
        return "it is missing"
    if expected_size is not None and size != expected_size:
        return f"it has {size} of its {expected_size} bytes"
    if path.name.endswith(".safetensors"):
        try:
            with open(path, "rb") as handle:
                head = handle.read(8)
                if len(head) < 8:
                    return "it is cut short"
                (header_len,) = struct.unpack("<Q", head)
                if header_len > size - 8 or header_len > 100_000_000:
                    return "it is cut short"
                header = json.loads(handle.read(header_len))
        except (OSError, ValueError):
            return "its header is damaged"
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__" and "data_offsets" in v]
        if 8 + header_len + max(ends, default=0) > size:
            return "it is cut short"
    elif path.name.endswith(".bin") and "pytorch_model" in path.name and _starts_with(path, b"PK") \
            and not zipfile.is_zipfile(path):  # torch's zip format; files saved before torch 1.6 are pickles
        return "it is cut short or damaged"
    return None


def _starts_with(path: Path, magic: bytes) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(magic)) == magic
    except OSError:
        return False


def damaged_files(folder: Path) -> list[str]:
    """The weights files in a snapshot folder that cannot be loaded, as ``path: why``."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.name.endswith((".safetensors", ".bin")) and path.is_file():
            why = damage(path)
            if why:
                found.append(f"{path.relative_to(folder)}: {why}")
    return found


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- fetching


@contextlib.contextmanager
def terminal_bar(title: str, total: int) -> Iterator[DownloadProgress]:
    """A bar on the terminal (bytes, rate, time left) fed by a download's progress reports."""
    from tqdm import tqdm

    bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1000, desc=title, file=sys.stderr,
               dynamic_ncols=True, miniters=1)
    started: list[int] = []

    def progress(_title: str, done: int, total: int) -> None:
        if not started:  # what was already here does not count toward the rate
            started.append(done)
            bar.reset(total=total)
            bar.initial = bar.n = done
            bar.refresh()
            return
        bar.update(done - bar.n)  # tqdm redraws at most ten times a second

    try:
        yield progress
    finally:
        bar.close()


class _Tally:
    """Bytes fetched across the files of one pull, handed to a progress listener."""

    def __init__(self, title: str, total: int, done: int, listener: DownloadProgress | None) -> None:
        self.title, self.total, self.done, self.listener = title, total, done, listener
        self._lock = threading.Lock()
        self._last_log = 0.0

    def add(self, count: int) -> None:
        with self._lock:
            self.done = max(0, min(self.total, self.done + count))
            done = self.done
        if self.listener is not None:
            self.listener(self.title, done, self.total)
        elif time.monotonic() - self._last_log > 5:
            self._last_log = time.monotonic()
            log.info("Downloading %s: %s", self.title, of_total(done, self.total))

    def bar_class(self) -> type:
        """A tqdm class that adds each file's bytes to this tally instead of drawing a bar."""
        from tqdm.auto import tqdm

        tally = self

        class TallyBar(tqdm):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs["disable"] = True  # ``initial`` (a resumed part) was counted when the pull began
                super().__init__(*args, **kwargs)

            def update(self, n: float | None = 1) -> bool | None:
                if n:
                    tally.add(int(n))
                return None

        return TallyBar


def fetch(the_plan: RepoPlan, progress: DownloadProgress | None = None) -> Path:
    """Download the plan's files that are not in the cache; return the repo's snapshot folder.

    Each file resumes from its interrupted part, is checked against the listed size and
    (for large files) SHA-256, and is fetched once more when it arrives damaged.

    Args:
        the_plan: from ``plan``.
        progress: hears ``(title, done_bytes, total_bytes)``; by default the context's
            ``download_progress`` listener, else log lines.

    Raises:
        ModelUnavailableError: the download failed or the file stays damaged (one sentence).
        TurnCancelled: the listener stopped it (a turn was cancelled); the part is kept.
    """
    from huggingface_hub import constants

    # huggingface_hub keeps each 10 MB piece in memory until it is whole: a cut connection loses
    # it, and progress moves in 10 MB jumps. Smaller pieces resume closer to the cut.
    constants.DOWNLOAD_CHUNK_SIZE = CHUNK_BYTES
    listener = progress if progress is not None else download_progress.get()
    missing = the_plan.to_fetch()
    if missing and listener is None and sys.stderr is not None and sys.stderr.isatty():  # a one-shot command
        with terminal_bar(the_plan.title, the_plan.total) as bar:
            return fetch(the_plan, bar)
    partial = the_plan.partial_bytes()
    tally = _Tally(the_plan.title, the_plan.total, the_plan.total - sum(f.size for f in missing) + partial, listener)
    if missing and listener is not None:
        listener(the_plan.title, tally.done, tally.total)
    folder: Path | None = None
    for item in the_plan.files:
        cached = the_plan.cached(item)
        if cached is None:
            cached = _fetch_file(the_plan, item, tally)
        folder = Path(str(cached)[: -len(item.path)].rstrip("/"))
    if folder is None:
        raise ModelUnavailableError(f"{the_plan.repo} lists no files to download.")
    if missing:
        if listener is not None:  # whole, whatever was counted (a blob another file or process brought)
            listener(the_plan.title, the_plan.total, the_plan.total)
        log.info("Downloaded %s (%s).", the_plan.title, human_size(the_plan.total))
    return folder


def _fetch_file(the_plan: RepoPlan, item: RepoFile, tally: _Tally) -> Path:
    """Fetch one file into the cache, resuming its part from an earlier, cut download.

    ``huggingface_hub`` resumes a cut connection only within one call and drops the part when
    it gives up; here the part is kept (``blobs/<etag>.part``) until the file is whole, so a
    pull started again (another day, another process) asks only for the rest.
    """
    from filelock import FileLock
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    try:
        url = hf_hub_url(the_plan.repo, item.path, repo_type=the_plan.repo_type, revision=the_plan.revision,
                         endpoint=endpoint())
        meta = get_hf_file_metadata(url, retry_on_errors=True)
        if not meta.etag:
            raise ModelUnavailableError(f"The hub at {endpoint()} gave no ETag for {item.path} of {the_plan.repo}.")
        size = meta.size if meta.size is not None else item.size
        blobs = repo_folder(the_plan) / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)
        blob, part = blobs / meta.etag, blobs / f"{meta.etag}.part"
        why = ""
        with FileLock(str(blobs / f"{meta.etag}.part.lock")):  # one writer per part, across processes
            for _attempt in (1, 2):  # a file that arrives damaged is fetched once more from the start
                if blob.exists() and damage(blob, size) is None:
                    break
                blob.unlink(missing_ok=True)  # a damaged copy already in the cache is replaced, not trusted
                have = part.stat().st_size if part.exists() else 0
                if have > size:
                    part.unlink()
                    tally.add(-have)
                    have = 0
                headers = build_hf_headers()
                if urlparse(meta.location).netloc != urlparse(url).netloc:  # a CDN's signed link: no token
                    headers.pop("authorization", None)
                with open(part, "ab") as handle:
                    http_get(meta.location, handle, resume_size=have, headers=headers,
                             expected_size=size, tqdm_class=tally.bar_class(), displayed_filename=item.path)
                why = damage(part, size) or ""
                if not why and item.sha256 and sha256_of(part) != item.sha256:
                    why = "its content does not match the hub's checksum"
                if not why:
                    os.replace(part, blob)
                    break
                log.warning("%s of %s arrived damaged (%s); fetching it again.", item.path, the_plan.repo, why)
                part.unlink(missing_ok=True)
                tally.add(-size)
            else:
                raise ModelUnavailableError(
                    f"{item.path} of {the_plan.repo} arrived damaged twice ({why}); check the connection or "
                    f"HF_ENDPOINT and pull again."
                )
        # the blob is whole: the hub client links it into the snapshot without fetching it again
        return Path(hf_hub_download(the_plan.repo, item.path, repo_type=the_plan.repo_type,
                                    revision=the_plan.revision, cache_dir=cache_dir(), endpoint=endpoint()))
    except (PolychatError, TurnCancelled):
        raise
    except Exception as e:  # noqa: BLE001 - a dropped connection, a refusal: one sentence
        raise hub_error(the_plan.repo, e, the_plan.repo_type) from e


def repo_folder(the_plan: RepoPlan) -> Path:
    """The plan's repo's folder in the Hugging Face cache (``models--owner--name``)."""
    return cache_folder(the_plan.repo, the_plan.repo_type)


def cache_folder(repo: str, repo_type: str = "model") -> Path:
    """A repo's folder in the Hugging Face cache (``models--owner--name``, ``datasets--owner--name``)."""
    return cache_dir() / f"{repo_type}s--{repo.replace('/', '--')}"
