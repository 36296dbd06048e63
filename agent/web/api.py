"""The HTTP API: the same turns as the terminal and the browser, as JSON.

Served by ``polychat serve`` next to the web UI, under ``/api``:

- ``GET  /api/health`` -> ``{"status": "ok", "version": ...}``
- ``GET  /api/models`` -> the model each tool will use (as ``polychat models list --json``)
- ``POST /api/turn`` (multipart form: ``text``, ``session``, ``voice``, ``stream``, files
  ``files``) -> the turn's JSON (``text``, ``plan``, ``artifacts``, ``steps``) plus
  ``session``; each artifact also has a ``url``. With ``stream=true`` the answer is
  server-sent events, one per turn event as it happens (``event: <type>``, ``data:`` the
  event's JSON, as ``polychat ask --stream`` prints them), the last being ``done`` with
  that same turn JSON. A client that disconnects stops its turn.
- ``GET  /api/sessions/{session}/artifacts/{artifact}`` -> the image or audio file.

With ``POLYCHAT_AUTH_USERS`` set, every route but health needs HTTP Basic auth with one of
those users (their passwords may be given as hashes), and each user sees only their own
sessions. Without it, ``agent.web.hosts`` keeps other web sites from driving the API.
"""


# No "from __future__ import annotations" here: FastAPI reads these routes' annotations at
# run time, and the dependency they name (signed_in) is local to build_router.
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, File, Form, HTTPException, UploadFile
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from agent import __version__
from agent.config import Settings, get_settings, parse_auth_users
from agent.errors import PolychatError
from agent.web.login import PasswordBook

log = logging.getLogger(__name__)

API_PREFIX = "/api"
LOCAL_USER = "local"
SSE_MEDIA_TYPE = "text/event-stream"

_basic = HTTPBasic(auto_error=False)


class TurnApi:
    """The API's state: settings, the shared assistant, and where sessions live."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.users = PasswordBook(parse_auth_users(self.settings.auth_users))
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
        if credentials is not None and self.users.verify(credentials.username, credentials.password):
            return credentials.username
        raise HTTPException(401, "Sign in with one of the users in POLYCHAT_AUTH_USERS.",
                            headers={"WWW-Authenticate": "Basic"})

    def open_session(self, user: str, session_id: str | None) -> Any:
        """This user's conversation ``session_id``, or a new one; 404 when there is no such session."""
        from agent.turn.session import open_session

        try:
            return open_session(self.sessions_root(user), self.settings, session_id or None)
        except PolychatError as e:
            raise HTTPException(404, str(e)) from e

    def turn_json(self, reply_json: dict[str, Any], session_id: str) -> dict[str, Any]:
        """A turn's JSON for HTTP: the session's id, and a URL for each artifact."""
        shape = dict(reply_json, session=session_id)
        shape["artifacts"] = [self.with_url(a, session_id) for a in shape["artifacts"]]
        return shape

    @staticmethod
    def with_url(artifact: dict[str, Any], session_id: str) -> dict[str, Any]:
        return dict(artifact, url=f"{API_PREFIX}/sessions/{session_id}/artifacts/{artifact['id']}")

    def event_json(self, event: Any, session_id: str) -> dict[str, Any]:
        """A turn event's JSON for HTTP (artifacts with URLs; ``done`` carries the turn's JSON)."""
        shape = event.to_json()
        if shape["type"] == "done":
            shape["reply"] = self.turn_json(shape["reply"], session_id)
        elif "artifacts" in shape:
            shape["artifacts"] = [self.with_url(a, session_id) for a in shape["artifacts"]]
        return shape

    async def stream_turn(self, conversation: Any, text: str, attachments: list[Any], voice: bool) -> AsyncIterator[str]:
        """The turn as server-sent events; a client that goes away stops the turn."""
        try:
            async for event in self.assistant.astream(conversation, text, attachments, voice=voice):
                yield server_sent_event(event.type, self.event_json(event, conversation.id))
        except PolychatError as e:
            yield server_sent_event("error", {"type": "error", "message": str(e)})


def server_sent_event(name: str, data: dict[str, Any]) -> str:
    """One server-sent event: its name and its data as one line of JSON."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


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

    @router.post("/turn", response_model=None)
    def turn(
        user: Annotated[str, Depends(signed_in)],
        text: Annotated[str, Form()] = "",
        session: Annotated[str, Form()] = "",
        voice: Annotated[bool, Form()] = False,
        stream: Annotated[bool, Form()] = False,
        files: Annotated[list[UploadFile] | None, File()] = None,
    ) -> dict[str, Any] | StreamingResponse:
        # A plain (sync) endpoint: FastAPI runs it in a worker thread, so model calls
        # never block the event loop.
        conversation = api.open_session(user, session or None)
        attachments = []
        for upload in files or []:
            data = upload.file.read(api.settings.upload_limit_bytes + 1)
            try:
                attachments.append(conversation.attach(data, name=upload.filename or None))
            except PolychatError as e:
                raise HTTPException(400, f"{upload.filename or 'The upload'}: {e}") from e
        if not text.strip() and not attachments:
            raise HTTPException(400, "Send some text or a file.")
        if stream:
            return StreamingResponse(
                api.stream_turn(conversation, text, attachments, voice),
                media_type=SSE_MEDIA_TYPE,
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        try:
            reply = api.assistant.respond(conversation, text, attachments, voice=voice)
        except PolychatError as e:
            raise HTTPException(400, str(e)) from e
        return api.turn_json(reply.to_json(), conversation.id)

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
