"""The OpenAI-compatible API under ``/v1``: any OpenAI client, polychat's tools and agent.

Served by ``polychat serve`` beside ``/api`` (the same sessions, assistant and models)
and alone by ``polychat api``:

- ``GET  /v1/models``: the agent (``polychat``) and the model of each tool
- ``POST /v1/audio/transcriptions`` and ``/v1/audio/translations``: Whisper
- ``POST /v1/audio/speech``: speak_text, streamed as it is spoken
- ``POST /v1/images/generations``: generate_image
- ``POST /v1/chat/completions``: one turn of the agent (``agent.web.openai_chat``)
- ``GET  /v1/artifacts/{owner}/{session}/{artifact}``: a file a request made or sent
- ``GET  /v1/openapi.json``: what is served

Errors are OpenAI's ``{"error": {"message", "type", "param", "code"}}``, the message
being polychat's one sentence; the status says what kind (``agent.web.openai_shapes``).
"""

# No "from __future__ import annotations": FastAPI reads the routes' annotations at run time.
import asyncio
import base64
import contextlib
import logging
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import HTTPException, RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute

from agent import __version__
from agent.config import TOOL_NAMES, Settings
from agent.errors import (
    ConfigError,
    LimitError,
    ModelUnavailableError,
    PolychatError,
    ServiceBusy,
    StorageError,
    TurnCancelled,
)
from agent.limits import MB
from agent.web import openai_shapes as shapes
from agent.web.api import SSE_MEDIA_TYPE, TurnApi, server_sent_event, storage_status
from agent.web.openai_admission import Admission, Busy
from agent.web.openai_auth import Keys, UrlSigner

log = logging.getLogger(__name__)

V1 = "/v1"
FALLBACK_PATH = "/{rest:path}"  # every other path under /v1: a 404 or 405 in OpenAI's shape
MULTIPART_PATHS = {f"{V1}/audio/transcriptions", f"{V1}/audio/translations"}
DISCONNECT_POLL_SECONDS = 0.5  # how often a long request looks whether its client is still there
BODY_SLACK_BYTES = 1 * MB  # a request's body beyond its files and text: form fields, JSON, base64's growth
NOT_JSON = "The body is not valid JSON; send the request as UTF-8 JSON."
UNEXPECTED = "polychat failed on this request; the server's log says why."
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ApiError(Exception):
    """An error answered in OpenAI's shape."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, param=self.param, code=self.code)


def error_response(status: int, message: str, *, param: str | None = None, code: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(shapes.error_body(status, message, param=param, code=code), status_code=status,
                        headers=headers)


def polychat_error(error: PolychatError | OSError) -> ApiError:
    """The status of one of polychat's sentences: 413 a limit, 503 a model not here, 400 the request."""
    if isinstance(error, LimitError):
        return ApiError(413, str(error), code="request_too_large")
    if isinstance(error, ModelUnavailableError):
        return ApiError(503, str(error), code="model_unavailable")
    if isinstance(error, (StorageError, OSError)):
        problem = storage_status(error)
        return ApiError(problem.status_code, str(problem.detail), code="storage")
    if isinstance(error, ConfigError):
        return ApiError(500, str(error), code="configuration")
    return ApiError(400, str(error))


def validation_error(error: RequestValidationError) -> ApiError:
    """FastAPI's validation error as one sentence naming the parameter (400, as OpenAI answers)."""
    first = (error.errors() or [{}])[0]
    where = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header")]
    param = ".".join(where) or None
    reason = str(first.get("msg", "is not valid")).rstrip(".")
    shown = f"The parameter {param!r}" if param else "The request"
    return ApiError(400, f"{shown} is not valid ({reason}); see /v1/openapi.json for what it takes.", param=param)


