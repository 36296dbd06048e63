"""``POST /v1/chat/completions``: one turn of the agent on the conversation the messages describe.

The messages become a conversation of polychat's own: each earlier user message and
the assistant's answer to it a turn of its history, the media in them (``image_url``
parts as ``data:`` URLs or links to this server's artifacts, ``input_audio`` parts,
and the images the assistant's answers link to) artifacts of the turns they came in.
The last user message is then answered as the browser and the terminal answer a
message: the same router, tools and chat model, the same turn stream. Images made are
markdown links to their absolute URLs; ``modalities: ["text", "audio"]`` makes the
answer spoken too, as ``message.audio``.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import Request
from fastapi.responses import StreamingResponse

from agent.web import openai_shapes as shapes

if TYPE_CHECKING:
    from agent.web.openai_api import OpenAIApi

ARTIFACT_PATH = re.compile(r"^/v1/artifacts/([A-Za-z0-9_-]+)/([A-Za-z0-9_-]+)/((?:image|audio)-[0-9]+)$")
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\((https?://[^)\s]+)\)")
DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[\w=.+-]+)*?;base64,(.*)$", re.DOTALL)
FOREIGN_URL = (
    "Only data: URLs and links to this server's own images can be sent as image_url; "
    "put the image into the message as a data: URL (base64)."
)
NOT_BASE64 = "The {what} is not valid base64; encode the file's bytes with base64."
LAST_NOT_USER = ("The last message must be the user's (role 'user'), or the results of the tools called after it "
                 "(role 'tool'); add the message to answer.")
NO_TOOL_CALLING = (
    "The chat model here cannot call tools; set POLYCHAT_CHAT_MODEL to one that can (such as "
    "Qwen/Qwen2.5-0.5B-Instruct) or POLYCHAT_CHAT_URL to an Ollama or OpenAI-compatible server, "
    "or send the request without tools."
)
NOTHING_SENT = "The last message has no text, image or audio; send some."


@dataclass
class Media:
    data: bytes
    kind: str  # "image" or "audio"
    name: str | None = None
    generated: Any = None  # the artifact it was made as, for media the assistant's answers link to


@dataclass
class Said:
    """One message's words and media."""

    text: str = ""
    media: list[Media] = field(default_factory=list)


def _decode_base64(data: str, what: str) -> bytes:
    from agent.web.openai_api import ApiError

    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ApiError(400, NOT_BASE64.format(what=what)) from e


class Reader:
    """Reads the messages' parts into words and media; links only to this server's artifacts."""

    def __init__(self, api: OpenAIApi, request: Request, owner: str) -> None:
        self.api, self.request, self.owner = api, request, owner

    def own_artifact(self, url: str) -> Any:
        """The artifact a link points at, when it is this server's and the caller's; else None."""
        parts = urlsplit(url)
        found = ARTIFACT_PATH.match(parts.path)
        if parts.scheme not in ("http", "https") or found is None or parts.netloc != self.request.url.netloc:
            return None
        owner, session_id, artifact_id = found.groups()
        signature = (parse_qs(parts.query).get("signature") or [None])[0]
        if owner != self.owner and not self.api.signer.valid(signature, owner, session_id, artifact_id):
            return None
        from agent.web.openai_api import find_artifact

        return find_artifact(self.api, owner, session_id, artifact_id)

    def image_url(self, url: str) -> Media:
        from agent.web.openai_api import ApiError

        found = DATA_URL.match(url.strip())
        if found:
            return Media(_decode_base64(found.group(3), "image's data: URL"), "image")
        artifact = self.own_artifact(url)
        if artifact is None:
            raise ApiError(400, FOREIGN_URL, param="messages")
        return Media(artifact.path.read_bytes(), artifact.kind, artifact.id)

    def part(self, part: Any, said: Said) -> None:
        from agent.web.openai_api import ApiError

        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            said.text = f"{said.text}\n{part.get('text') or ''}".strip()
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise ApiError(400, "An image_url part needs a url; send {'url': 'data:image/png;base64,...'}.")
            said.media.append(self.image_url(url))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            data = audio.get("data") if isinstance(audio, dict) else None
            if not isinstance(data, str):
                raise ApiError(400, "An input_audio part needs data: the recording's bytes in base64.")
            said.media.append(Media(_decode_base64(data, "input_audio data"), "audio"))
        else:
            raise ApiError(400, f"A message part of type {str(kind)[:40]!r} is not understood; send text, "
                                "image_url or input_audio parts.", param="messages")

    def message(self, message: shapes.ChatMessage) -> Said:
        said = Said()
        content = message.content
        if isinstance(content, str):
            said.text = content
        for part in content if isinstance(content, list) else []:
            self.part(part, said)
        if message.role == "assistant":  # the images its answer links to: "the picture you made"
            for url in MARKDOWN_LINK.findall(said.text):
                artifact = self.own_artifact(url)
                if artifact is not None:
                    said.media.append(Media(artifact.path.read_bytes(), artifact.kind, artifact.id, artifact))
            said.text = MARKDOWN_LINK.sub("", said.text).strip()
        return said


