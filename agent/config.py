"""One settings object, read from ``POLYCHAT_*`` environment variables and ``polychat.toml``.

Precedence, highest first: environment variables, the TOML file, built-in defaults.
The TOML file is ``$POLYCHAT_CONFIG`` if set, else ``./polychat.toml`` if present, else
``<data dir>/polychat.toml``. Its keys are the setting names below, and an optional
``[models]`` / ``[backends]`` table keyed by tool name.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from agent.errors import ConfigError

TOOL_NAMES: tuple[str, ...] = (
    "transcribe_audio",
    "translate_speech",
    "caption_image",
    "answer_image_question",
    "read_image_text",
    "generate_image",
    "speak_text",
    "translate_text",
)
"""The eight tools, in the order they are listed everywhere."""

MODEL_SLOTS: tuple[str, ...] = (*TOOL_NAMES, "speak_text_vocoder", "chat")
"""Every place a model can be configured: the tools, the TTS vocoder and the chat LLM."""

PROFILES = ("default", "tiny")
DEVICES = ("auto", "cpu", "cuda", "mps")


def default_data_dir() -> Path:
    """Where polychat keeps sessions, generated media and tiny models."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "polychat"


@dataclass(frozen=True)
class Settings:
    """Everything a user can configure.

    ``models`` and ``backends`` map a slot (a tool name, ``speak_text_vocoder`` or
    ``chat``) to a hub id / local folder, or a backend name. A slot missing from
    ``models`` uses the profile's default (see ``agent.models.catalog``).
    """

    profile: str = "default"
    device: str = "auto"
    dtype: str = "auto"  # auto | float32 | float16 | bfloat16
    data_dir: Path = field(default_factory=default_data_dir)
    models: dict[str, str] = field(default_factory=dict)
    backends: dict[str, str] = field(default_factory=dict)
    voice: str = ""  # default voice for speak_text ("" = the backend's first voice)
    target_language: str = "fr"  # default target for "translate this" with no language
    spoken_replies: bool = True  # a voice note in gets speech out
    max_upload_mb: float = 25.0
    max_image_pixels: int = 40_000_000  # pixels; larger images are refused as bombs
    max_audio_seconds: float = 600.0  # seconds of audio accepted per file
    max_text_chars: int = 5_000  # characters per text input to a tool
    max_message_chars: int = 20_000  # characters of one chat message; longer ones are refused at once
    max_turn_upload_mb: float = 50.0  # all the files of one message together, MB
    max_conversation_upload_mb: float = 500.0  # all the files people sent one conversation, MB
    min_audio_seconds: float = 0.2  # shorter recordings are refused, not transcribed into nonsense
    max_spoken_chars: int = 1_000  # characters a turn speaks aloud (about a minute); the rest stays text
    max_turn_seconds: float = 300.0  # a turn running longer is stopped; 0 = no limit
    end_silence_seconds: float = 0.8  # hands-free voice: silence after speech that ends a spoken turn
    live_transcribe_model: str = ""  # hands-free voice: the model that hears speech live ("" = transcribe_audio's)
    memory_budget_mb: float = 0.0  # 0 = no budget; otherwise evict least recently used
    idle_unload_seconds: float = 0.0  # 0 = never unload idle models
    chat_url: str = ""  # Ollama / OpenAI-compatible server for the chat model
    chat_api_key: str = ""
    history_turns: int = 12  # turns of conversation the chat model sees
    database_url: str = ""  # web UI history; "" = SQLite in <data dir>/web/chainlit.db
    auth_users: str = ""  # "alice:secret,bob:$argon2id$..." turns on password login in the web UI
    allowed_hosts: str = ""  # without login, host names (besides loopback) pages may be served from
    api_keys: str = ""  # "key1,key2": the keys the OpenAI-compatible API (/v1) accepts as Bearer tokens
    api_keys_file: str = ""  # a file of more such keys, one a line ("#" starts a comment)
    api_max_waiting: int = 4  # /v1 requests one key may have at the models at once; more get 429
    cluster: str = ""  # a Ray cluster whose Serve deployments run the tools ("" = this process); see agent.cluster

    def model_for(self, slot: str) -> str | None:
        """The user's model choice for a slot, or None to use the profile default."""
        return self.models.get(slot) or None

    def backend_for(self, slot: str) -> str | None:
        """The user's backend choice for a slot, or None to use the default."""
        return self.backends.get(slot) or None

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (``models``/``backends`` are merged)."""
        if "models" in changes:
            changes["models"] = {**self.models, **changes["models"]}
        if "backends" in changes:
            changes["backends"] = {**self.backends, **changes["backends"]}
        return replace(self, **changes)

    @property
    def upload_limit_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def tiny_dir(self) -> Path:
        """Where the tiny profile builds and caches its random models."""
        return self.data_dir / "tiny-models"


_SCALAR_FIELDS = {f.name: f for f in fields(Settings) if f.name not in ("models", "backends")}


def _coerce(name: str, raw: Any) -> Any:
    """Turn a raw env/TOML value into the type of field ``name``."""
    default = getattr(Settings(), name)
    try:
        if isinstance(default, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(default, Path):
            return Path(str(raw)).expanduser()
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        return str(raw)
    except ValueError as e:
        raise ConfigError(
            f"The setting {name} has the value {raw!r}, which is not a valid "
            f"{type(default).__name__}; fix POLYCHAT_{name.upper()} or polychat.toml."
        ) from e


def _validate(settings: Settings) -> Settings:
    if settings.profile not in PROFILES:
        raise ConfigError(
            f"Unknown profile {settings.profile!r}; set POLYCHAT_PROFILE to one of {', '.join(PROFILES)}."
        )
    if settings.device not in DEVICES:
        raise ConfigError(
            f"Unknown device {settings.device!r}; set POLYCHAT_DEVICE to one of {', '.join(DEVICES)}."
        )
    if settings.dtype not in ("auto", "float32", "float16", "bfloat16"):
        raise ConfigError(
            f"Unknown dtype {settings.dtype!r}; set POLYCHAT_DTYPE to auto, float32, float16 or bfloat16."
        )
    if not settings.end_silence_seconds > 0:
        raise ConfigError(
            f"end_silence_seconds must be above 0, not {settings.end_silence_seconds:g}; "
            "set POLYCHAT_END_SILENCE_SECONDS to the seconds of silence that end a spoken turn, e.g. 0.8."
        )
    for slot in (*settings.models, *settings.backends):
        if slot not in MODEL_SLOTS:
            raise ConfigError(f"Unknown model slot {slot!r} in settings; use one of {', '.join(MODEL_SLOTS)}.")
    return settings


def _toml_path(env: dict[str, str]) -> Path | None:
    if env.get("POLYCHAT_CONFIG"):
        return Path(env["POLYCHAT_CONFIG"]).expanduser()
    here = Path.cwd() / "polychat.toml"
    if here.is_file():
        return here
    data_dir = Path(env["POLYCHAT_DATA_DIR"]).expanduser() if env.get("POLYCHAT_DATA_DIR") else default_data_dir()
    candidate = data_dir / "polychat.toml"
    return candidate if candidate.is_file() else None


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read settings from the environment and the TOML file.

    Args:
        env: the environment to read (defaults to ``os.environ``).

    Raises:
        ConfigError: a value is invalid or the TOML file cannot be parsed.
    """
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    models: dict[str, str] = {}
    backends: dict[str, str] = {}

    path = _toml_path(env)
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"The config file {path} does not exist; fix POLYCHAT_CONFIG or create the file.")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"The config file {path} is not valid TOML ({e}); fix it or remove it.") from e
        for key, value in data.items():
            if key == "models" and isinstance(value, dict):
                models.update({k: str(v) for k, v in value.items()})
            elif key == "backends" and isinstance(value, dict):
                backends.update({k: str(v) for k, v in value.items()})
            elif key in _SCALAR_FIELDS:
                values[key] = _coerce(key, value)
            else:
                raise ConfigError(f"Unknown setting {key!r} in {path}; see the settings table in the README.")

    for name in _SCALAR_FIELDS:
        raw = env.get(f"POLYCHAT_{name.upper()}")
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw)
    for slot in MODEL_SLOTS:
        model = env.get(f"POLYCHAT_{slot.upper()}_MODEL")
        if model:
            models[slot] = model
        backend = env.get(f"POLYCHAT_{slot.upper()}_BACKEND")
        if backend:
            backends[slot] = backend

    return _validate(Settings(**values, models=models, backends=backends))