class OpenAIRoute(APIRoute):
    """A route whose every failure is answered in OpenAI's error shape, never as a traceback."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()
        path = self.path

        async def guarded(request: Request) -> Response:
            try:
                check_body(request, path)
                return hold_place(request, await handler(request))
            except BaseException:
                run_after_answer(request)
                raise

        async def answered(request: Request) -> Response:
            try:
                return await guarded(request)
            except Busy as e:
                return error_response(429, str(e), code="too_many_requests",
                                      headers={"Retry-After": str(e.retry_after)})
            except ApiError as e:
                return e.response()
            except RequestValidationError as e:
                return validation_error(e).response()
            except StarletteHTTPException as e:  # FastAPI's too
                detail = NOT_JSON if e.detail == "There was an error parsing the body" else str(e.detail)
                return error_response(e.status_code, detail, headers=getattr(e, "headers", None))
            except ServiceBusy as e:  # a service of the cluster has no room: the client tries again
                return error_response(429, str(e), code="too_many_requests",
                                      headers={"Retry-After": str(e.retry_after)})
            except (PolychatError, OSError) as e:
                return polychat_error(e).response()
            except TurnCancelled:
                return error_response(499, "The request was stopped.")
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                return error_response(500, UNEXPECTED)

        return answered


AFTER = "polychat_after"  # what to do once the request is answered (request.state): give back its place, ...


def when_answered(request: Request, then: Callable[[], None]) -> None:
    """Run ``then`` once the request's answer is sent (the whole stream, for a streamed one), or it failed."""
    if not hasattr(request.state, AFTER):
        setattr(request.state, AFTER, [])
    getattr(request.state, AFTER).append(then)


def run_after_answer(request: Request) -> None:
    """Do what waits for the answer: now, as there is none (or it is sent)."""
    pending = getattr(request.state, AFTER, None) or []
    while pending:
        then = pending.pop()
        try:
            then()
        except Exception:
            log.exception("cleaning up after %s failed", request.url.path)


def hold_place(request: Request, response: Response) -> Response:
    """Keep what waits for the answer (the request's place, its folder) until the answer is sent."""
    if not getattr(request.state, AFTER, None) or not isinstance(response, StreamingResponse):
        run_after_answer(request)
        return response
    body = response.body_iterator

    async def streamed() -> AsyncIterator[Any]:
        try:
            async for piece in body:
                yield piece
        finally:
            run_after_answer(request)

    response.body_iterator = streamed()
    return response


def check_body(request: Request, path: str) -> None:
    """Refuse a body of the wrong type (415) or, from its length, too big for the limits (413)."""
    if request.method != "POST" or path.endswith(FALLBACK_PATH):
        return
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if path in MULTIPART_PATHS and kind != "multipart/form-data":
        raise ApiError(415, "Send the audio as multipart/form-data with the recording in the field 'file'.")
    if path in MULTIPART_PATHS and "boundary=" not in request.headers.get("content-type", ""):
        raise ApiError(400, "The multipart/form-data body names no boundary; let the HTTP client build the form.")
    if path not in MULTIPART_PATHS and kind != "application/json":
        raise ApiError(415, "Send the request as JSON (Content-Type: application/json).")
    settings: Settings = request.app.state.polychat_settings if hasattr(request.app.state, "polychat_settings") \
        else None
    length = request.headers.get("content-length", "")
    if settings is None or not length.isdigit():
        return
    limit = int(settings.max_turn_upload_mb * MB * 4 / 3) + settings.max_message_chars * 4 + BODY_SLACK_BYTES
    if int(length) > limit:
        raise ApiError(413, f"The request is {int(length) / MB:.1f} MB; the limit is {limit / MB:.1f} MB "
                            "(send smaller files, or set POLYCHAT_MAX_TURN_UPLOAD_MB to raise it).",
                       code="request_too_large")