def _words(content: Any) -> str:
    """A message's text, whether a string or a list of text parts."""
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return "\n".join(str(p.get("text") or "") for p in parts if isinstance(p, dict) and p.get("type") == "text")


def tool_follow_up(messages: list[shapes.ChatMessage]) -> list[Any]:
    """The messages after the last user message, the chat model's calls and the client's results,
    as LangChain messages; empty when there are none.

    Raises:
        ApiError: anything else comes after the last user message.
    """
    import json

    from langchain_core.messages import AIMessage, ToolMessage

    from agent.web.openai_api import ApiError

    follow_up: list[Any] = []
    for message in messages:
        extra = message.model_extra or {}
        if message.role == "assistant" and extra.get("tool_calls"):
            calls = []
            for call in extra["tool_calls"]:
                function = call.get("function") if isinstance(call, dict) else None
                if not isinstance(function, dict) or not isinstance(call.get("id"), str):
                    raise ApiError(400, "Each of an assistant message's tool_calls needs an id and a function with "
                                        "a name and arguments; send them back as they came.", param="messages")
                try:
                    args = json.loads(function.get("arguments") or "{}")
                except (TypeError, json.JSONDecodeError) as e:
                    raise ApiError(400, "A tool call's arguments are not JSON; send them back as they came.",
                                   param="messages") from e
                calls.append({"name": str(function.get("name")), "args": args if isinstance(args, dict) else {},
                              "id": call["id"], "type": "tool_call"})
            follow_up.append(AIMessage(content=_words(message.content), tool_calls=calls))
        elif message.role == "tool" and isinstance(extra.get("tool_call_id"), str):
            follow_up.append(ToolMessage(content=_words(message.content), tool_call_id=extra["tool_call_id"]))
        elif message.role not in ("system", "developer"):
            raise ApiError(400, LAST_NOT_USER, param="messages")
    if follow_up and not isinstance(follow_up[-1], ToolMessage):
        raise ApiError(400, LAST_NOT_USER, param="messages")
    return follow_up