_current: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, read once on first use."""
    global _current
    if _current is None:
        _current = load_settings()
    return _current


def set_settings(settings: Settings | None) -> None:
    """Replace the process-wide settings (None: read them again on next use)."""
    global _current
    _current = settings


_ARGON2_PARAMETERS_SO_FAR = re.compile(r"^\s*[^:]+:\$argon2(id|i|d)\$(v=\d+\$)?[a-z]=\d+(,[a-z]=\d+)*$")


def parse_auth_users(text: str) -> dict[str, str]:
    """Parse ``POLYCHAT_AUTH_USERS``: ``"alice:secret,bob:pw"`` -> ``{"alice": "secret", "bob": "pw"}``.

    Entries are separated by commas or new lines. A password may be a hash made by
    ``polychat users hash`` (argon2, or bcrypt): an argon2 hash holds commas
    (``$argon2id$v=19$m=65536,t=3,p=4$...``), which belong to the hash, not between entries.

    Raises:
        ConfigError: an entry has no ``name:password`` shape.
    """
    entries: list[str] = []
    for line in (text or "").splitlines():
        for piece in line.split(","):
            if entries and re.match(r"[a-z]=\d+", piece) and _ARGON2_PARAMETERS_SO_FAR.match(entries[-1]):
                entries[-1] += "," + piece  # the commas between an argon2 hash's parameters
            else:
                entries.append(piece)
        entries.append("")  # a new line always ends an entry
    users: dict[str, str] = {}
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        name, sep, password = entry.partition(":")
        if not sep or not name.strip() or not password:
            raise ConfigError(
                f"POLYCHAT_AUTH_USERS has the entry {name.strip() or entry!r} without a password; "
                "write it as name:password,name2:password2 (in a shell, hashes go in single quotes to keep their $)."
            )
        users[name.strip()] = password
    return users
