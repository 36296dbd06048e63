"""Timing and memory helpers: medians with their spread, interleaved runs, peak RSS and VRAM.

The machine a benchmark runs on may be shared, so every comparison here runs its
contenders in turns (A, B, A, B, ...) rather than one block after the other: a burst
of load from another process then hits both sides instead of skewing the ratio.
"""

from __future__ import annotations

import gc
import math
import logging
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

log = logging.getLogger(__name__)

MB = 1024 * 1024  # bytes
RSS_SAMPLE_INTERVAL = 0.02  # s between two RSS samples of the peak sampler


@dataclass(frozen=True)
class Stats:
    """Summary of repeated timings, in seconds.

    Attributes:
        samples: every timing, in the order taken.
    """

    samples: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def minimum(self) -> float:
        return min(self.samples)

    @property
    def maximum(self) -> float:
        return max(self.samples)

    @property
    def iqr(self) -> tuple[float, float]:
        """The first and third quartiles (both the median when there are fewer than 2 samples)."""
        if self.n < 2:
            return self.median, self.median
        q1, _, q3 = statistics.quantiles(self.samples, n=4, method="inclusive")
        return q1, q3

    def spread(self, digits: int = 2) -> str:
        """``min–max`` as text, for a table cell."""
        return f"{self.minimum:.{digits}f}–{self.maximum:.{digits}f}"


def percentile(values: list[float], share: float) -> float:
    """The ``share`` (0–1) percentile of ``values``, linearly interpolated (nan when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def stats(samples: list[float] | tuple[float, ...]) -> Stats:
    """Stats of a non-empty list of timings.

    Raises:
        ValueError: no timings were taken.
    """
    if not samples:
        raise ValueError("no timings to summarise")
    return Stats(tuple(float(s) for s in samples))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``fn`` once; return (seconds, its result)."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def interleaved(contenders: dict[str, Callable[[], Any]], runs: int) -> tuple[dict[str, Stats], dict[str, Any]]:
    """Time several functions in turns (A, B, A, B, ...), ``runs`` times each.

    Returns:
        The timings per name, and each function's last result.
    """
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    results: dict[str, Any] = {}
    for _ in range(max(1, runs)):
        for name, fn in contenders.items():
            seconds, results[name] = timed(fn)
            samples[name].append(seconds)
    return {name: stats(values) for name, values in samples.items()}, results


# -- memory ---------------------------------------------------------------------------------


def rss_mb(pid: int | None = None, *, children: bool = False) -> float:
    """Resident memory of a process in MB (with its children's when asked); 0 if it is gone."""
    try:
        process = psutil.Process(pid or os.getpid())
        total = process.memory_info().rss
        if children:
            for child in process.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    continue
        return total / MB
    except psutil.Error:
        return 0.0


@dataclass
class PeakSampler:
    """Samples this process's RSS in a thread and keeps the highest value seen, in MB.

    ``resource.getrusage`` only knows the lifetime peak; this gives the peak of one
    stretch of work in a process that did other work before.
    """

    interval: float = RSS_SAMPLE_INTERVAL
    peak_mb: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> PeakSampler:
        self.peak_mb = rss_mb()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, rss_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_mb = max(self.peak_mb, rss_mb())


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (False when torch is absent)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def reset_cuda_peak() -> None:
    """Forget the CUDA allocator's peak so the next reading covers only what follows."""
    if cuda_available():
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def cuda_peak_mb() -> float | None:
    """The CUDA allocator's peak since the last reset in MB, or None without CUDA."""
    if not cuda_available():
        return None
    import torch

    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() / MB


def cuda_allocated_mb() -> float:
    """Memory the CUDA allocator holds for live tensors right now, in MB (0 without CUDA)."""
    if not cuda_available():
        return 0.0
    import torch

    torch.cuda.synchronize()
    return torch.cuda.memory_allocated() / MB


def synchronize() -> None:
    """Wait for queued GPU work, so a timing covers it (nothing on CPU)."""
    if "torch" in sys.modules and cuda_available():
        import torch

        torch.cuda.synchronize()


def release_memory() -> None:
    """Collect garbage and hand cached GPU memory back, between two measurements."""
    gc.collect()
    if "torch" in sys.modules and cuda_available():
        import torch

        torch.cuda.empty_cache()
