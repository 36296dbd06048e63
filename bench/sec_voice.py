"""Sections ``voice`` and ``server``: latency a person feels, and what the web server costs idle.

``voice``: a voice note of about five seconds goes through the Assistant as the chat and
web adapters send it; the clock stops when the first spoken audio of the reply exists.
Two ways of speaking the reply are compared in turns: the whole reply as one
speak_text step (what ``Assistant.respond`` does), and sentence by sentence with
``tools.speak.synthesize_sentences``, where the first sentence can play while the rest
is being made.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from typing import Any

import psutil

from bench import corpus
from bench.common import PROJECT_ROOT, RunConfig
from bench.measure import rss_mb, stats
from bench.report import Section, Table, ratio

log = logging.getLogger(__name__)

SERVER_TIMEOUT = 180  # s to wait for the page before giving up
POLL_INTERVAL = 0.1  # s between two requests for the page
IDLE_SETTLE = 3.0  # s to let the server settle before reading its memory
STOP_TIMEOUT = 10  # s to wait for the server to stop before killing it


def _voice_turn(assistant: Any, config: RunConfig, note: corpus.Clip, *, streaming: bool) -> dict[str, float]:
    """One turn with a voice note; seconds from sending it to each milestone."""
    from agent.turn.session import Session
    from tools.base import ToolContext
    from tools.speak import synthesize_sentences

    session = Session(config.work / "voice-sessions", assistant.settings)
    attachment = session.artifacts.add_file(note.path)
    started = time.perf_counter()
    reply = assistant.respond(session, "", [attachment], voice=True)
    replied = time.perf_counter() - started
    steps = {step.tool: step.seconds for step in reply.steps if step.ok}
    if "transcribe_audio" not in steps:
        raise RuntimeError(f"the voice note was not transcribed: {[(s.tool, s.error) for s in reply.steps]}")
    transcribe = steps["transcribe_audio"]
    if not streaming:
        if "speak_text" not in steps:
            raise RuntimeError(f"the reply was not spoken: {[(s.tool, s.error) for s in reply.steps]}")
        speech = steps["speak_text"]
        return {"transcribe": transcribe, "reply": replied - sum(steps.values()), "speech_to_first": speech,
                "first_audio": replied, "done": replied, "sentences": 1}
    context = ToolContext(assistant.settings, assistant.models, session.artifacts)
    pieces = synthesize_sentences(context, reply.text)
    next(pieces)
    first_audio = time.perf_counter() - started
    sentences = 1 + sum(1 for _ in pieces)
    return {"transcribe": transcribe, "reply": replied - sum(steps.values()), "speech_to_first": first_audio - replied,
            "first_audio": first_audio, "done": time.perf_counter() - started, "sentences": sentences}


def run_voice(config: RunConfig) -> Section:
    from agent.turn.assistant import Assistant
    from agent.models.manager import ModelManager

    section = Section(
        "voice", "Voice to voice",
        "A voice note goes into the Assistant (default profile: whatever the catalog picks on this machine); "
        "the turn transcribes it, routes the transcript, writes the reply and speaks it. \"First audio\" is when "
        "the first spoken audio of the reply exists. Whole reply: one speak_text step, as `Assistant.respond` "
        "does. Streaming: the reply's text first, then `synthesize_sentences` yields the first sentence.",
    )
    note = corpus.voice_note(config.work / "voice", config.settings)
    settings = config.settings_for()
    manager = ModelManager(settings)
    spoken = Assistant(settings, manager)
    silent = Assistant(replace(settings, spoken_replies=False), manager)
    chosen = {slot: manager.choose(slot) for slot in ("transcribe_audio", "speak_text")}
    try:
        cold = _voice_turn(spoken, config, note, streaming=False)
        runs = config.runs(3, 1)
        turns: dict[str, list[dict[str, float]]] = {"whole": [], "streaming": []}
        for _ in range(runs):
            turns["whole"].append(_voice_turn(spoken, config, note, streaming=False))
            turns["streaming"].append(_voice_turn(silent, config, note, streaming=True))
    finally:
        manager.close()

    def median(rows: list[dict[str, float]], key: str) -> float:
        return stats([row[key] for row in rows]).median

    table = Table(
        f"Voice note ({note.seconds:.1f} s) in → first spoken audio out",
        ["reply spoken as", "models", "runs", "transcribe (s)", "routing + reply text (s)",
         "speech until first audio (s)", "first audio (s)", "first audio min–max (s)", "turn done (s)"],
        command=config.section_command("voice"),
    )
    table.add("whole reply, cold (first turn loads the models)", "cold", 1, cold["transcribe"], cold["reply"],
              cold["speech_to_first"], cold["first_audio"], None, cold["done"])
    for mode, rows in turns.items():
        first = stats([row["first_audio"] for row in rows])
        label = "whole reply (one speak_text step)" if mode == "whole" else (
            f"sentence by sentence ({int(rows[0]['sentences'])} sentences)")
        table.add(label, "warm", len(rows), median(rows, "transcribe"), median(rows, "reply"),
                  median(rows, "speech_to_first"), first.median, first.spread(), median(rows, "done"))
    whole, streamed = median(turns["whole"], "first_audio"), median(turns["streaming"], "first_audio")
    table.notes.append(
        "Models: " + "; ".join(f"{slot} = {c.backend} · {c.source}" + (f" ({c.note})" if c.note else "")
                               for slot, c in chosen.items()) + "."
    )
    table.notes.append(f"Streaming brings the first audio {ratio(whole, streamed) or 0:.1f}× sooner "
                       f"({whole:.2f} s → {streamed:.2f} s). The voice note says {corpus.VOICE_NOTE_TEXT!r}.")
    section.findings["voice"] = {"whole_first_audio": whole, "streaming_first_audio": streamed,
                                 "transcribe": median(turns["whole"], "transcribe")}
    section.tables.append(table)
    return section


# -- server ---------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _page_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # a local URL we built
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen) -> None:
    """Stop the server we started and any children it started."""
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        children = []
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()


def server_start(config: RunConfig, index: int) -> tuple[float, float]:
    """Start ``python -m agent.cli serve`` (tiny profile); return (seconds until the page answers 200, idle RSS MB)."""
    port = free_port()
    data_dir = config.work / f"server-{index}"
    env = dict(os.environ, POLYCHAT_PROFILE="tiny", POLYCHAT_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1")
    log_file = config.work / f"server-{index}.log"
    url = f"http://127.0.0.1:{port}/"
    with open(log_file, "wb") as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "serve", "--port", str(port), "--headless"],
            cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )
        try:
            while not _page_ready(url):
                if process.poll() is not None:
                    tail = log_file.read_text(errors="replace").strip().splitlines()[-1:]
                    raise RuntimeError(f"the server exited with {process.returncode}: {' '.join(tail)[:200]}")
                if time.perf_counter() - started > SERVER_TIMEOUT:
                    raise RuntimeError(f"the page did not answer within {SERVER_TIMEOUT} s")
                time.sleep(POLL_INTERVAL)
            ready = time.perf_counter() - started
            time.sleep(IDLE_SETTLE)
            return ready, rss_mb(process.pid, children=True)
        finally:
            _stop(process)


def run_server(config: RunConfig) -> Section:
    section = Section(
        "server", "Server start",
        "`python -m agent.cli serve --port P --headless` with POLYCHAT_PROFILE=tiny, timed from the process "
        f"start until http://127.0.0.1:P/ answers 200; idle RSS is the server's resident memory with its "
        f"children, {IDLE_SETTLE:.0f} s after the page answered (no model is loaded before the first turn).",
    )
    results = [server_start(config, i) for i in range(config.runs(3, 1))]
    ready = stats([r[0] for r in results])
    memory = stats([r[1] for r in results])
    table = Table("Web server start → page ready", ["starts", "page ready median (s)", "min–max (s)",
                  "idle RSS median (MB)", "idle RSS min–max (MB)"], command=config.section_command("server"))
    table.add(len(results), ready.median, ready.spread(), round(memory.median), memory.spread(0))
    section.findings["server"] = {"ready": ready.median, "rss": memory.median}
    section.tables.append(table)
    return section
