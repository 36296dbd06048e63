"""The bodies OpenAI's HTTP API answers with, built from polychat's own results.

Pure functions and pydantic models, no routes: errors in OpenAI's shape, transcripts
in each ``response_format`` (json, text, srt, vtt, verbose_json), chat completions and
their streamed chunks, and the OpenAI voice names mapped to polychat's voices. The
models also describe the requests and answers in ``/v1/openapi.json``.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.languages import language_name
from tools.imagine import MAX_STEPS
from tools.transcribe import segments_to_srt, subtitle_time

AGENT_MODEL = "polychat"  # the model id of the agent itself in /v1/models and chat completions
TRANSCRIPT_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "model_unavailable",
    507: "server_error",
}

# OpenAI's voices, each mapped to the SpeechT5 voice nearest in kind (a backend without
# that voice, such as Piper, speaks in its default voice instead).
OPENAI_VOICES: dict[str, str] = {
    "alloy": "slt", "ash": "bdl", "ballad": "awb", "coral": "clb", "echo": "rms", "fable": "awb",
    "nova": "clb", "onyx": "bdl", "sage": "slt", "shimmer": "clb", "verse": "jmk", "marin": "slt",
    "cedar": "rms",
}


# --------------------------------------------------------------------------- errors


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    """Every error the ``/v1`` routes answer: ``{"error": {"message", "type", "param", "code"}}``."""

    error: ErrorDetail


def error_body(status: int, message: str, *, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """An error in OpenAI's shape; ``message`` is polychat's one sentence."""
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": kind}
    for status, kind in ERROR_TYPES.items() if status not in (403, 507)
}


# --------------------------------------------------------------------------- models


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "polychat"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# --------------------------------------------------------------------------- transcripts


class Transcription(BaseModel):
    text: str


class TranscriptionVerbose(BaseModel):
    model_config = ConfigDict(extra="allow")
    task: str
    language: str
    duration: float
    text: str
    segments: list[dict[str, Any]] = Field(default_factory=list)
    words: list[dict[str, Any]] | None = None


def segments_to_vtt(segments: list[dict[str, Any]]) -> str:
    """Timestamped segments as a WebVTT document."""
    cues = ["WEBVTT\n"]
    for segment in segments:
        text = str(segment["text"]).strip()
        if text:
            start, end = float(segment["start"]), float(segment["end"])
            cues.append(f"{subtitle_time(start, '.')} --> {subtitle_time(max(start, end), '.')}\n{text}\n")
    return "\n".join(cues)


def verbose_transcript(data: dict[str, Any], *, words: bool) -> dict[str, Any]:
    """A transcribe/translate tool's data as OpenAI's ``verbose_json``."""
    task = "translate" if data.get("task") == "translate" else "transcribe"
    body: dict[str, Any] = {
        "task": task,
        "language": (language_name(data.get("language") or "en") or data.get("language") or "").lower(),
        "duration": float(data.get("duration") or 0.0),
        "text": data.get("text", ""),
        "segments": [
            {"id": index, "seek": 0, "start": s["start"], "end": s["end"], "text": s["text"], "tokens": [],
             "temperature": 0.0}
            for index, s in enumerate(data.get("segments") or [])
        ],
    }
    if words:
        body["words"] = [{"word": w["word"], "start": w["start"], "end": w["end"]} for w in data.get("words") or []]
    return body


def transcript_body(data: dict[str, Any], response_format: str, *, words: bool = False) -> tuple[str, str]:
    """The transcript in ``response_format``: (the body, its media type)."""
    if response_format == "text":
        return data.get("text", "") + "\n", "text/plain; charset=utf-8"
    if response_format == "srt":
        return segments_to_srt(data.get("segments") or []), "text/plain; charset=utf-8"
    if response_format == "vtt":
        return segments_to_vtt(data.get("segments") or []), "text/vtt; charset=utf-8"
    if response_format == "verbose_json":
        return json.dumps(verbose_transcript(data, words=words), ensure_ascii=False), "application/json"
    return json.dumps({"text": data.get("text", "")}, ensure_ascii=False), "application/json"


def transcript_delta(delta: str) -> tuple[str, dict[str, Any]]:
    """One streamed piece of a transcript (OpenAI's ``transcript.text.delta`` event)."""
    return "transcript.text.delta", {"type": "transcript.text.delta", "delta": delta}


def transcript_done(text: str) -> tuple[str, dict[str, Any]]:
    """The end of a streamed transcript, with its whole text (``transcript.text.done``)."""
    return "transcript.text.done", {"type": "transcript.text.done", "text": text}


# --------------------------------------------------------------------------- speech


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    input: str = Field(description="The words to say.")
    model: str = "speak_text"
    voice: str | None = Field(default=None, description="A polychat voice, or an OpenAI voice name (mapped).")
    response_format: Literal["wav", "mp3", "opus", "flac", "pcm", "aac"] = "mp3"
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    instructions: str | None = None


def polychat_voice(voice: str | None, known: list[str]) -> str | None:
    """The polychat voice for a requested name: ours as given, OpenAI's mapped, else the default (None)."""
    if not voice or not voice.strip():
        return None
    name = voice.strip().lower()
    if name in (v.lower() for v in known):
        return voice.strip()
    mapped = OPENAI_VOICES.get(name)
    if mapped is not None:
        return mapped if mapped in known else None
    return voice.strip()  # not ours, not OpenAI's: the speak tool's sentence lists the voices


# --------------------------------------------------------------------------- images


class ImageRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    prompt: str
    model: str = "generate_image"
    n: int = Field(default=1, ge=1, le=4)
    size: str | None = Field(default=None, description="WIDTHxHEIGHT in pixels, multiples of 8, e.g. 512x512.")
    response_format: Literal["url", "b64_json"] = "url"
    seed: int | None = Field(default=None, description="polychat extension: the same seed makes the same picture.")
    negative_prompt: str | None = None
    steps: int | None = Field(default=None, ge=1, le=MAX_STEPS)  # what generate_image takes


class ImageData(BaseModel):
    model_config = ConfigDict(extra="allow")
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None


class ImagesResponse(BaseModel):
    created: int
    data: list[ImageData]


# --------------------------------------------------------------------------- chat


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class AudioOptions(BaseModel):
    voice: str | None = None
    format: Literal["wav", "mp3", "opus", "flac", "pcm16", "aac"] = "wav"


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = AGENT_MODEL
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    modalities: list[Literal["text", "audio"]] | None = None
    audio: AudioOptions | None = None
    n: int = Field(default=1, ge=1, le=1)
    user: str | None = None
    tools: list[dict[str, Any]] | None = Field(
        default=None, description="Functions the client runs itself; the chat model may call them.")


class ChatCompletion(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, int] | None = None


def tool_calls(calls: list[dict[str, Any]], *, indexed: bool = False) -> list[dict[str, Any]]:
    """The chat model's calls of the client's tools as OpenAI's ``tool_calls`` (with ``index`` in chunks)."""
    shaped = []
    for index, call in enumerate(calls):
        entry = {"id": call["id"], "type": "function",
                 "function": {"name": call["name"], "arguments": json.dumps(call["args"], ensure_ascii=False)}}
        shaped.append({"index": index, **entry} if indexed else entry)
    return shaped


def completion(
    completion_id: str, model: str, content: str, *, audio: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None, calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A whole chat completion answering with ``content`` (and spoken ``audio``, or ``calls`` for the client)."""
    message: dict[str, Any] = {"role": "assistant", "content": content or (None if calls else ""), "refusal": None}
    if audio is not None:
        message["audio"] = audio
    if calls:
        message["tool_calls"] = tool_calls(calls)
    body = {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop",
                     "logprobs": None}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }
    if extra:
        body["polychat"] = extra
    return body


def chunk(completion_id: str, model: str, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    """One ``chat.completion.chunk`` of a streamed answer."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }


def data_event(body: dict[str, Any] | str) -> str:
    """One server-sent event carrying only ``data:`` (how OpenAI streams chat completions)."""
    data = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return f"data: {data}\n\n"
