"""Section ``load``: many conversations at once over the HTTP API, and what memory does meanwhile.

A tiny-profile ``polychat serve`` starts in a fresh data folder. One conversation goes
through every kind of turn first (models built and loaded: the warm-up row), then its
resident memory (``VmRSS``) is read; then 8 conversations (3 with ``--quick``) each make
5 mixed turns at once (``bench.load``: chat, upload + describe, draw, follow-up on the
picture), every answer checked; then the memory is read again. Latency is per turn
kind, from sending the request to the whole answer, with the other conversations'
turns competing for the same cores and models.
"""

from __future__ import annotations

import logging
import time

import psutil

from bench.common import RunConfig
from bench.load import KINDS, LoadResult, run_load, warm_up
from bench.report import TINY_RANDOM, Section, Table, cpu_features, cpu_model, load_average, ratio
from bench.server import Server

log = logging.getLogger(__name__)

CONVERSATIONS = 8  # at once
QUICK_CONVERSATIONS = 3
TURNS = 5  # per conversation
MEMORY_LIMIT = 1.2  # memory after the load / before it, at most (the load and fault tests hold the server to it)
SETTLE = 1.0  # seconds between the last answer and reading the memory


def latency_table(result: LoadResult, command: str) -> Table:
    table = Table(
        f"{result.conversations} conversations × {result.turns_each} turns at once ({TINY_RANDOM})",
        ["turn kind", "turns", "errors", "p50 (s)", "p95 (s)", "max (s)"], command=command,
    )
    for kind in KINDS:
        turns = result.of_kind(kind)
        answered = [t.seconds for t in turns if t.status]
        table.add(kind, len(turns), sum(1 for t in turns if t.problem), result.latency(kind, 0.5),
                  result.latency(kind, 0.95), max(answered) if answered else None)
    every = [t.seconds for t in result.turns if t.status]
    table.add("all", len(result.turns), len(result.problems),
              result.latency_all(0.5), result.latency_all(0.95), max(every) if every else None)
    table.notes.append(
        f"The whole load took {result.seconds:.1f} s ({len(result.turns) / result.seconds:.2f} turns/s). "
        "Chat replies are the tiny chat model's random tokens up to its length limit, so a chat turn costs the "
        "most; a draw is 20 denoising steps of the tiny UNet at 512×512."
    )
    return table


def run(config: RunConfig) -> Section:
    conversations = QUICK_CONVERSATIONS if config.quick else CONVERSATIONS
    section = Section(
        "load", f"Load: {conversations} conversations at once over the HTTP API",
        __doc__.split("\n\n", 1)[1].strip().replace("\n", " ").replace("``", "`"),
    )
    load_before = load_average()
    server = Server(config.work / "load-server")
    started = time.perf_counter()
    server.start()
    try:
        ready = time.perf_counter() - started
        warm = warm_up(server.url)
        if warm.problems:
            raise RuntimeError(f"the warm-up failed: {warm.describe_problems(3)}")
        time.sleep(SETTLE)
        before = server.rss_mb()
        result = run_load(server.url, conversations, TURNS)
        time.sleep(SETTLE)
        after = server.rss_mb()
    finally:
        server.stop()
    section.tables.append(latency_table(result, config.section_command("load")))

    warm_table = Table("Warm-up: one conversation, every kind once (models built and loaded)",
                       ["turn kind", "seconds"])
    for turn in warm.turns:
        warm_table.add(turn.kind, turn.seconds)
    warm_table.notes.append(f"The server answered its page {ready:.1f} s after it was started.")
    section.tables.append(warm_table)

    share = ratio(after, before)
    memory = Table("Server memory (VmRSS of the server process)",
                   ["before the load (MB)", "after the load (MB)", "after / before", f"within {MEMORY_LIMIT}×"])
    memory.add(round(before), round(after), share, share is not None and share <= MEMORY_LIMIT)
    section.tables.append(memory)
    section.notes.append(
        f"Measured on {cpu_model()} ({cpu_features() or 'CPU features unknown'}), "
        f"{psutil.cpu_count(logical=False) or '?'} physical / {psutil.cpu_count()} logical cores; load average "
        f"(1, 5, 15 min) {load_before} before, {load_average()} after."
    )
    if result.problems:
        wrong = result.describe_problems().replace("\n", "; ")
        section.notes.append(f"{len(result.problems)} turns went wrong: {wrong}")
    section.findings["load"] = {
        "conversations": conversations, "turns": len(result.turns), "errors": len(result.problems),
        "rss_before": before, "rss_after": after,
        **{f"p50_{kind}": result.latency(kind, 0.5) for kind in KINDS},
        **{f"p95_{kind}": result.latency(kind, 0.95) for kind in KINDS},
    }
    return section
