"""Named voices for speak_text: SpeechT5 speaker x-vectors and Piper voice files.

SpeechT5 speaks in the voice of a 512-dimensional speaker embedding (an x-vector).
The named voices below are real speakers of the CMU ARCTIC corpus, whose x-vectors
are published as the hub dataset ``Matthijs/cmu-arctic-xvectors``: one ``.npy`` file
per utterance (``cmu_us_slt_arctic-wav-arctic_a0508.npy``) inside ``spkrec-xvect.zip``.
Its ``validation`` split lists those files in sorted order; index 7306, the voice
the SpeechT5 model card uses, is ``slt``'s utterance a0508. ``download_xvectors``
fetches the archive into the Hugging Face cache (``polychat models pull speak_text``);
``load_voice`` only reads that cache and never touches the network.

Tiny models (the ``tiny`` profile) have no real speakers. Their voices are fixed
unit vectors, one per voice name, derived from the name's SHA-256 and saved beside
the tiny model as ``polychat-voices.npz`` the first time they are needed: the same
name always gives the same vector (so the same audio), two names give different
vectors, and none is zero.

Piper voices are ``.onnx`` files with a ``.onnx.json`` config beside them; every file
in the voice's folder is a voice, named after its dataset (``en_US-joe-medium.onnx``
is ``joe``). A file trained on several speakers adds one voice per entry of its
config's ``speaker_id_map``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.config import Settings
from agent.models.backends import HubFiles
from agent.errors import ModelUnavailableError, ToolError

log = logging.getLogger(__name__)

XVECTOR_REPO = "Matthijs/cmu-arctic-xvectors"  # a dataset repo on the hub
XVECTOR_ARCHIVE = "spkrec-xvect.zip"  # the file in that repo holding every x-vector
XVECTORS = HubFiles(XVECTOR_REPO, (XVECTOR_ARCHIVE,), "SpeechT5 voices")  # what SpeechT5 needs beside its model
XVECTOR_DIM = 512  # values per speaker embedding
TINY_VOICES_FILE = "polychat-voices.npz"  # saved beside a tiny SpeechT5 model
TINY_MARKER_FILE = "polychat-tiny.json"  # what agent.models.tiny writes into every tiny model folder
PULL_HINT = "run 'polychat models pull speak_text' on a connected machine"


@dataclass(frozen=True)
class SpeakerVoice:
    """A named SpeechT5 voice: one utterance's x-vector of a CMU ARCTIC speaker.

    Attributes:
        name: the voice's name (the CMU ARCTIC speaker code).
        description: accent and gender, for people choosing a voice.
        utterance: the file stem of the x-vector in the archive.
    """

    name: str
    description: str
    utterance: str

    @property
    def speaker_prefix(self) -> str:
        """The start of every file name of this speaker (``cmu_us_slt_arctic``)."""
        return self.utterance.split("-", 1)[0]


SPEECHT5_VOICES: dict[str, SpeakerVoice] = {
    voice.name: voice
    for voice in (
        SpeakerVoice("slt", "US English, female", "cmu_us_slt_arctic-wav-arctic_a0508"),  # validation[7306]
        SpeakerVoice("bdl", "US English, male", "cmu_us_bdl_arctic-wav-arctic_a0009"),
        SpeakerVoice("clb", "US English, female", "cmu_us_clb_arctic-wav-arctic_a0144"),
        SpeakerVoice("rms", "US English, male", "cmu_us_rms_arctic-wav-arctic_b0353"),
        SpeakerVoice("awb", "Scottish English, male", "cmu_us_awb_arctic-wav-arctic_a0002"),
        SpeakerVoice("jmk", "Canadian English, male", "cmu_us_jmk_arctic-wav-arctic_a0001"),
        SpeakerVoice("ksp", "Indian English, male", "cmu_us_ksp_arctic-wav-arctic_b0087"),
    )
}
"""The SpeechT5 voices, the default (``slt``) first."""

_archive_lock = threading.Lock()
_archive_vectors: dict[tuple[str, str], np.ndarray] = {}  # (archive path, voice) -> vector


def unknown_voice(name: str, known: list[str]) -> ToolError:
    """The sentence for a voice name that does not exist."""
    return ToolError(f"There is no voice {name.strip()!r}; choose one of {', '.join(known)}.")


def find_speecht5_voice(name: str) -> SpeakerVoice:
    """The SpeechT5 voice called ``name`` (case and spaces ignored).

    Raises:
        ToolError: no voice has that name; the sentence lists the voices.
    """
    voice = SPEECHT5_VOICES.get(name.strip().lower())
    if voice is None:
        raise unknown_voice(name, list(SPEECHT5_VOICES))
    return voice


# --------------------------------------------------------------------------- real x-vectors


def download_xvectors() -> Path:
    """Download the CMU ARCTIC x-vector archive into the Hugging Face cache (with a progress bar).

    Returns:
        The archive's path in the cache.

    Raises:
        ModelUnavailableError: the file that arrived is not a readable zip archive.
    """
    from agent.models import weights

    folder = weights.fetch(weights.companion_plan(XVECTORS))
    path = folder / XVECTOR_ARCHIVE
    if not zipfile.is_zipfile(path):
        raise ModelUnavailableError(f"The downloaded {XVECTOR_ARCHIVE} is damaged; delete {path} and pull again.")
    return path


def cached_xvector_archive() -> Path | None:
    """The x-vector archive in the Hugging Face cache, or None when it was never downloaded."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(XVECTOR_REPO, XVECTOR_ARCHIVE, repo_type="dataset")
    return Path(found) if isinstance(found, str) else None


