"""The results of a benchmark run and how they become BENCHMARKS.md.

A run is a list of ``Section``s; each holds ``Table``s, free notes and ``findings``
(named numbers that the "Defaults chosen from these numbers" part reads).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import math
import os
import platform
from dataclasses import dataclass, field
from typing import Any

import psutil

from bench.measure import MB

GB = 1024 * MB  # bytes
Cell = str | int | float | None

REAL_WEIGHTS = "real"  # the packaged Whisper, Piper, Tesseract and RapidOCR models
RANDOM_REAL_SIZE = "random · real size"  # real dimensions, random weights: real speed, meaningless output
TINY_RANDOM = "tiny random"  # the tiny profile: shape of the code path, not of real speed


@dataclass
class Table:
    """One table of results.

    Attributes:
        title: what it measures.
        columns: column headings (units in brackets).
        rows: one list of cells per row.
        command: the command that reproduces this table alone.
        notes: sentences printed under the table.
    """

    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    command: str = ""
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Cell) -> None:
        """Append a row; it must have one cell per column."""
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.title}: a row of {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))


@dataclass
class Section:
    """One part of the report (``tools``, ``asr``, ...).

    Attributes:
        key: the name used with ``--sections``.
        title: the heading.
        intro: what the section measures and how.
        tables: its tables.
        notes: findings in words, after the tables.
        findings: numbers the defaults section reads, by kind, e.g. ``{"asr": [{"rtf": 0.21, ...}]}``.
        error: set when the section failed; the report shows it instead of tables.
    """

    key: str
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    findings: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def fmt(value: Cell, digits: int = 2) -> str:
    """A table cell: floats rounded, None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def render_table(table: Table) -> str:
    """A table as GitHub markdown, with its title, command and notes."""
    lines = [f"**{table.title}**", ""]
    lines.append("| " + " | ".join(fmt(column) for column in table.columns) + " |")
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    for row in table.rows:
        lines.append("| " + " | ".join(fmt(cell) for cell in row) + " |")
    if not table.rows:
        lines.append("| " + " | ".join(["(no rows)"] + [""] * (len(table.columns) - 1)) + " |")
    lines.append("")
    if table.command:
        lines.append(f"Command: `{table.command}`")
        lines.append("")
    for note in table.notes:
        lines.append(f"- {note}")
    if table.notes:
        lines.append("")
    return "\n".join(lines)


def render_section(section: Section, number: int) -> str:
    lines = [f"## {number}. {section.title}", ""]
    if section.intro:
        lines += [section.intro, ""]
    if section.error:
        lines += [f"**This section failed in this run:** {section.error}", ""]
    for table in section.tables:
        lines.append(render_table(table))
    for note in section.notes:
        lines.append(f"- {note}")
    if section.notes:
        lines.append("")
    return "\n".join(lines)


# -- the machine ----------------------------------------------------------------------------

VERSIONED_PACKAGES = (
    "torch", "transformers", "ctranslate2", "onnxruntime", "faster-whisper", "piper-tts",
    "diffusers", "rapidocr-onnxruntime", "pytesseract",
)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


CPU_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "neon", "asimd")
"""Instruction set extensions that decide how fast int8 and bf16 kernels run."""


def cpu_features() -> str:
    """The speed-relevant CPU flags present, from /proc/cpuinfo (empty when unknown)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.lower().startswith(("flags", "features")):
                    flags = set(line.split(":", 1)[1].split())
                    return ", ".join(f for f in CPU_FEATURES if f in flags)
    except OSError:
        pass
    return ""


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, str]:
    """What the numbers were measured on: CPU, cores, RAM, GPU, software versions, date."""
    info = {
        "date (UTC)": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "CPU": cpu_model(),
        "CPU features": cpu_features() or "unknown",
        "cores": f"{psutil.cpu_count(logical=False) or '?'} physical, {os.cpu_count()} logical",
        "RAM": f"{psutil.virtual_memory().total / GB:.1f} GB",
        "OS": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
    for name in VERSIONED_PACKAGES:
        info[name] = package_version(name)
    try:
        import torch

        info["torch threads"] = str(torch.get_num_threads())
        info["GPU"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU only)"
    except ImportError:
        info["GPU"] = "unknown (torch missing)"
    return info


def load_average() -> str:
    """The 1/5/15-minute load average, to show how busy a shared machine was."""
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def render_report(
    sections: list[Section],
    *,
    machine: dict[str, str],
    command: str,
    quick: bool,
    seconds: float,
    load_before: str,
    load_after: str,
    defaults_markdown: str,
) -> str:
    """The whole BENCHMARKS.md."""
    lines = [
        "# polychat benchmarks",
        "",
        f"Written by `{command}` in {seconds / 60:.1f} minutes"
        + (" (`--quick`: fewer runs and smaller models; use the full run for decisions)." if quick else "."),
        "Run `python -m bench` (or `polychat bench`) to measure your own machine; `python -m bench --help` "
        "lists the options. Each table names the command that reproduces it alone.",
        "",
        "How to read the labels on rows:",
        f"- **{REAL_WEIGHTS}**: real weights (the packaged Whisper, Piper, Tesseract and RapidOCR models); "
        "speed and output are real.",
        f"- **{RANDOM_REAL_SIZE}**: random weights of real size: a model built from the real checkpoint's "
        "configuration (same layers, widths and vocabulary) with random weights. It costs what the real model "
        "costs per token or step, but its output is noise and it rarely stops by itself, so decoding runs to "
        "the length limit the row states.",
        f"- **{TINY_RANDOM}**: a tiny random model of the `tiny` profile: shape of the code path, not of real "
        "speed; it shows that the path works and what it costs around the model (processors, decoding loops).",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {key} | {fmt(value)} |" for key, value in machine.items()]
    lines += [
        f"| load average before / after (1, 5, 15 min) | {load_before} — {load_after} |",
        "",
        "The machine may be shared with other work while the numbers are taken (see the load average): "
        "absolute times can be inflated and noisy. Comparisons are therefore measured in the same run, "
        "with the contenders interleaved (A, B, A, B, ...), and the ratios are the numbers to trust.",
        "",
        "## Contents",
        "",
    ]
    for number, section in enumerate(sections, start=1):
        lines.append(f"{number}. {section.title} (`--sections {section.key}`)")
    lines += ["", ""]
    for number, section in enumerate(sections, start=1):
        lines.append(render_section(section, number))
    lines.append(defaults_markdown)
    return "\n".join(lines).rstrip() + "\n"
