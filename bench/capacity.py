"""Capacity on paper: how many people each cluster service serves, from the per-tool costs of a run.

Not a measurement: arithmetic on the run's own per-call costs (section ``tools``, and
``gpu`` when it ran) under stated assumptions, so a person can plan replicas before buying
machines. The model:

- a person in an active conversation sends a turn every ``THINK_SECONDS``;
- a share of turns needs each service (``SHARE``: voice notes, spoken replies, pictures...);
- a replica runs one call at a time (models are locked while they run); calls arrive at
  random, so a replica busy a fraction ρ of the time keeps a call ``cost / (1 - ρ)`` on
  average (M/M/1). The target is a wait no longer than the call itself: ρ = 0.5.

People per replica = ρ · THINK / (cost · share); replicas for N conversations = ⌈N / that⌉.
"""

from __future__ import annotations

import math
from typing import Any

THINK_SECONDS = 60.0  # a turn a minute per active conversation
TARGET_BUSY = 0.5  # replica utilisation at which the average wait equals the call's own time
SHARE = {  # share of turns that call each service
    "speech": 0.5,  # half the turns are voice notes
    "vision": 0.2,
    "reader": 0.05,
    "painter": 0.1,
    "voice": 0.5,  # spoken replies to voice notes
    "translator": 0.15,
}
# The row of the tools section that stands for each service's default engine on a CPU node.
CPU_ROWS = {
    "speech": ("transcribe_audio", "faster-whisper int8 · whisper-base (packaged)"),
    "vision": ("caption_image", "transformers · BLIP base size (3 beams, 30 tokens)"),
    "reader": ("read_image_text", "Tesseract"),
    "voice": ("speak_text", "Piper · joe (packaged)"),
    "translator": ("translate_text", "transformers · opus-mt base size (4 beams, ≤64 tokens)"),
}
GPU_ROWS = {  # (tool, backend) of the GPU section's every-model table
    "speech": ("transcribe_audio", "faster-whisper"),
    "vision": ("caption_image", "transformers"),
    "reader": ("read_image_text", "trocr"),
    "painter": ("generate_image", "diffusers"),
    "voice": ("speak_text", "speecht5"),
    "translator": ("translate_text", "marian"),
}
CONVERSATIONS = (100, 1000)


def people_per_replica(cost: float, share: float) -> float:
    """Active conversations one replica serves with the average wait no longer than a call."""
    return TARGET_BUSY * THINK_SECONDS / (cost * share)


def replicas_for(conversations: int, cost: float, share: float) -> int:
    return max(1, math.ceil(conversations / people_per_replica(cost, share)))


def plan_rows(costs: dict[str, float | None]) -> list[list[Any]]:
    """Rows: service, seconds per call, share of turns, people per replica, replicas for 100 and 1,000."""
    rows = []
    for service, share in SHARE.items():
        cost = costs.get(service)
        if not cost:
            rows.append([service, None, share, None, *([None] * len(CONVERSATIONS))])
            continue
        rows.append([service, cost, share, people_per_replica(cost, share),
                     *(replicas_for(n, cost, share) for n in CONVERSATIONS)])
    return rows


def costs_from(sections: list[Any]) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """Per-call seconds of each service's default engine: on this run's CPU, and on its GPU (if it ran)."""
    cpu: dict[str, float | None] = {}
    gpu: dict[str, float | None] = {}
    for section in sections:
        for row in section.findings.get("tools", []) or []:
            for service, (tool, engine) in CPU_ROWS.items():
                if row["tool"] == tool and row["engine"] == engine:
                    cpu[service] = row["warm"]
        found = section.findings.get("gpu") or {}
        for service, key in GPU_ROWS.items():
            timing = (found.get("model_seconds") or {}).get(key)
            if timing:
                gpu[service] = timing
    return cpu, gpu


def render(cpu: dict[str, float | None], gpu: dict[str, float | None], *, cpu_name: str) -> str:
    """The report's capacity part."""
    lines = [
        "## Capacity on paper (cluster mode)",
        "",
        f"Arithmetic on the per-call costs above, not a measurement (`bench/capacity.py`): a person in an active "
        f"conversation sends a turn every {THINK_SECONDS:.0f} s; the share of turns that needs each service is in "
        f"the table; a replica runs one call at a time and is planned {TARGET_BUSY:.0%} busy, where the average "
        f"wait equals the call itself (M/M/1). People per replica = {TARGET_BUSY} × {THINK_SECONDS:.0f} s / "
        f"(cost × share).",
        "",
    ]
    header = ["service", "s per call", "share of turns", "people per replica",
              *(f"replicas for {n:,}" for n in CONVERSATIONS)]
    for title, costs, on_gpu in ((f"One replica per {cpu_name}", cpu, False), ("One replica per GPU", gpu, True)):
        lines += [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in plan_rows(costs):
            cells = [row[0], _fmt(row[1], 2), f"{row[2]:.0%}", _fmt(row[3], 0), *(_fmt(v, 0) for v in row[4:])]
            lines.append("| " + " | ".join(cells) + " |")
        missing = [s for s in SHARE if not costs.get(s)]
        if missing:
            lines += ["", f"No cost measured for {', '.join(missing)} here"
                      + (" (run `python -m bench --sections tools,gpu` on a machine with a GPU)." if on_gpu
                         else " on the CPU (Stable Diffusion belongs on a GPU).")]
        lines.append("")
    return "\n".join(lines)


def _fmt(value: Any, digits: int) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"
