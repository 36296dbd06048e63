"""Where the browser chat keeps its files: its folders, message media, the login secret.

The media of each message are kept on disk by :class:`LocalStorageClient` under
``<data dir>/web/files/<user id>/...`` and served back, to their owner only, by the
route that :func:`mount_file_route` adds to Chainlit's web app. The database of
conversations is set up by ``agent.web.db``.

Nothing here imports Chainlit's server or starts anything at import time.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from chainlit.data.storage_clients.base import BaseStorageClient

from agent import media
from agent.config import Settings
from agent.files import link_in_place, make_private_folder, write_atomically

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)

FILES_ROUTE = "/polychat/files"
"""URL prefix under which stored media are served to their owner."""

AUTH_SECRET_FILE = "auth_secret"
"""File in the web folder holding the secret that signs login cookies."""

_SAFE_PART = re.compile(r"[^A-Za-z0-9._-]+")
_PART_LIMIT = 120  # characters kept of each part of an object key

# --------------------------------------------------------------------------- places


def web_dir(settings: Settings) -> Path:
    """The folder of the browser chat: database, media, conversations, secret."""
    return settings.data_dir / "web"


def threads_dir(settings: Settings) -> Path:
    """The parent folder of each conversation's session folder (named by thread id)."""
    return web_dir(settings) / "threads"


# --------------------------------------------------------------------------- media files


def _extension_for(mime: str) -> str:
    """``.png`` for ``image/png``; empty when the type has no usual extension."""
    if mime in media.MIME_EXTENSIONS:
        return f".{media.MIME_EXTENSIONS[mime]}"
    extension = mimetypes.guess_extension(mime or "") or ""
    return "" if extension == ".bin" else extension


def _mime_for(name: str) -> str:
    """The media type a stored file's name implies."""
    suffix = Path(name).suffix.lstrip(".").lower()
    known = {extension: mime for mime, extension in media.MIME_EXTENSIONS.items()}
    return known.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def safe_object_key(object_key: str) -> str:
    """An object key reduced to harmless path parts (letters, digits, ``._-``), never ``..``."""
    parts = []
    for raw in str(object_key).replace("\\", "/").split("/"):
        part = _SAFE_PART.sub("_", raw).strip("._")[:_PART_LIMIT]
        if part:
            parts.append(part)
    if not parts:
        raise ValueError(f"object key {object_key!r} has no usable part")
    return "/".join(parts)


SAME_BYTES_REMEMBERED = 256  # recent media files whose bytes a new one may share
_by_digest: OrderedDict[str, Path] = OrderedDict()
_digest_lock = threading.Lock()


