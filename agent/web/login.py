"""Who may sign in, and whether a sign-in still holds.

``POLYCHAT_AUTH_USERS`` gives each user a password as plain text or as a hash
(argon2, as ``polychat users hash`` makes, or bcrypt). :class:`PasswordBook` checks
passwords against it.

A browser sign-in is a token signed with the login secret (Chainlit's cookie). So
that it can be taken back, each token carries (in its user's metadata) an id of its
own and a fingerprint of its user's entry in ``POLYCHAT_AUTH_USERS``;
:class:`SignIns` refuses a token whose user is gone, whose entry changed (a new
password), or whose sign-in ended with a logout (kept in
``<data dir>/web/ended_sign_ins.json`` until the token would have expired anyway).
:func:`check_chainlit_tokens` puts that check in front of every use of a token:
each page's request, the websocket's connection and ``/auth/jwt``.

Nothing here imports Chainlit at import time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.errors import ConfigError

log = logging.getLogger(__name__)

ENDED_SIGN_INS_FILE = "ended_sign_ins.json"
"""File in the web folder listing the sign-ins that ended (logout) before their token expired."""

PASSWORD_PROVIDER = "password"
LOCAL_PROVIDER = "local"
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_ARGON2_PREFIX = "$argon2"
_ARGON2_HASH = re.compile(r"^\$argon2(id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]{8,}\$[A-Za-z0-9+/]{16,}$")


# --------------------------------------------------------------------------- passwords


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``, in the encoded form ``POLYCHAT_AUTH_USERS`` accepts."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(password)


def password_kind(stored: str) -> str:
    """``argon2``, ``bcrypt`` or ``plain``: how a password in ``POLYCHAT_AUTH_USERS`` is written."""
    if stored.startswith(_ARGON2_PREFIX):
        return "argon2"
    if stored.startswith(_BCRYPT_PREFIXES):
        return "bcrypt"
    return "plain"


def _check_hash(name: str, stored: str) -> None:
    """Refuse, in words, a hash that cannot be checked (malformed, or bcrypt without its package)."""
    kind = password_kind(stored)
    if kind == "argon2":
        if not _ARGON2_HASH.match(stored):
            raise ConfigError(
                f"POLYCHAT_AUTH_USERS gives {name} an argon2 hash that is cut short or altered; "
                "make a new one with polychat users hash (and quote it in single quotes in a shell)."
            )
    elif kind == "bcrypt":
        try:
            import bcrypt  # noqa: F401
        except ModuleNotFoundError as e:
            raise ConfigError(
                f"POLYCHAT_AUTH_USERS gives {name} a bcrypt hash but the bcrypt package is not installed; "
                "pip install bcrypt, or make an argon2 hash with polychat users hash."
            ) from e
        if len(stored) != 60:
            raise ConfigError(
                f"POLYCHAT_AUTH_USERS gives {name} a bcrypt hash that is not 60 characters long; "
                "copy it whole (in single quotes in a shell), or make one with polychat users hash."
            )


_VERIFIED_LIMIT = 256  # (hash, password) pairs remembered as matching, so HTTP Basic does not pay argon2 each time
_verified: dict[tuple[str, bytes], None] = {}
_verified_key = secrets.token_bytes(32)
_verified_lock = threading.Lock()


def _hash_matches(stored: str, password: str) -> bool:
    """Whether ``password`` matches an argon2 or bcrypt hash (matches are remembered, keyed, in memory)."""
    key = (stored, hmac.new(_verified_key, password.encode("utf-8", "replace"), hashlib.sha256).digest())
    if key in _verified:
        return True
    if password_kind(stored) == "argon2":
        from argon2 import PasswordHasher
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            matches = PasswordHasher().verify(stored, password)
        except (VerificationError, InvalidHashError):
            matches = False
    else:
        import bcrypt

        try:
            matches = bcrypt.checkpw(password.encode("utf-8", "replace"), stored.encode("ascii"))
        except ValueError:
            matches = False
    if matches:
        with _verified_lock:
            if len(_verified) >= _VERIFIED_LIMIT:
                _verified.pop(next(iter(_verified)))
            _verified[key] = None
    return matches


class PasswordBook:
    """The users of ``POLYCHAT_AUTH_USERS`` and their passwords (plain, argon2 or bcrypt).

    Args:
        users: name -> password or hash, as ``agent.config.parse_auth_users`` returns.

    Raises:
        ConfigError: a hash cannot be checked (malformed, or bcrypt without its package).
    """

    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = dict(users)
        for name, stored in self.users.items():
            _check_hash(name, stored)

    def __bool__(self) -> bool:
        return bool(self.users)

    def __contains__(self, name: object) -> bool:
        return name in self.users

    def verify(self, name: str, password: str) -> bool:
        """Whether ``password`` is ``name``'s password."""
        stored = self.users.get(name)
        if stored is None:
            hmac.compare_digest(b"x" * 16, password.encode("utf-8", "replace")[:16].ljust(16))
            return False
        if password_kind(stored) == "plain":
            return hmac.compare_digest(stored.encode("utf-8"), password.encode("utf-8", "replace"))
        return _hash_matches(stored, password)

    def fingerprint(self, name: str, secret: str) -> str:
        """A keyed digest of ``name``'s entry: it changes when the password (or hash) changes."""
        entry = f"{name}:{self.users[name]}".encode()
        return hmac.new(secret.encode("utf-8"), entry, hashlib.sha256).hexdigest()[:32]


