"""The replica side: one Ray Serve deployment per service, running polychat's own tools.

A replica holds its own ``ModelManager`` (models load once per replica and stay) and runs
one tool call per request in a thread, so the replica's event loop stays free to take the
next request and to hear a cancellation. A request carries the tool's name and arguments
and the bytes of the artifacts it reads; the replica answers with a stream of small dicts
(progress, text pieces, spoken sentences) ending with the result, whose artifacts come back
as bytes. Artifact ids in texts come back as placeholders the caller turns into its own ids,
so results read exactly as they do in one process. Nothing here touches a path of the
caller's machine.

The Serve config's ``import_path`` is ``agent.cluster.services:build``; its ``args`` are
``{"service": "painter", "settings": {"profile": "tiny", ...}}``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from ray import serve

from agent.cluster import MADE, SERVICES, swap_ids

log = logging.getLogger(__name__)

CAPTION_BATCH = 8  # pictures captioned in one call at most
CAPTION_BATCH_WAIT_SECONDS = 0.01  # how long a caption waits for others to share its batch
class ToolService:
    """One service's replica: the tools of ``SERVICES[service]`` and their models.

    Args:
        service: a key of ``agent.cluster.SERVICES``.
        settings: setting values for this replica (e.g. ``{"profile": "tiny"}``), on top of
            its environment's ``POLYCHAT_*``.
    """

    def __init__(self, service: str, settings: dict[str, Any] | None = None) -> None:
        from agent.config import get_settings
        from agent.models.manager import ModelManager

        if service not in SERVICES:
            raise ValueError(f"Unknown service {service!r}; choose one of {', '.join(SERVICES)}.")
        overrides = dict(settings or {})
        if "data_dir" in overrides:
            overrides["data_dir"] = Path(overrides["data_dir"]).expanduser()
        self.settings = dataclasses.replace(get_settings(), **overrides)
        self.service = service
        self.manager = ModelManager(self.settings)
        self.work = Path(tempfile.mkdtemp(prefix=f"polychat-{service}-"))
        self.ongoing = 0  # calls running now
        self.stopped = 0  # calls stopped by their caller before they finished
        self.batches: list[int] = []  # sizes of the latest caption batches

    async def run(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Run one tool call; yield its progress, text pieces and sentences, then its result.

        Cancelling the request (the caller stopped the turn) stops the tool at its next check.
        """
        if self._batched_caption(request):
            async for item in self._caption(request):
                yield item
            return
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        cancel = threading.Event()

        def put(item: dict[str, Any] | None) -> None:
            loop.call_soon_threadsafe(events.put_nowait, item)

        worker = threading.Thread(target=self._call, args=(request, cancel, put), daemon=True,
                                  name=f"polychat-{self.service}-call")
        self.ongoing += 1
        worker.start()
        try:
            while True:
                item = await events.get()
                if item is None:
                    return
                yield item
        finally:  # finished, failed, or cancelled by the caller
            cancel.set()
            self.ongoing -= 1

    # -- captions of callers that arrive together, in one batch ---------------------------
    def _batched_caption(self, request: dict[str, Any]) -> bool:
        """A plain caption of one image with the replica's own model: it can share a batch."""
        args = request.get("args", {})
        inputs = request.get("inputs", [])
        return (self.service == "vision" and request.get("tool") == "caption_image"
                and not (args.get("prefix") or "").strip() and not request.get("overrides")
                and len(inputs) == 1 and inputs[0]["id"] == args.get("image") and inputs[0]["kind"] == "image")

    async def _caption(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        from agent import media
        from agent.errors import PolychatError
        from tools.caption import DESCRIBING, caption_result

        image = request["inputs"][0]
        self.ongoing += 1
        try:
            yield {"type": "progress", "label": DESCRIBING, "done": 0, "total": 1}
            try:  # the checks an upload gets and the tool's own decoding, before the picture joins a batch
                media.check_upload(image["data"], settings=self.settings, expected_kind="image")
                picture = media.load_image(image["data"], max_pixels=self.settings.max_image_pixels)
                caption = await self._captions(picture)
            except PolychatError as e:
                yield {"type": "error", "class": type(e).__name__, "error": str(e)}
                return
            yield {"type": "progress", "label": DESCRIBING, "done": 1, "total": 1}
            result = caption_result(image["id"], caption)
            yield {"type": "result", "text": result.text, "data": result.data, "artifacts": []}
        finally:
            self.ongoing -= 1

    @serve.batch(max_batch_size=CAPTION_BATCH, batch_wait_timeout_s=CAPTION_BATCH_WAIT_SECONDS)
    async def _captions(self, pictures: list[Any]) -> list[str]:
        """Captions of the pictures of callers that arrived within a few milliseconds, in one call."""
        self.batches.append(len(pictures))
        del self.batches[:-100]
        return await asyncio.to_thread(self._caption_pictures, pictures)

    def _caption_pictures(self, pictures: list[Any]) -> list[str]:
        from tools.caption import captions

        with self.manager.use("caption_image") as bundle:
            return captions(bundle, pictures)

    def stats(self) -> dict[str, Any]:
        """Where this replica runs and what it holds (``polychat cluster status``)."""
        return {
            "service": self.service, "host": socket.gethostname(), "pid": os.getpid(), "ongoing": self.ongoing,
        "stopped": self.stopped, "batches": list(self.batches[-20:]),
            "models": [f"{m.family} on {m.key[2]}" for m in self.manager.loaded()],
        }

    def check_health(self) -> None:
        """Serve's health check: the replica answers (its models load on first use)."""

    # -- one call ----------------------------------------------------------------------
    def _call(self, request: dict[str, Any], cancel: threading.Event, put: Callable[[Any], None]) -> None:
        from agent.artifacts import ArtifactStore
        from agent.errors import PolychatError, TurnCancelled
        from tools import make_tool
        from tools.base import ToolContext

        folder = Path(tempfile.mkdtemp(dir=self.work))
        try:
            tool_name = request["tool"]
            if tool_name not in SERVICES[self.service]:
                raise PolychatError(f"The {self.service} service does not run {tool_name}.")
            store = ArtifactStore(folder, self.settings)
            here: dict[str, str] = {}  # the caller's id -> this store's id
            for item in request.get("inputs", []):
                added = store.add_bytes(item["data"], kind=item["kind"], name=item.get("name"),
                                        turn=int(request.get("turn", 0)))
                here[item["id"]] = added.id
            args = swap_ids(dict(request.get("args", {})), lambda i: here.get(i, i))
            context = ToolContext(
                self.settings, self.manager, store, turn=int(request.get("turn", 0)), step=request.get("step"),
                progress=lambda label, done, total: put({"type": "progress", "label": label, "done": int(done),
                                                          "total": int(total)}),
                overrides=dict(request.get("overrides", {})), cancel=cancel,
                on_audio=lambda words, samples, rate: put({"type": "audio", "words": words,
                                                           "samples": _float32_bytes(samples), "rate": int(rate)}),
                on_text=lambda piece: put({"type": "text", "piece": piece}),
                spoken_chars_left=request.get("spoken_chars_left"),
            )
            result = make_tool(tool_name, context).execute(**args)
            made = {a.id: index for index, a in enumerate(result.artifacts)}
            back = {mine: theirs for theirs, mine in here.items()}

            def swap(found: str) -> str:
                if found in made:
                    return MADE.format(made[found])
                return back.get(found, found)

            put({
                "type": "result",
                "text": swap_ids(result.text, swap),
                "data": swap_ids(result.data, swap),
                "artifacts": [{"kind": a.kind, "data": a.path.read_bytes(), "name": a.name} for a in result.artifacts],
            })
        except TurnCancelled:
            self.stopped += 1
            put({"type": "cancelled"})
        except PolychatError as e:
            put({"type": "error", "class": type(e).__name__, "error": str(e)})
        except Exception as e:  # noqa: BLE001 - a broken model: the caller gets a sentence, the replica lives
            log.exception("%s failed in the %s service", request.get("tool"), self.service)
            put({"type": "error", "class": "ToolError",
                 "error": f"{request.get('tool')} failed in the {self.service} service ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:160] if str(e) else ''})."})
        finally:
            put(None)
            shutil.rmtree(folder, ignore_errors=True)


def _float32_bytes(samples: Any) -> bytes:
    import numpy as np

    return np.asarray(samples, dtype=np.float32).tobytes()


DEFAULTS: dict[str, dict[str, Any]] = {
    # Per service: Ray Serve options a config file may override (see the README's cluster section).
    "speech": {"ray_actor_options": {"num_cpus": 1}, "max_ongoing_requests": 4, "max_queued_requests": 16},
    "vision": {"ray_actor_options": {"num_cpus": 1}, "max_ongoing_requests": 4, "max_queued_requests": 16},
    "reader": {"ray_actor_options": {"num_cpus": 1}, "max_ongoing_requests": 4, "max_queued_requests": 16},
    "painter": {"ray_actor_options": {"num_cpus": 1}, "max_ongoing_requests": 1, "max_queued_requests": 4},
    "voice": {"ray_actor_options": {"num_cpus": 1}, "max_ongoing_requests": 4, "max_queued_requests": 16},
    "translator": {"ray_actor_options": {"num_cpus": 1}, "max_ongoing_requests": 8, "max_queued_requests": 32},
}


def deployment(service: str, options: dict[str, Any] | None = None) -> Any:
    """The Serve deployment of ``service`` with its defaults and ``options`` on top."""
    chosen = {**DEFAULTS[service], **(options or {})}
    return serve.deployment(ToolService).options(name=service, **chosen)


def build(args: dict[str, Any]) -> Any:
    """The Serve application of one service (the ``import_path`` of a Serve config file).

    ``args``: ``service`` (required), ``settings`` (replica settings), ``options`` (deployment
    options: ``num_replicas``, ``ray_actor_options``, ``autoscaling_config``,
    ``max_ongoing_requests``, ``max_queued_requests``...).
    """
    service = args["service"]
    return deployment(service, args.get("options")).bind(service, args.get("settings") or {})
