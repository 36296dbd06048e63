"""Runs per-tool measurements in a process of their own: ``python -m bench.tool_worker SPEC OUT``.

SPEC is a JSON file with the rows to measure and the input files; OUT receives one JSON
result per row. Each row loads its models through a fresh ``ModelManager`` and runs the
real tool (``tools.make_tool``) exactly as the agent does, so the numbers include the
tool's own pre- and post-processing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

INPUT_ORDER = ("audio_en", "audio_fr", "scene", "page")
"""Inputs are added to the artifact store in this order: audio-1, audio-2, image-1, image-2."""


@dataclass
class ToolRow:
    """One tool with one model, as the per-tool table shows it.

    Attributes:
        tool: the tool's name.
        engine: what runs it, for the table ("faster-whisper int8 · whisper-base").
        label: ``report.REAL_WEIGHTS``, ``RANDOM_REAL_SIZE`` or ``TINY_RANDOM``.
        profile: ``default`` or ``tiny``.
        args: the tool's arguments (artifact ids of the inputs, see ``INPUT_ORDER``).
        runs: warm runs after the first call.
        model: one-off model override (a local folder or packaged source), if any.
        backend: one-off backend override, if any.
        models: extra per-slot model settings (e.g. the SpeechT5 vocoder).
        reference: the expected text, to score the output (WER for speech, CER for OCR).
    """

    tool: str
    engine: str
    label: str
    profile: str
    args: dict[str, Any]
    runs: int
    model: str | None = None
    backend: str | None = None
    models: dict[str, str] = field(default_factory=dict)
    reference: str | None = None


@dataclass
class RowResult:
    """What one row measured (seconds and MB); ``error`` is set when the row failed."""

    load_s: float | None = None
    first_s: float | None = None
    warm_s: list[float] = field(default_factory=list)
    rss_after_load_mb: float | None = None
    peak_rss_mb: float | None = None
    vram_peak_mb: float | None = None
    output: str = ""
    score: float | None = None
    error: str | None = None


def _score(row: ToolRow, text: str) -> float | None:
    if row.reference is None:
        return None
    from bench.corpus import char_error_rate, word_error_rate

    if row.tool == "read_image_text":
        return char_error_rate(row.reference, text)
    return word_error_rate([row.reference], [text])


def measure_row(row: ToolRow, inputs: dict[str, str], device: str) -> RowResult:
    """Load and run one row's tool; never raises (a failure is recorded in ``error``)."""
    from agent.artifacts import ArtifactStore
    from agent.config import load_settings
    from agent.models.manager import ModelManager
    from bench.measure import PeakSampler, cuda_peak_mb, release_memory, reset_cuda_peak, rss_mb, synchronize
    from tools import make_tool
    from tools.base import ToolContext

    result = RowResult()
    # The user's data dir, but none of their model or backend picks: the row names its own.
    settings = dataclasses.replace(load_settings(), profile=row.profile, device=device, models=dict(row.models),
                                   backends={})
    manager = ModelManager(settings)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-tool-") as work, PeakSampler() as sampler:
            store = ArtifactStore(Path(work) / "session", settings)
            for name in INPUT_ORDER:
                store.add_file(inputs[name])
            overrides = {"model": row.model, "backend": row.backend}
            tool = make_tool(row.tool, ToolContext(settings, manager, store, turn=1, step=1, overrides=overrides))
            reset_cuda_peak()
            started = time.perf_counter()
            first = tool.execute(**row.args)
            synchronize()
            first_call = time.perf_counter() - started
            result.load_s = sum(m.load_seconds for m in manager.loaded())
            result.first_s = max(0.0, first_call - result.load_s)
            result.rss_after_load_mb = rss_mb()
            for _ in range(row.runs):
                started = time.perf_counter()
                output = tool.execute(**row.args)
                synchronize()
                result.warm_s.append(time.perf_counter() - started)
            text = (output if row.runs else first).text
            result.output = " ".join(text.split())
            result.score = _score(row, text)
            result.vram_peak_mb = cuda_peak_mb()
        result.peak_rss_mb = sampler.peak_mb
    except Exception as e:  # a broken row is reported, the others still run
        log.debug("row %s failed:\n%s", row.engine, traceback.format_exc())
        result.error = f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
    finally:
        manager.close()
        release_memory()
    return result


def run_rows(rows: list[ToolRow], inputs: dict[str, str], device: str) -> list[RowResult]:
    """Measure rows one after the other in this process."""
    results = []
    for row in rows:
        log.info("  %s · %s", row.tool, row.engine)
        results.append(measure_row(row, inputs, device))
    return results


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("agent", "httpx", "faster_whisper", "transformers", "diffusers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from bench.runner import quiet_libraries

    quiet_libraries()
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    rows = [ToolRow(**row) for row in spec["rows"]]
    results = run_rows(rows, spec["inputs"], spec["device"])
    Path(argv[1]).write_text(json.dumps([asdict(r) for r in results]), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