def keep_once(path: Path | str) -> bool:
    """Keep one copy of a file that is also a message's media (an upload, a made picture).

    The browser chat's media reach both the conversation's artifacts and the chat
    history's media folder. Whichever is written second becomes a hard link to the
    first, so the bytes are on disk once. Returns True when ``path`` now shares its
    bytes with an earlier file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError:
        return False
    digest = hashlib.sha256(data).hexdigest()
    earlier = _same_bytes(digest, data)
    shared = earlier is not None and earlier != path and link_in_place(earlier, path)
    if not shared:
        _remember(digest, path)
    return shared


def _same_bytes(digest: str, data: bytes) -> Path | None:
    """A remembered file with exactly these bytes, if it is still there."""
    with _digest_lock:
        earlier = _by_digest.get(digest)
    try:
        if earlier is not None and earlier.stat().st_size == len(data) and earlier.read_bytes() == data:
            return earlier
    except OSError:
        pass
    return None


def _remember(digest: str, path: Path) -> None:
    with _digest_lock:
        _by_digest[digest] = path
        _by_digest.move_to_end(digest)
        while len(_by_digest) > SAME_BYTES_REMEMBERED:
            _by_digest.popitem(last=False)


class LocalStorageClient(BaseStorageClient):
    """Chainlit storage for message media, as files in a local folder.

    Object keys are ``<user id>/<element id>/<name>`` (Chainlit's choice); the URL of
    each file is ``/polychat/files/<key>``, which only its owner may read.

    Args:
        root: the folder that holds the files (created if missing).
    """

    def __init__(self, root: Path | str) -> None:
        self.root = make_private_folder(root).resolve()

    def path_for(self, object_key: str) -> Path:
        """The file of a key, checked to lie inside the root folder."""
        path = (self.root / safe_object_key(object_key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"object key {object_key!r} points outside the media folder")
        return path

    def url_for(self, object_key: str) -> str:
        return f"{FILES_ROUTE}/{quote(safe_object_key(object_key))}"

    async def upload_file(
        self,
        object_key: str,
        data: bytes | str,
        mime: str = "application/octet-stream",
        overwrite: bool = True,
        content_disposition: str | None = None,
    ) -> dict[str, Any]:
        key = safe_object_key(object_key)
        if not Path(key).suffix:  # the file is served later with the type its name implies
            key += _extension_for(mime)
        path = self.path_for(key)
        if path.exists() and not overwrite:
            return {"object_key": key, "url": self.url_for(key)}
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        make_private_folder(path.parent)
        digest = hashlib.sha256(payload).hexdigest()
        earlier = _same_bytes(digest, payload)
        if earlier is None or earlier == path or not link_in_place(earlier, path):
            write_atomically(path, payload)
        _remember(digest, path)
        return {"object_key": key, "url": self.url_for(key)}

    async def delete_file(self, object_key: str) -> bool:
        try:
            self.path_for(object_key).unlink()
        except (FileNotFoundError, ValueError):
            return False
        return True

    async def get_read_url(self, object_key: str) -> str:
        return self.url_for(object_key)

    async def close(self) -> None:
        return None


async def element_owner(object_key: str, layer: Any = None) -> str | None:
    """The id of the user whose conversation holds the element stored under ``object_key``.

    Chainlit names a file after the thread's user, but an attachment of a
    conversation's very first message can be stored before the thread has its
    user (its key then starts with ``unknown``); the database knows the owner.

    Args:
        object_key: the stored file's key.
        layer: the SQLAlchemy data layer (default: Chainlit's).
    """
    from chainlit.data import get_data_layer

    execute = getattr(layer if layer is not None else get_data_layer(), "execute_sql", None)
    if execute is None:
        return None
    rows = await execute(
        'SELECT t."userId" AS owner FROM elements e JOIN threads t ON t."id" = e."threadId" '
        'WHERE e."objectKey" = :key',
        {"key": object_key},
    )
    return str(rows[0]["owner"]) if isinstance(rows, list) and rows and rows[0]["owner"] else None


def mount_file_route(
    app: FastAPI, storage: LocalStorageClient, owner_of: Callable[[str], Awaitable[str | None]] = element_owner
) -> None:
    """Serve stored media at ``/polychat/files/<key>`` to the user who owns them.

    A file belongs to the user its key starts with, or else to the owner of the
    conversation that holds it (``owner_of``). Anyone else gets a 404. The route is
    put first so that Chainlit's catch-all page route does not shadow it.
    """
    from chainlit.auth import get_current_user
    from fastapi import Depends, HTTPException
    from fastapi.responses import FileResponse

    signed_in = Depends(get_current_user)  # evaluated here: the annotations of this module are strings
    not_found = HTTPException(status_code=404, detail="Not found")

    async def stored_file(object_key: str, user: Any = signed_in) -> FileResponse:
        user_id = str(getattr(user, "id", None) or "")
        try:
            key = safe_object_key(object_key)
            path = storage.path_for(key)
        except ValueError:
            raise not_found from None
        if not user_id or not path.is_file():
            raise not_found
        if key.split("/", 1)[0] != safe_object_key(user_id) and await owner_of(key) != user_id:
            raise not_found
        return FileResponse(path, media_type=_mime_for(path.name))

    if any(getattr(route, "path", None) == f"{FILES_ROUTE}/{{object_key:path}}" for route in app.router.routes):
        return
    app.add_api_route(f"{FILES_ROUTE}/{{object_key:path}}", stored_file, methods=["GET"])
    app.router.routes.insert(0, app.router.routes.pop())


# --------------------------------------------------------------------------- login


def ensure_auth_secret(settings: Settings, env: dict[str, str] | None = None) -> str:
    """The secret that signs login cookies: ``CHAINLIT_AUTH_SECRET``, else one kept in the web folder.

    A secret made here is written once (readable by the owner only) so that logins
    survive restarts, and is put into ``env`` (default ``os.environ``).
    """
    env = os.environ if env is None else env
    if env.get("CHAINLIT_AUTH_SECRET"):
        return env["CHAINLIT_AUTH_SECRET"]
    path = web_dir(settings) / AUTH_SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    if not secret:
        secret = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secret)
    env["CHAINLIT_AUTH_SECRET"] = secret
    return secret