# --------------------------------------------------------------------------- sign-ins


class SignIns:
    """Which browser sign-ins still hold.

    Args:
        book: the users who may sign in (empty: login is off, everyone is the local user).
        secret: the login secret, which signs tokens and keys the entries' fingerprints.
        folder: where the list of ended sign-ins is kept (the web folder).
    """

    def __init__(self, book: PasswordBook, secret: str, folder: Path) -> None:
        self.book = book
        self.secret = secret
        self.path = Path(folder) / ENDED_SIGN_INS_FILE
        self._lock = threading.Lock()
        self._ended: dict[str, float] = {}
        self._seen: tuple[int, int] | None = None  # (mtime_ns, size) of the file last read

    def claims(self, name: str) -> dict[str, str]:
        """The metadata a new sign-in of ``name`` carries in its token."""
        return {
            "provider": PASSWORD_PROVIDER,
            "sign_in": secrets.token_urlsafe(16),
            "credential": self.book.fingerprint(name, self.secret),
        }

    def holds(self, name: str, metadata: Mapping[str, Any] | None) -> bool:
        """Whether a token of ``name`` with this metadata is still good.

        Without login only the local user's tokens hold; with login only tokens of a user
        still listed, whose entry has not changed since, and who has not logged out.
        """
        metadata = metadata or {}
        if not self.book:
            return metadata.get("provider") == LOCAL_PROVIDER
        if metadata.get("provider") != PASSWORD_PROVIDER or name not in self.book:
            return False
        credential = str(metadata.get("credential") or "")
        if not hmac.compare_digest(credential.encode(), self.book.fingerprint(name, self.secret).encode()):
            return False
        return str(metadata.get("sign_in") or "") not in self.ended()

    def end(self, token: str) -> bool:
        """End the sign-in of a token (logout): the token is refused from now on, also after a restart.

        Returns False when the token is not a valid one of this server (nothing to end).
        """
        import jwt

        try:
            payload = jwt.decode(token, self.secret, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            return False
        sign_in = str((payload.get("metadata") or {}).get("sign_in") or "")
        if not sign_in:
            return False
        expires = float(payload.get("exp") or time.time())
        with self._lock:
            ended = {key: until for key, until in self._read().items() if until > time.time()}
            ended[sign_in] = expires
            self._write(ended)
        return True

    def ended(self) -> dict[str, float]:
        """The sign-ins ended before their time (id -> when their token expires)."""
        with self._lock:
            return self._read()

    def _read(self) -> dict[str, float]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._ended, self._seen = {}, None
            return self._ended
        seen = (stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                log.warning("The list of ended sign-ins %s cannot be read (%s); logged-out tokens may work again "
                            "until it is fixed or removed.", self.path, e)
                data = {}
            self._ended = {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}
            self._seen = seen
        return self._ended

    def _write(self, ended: dict[str, float]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(ended, f)
        os.replace(tmp, self.path)
        self._read()


# --------------------------------------------------------------------------- Chainlit


class SignInEnded(Exception):
    """A token whose sign-in no longer holds (user removed, password changed, logged out)."""


def check_chainlit_tokens(sign_ins: SignIns) -> None:
    """Make Chainlit refuse tokens whose sign-in no longer holds.

    Chainlit decodes the token of every request (``chainlit.auth.authenticate_user``, which
    also serves the websocket's connection) and of ``/auth/jwt`` through ``decode_jwt``;
    the check wraps that function, so a refused token answers 401 everywhere.
    """
    import chainlit.auth
    import chainlit.server
    import jwt

    class Ended(SignInEnded, jwt.InvalidTokenError):
        pass

    decode = getattr(chainlit.auth.decode_jwt, "__wrapped__", chainlit.auth.decode_jwt)

    def decode_jwt(token: str) -> Any:
        user = decode(token)
        if not sign_ins.holds(user.identifier, user.metadata):
            raise Ended(f"the sign-in of {user.identifier} has ended")
        return user

    decode_jwt.__wrapped__ = decode  # type: ignore[attr-defined]
    chainlit.auth.decode_jwt = decode_jwt
    chainlit.server.decode_jwt = decode_jwt
