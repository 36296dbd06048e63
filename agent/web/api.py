"""The HTTP API: the same turns as the terminal and the browser, as JSON.

Served by ``polychat serve`` next to the web UI, under ``/api``:

- ``GET  /api/health`` -> ``{"status": "ok", "version": ...}``, or ``"status": "degraded"``
  with a ``reason`` (a sentence) when the data dir cannot be written
- ``GET  /api/models`` -> the model each tool will use (as ``polychat models list --json``)
- ``POST /api/turn`` (multipart form: ``text``, ``session``, ``voice``, ``stream``, files
  ``files``) -> the turn's JSON (``text``, ``plan``, ``artifacts``, ``steps``) plus
  ``session``; each artifact also has a ``url``. With ``stream=true`` the answer is
  server-sent events, one per turn event as it happens (``event: <type>``, ``data:`` the
  event's JSON, as ``polychat ask --stream`` prints them), the last being ``done`` with
  that same turn JSON. A client that disconnects stops its turn.
- ``GET  /api/sessions/{session}/artifacts/{artifact}`` -> the image or audio file.

The OpenAI-compatible routes (``/v1``, ``agent.web.openai_api``) are mounted with them.

Errors are ``{"detail": "<one sentence>"}``: 400 nothing sent, 404 no such session, 413 a
message or its files over a limit (checked before any work), 422 the turn failed only
because of an uploaded file (corrupt, empty, too short) or the text is not UTF-8, 429 (with
``Retry-After``) the turn failed only because a service of the cluster was full, 507 the
disk is full, 503 the data dir cannot be written otherwise.

With ``POLYCHAT_AUTH_USERS`` set, every route but health needs HTTP Basic auth with one of
those users (their passwords may be given as hashes), and each user sees only their own
sessions. Without it, ``agent.web.hosts`` keeps other web sites from driving the API.
"""


# No "from __future__ import annotations" here: FastAPI reads these routes' annotations at
# run time, and the dependency they name (signed_in) is local to build_router.
import errno
import json
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, File, Form, HTTPException, UploadFile
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from agent import __version__
from agent.config import Settings, get_settings, parse_auth_users
from agent.errors import LimitError, PolychatError, StorageError, ToolError, os_error_sentence
from agent.files import make_private_folder
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

    def check_request(self, text: str, uploads: list[UploadFile]) -> list[int]:
        """Refuse, before any work, a message or files over the limits; return the files' sizes.

        Raises:
            HTTPException: 413 over a limit, 422 text that is not UTF-8.
        """
        from agent.limits import check_message, check_upload_sizes

        sizes = [upload_size(upload) for upload in uploads]
        try:
            if "\ufffd" in text:  # what a form field's bytes that were not UTF-8 became
                raise ToolError("The text is not valid UTF-8 (it holds bytes shown as \ufffd); send it as UTF-8.")
            check_message(text, self.settings)
            check_upload_sizes(sizes, self.settings)
        except LimitError as e:
            raise HTTPException(413, str(e)) from e
        except PolychatError as e:
            raise HTTPException(422, str(e)) from e
        return sizes

    def data_dir_problem(self) -> str | None:
        """Why the data dir cannot be written (a sentence), or None when it can: a file is made and removed."""
        folder = self.settings.data_dir
        try:
            make_private_folder(folder)
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".health-", suffix=".part")
            try:
                os.write(fd, b"ok")
                os.fsync(fd)
            finally:
                os.close(fd)
                os.unlink(probe)
        except OSError as e:
            return os_error_sentence(e, folder)
        return None


def upload_size(upload: UploadFile) -> int:
    """An uploaded file's size in bytes (it has arrived whole; nothing is read)."""
    if upload.size is not None:
        return int(upload.size)
    upload.file.seek(0, os.SEEK_END)
    size = upload.file.tell()
    upload.file.seek(0)
    return size


def storage_status(error: OSError | StorageError) -> HTTPException:
    """A conversation that cannot be stored: 507 when the disk is full, else 503, with the sentence."""
    cause = error.__cause__ if isinstance(error, StorageError) else error
    code = 507 if getattr(cause, "errno", None) in (errno.ENOSPC, errno.EDQUOT) else 503
    return HTTPException(code, str(error) if isinstance(error, StorageError) else os_error_sentence(error))


def upload_failure(reply: Any) -> str | None:
    """The sentence of a turn that failed only because of an uploaded file, else None."""
    steps = reply.steps
    if reply.cancelled or not steps or any(step.ok for step in steps):
        return None
    failed = [step for step in steps if getattr(step, "media_error", False)]
    return failed[0].error if failed else None


def busy_failure(reply: Any) -> tuple[str, int] | None:
    """The sentence and seconds to wait of a turn that failed only because a service of the
    cluster was full (``ServiceBusy``), else None."""
    steps = reply.steps
    if reply.cancelled or not steps or any(step.ok for step in steps):
        return None
    busy = [step for step in steps if getattr(step, "retry_after", None)]
    return (busy[0].error, busy[0].retry_after) if busy else None


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
        problem = api.data_dir_problem()
        if problem:
            return {"status": "degraded", "reason": problem, "version": __version__}
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
        language: Annotated[str | None, Form()] = None,
        files: Annotated[list[UploadFile] | None, File()] = None,
    ) -> dict[str, Any] | StreamingResponse:
        # A plain (sync) endpoint: FastAPI runs it in a worker thread, so model calls
        # never block the event loop.
        from agent.limits import check_upload_sizes, uploaded_bytes

        sizes = api.check_request(text, files or [])
        try:
            conversation = api.open_session(user, session or None)
            if language and language.strip():  # the language spoken in voice notes, kept ('auto' forgets it)
                try:
                    conversation.set_language(language)
                except PolychatError as e:
                    raise HTTPException(422, str(e)) from e
            if sizes:
                try:
                    check_upload_sizes(sizes, api.settings, stored=uploaded_bytes(conversation.artifacts))
                except LimitError as e:
                    raise HTTPException(413, str(e)) from e
            attachments = []
            for upload in files or []:
                data = upload.file.read(api.settings.upload_limit_bytes + 1)
                try:
                    attachments.append(conversation.attach(data, name=upload.filename or None))
                except PolychatError as e:
                    raise HTTPException(422, f"{upload.filename or 'The upload'}: {e}") from e
        except OSError as e:
            raise storage_status(e) from e
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
        except StorageError as e:
            raise storage_status(e) from e
        except PolychatError as e:
            raise HTTPException(400, str(e)) from e
        problem = upload_failure(reply)
        if problem:
            raise HTTPException(422, problem)
        busy = busy_failure(reply)
        if busy:  # nothing was done: the person tries again in a moment
            raise HTTPException(429, busy[0], headers={"Retry-After": str(busy[1])})
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
    from agent.web.openai_api import mount_openai_api

    mount_openai_api(app, api)  # the OpenAI-compatible routes (/v1), over the same state
    return api