class OpenAIApi:
    """The ``/v1`` routes' state: the ``/api`` state they share, the keys and the link signer."""

    def __init__(self, turns: TurnApi) -> None:
        self.turns = turns
        self.settings = turns.settings
        self.keys = Keys(self.settings)
        self.signer = UrlSigner(self.settings.data_dir / "api")
        self.admission = Admission(self.settings.api_max_waiting)

    def owner(self, request: Request) -> str:
        owner, problem = self.keys.owner(request.headers.get("authorization"),
                                         request.client.host if request.client else None)
        if owner is None:
            raise ApiError(401, problem, code="invalid_api_key")
        return owner

    @property
    def models(self) -> Any:
        models = self.turns.assistant.models
        return models.bound(self.settings) if hasattr(models, "bound") else models

    def new_session(self, owner: str) -> Any:
        return self.turns.open_session(owner, None)

    def one_shot(self, request: Request, owner: str) -> Any:
        """A conversation for one request whose answer holds all it made: removed once it is answered."""
        session = self.new_session(owner)
        when_answered(request, lambda: shutil.rmtree(session.folder, ignore_errors=True))
        return session

    def context(self, session: Any, cancel: threading.Event) -> Any:
        """A tool context over a conversation's artifacts, stopped by ``cancel``."""
        from tools.base import ToolContext

        return ToolContext(self.settings, self.models, session.artifacts, turn=session.new_turn_number(), step=1,
                           cancel=cancel)

    def artifact_url(self, request: Request, owner: str, session_id: str, artifact_id: str) -> str:
        """The absolute, signed URL of an artifact (it works without a key)."""
        signature = self.signer.sign(owner, session_id, artifact_id)
        base = str(request.base_url).rstrip("/")
        return f"{base}{V1}/artifacts/{owner}/{session_id}/{artifact_id}?signature={signature}"

    async def read_upload(self, session: Any, upload: UploadFile, kind: str) -> Any:
        """An uploaded file, checked against the limits, as an artifact of ``session``."""
        from agent.limits import check_upload_sizes
        from agent.web.api import upload_size

        check_upload_sizes([upload_size(upload)], self.settings)
        data = await upload.read(self.settings.upload_limit_bytes + 1)
        return session.attach(data, name=upload.filename or None, kind=kind)


async def until_done(request: Request, work: Callable[[], Any], cancel: threading.Event) -> Any:
    """Run ``work`` in a worker thread; a client that goes away sets ``cancel`` (the work stops)."""
    job = asyncio.ensure_future(asyncio.to_thread(work))
    while True:
        done, _ = await asyncio.wait({job}, timeout=DISCONNECT_POLL_SECONDS)
        if done:
            return job.result()
        if await request.is_disconnected():
            cancel.set()
            with contextlib.suppress(BaseException):
                await job
            raise TurnCancelled()


_FINISHED = object()