def _read_archive_vector(archive: Path, voice: SpeakerVoice) -> np.ndarray:
    """Read a voice's x-vector from the archive: its utterance, else the speaker's first one."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = {Path(m).name.removesuffix(".npy"): m for m in bundle.namelist() if m.endswith(".npy")}
            member = members.get(voice.utterance)
            if member is None:  # another release of the archive: any utterance of the speaker will do
                candidates = sorted(stem for stem in members if stem.startswith(voice.speaker_prefix + "-"))
                if not candidates:
                    raise ModelUnavailableError(
                        f"The x-vector archive {archive} has no speaker {voice.name}; delete it and "
                        "run 'polychat models pull speak_text' again."
                    )
                member = members[candidates[0]]
            vector = np.load(io.BytesIO(bundle.read(member)), allow_pickle=False)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ModelUnavailableError(
            f"The x-vector archive {archive} cannot be read ({type(e).__name__}); delete it and "
            "run 'polychat models pull speak_text' again."
        ) from e
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    if vector.shape != (XVECTOR_DIM,):
        raise ModelUnavailableError(
            f"The x-vector of voice {voice.name} has {vector.size} values instead of {XVECTOR_DIM}; "
            "delete the archive and run 'polychat models pull speak_text' again."
        )
    return vector


def _archive_voice(voice: SpeakerVoice) -> np.ndarray:
    archive = cached_xvector_archive()
    if archive is None:
        from agent.models.weights import hub_offline_flag, hub_reachable

        if not hub_offline_flag() and hub_reachable():  # a connected first run: fetch them now, with progress
            archive = download_xvectors()
    if archive is None:
        raise ModelUnavailableError(
            f"The SpeechT5 voices ({XVECTOR_REPO}) are not on this machine; {PULL_HINT}, "
            "or use the piper backend."
        )
    key = (str(archive), voice.name)
    with _archive_lock:
        if key not in _archive_vectors:
            _archive_vectors[key] = _read_archive_vector(archive, voice)
        return _archive_vectors[key].copy()


# --------------------------------------------------------------------------- tiny voices


def is_tiny_model(model_path: Path | None, settings: Settings) -> bool:
    """Whether a SpeechT5 folder is a tiny random model (under the tiny cache, or marked as one)."""
    if model_path is None:
        return False
    path = Path(model_path).resolve()
    if path.is_relative_to(settings.tiny_dir.resolve()):
        return True
    return (path / TINY_MARKER_FILE).is_file()


def tiny_voice_vector(name: str) -> np.ndarray:
    """The fixed vector a tiny model uses for voice ``name``: unit length, seeded by the name's SHA-256."""
    seed = int.from_bytes(hashlib.sha256(f"polychat-tiny-voice:{name}".encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(XVECTOR_DIM)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def _tiny_voices(model_dir: Path) -> dict[str, np.ndarray]:
    """Every tiny voice, read from beside the tiny model, written there the first time."""
    path = model_dir / TINY_VOICES_FILE
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as saved:
                voices = {name: saved[name].astype(np.float32) for name in saved.files}
            if set(SPEECHT5_VOICES) <= set(voices):
                return voices
        except (OSError, ValueError, zipfile.BadZipFile):
            log.warning("Rewriting the unreadable tiny voices file %s", path)
    voices = {name: tiny_voice_vector(name) for name in SPEECHT5_VOICES}
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=model_dir, prefix=".voices-", suffix=".npz")
        with os.fdopen(fd, "wb") as out:
            np.savez(out, **voices)
        os.replace(tmp, path)
    except OSError as e:  # a read-only model folder: the vectors are the same without the file
        log.debug("Could not save tiny voices beside %s: %s", model_dir, e)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return voices


def load_voice(name: str, settings: Settings, *, model_path: Path | None = None) -> np.ndarray:
    """The speaker embedding of a named SpeechT5 voice.

    Args:
        name: a name from ``SPEECHT5_VOICES`` (case ignored).
        settings: the settings in force (where tiny models live).
        model_path: the SpeechT5 model folder that will speak. A tiny model gets its
            saved per-name vector; any other model the real x-vector. When None, the
            ``tiny`` profile means the tiny model's voices.

    Returns:
        A float32 array of shape ``(512,)``.

    Raises:
        ToolError: unknown voice name (the sentence lists the voices).
        ModelUnavailableError: the real x-vectors were never downloaded.
    """
    voice = find_speecht5_voice(name)
    if model_path is None and settings.profile == "tiny" and not settings.model_for("speak_text"):
        from agent.models.tiny import ensure_tiny

        model_path = ensure_tiny("speecht5", settings.tiny_dir)
    if is_tiny_model(model_path, settings):
        return _tiny_voices(Path(model_path))[voice.name].copy()
    return _archive_voice(voice)


# --------------------------------------------------------------------------- piper voices


@dataclass(frozen=True)
class PiperVoiceRef:
    """A Piper voice: which ``.onnx`` file speaks it, and as which speaker.

    Attributes:
        name: the voice's name (``joe``, or a speaker of a multi-speaker model).
        model_file: the ``.onnx`` voice model.
        speaker_id: the speaker number in a multi-speaker model (None: its default speaker).
        description: language and origin, for people choosing a voice.
    """

    name: str
    model_file: Path
    speaker_id: int | None = None
    description: str = ""


def _piper_config(model_file: Path) -> dict:
    try:
        return json.loads(Path(f"{model_file}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def piper_voice_name(model_file: Path, config: dict | None = None) -> str:
    """A Piper voice file's short name: its dataset (``en_US-joe-medium.onnx`` is ``joe``)."""
    config = _piper_config(model_file) if config is None else config
    dataset = config.get("dataset")
    if isinstance(dataset, str) and dataset.strip():
        return dataset.strip().lower()
    parts = model_file.stem.split("-")
    return (parts[1] if len(parts) == 3 else model_file.stem).lower()


def piper_voices(model_path: Path) -> dict[str, PiperVoiceRef]:
    """Every Piper voice beside ``model_path``, the voice of ``model_path`` itself first.

    Args:
        model_path: a ``.onnx`` voice file, or a folder of them.

    Returns:
        Voices by lower-case name. A multi-speaker file gives its short name (its
        default speaker) and one name per speaker in its ``speaker_id_map``; a speaker
        name already taken (or some file's name) is prefixed with its file's short name
        (``vctk-joe``).
    """
    model_path = Path(model_path)
    folder = model_path if model_path.is_dir() else model_path.parent
    files = sorted(folder.glob("*.onnx"))
    if model_path.is_file():
        files = [model_path, *(f for f in files if f.resolve() != model_path.resolve())]
    configs = {model_file: _piper_config(model_file) for model_file in files}
    file_names = {piper_voice_name(model_file, config) for model_file, config in configs.items()}
    voices: dict[str, PiperVoiceRef] = {}
    for model_file, config in configs.items():
        short = piper_voice_name(model_file, config)
        language = (config.get("language") or {}).get("code") or (config.get("espeak") or {}).get("voice", "")
        speakers = config.get("speaker_id_map") or {}
        label = f"{language} Piper voice {model_file.stem}".strip()
        if short not in voices:
            voices[short] = PiperVoiceRef(short, model_file, None, label)
        if len(speakers) > 1:
            for speaker, speaker_id in speakers.items():
                name = str(speaker).strip().lower()
                if not name or name in voices or name in file_names:  # a file's own name wins
                    name = f"{short}-{name}"
                voices.setdefault(name, PiperVoiceRef(name, model_file, int(speaker_id), f"{label}, speaker {speaker}"))
    return voices


def find_piper_voice(name: str, voices: dict[str, PiperVoiceRef]) -> PiperVoiceRef:
    """The Piper voice called ``name`` (case ignored; a file's full stem works too).

    Raises:
        ToolError: no voice has that name; the sentence lists the voices.
    """
    key = name.strip().lower()
    if key in voices:
        return voices[key]
    for voice in voices.values():
        if voice.speaker_id is None and voice.model_file.stem.lower() == key:
            return voice
    raise unknown_voice(name, list(voices))