def conversation(api: OpenAIApi, request: Request, owner: str,
                 body: shapes.ChatRequest) -> tuple[Any, str, list[Any], list[Any]]:
    """A new conversation holding the earlier messages as its history: (it, the words, the attachments,
    the tool calls and results that follow the last user message)."""
    from agent.limits import check_message, check_upload_sizes, uploaded_bytes
    from agent.turn.session import TurnRecord
    from agent.web.openai_api import ApiError

    reader = Reader(api, request, owner)
    last_user = max((i for i, m in enumerate(body.messages) if m.role == "user"), default=None)
    if last_user is None:
        raise ApiError(400, LAST_NOT_USER, param="messages")
    follow_up = tool_follow_up(body.messages[last_user + 1:])
    messages = [m for m in body.messages[:last_user + 1] if m.role in ("user", "assistant")]
    last = reader.message(messages[-1])
    check_message(last.text, api.settings)
    if not last.text.strip() and not last.media:
        raise ApiError(400, NOTHING_SENT, param="messages")
    session = api.new_session(owner)
    asked: Said | None = None
    for message in messages[:-1]:
        said = reader.message(message)
        if message.role == "user":
            if asked is not None:
                _remember(session, asked, Said(), TurnRecord)
            asked = said
        else:
            _remember(session, asked or Said(), said, TurnRecord)
            asked = None
    if asked is not None:
        _remember(session, asked, Said(), TurnRecord)
    sizes = [len(m.data) for m in last.media]
    check_upload_sizes(sizes, api.settings, stored=uploaded_bytes(session.artifacts))
    attachments = [session.attach(m.data, name=m.name, kind=m.kind) for m in last.media]
    return session, last.text, attachments, follow_up


def _remember(session: Any, asked: Said, answered: Said, record_type: Any) -> None:
    """One earlier exchange as a turn of the conversation's history, its media as artifacts."""
    number = session.new_turn_number()
    sent = [session.attach(m.data, name=m.name, kind=m.kind).id for m in asked.media]
    made = []
    for media in answered.media:
        origin = media.generated
        made.append(session.artifacts.add_bytes(
            media.data, kind=media.kind, origin="generated", turn=number,
            step=getattr(origin, "step", None) or 1, tool=getattr(origin, "tool", None) or "generate_image").id)
    session.record(record_type(number=number, user_text=asked.text, attachments=sent, reply_text=answered.text,
                               artifacts=made))


def answer_text(api: OpenAIApi, request: Request, owner: str, session: Any, reply: Any) -> str:
    """The reply's words, then a markdown link to each image it made."""
    links = [f"![{a.id}]({api.artifact_url(request, owner, session.id, a.id)})" for a in reply.images]
    return "\n\n".join(part for part in (reply.text, *links) if part)


def spoken_answer(reply: Any, fmt: str) -> dict[str, Any] | None:
    """The reply's spoken audio as ``message.audio``: id, base64 data, when it expires, its words."""
    from agent.web.openai_audio import AudioEncoder

    if not reply.audio:
        return None
    audio = reply.audio[-1]
    if fmt == "wav":
        data = audio.path.read_bytes()
    else:
        from agent.media import decode_audio

        samples = decode_audio(audio.path)
        encoder = AudioEncoder(fmt)
        data = encoder.add(samples, 16_000) + encoder.close()
    spoken = [s.get("args", {}).get("text") for s in reply.plan if s.get("tool") == "speak_text"]
    transcript = next((t for t in reversed(spoken) if isinstance(t, str) and not t.startswith("$")), reply.text)
    return {"id": f"audio_{audio.id}", "data": base64.b64encode(data).decode("ascii"),
            "expires_at": int(time.time()) + 3600, "transcript": transcript}


def extension(api: OpenAIApi, request: Request, owner: str, session: Any, reply: Any) -> dict[str, Any]:
    """What polychat adds to a completion: its conversation, plan and artifacts."""
    return {
        "session": session.id,
        "plan": reply.plan,
        "transcript": reply.transcript or None,
        "artifacts": [{"id": a.id, "kind": a.kind, "url": api.artifact_url(request, owner, session.id, a.id)}
                      for a in reply.artifacts],
    }