async def thread_stream(work: Callable[[Callable[[Any], None]], None], cancel: threading.Event) -> AsyncIterator[Any]:
    """What ``work(emit)`` emits from a worker thread, as it comes; leaving early sets ``cancel``."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def emit(item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody listens
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def run() -> None:
        try:
            work(emit)
        except BaseException as e:  # noqa: BLE001 - handed to the reader
            emit(e)
        finally:
            emit(_FINISHED)

    threading.Thread(target=run, name="polychat-v1", daemon=True).start()
    try:
        while True:
            item = await queue.get()
            if item is _FINISHED:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        cancel.set()


async def streamed_transcript(request: Request, context: Any, work: Callable[[], Any],
                              cancel: threading.Event) -> Response:
    """A transcript as OpenAI's server-sent events: a delta as each segment is decoded, then ``done``.

    Whatever fails before the first segment (a corrupt file, no speech) is answered with its
    status; after it, as an ``error`` event (the status line is gone).
    """
    def run(emit: Callable[[Any], None]) -> None:
        context.on_text = emit
        emit(work())

    events = thread_stream(run, cancel)
    waiting = asyncio.ensure_future(anext(events))
    while not (await asyncio.wait({waiting}, timeout=DISCONNECT_POLL_SECONDS))[0]:
        if await request.is_disconnected():
            cancel.set()
            with contextlib.suppress(BaseException):
                await waiting
            raise TurnCancelled()
    first = waiting.result()

    async def body() -> AsyncIterator[str]:
        sent = heard = ""
        item = first
        try:
            while True:
                if isinstance(item, str):  # a segment's words: the delta is what the stripped text gained
                    heard += item
                    delta = heard.strip()[len(sent):]
                    if delta:
                        sent += delta
                        yield server_sent_event(*shapes.transcript_delta(delta))
                else:  # the tool's result
                    text = item.data.get("text", "")
                    rest = text[len(sent):] if text.startswith(sent) else ""
                    if rest:
                        yield server_sent_event(*shapes.transcript_delta(rest))
                    yield server_sent_event(*shapes.transcript_done(text))
                item = await anext(events)
        except StopAsyncIteration:
            return
        except Exception as e:  # noqa: BLE001 - said in the stream
            message = polychat_error(e).message if isinstance(e, (PolychatError, OSError)) else UNEXPECTED
            if not isinstance(e, (PolychatError, OSError)):
                log.exception("a streamed transcript failed")
            yield server_sent_event("error", shapes.error_body(500, message))
        finally:
            await events.aclose()  # a client gone mid-stream stops the decoding

    return StreamingResponse(body(), media_type=SSE_MEDIA_TYPE, headers=STREAM_HEADERS)


def build_openai_router(api: OpenAIApi) -> APIRouter:
    """The ``/v1`` routes over one ``OpenAIApi``."""
    from agent.web.openai_chat import chat_completion

    router = APIRouter(prefix=V1, route_class=OpenAIRoute, responses=shapes.ERROR_RESPONSES)

    def signed_in(request: Request) -> str:
        return api.owner(request)

    def admitted(request: Request) -> str:
        """The caller, given a place among its requests in progress (429 when it has too many)."""
        owner = api.owner(request)
        when_answered(request, api.admission.enter(owner).release)
        return owner

    Owner = Annotated[str, Depends(signed_in)]
    AtTheModels = Annotated[str, Depends(admitted)]  # a request that runs a model

    @router.get("/models", response_model=shapes.ModelList)
    def models(owner: Owner) -> dict[str, Any]:
        from agent.models.catalog import describe_all

        cards = [{"id": shapes.AGENT_MODEL, "object": "model", "created": 0, "owned_by": "polychat"}]
        seen = {shapes.AGENT_MODEL}
        for choice in describe_all(api.settings):
            if choice.slot in TOOL_NAMES and choice.source not in seen:
                seen.add(choice.source)
                cards.append({"id": choice.source, "object": "model", "created": 0, "owned_by": "polychat",
                              "tool": choice.slot, "backend": choice.backend, "present": choice.present})
        return {"object": "list", "data": cards}

    async def speech_to_text(
        request: Request, owner: str, tool_name: str, file: UploadFile, language: str | None, prompt: str | None,
        response_format: str, granularities: list[str] | None, stream: bool,
    ) -> Response:
        from agent.cluster import tool_for

        words = "word" in (granularities or [])
        session = api.one_shot(request, owner)
        audio = await api.read_upload(session, file, "audio")
        cancel = threading.Event()
        tool = tool_for(tool_name, api.context(session, cancel))
        timestamps = words or response_format in ("srt", "vtt", "verbose_json")

        def work() -> Any:
            return tool.execute(audio=audio.id, language=language or None, timestamps=timestamps, prompt=prompt)

        if stream:
            return await streamed_transcript(request, tool.context, work, cancel)
        result = await until_done(request, work, cancel)
        body, media_type = shapes.transcript_body(result.data, response_format, words=words)
        return Response(body, media_type=media_type)

    Format = Literal["json", "text", "srt", "vtt", "verbose_json"]

    @router.post("/audio/transcriptions", response_model=shapes.TranscriptionVerbose | shapes.Transcription | str)
    async def transcriptions(
        request: Request,
        owner: AtTheModels,
        file: Annotated[UploadFile, File(description="The recording (WAV, MP3, M4A, OGG, WEBM or FLAC).")],
        model: Annotated[str, Form()] = "whisper-1",
        language: Annotated[str | None, Form()] = None,
        prompt: Annotated[str | None, Form()] = None,
        temperature: Annotated[float, Form(ge=0, le=1)] = 0.0,
        response_format: Annotated[Format, Form()] = "json",
        timestamp_granularities: Annotated[list[Literal["word", "segment"]] | None,
                                           Form(alias="timestamp_granularities[]")] = None,
        stream: Annotated[bool, Form()] = False,
    ) -> Response:
        return await speech_to_text(request, owner, "transcribe_audio", file, language, prompt, response_format,
                                    timestamp_granularities, stream)

    @router.post("/audio/translations", response_model=shapes.TranscriptionVerbose | shapes.Transcription | str)
    async def translations(
        request: Request,
        owner: AtTheModels,
        file: Annotated[UploadFile, File(description="The recording, in any language Whisper knows.")],
        model: Annotated[str, Form()] = "whisper-1",
        prompt: Annotated[str | None, Form()] = None,
        temperature: Annotated[float, Form(ge=0, le=1)] = 0.0,
        response_format: Annotated[Format, Form()] = "json",
    ) -> Response:
        return await speech_to_text(request, owner, "translate_speech", file, None, prompt, response_format,
                                    None, False)

    @router.post("/audio/speech", response_class=Response,
                 responses={200: {"content": {t: {} for t in ("audio/mpeg", "audio/wav", "audio/ogg",
                                                             "audio/flac", "audio/aac", "audio/pcm")}}})
    async def speech(request: Request, owner: AtTheModels, body: shapes.SpeechRequest) -> Response:
        from agent.web.openai_audio import AudioEncoder
        from tools.speak import SpeakTextTool, list_voices, synthesize_sentences

        session = api.one_shot(request, owner)
        cancel = threading.Event()
        context = api.context(session, cancel)
        text = SpeakTextTool(context=context).check_text(body.input, "input")
        known = [v.name for v in await asyncio.to_thread(list_voices, context)]
        voice = shapes.polychat_voice(body.voice, known)
        encoder = AudioEncoder(body.response_format, body.speed)

        def work(emit: Callable[[Any], None]) -> None:
            with contextlib.closing(synthesize_sentences(context, text, voice)) as sentences:
                for samples, rate in sentences:
                    if cancel.is_set():
                        return
                    emit(encoder.add(samples, rate))
            emit(encoder.close())

        pieces = thread_stream(work, cancel)
        try:
            first = await anext(pieces)  # a voice or model that is not there is an error, not a body
        except StopAsyncIteration:
            first = b""

        async def body_bytes() -> AsyncIterator[bytes]:
            yield first
            async for piece in pieces:
                yield piece

        return StreamingResponse(body_bytes(), media_type=encoder.media_type)

    @router.post("/images/generations", response_model=shapes.ImagesResponse)
    async def images(request: Request, owner: AtTheModels, body: shapes.ImageRequest) -> dict[str, Any]:
        from agent.cluster import tool_for

        width, height = image_size(body.size)
        # pictures sent as base64 are the whole answer; those sent as links stay for the links
        session = api.one_shot(request, owner) if body.response_format == "b64_json" else api.new_session(owner)
        cancel = threading.Event()
        tool = tool_for("generate_image", api.context(session, cancel))
        made = []
        for index in range(body.n):
            seed = body.seed + index if body.seed is not None else None
            args = {"prompt": body.prompt, "negative_prompt": body.negative_prompt, "steps": body.steps,
                    "seed": seed, **({"width": width, "height": height} if width else {})}
            result = await until_done(request, lambda args=args: tool.execute(**args), cancel)
            if not result.artifacts:  # withheld by the safety checker
                raise ApiError(400, result.text, code="content_policy_violation")
            image = result.artifacts[0]
            entry: dict[str, Any] = {"revised_prompt": None, "seed": result.data["seed"]}
            if body.response_format == "b64_json":
                entry["b64_json"] = base64.b64encode(image.path.read_bytes()).decode("ascii")
            else:
                entry["url"] = api.artifact_url(request, owner, session.id, image.id)
            made.append(entry)
        return {"created": int(time.time()), "data": made}

    @router.post("/chat/completions", response_model=shapes.ChatCompletion,
                 responses={200: {"content": {SSE_MEDIA_TYPE: {}}}})
    async def chat(request: Request, owner: AtTheModels, body: shapes.ChatRequest) -> Any:
        return await chat_completion(api, request, owner, body)

    @router.get("/artifacts/{owner}/{session_id}/{artifact_id}", response_class=FileResponse,
                responses={200: {"content": {"image/png": {}, "audio/wav": {}}}})
    def artifact(request: Request, owner: str, session_id: str, artifact_id: str,
                 signature: str | None = None) -> FileResponse:
        if not api.signer.valid(signature, owner, session_id, artifact_id) and api.owner(request) != owner:
            raise ApiError(404, f"There is no artifact {artifact_id[:70]!r} of yours in {session_id[:70]!r}.")
        found = find_artifact(api, owner, session_id, artifact_id)
        return FileResponse(found.path, media_type=found.mime)

    return router


def find_artifact(api: OpenAIApi, owner: str, session_id: str, artifact_id: str) -> Any:
    """An owner's artifact; 404 when there is none."""
    from agent.turn.session import is_session_id

    if not (is_session_id(owner) and is_session_id(session_id)):
        raise ApiError(404, f"There is no artifact {artifact_id[:70]!r} of yours in {session_id[:70]!r}.")
    try:
        session = api.turns.open_session(owner, session_id)
        return session.artifacts.get(artifact_id)
    except HTTPException as e:
        raise ApiError(404, str(e.detail)) from e
    except PolychatError as e:
        raise ApiError(404, str(e)) from e


