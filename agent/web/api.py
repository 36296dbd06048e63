"""The HTTP API: the same turns as the terminal and the browser, as JSON.

Served by ``polychat serve`` next to the web UI, under ``/api``:

- ``GET  /api/health`` -> ``{"status": "ok", "version": ...}``
- ``GET  /api/models`` -> the model each tool will use (as ``polychat models list --json``)
- ``POST /api/turn`` (multipart form: ``text``, ``session``, ``voice``, files ``files``) ->
  the turn's JSON (``text``, ``plan``, ``artifacts``, ``steps``) plus ``session``; each
  artifact also has a ``url``.
- ``GET  /api/sessions/{session}/artifacts/{artifact}`` -> the image or audio file.

With ``POLYCHAT_AUTH_USERS`` set, every route but health needs HTTP Basic auth with one of
those users, and each user sees only their own sessions.
"""


# No "from __future__ import annotations" here: FastAPI reads these routes' annotations at
# run time, and the dependency they name (signed_in) is local to build_router.
import hmac
import logging
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, File, Form, HTTPException, UploadFile
from fastapi.responses import FileResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from agent import __version__
from agent.config import Settings, get_settings
from agent.errors import PolychatError

log = logging.getLogger(__name__)

API_PREFIX = "/api"
LOCAL_USER = "local"
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_basic = HTTPBasic(auto_error=False)


def parse_users(text: str) -> dict[str, str]:
    """``"alice:pw,bob:pw2"`` -> ``{"alice": "pw", "bob": "pw2"}`` (entries without a password are dropped)."""
    users = {}
    for entry in text.split(","):
        name, _, password = entry.strip().partition(":")
        if name.strip() and password:
            users[name.strip()] = password
    return users


class TurnApi:
    """The API's state: settings, the shared assistant, and where sessions live."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.users = parse_users(self.settings.auth_users)
        self._assistant: Any = None

    @property
    def assistant(self) -> Any:
        if self._assistant is None:
            from agent.turn.assistant import Assistant

            self._assistant = Assistant(self.settings)
        return self._assistant

    def sessions_root(self, user: str) -> Path:
        return self.settings.data_dir / "api" / user

    def user_for(self, credentials: HTTPBasicCredentials | None) -> str:
        """The signed-in user (``local`` without login); 401 when the credentials are wrong."""
        if not self.users:
            return LOCAL_USER
        if credentials is not None:
            expected = self.users.get(credentials.username, "")
            if expected and hmac.compare_digest(expected.encode(), credentials.password.encode()):
                return credentials.username
        raise HTTPException(401, "Sign in with one of the users in POLYCHAT_AUTH_USERS.",
                            headers={"WWW-Authenticate": "Basic"})

    def open_session(self, user: str, session_id: str | None) -> Any:
        from agent.turn.session import Session

        root = self.sessions_root(user)
        if session_id:
            if not _SESSION_ID.match(session_id) or not (root / session_id).is_dir():
                raise HTTPException(404, f"There is no session {session_id!r}; leave it out to start a new one.")
        return Session(root, self.settings, session_id or None)


def build_router(api: TurnApi) -> APIRouter:
    """The ``/api`` routes over one ``TurnApi``."""
    router = APIRouter(prefix=API_PREFIX)

    def signed_in(credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> str:
        return api.user_for(credentials)

    @router.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @router.get("/models")
    def models(user: Annotated[str, Depends(signed_in)]) -> list[dict[str, Any]]:
        from agent.models.catalog import describe_all

        return [
            {"tool": c.slot, "model": c.source, "backend": c.backend, "where": c.where, "present": c.present}
            for c in describe_all(api.settings)
        ]

    @router.post("/turn")
    def turn(
        user: Annotated[str, Depends(signed_in)],
        text: Annotated[str, Form()] = "",
        session: Annotated[str, Form()] = "",
        voice: Annotated[bool, Form()] = False,
        files: Annotated[list[UploadFile] | None, File()] = None,
    ) -> dict[str, Any]:
        # A plain (sync) endpoint: FastAPI runs it in a worker thread, so model calls
        # never block the event loop.
        conversation = api.open_session(user, session or None)
        number = conversation.new_turn_number()
        attachments = []
        for upload in files or []:
            data = upload.file.read(api.settings.upload_limit_bytes + 1)
            try:
                attachments.append(conversation.artifacts.add_bytes(
                    data, origin="uploaded", turn=number, name=upload.filename or None))
            except PolychatError as e:
                raise HTTPException(400, f"{upload.filename or 'The upload'}: {e}") from e
        if not text.strip() and not attachments:
            raise HTTPException(400, "Send some text or a file.")
        try:
            reply = api.assistant.respond(conversation, text, attachments, voice=voice)
        except PolychatError as e:
            raise HTTPException(400, str(e)) from e
        shape = reply.to_json()
        shape["session"] = conversation.id
        for artifact in shape["artifacts"]:
            artifact["url"] = f"{API_PREFIX}/sessions/{conversation.id}/artifacts/{artifact['id']}"
        return shape

    @router.get("/sessions/{session_id}/artifacts/{artifact_id}")
    def artifact(session_id: str, artifact_id: str, user: Annotated[str, Depends(signed_in)]) -> FileResponse:
        conversation = api.open_session(user, session_id)
        try:
            found = conversation.artifacts.get(artifact_id)
        except PolychatError as e:
            raise HTTPException(404, str(e)) from e
        return FileResponse(found.path, media_type=found.mime)

    return router


def mount_api(app: FastAPI, settings: Settings | None = None, *, api: "TurnApi | None" = None) -> "TurnApi":
    """Add the ``/api`` routes to a FastAPI app, ahead of any catch-all route (once).

    Returns the ``TurnApi`` that serves them.
    """
    api = api or TurnApi(settings)
    existing = {getattr(route, "path", "") for route in app.router.routes}
    if f"{API_PREFIX}/turn" in existing:
        return api
    for route in reversed(build_router(api).routes):
        app.router.routes.insert(0, route)
    return api
