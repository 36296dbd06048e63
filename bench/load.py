"""Many conversations at once over the HTTP API, each a few mixed turns, every answer checked.

The driver of the benchmark's ``load`` section and of the load and fault tests. Each
conversation runs in its own thread with its own HTTP client, one turn after another,
all conversations at once. A turn is one of four kinds:

- ``chat``: plain conversation ("hello, how are you?"): the chat model answers, no tool;
- ``describe``: a small generated PNG is uploaded with "describe it": ``caption_image``
  on that upload, whose bytes the server gives back intact;
- ``draw``: "draw a red kite": ``generate_image`` makes an image that can be fetched and
  decoded;
- ``follow-up``: a question about the picture just made or sent ("what is in the
  picture?", "what colour is the kite?"): a captioning or question tool on that image.

Every answer is checked (HTTP 200, the tool the kind calls for, every step ok, artifacts
fetchable and decodable); what is wrong becomes the turn's ``problem``, a sentence.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from PIL import Image

from bench.measure import percentile

KINDS = ("chat", "describe", "draw", "follow-up")
ORDERS = (
    ("chat", "describe", "draw", "follow-up", "chat"),
    ("draw", "follow-up", "describe", "chat", "chat"),
)
"""The turns of a conversation, by its parity: neighbours do different work at the same time."""
CHAT_TEXTS = ("hello, how are you?", "thanks! tell me something nice about kites.")
DRAW_TEXT = "draw a red kite"
DESCRIBE_TEXT = "describe it"
FOLLOW_UPS = (("what is in the picture?", "caption_image"), ("what colour is the kite?", "answer_image_question"))
TURN_TIMEOUT = 600.0  # seconds one request may take before it counts as failed (a guard, not a measure)
IMAGE_TOOLS = ("caption_image", "answer_image_question")


def conversation_kinds(index: int, turns: int) -> list[str]:
    """The kinds of turn conversation ``index`` makes, in order (a follow-up always after a draw)."""
    order = ORDERS[index % len(ORDERS)]
    return [order[n % len(order)] for n in range(turns)]


def sample_png(index: int, turn: int) -> bytes:
    """A small picture, different for every conversation and turn."""
    buffer = io.BytesIO()
    colour = ((index * 37 + turn * 11) % 256, (90 + index * 13) % 256, (200 - turn * 17) % 256)
    image = Image.new("RGB", (48 + index, 32 + turn), colour)
    for x in range(0, image.width, 6):
        image.putpixel((x, image.height // 2), (255, 255, 255))
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class TurnResult:
    """One turn as the client saw it.

    Attributes:
        conversation: which conversation (0-based).
        number: its place in that conversation (1-based).
        kind: ``chat``, ``describe``, ``draw`` or ``follow-up``.
        text: what was said.
        seconds: from sending the request to the whole answer (and its checks' fetches excluded).
        status: the HTTP status (0 when no answer came).
        session: the conversation's id as the server named it.
        tools: the tools of the answer's plan, in order.
        artifacts: the ids of the artifacts the answer made.
        problem: what was wrong with the answer, as a sentence; None when it was right.
    """

    conversation: int
    number: int
    kind: str
    text: str
    seconds: float = 0.0
    status: int = 0
    session: str | None = None
    tools: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    problem: str | None = None


@dataclass
class LoadResult:
    """What a load run did: every turn, and how long the whole run took.

    Attributes:
        conversations: how many ran at once.
        turns_each: turns per conversation.
        turns: every turn, in the order they finished.
        seconds: from the first request to the last answer.
    """

    conversations: int
    turns_each: int
    turns: list[TurnResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def problems(self) -> list[TurnResult]:
        return [t for t in self.turns if t.problem]

    def of_kind(self, kind: str) -> list[TurnResult]:
        return [t for t in self.turns if t.kind == kind]

    def latency(self, kind: str, share: float) -> float:
        """The ``share`` percentile of the answered turns of one kind, in seconds."""
        return percentile([t.seconds for t in self.of_kind(kind) if t.status], share)

    def latency_all(self, share: float) -> float:
        """The ``share`` percentile of every answered turn, in seconds."""
        return percentile([t.seconds for t in self.turns if t.status], share)

    def sessions(self) -> dict[int, str]:
        """Each conversation's session id (for those that got one)."""
        return {t.conversation: t.session for t in self.turns if t.session}

    def answered(self, conversation: int) -> int:
        """How many turns of one conversation were answered 200."""
        return sum(1 for t in self.turns if t.conversation == conversation and t.status == 200)

    def describe_problems(self, limit: int = 10) -> str:
        """The problems, one line each (for a failure message)."""
        lines = [f"conversation {t.conversation} turn {t.number} ({t.kind}): {t.problem}" for t in self.problems]
        more = len(lines) - limit
        return "\n".join(lines[:limit] + ([f"... and {more} more."] if more > 0 else []))


class Conversation:
    """One conversation over the API: its client, its session and what it knows so far.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000``.
        index: its number among the conversations running at once.
        session: continue this session instead of starting one.
    """

    def __init__(self, base_url: str, index: int, session: str | None = None, *,
                 timeout: float = TURN_TIMEOUT) -> None:
        self.index = index
        self.session = session
        self.client = httpx.Client(base_url=base_url, timeout=timeout, trust_env=False)  # loopback only
        self.latest_image: str | None = None  # newest image this conversation sent or got
        self.follow_ups = 0
        self.chats = 0

    def close(self) -> None:
        self.client.close()

    def turn(self, kind: str, number: int) -> TurnResult:
        """Make one turn of ``kind``, time it and check its answer."""
        data: dict[str, str] = {"session": self.session or ""}
        files = None
        expected_image: str | None = None
        expected_tool = ""
        upload = b""
        if kind == "chat":
            data["text"] = CHAT_TEXTS[self.chats % len(CHAT_TEXTS)]
            self.chats += 1
        elif kind == "describe":
            upload = sample_png(self.index, number)
            data["text"] = DESCRIBE_TEXT
            files = [("files", (f"photo-{self.index}-{number}.png", upload, "image/png"))]
            expected_tool = "caption_image"
        elif kind == "draw":
            data["text"] = DRAW_TEXT
            expected_tool = "generate_image"
        elif kind == "follow-up":
            data["text"], expected_tool = FOLLOW_UPS[self.follow_ups % len(FOLLOW_UPS)]
            self.follow_ups += 1
            expected_image = self.latest_image
        else:
            raise ValueError(f"unknown kind of turn {kind!r}; choose from {', '.join(KINDS)}")
        result = TurnResult(self.index, number, kind, data["text"], session=self.session)
        started = time.perf_counter()
        try:
            response = self.client.post("/api/turn", data=data, files=files)
        except httpx.HTTPError as e:
            result.seconds = time.perf_counter() - started
            result.problem = f"the request failed without an answer: {type(e).__name__}: {e}."
            return result
        result.seconds = time.perf_counter() - started
        result.status = response.status_code
        if response.status_code != 200:
            result.problem = f"the server answered HTTP {response.status_code}: {response.text[:300]}"
            return result
        try:
            answer = response.json()
        except ValueError:
            result.problem = f"the answer is not JSON: {response.text[:200]!r}."
            return result
        result.session = answer.get("session")
        if not result.session:
            result.problem = "the answer names no session."
            return result
        if self.session and result.session != self.session:
            result.problem = f"the answer is for session {result.session}, not {self.session}."
            return result
        self.session = result.session
        result.tools = [step.get("tool", "") for step in answer.get("plan", [])]
        result.artifacts = [a.get("id", "") for a in answer.get("artifacts", [])]
        result.problem = self.check(kind, answer, expected_tool, expected_image, upload)
        return result

    def check(self, kind: str, answer: dict[str, Any], tool: str, image: str | None, upload: bytes) -> str | None:
        """What is wrong with one answer, or None; remembers the newest image."""
        plan = answer.get("plan") or []
        failed = [s for s in answer.get("steps") or [] if not s.get("ok")]
        if failed:
            return f"step {failed[0].get('tool')} failed: {failed[0].get('error')}"
        if not str(answer.get("text", "")).strip():
            return "the answer has no text."
        if kind == "chat":
            return None if not plan else f"a chat turn ran tools {[s.get('tool') for s in plan]}."
        if len(plan) != 1 or plan[0].get("tool") not in ((tool,) if kind != "follow-up" else IMAGE_TOOLS):
            return f"expected one {tool} step, the plan was {plan}."
        args = plan[0].get("args") or {}
        if kind == "describe":
            sent = args.get("image", "")
            back = self.fetch(sent)
            if isinstance(back, str):
                return back
            if back != upload:
                return f"the upload {sent} came back different ({len(back)} bytes, {len(upload)} were sent)."
            self.latest_image = sent
            return None
        if kind == "follow-up":
            if image is not None and args.get("image") != image:
                return f"the follow-up looked at {args.get('image')}, not the newest picture {image}."
            return None
        # draw
        made = [a for a in answer.get("artifacts") or [] if a.get("kind") == "image"]
        if len(made) != 1:
            return f"a drawing should make one image; the answer has {answer.get('artifacts')}."
        back = self.fetch(made[0]["id"])
        if isinstance(back, str):
            return back
        try:
            with Image.open(io.BytesIO(back)) as picture:
                picture.load()
                if not picture.width or not picture.height:
                    return f"{made[0]['id']} is an empty image."
        except Exception as e:  # noqa: BLE001 - any decoding error is the finding
            return f"{made[0]['id']} does not decode as an image: {e}."
        self.latest_image = made[0]["id"]
        return None

    def fetch(self, artifact: str) -> bytes | str:
        """An artifact's bytes, or a sentence saying why it could not be fetched."""
        try:
            response = self.client.get(f"/api/sessions/{self.session}/artifacts/{artifact}")
        except httpx.HTTPError as e:
            return f"fetching {artifact} failed: {type(e).__name__}: {e}."
        if response.status_code != 200:
            return f"fetching {artifact} answered HTTP {response.status_code}: {response.text[:200]}"
        return response.content


def run_load(base_url: str, conversations: int = 8, turns: int = 5, *,
             on_turn: Callable[[TurnResult], None] | None = None, timeout: float = TURN_TIMEOUT) -> LoadResult:
    """Run ``conversations`` conversations at once, ``turns`` mixed turns each, against ``base_url``.

    A conversation whose turn failed without an answer stops there (its later turns
    would only repeat the failure); every other problem is recorded and it goes on.

    Args:
        on_turn: called with each turn as it finishes (progress, logs).
    """
    result = LoadResult(conversations, turns)
    lock = threading.Lock()
    start = threading.Barrier(conversations)

    def converse(index: int) -> None:
        conversation = Conversation(base_url, index, timeout=timeout)
        try:
            start.wait()
            for number, kind in enumerate(conversation_kinds(index, turns), start=1):
                turn = conversation.turn(kind, number)
                with lock:
                    result.turns.append(turn)
                if on_turn is not None:
                    on_turn(turn)
                if turn.status == 0:
                    break
        finally:
            conversation.close()

    threads = [threading.Thread(target=converse, args=(i,), name=f"load-{i}", daemon=True)
               for i in range(conversations)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def warm_up(base_url: str, *, timeout: float = TURN_TIMEOUT) -> LoadResult:
    """One conversation through every kind of turn, so every model is loaded before measuring."""
    return run_load(base_url, conversations=1, turns=len(ORDERS[0]), timeout=timeout)


__all__ = ["KINDS", "Conversation", "LoadResult", "TurnResult", "conversation_kinds", "percentile",
           "run_load", "sample_png", "warm_up"]