async def client_tools(api: OpenAIApi, body: shapes.ChatRequest, follow_up: list[Any]) -> Any:
    """The client's tools and its runs of them (``ClientTools``), or None when it sent none.

    Raises:
        ApiError: it sent tools, but the chat model cannot call tools (400, saying how to get one that can).
    """
    import asyncio

    from agent.turn.chat import ClientTools, can_call_tools
    from agent.web.openai_api import ApiError

    tools = [t for t in body.tools or [] if isinstance(t, dict)]
    if not tools and not follow_up:
        return None
    for tool in tools:
        function = tool.get("function")
        if tool.get("type") != "function" or not isinstance(function, dict) or not function.get("name"):
            raise ApiError(400, "Each tool must be {'type': 'function', 'function': {'name': ..., 'parameters': "
                                "...}}; polychat calls only functions.", param="tools")
    model = await asyncio.to_thread(lambda: api.turns.assistant.chat_model)
    if not await asyncio.to_thread(can_call_tools, model):
        raise ApiError(400, NO_TOOL_CALLING, param="tools")
    return ClientTools(tools, follow_up)


async def chat_completion(api: OpenAIApi, request: Request, owner: str, body: shapes.ChatRequest) -> Any:
    """Answer a chat completion request: a completion, or its chunks as server-sent events."""
    from agent.turn.events import TextDelta, TurnDone
    from agent.web.api import upload_failure
    from agent.web.openai_api import STREAM_HEADERS, ApiError, until_done

    session, text, attachments, follow_up = conversation(api, request, owner, body)
    client = await client_tools(api, body, follow_up)
    voice = "audio" in (body.modalities or [])
    fmt = body.audio.format if body.audio is not None else "wav"
    completion_id = "chatcmpl-" + secrets.token_hex(12)
    cancel = threading.Event()
    assistant = api.turns.assistant

    if not body.stream:
        reply = await until_done(request, lambda: assistant.respond(session, text, attachments, voice=voice,
                                                                    cancel=cancel, client_tools=client), cancel)
        problem = upload_failure(reply)
        if problem:
            raise ApiError(422, problem)
        audio = spoken_answer(reply, fmt) if voice else None
        return shapes.completion(completion_id, body.model, answer_text(api, request, owner, session, reply),
                                 audio=audio, extra=extension(api, request, owner, session, reply),
                                 calls=reply.tool_calls)

    async def chunks() -> Any:
        sent = ""
        yield shapes.data_event(shapes.chunk(completion_id, body.model, {"role": "assistant", "content": ""}))
        try:
            async for event in assistant.astream(session, text, attachments, voice=voice, cancel=cancel,
                                                 client_tools=client):
                if isinstance(event, TextDelta):
                    sent += event.text
                    yield shapes.data_event(shapes.chunk(completion_id, body.model, {"content": event.text}))
                elif isinstance(event, TurnDone):
                    whole = answer_text(api, request, owner, session, event.reply)
                    rest = whole[len(sent):] if whole.startswith(sent) else ""
                    if rest:
                        yield shapes.data_event(shapes.chunk(completion_id, body.model, {"content": rest}))
                    audio = spoken_answer(event.reply, fmt) if voice else None
                    if audio is not None:
                        yield shapes.data_event(shapes.chunk(completion_id, body.model, {"audio": audio}))
                    calls = event.reply.tool_calls
                    if calls:
                        yield shapes.data_event(shapes.chunk(completion_id, body.model,
                                                             {"tool_calls": shapes.tool_calls(calls, indexed=True)}))
                    last = shapes.chunk(completion_id, body.model, {}, "tool_calls" if calls else "stop")
                    last["polychat"] = extension(api, request, owner, session, event.reply)
                    yield shapes.data_event(last)
        except Exception as e:  # noqa: BLE001 - said in the stream: its status line is gone
            from agent.web.openai_api import UNEXPECTED, polychat_error

            from agent.errors import PolychatError

            message = str(polychat_error(e)) if isinstance(e, (PolychatError, OSError)) else UNEXPECTED
            yield shapes.data_event(shapes.error_body(500, message))
        yield shapes.data_event("[DONE]")

    return StreamingResponse(chunks(), media_type="text/event-stream", headers=STREAM_HEADERS)
