"""Who is calling the OpenAI-compatible API, and links to their files that need no key.

Keys come from ``POLYCHAT_API_KEYS`` (comma-separated) and ``POLYCHAT_API_KEYS_FILE``
(one a line). Each key is its own owner (``key-`` and the start of the key's SHA-256),
with its own folder of conversations, so a key sees only its own files. Without keys
the API answers this machine alone, as the one local user the ``/api`` routes know.

An artifact's URL carries a signature, so a page or a chat front end can show the
image without sending a key (as OpenAI's own image URLs do); the signature is an HMAC
of the owner, conversation and artifact under a secret kept in the data dir.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from pathlib import Path

from agent.config import Settings
from agent.errors import ConfigError
from agent.files import make_private_folder, write_atomically

LOCAL_OWNER = "local"  # the one user without keys (the same as the /api routes' local user)
SECRET_NAME = ".artifact-url-secret"
NO_KEYS = (
    "Without API keys polychat answers only requests from this machine; set POLYCHAT_API_KEYS "
    "(comma-separated keys) and send one as 'Authorization: Bearer KEY'."
)
LOGIN_WITHOUT_KEYS = (
    "This server has login on (POLYCHAT_AUTH_USERS) but no API keys; set POLYCHAT_API_KEYS "
    "and send one as 'Authorization: Bearer KEY'."
)
WRONG_KEY = "That API key is not one of POLYCHAT_API_KEYS; send one of them as 'Authorization: Bearer KEY'."


def api_keys(settings: Settings) -> tuple[str, ...]:
    """The keys the API accepts: the setting's, then the keys file's.

    Raises:
        ConfigError: the keys file cannot be read.
    """
    entries = [k.strip() for k in settings.api_keys.replace("\n", ",").split(",")]
    if settings.api_keys_file.strip():
        path = Path(settings.api_keys_file.strip()).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(
                f"The API keys file {path} cannot be read ({getattr(e, 'strerror', None) or e}); "
                "fix POLYCHAT_API_KEYS_FILE."
            ) from e
        entries += [line.split("#", 1)[0].strip() for line in lines]
    return tuple(dict.fromkeys(k for k in entries if k))


def owner_of(key: str) -> str:
    """The owner name of a key: its files live under it."""
    return "key-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address((address or "").strip("[]")).is_loopback
    except ValueError:
        return False


class Keys:
    """Checks a request's ``Authorization`` header against the keys in force."""

    def __init__(self, settings: Settings) -> None:
        self.keys = api_keys(settings)
        self.login_on = bool(settings.auth_users.strip())

    def owner(self, authorization: str | None, client: str | None) -> tuple[str | None, str]:
        """(the owner, "") for an accepted request, else (None, the sentence refusing it)."""
        if not self.keys:
            if self.login_on:
                return None, LOGIN_WITHOUT_KEYS
            return (LOCAL_OWNER, "") if is_loopback(client) else (None, NO_KEYS)
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        found = None
        for key in self.keys:  # every key compared, in constant time
            if hmac.compare_digest(key.encode("utf-8"), token.encode("utf-8")):
                found = key
        return (owner_of(found), "") if found is not None else (None, WRONG_KEY)


class UrlSigner:
    """Signs and checks the links to artifacts that work without a key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._secret: bytes | None = None

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            path = self.folder / SECRET_NAME
            if not path.is_file():
                make_private_folder(self.folder)
                write_atomically(path, secrets.token_hex(32).encode("ascii"))
            self._secret = path.read_bytes().strip()
        return self._secret

    def sign(self, owner: str, session_id: str, artifact_id: str) -> str:
        message = f"{owner}/{session_id}/{artifact_id}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]

    def valid(self, signature: str | None, owner: str, session_id: str, artifact_id: str) -> bool:
        expected = self.sign(owner, session_id, artifact_id).encode("ascii")
        return bool(signature) and hmac.compare_digest(str(signature).encode("utf-8", "replace"), expected)