def image_size(size: str | None) -> tuple[int | None, int | None]:
    """``WIDTHxHEIGHT`` as numbers; (None, None) for the tool's default ("auto" or none)."""
    if size is None or size.strip().lower() in ("", "auto"):
        return None, None
    width, _, height = size.strip().lower().partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise ApiError(400, f"The size {size[:40]!r} is not WIDTHxHEIGHT; give it as e.g. 512x512.", param="size")
    return int(width), int(height)


def openapi_document(routes: list[Any]) -> dict[str, Any]:
    return get_openapi(
        title="polychat (OpenAI-compatible)",
        version=__version__,
        description="polychat's tools and agent, spoken in OpenAI's HTTP API.",
        routes=[r for r in routes if getattr(r, "include_in_schema", False)],
    )


def add_openapi_and_fallback(router: APIRouter) -> None:
    """``/v1/openapi.json`` (what the router serves), then a 404/405 in OpenAI's shape for the rest."""
    served = list(router.routes)
    document: dict[str, Any] = {}

    @router.get("/openapi.json", include_in_schema=False)
    def openapi() -> dict[str, Any]:
        if not document:
            document.update(openapi_document(served))
        return document

    @router.api_route(FALLBACK_PATH, methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def nothing_here(request: Request, rest: str) -> Response:
        path = request.url.path
        allowed = sorted({method for route in served if isinstance(route, APIRoute) and route.path_regex.match(path)
                          for method in route.methods})
        if allowed:
            return error_response(405, f"{path} does not answer {request.method}; send {' or '.join(allowed)}.",
                                  headers={"Allow": ", ".join(allowed)})
        return error_response(404, f"There is no {path}; see /v1/openapi.json for what is served.")


def openai_router(turns: TurnApi) -> APIRouter:
    router = build_openai_router(OpenAIApi(turns))
    add_openapi_and_fallback(router)
    return router


def mount_openai_api(app: FastAPI, turns: TurnApi) -> None:
    """Add the ``/v1`` routes to an app, ahead of any catch-all route (once)."""
    existing = {getattr(route, "path", "") for route in app.router.routes}
    if f"{V1}/chat/completions" in existing:
        return
    app.state.polychat_settings = turns.settings
    for route in reversed(openai_router(turns).routes):
        app.router.routes.insert(0, route)


def create_app(settings: Settings, host: str = "127.0.0.1") -> FastAPI:
    """The app of ``polychat api``: the ``/v1`` routes alone."""
    from agent.web.hosts import guard_without_login
    from agent.web.openai_auth import api_keys

    app = FastAPI(title="polychat", docs_url=None, redoc_url=None, openapi_url=None)
    mount_openai_api(app, TurnApi(settings))
    if not api_keys(settings):  # open to this machine: other web sites' pages may not drive it
        guard_without_login(app, settings.allowed_hosts, host)
    return app
