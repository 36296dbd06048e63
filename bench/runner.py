"""Runs the chosen sections and writes BENCHMARKS.md.

Shared by ``python -m bench`` and ``polychat bench``: both add ``add_arguments`` to
their parser and call ``run(args)``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import tempfile
import time
import traceback
import warnings
from pathlib import Path

from bench.common import RunConfig
from bench.report import Section, load_average, machine_info, render_report

log = logging.getLogger(__name__)

SECTIONS: dict[str, tuple[str, str, str]] = {
    # key: (module, function, title used when the section fails before it has one)
    "tools": ("bench.sec_tools", "run", "Per-tool cost"),
    "asr": ("bench.sec_speech", "run_asr", "Speech recognition"),
    "tts": ("bench.sec_speech", "run_tts", "Text to speech"),
    "voice": ("bench.sec_voice", "run_voice", "Voice to voice"),
    "stream": ("bench.sec_stream", "run", "Voice and chat through the turn stream"),
    "live": ("bench.sec_live", "run", "Live voice: hearing while you speak, answering, interrupting"),
    "server": ("bench.sec_voice", "run_server", "Server start"),
    "load": ("bench.sec_load", "run", "Load: conversations at once over the HTTP API"),
    "compare": ("bench.sec_compare", "run", "Side by side"),
    "gpu": ("bench.sec_gpu", "run", "GPU"),
}
DEFAULT_OUT = "BENCHMARKS.md"


def parse_sections(text: str | None) -> list[str]:
    """The section keys named in ``a,b,c`` (all of them when empty), in report order.

    Raises:
        ValueError: a name is not a section.
    """
    if not text:
        return list(SECTIONS)
    wanted = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    return [key for key in SECTIONS if key in wanted]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options, for ``python -m bench`` and ``polychat bench``."""
    parser.add_argument("--quick", action="store_true",
                        help="fewer runs and smaller models: a few minutes on 2 cores (what CI runs)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"the Markdown file to write (default {DEFAULT_OUT})")
    parser.add_argument("--sections", default="",
                        help=f"comma-separated sections to run (default all): {','.join(SECTIONS)}")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where the tools run (default: CUDA when present, else CPU)")


def command_line(args: argparse.Namespace, program: str) -> str:
    """The command that reproduces this run (``--out`` left out)."""
    parts = [program]
    if args.quick:
        parts.append("--quick")
    if args.sections:
        parts.append(f"--sections {args.sections}")
    if args.device != "auto":
        parts.append(f"--device {args.device}")
    return " ".join(parts)


def resolve_device(choice: str) -> str:
    """``auto`` becomes ``cuda`` when torch sees a GPU, else ``cpu``.

    Raises:
        ValueError: ``cuda`` was asked for and there is none.
    """
    from bench.measure import cuda_available

    if choice == "auto":
        return "cuda" if cuda_available() else "cpu"
    if choice == "cuda" and not cuda_available():
        raise ValueError("--device cuda was asked for but torch sees no CUDA GPU")
    return choice


def run_section(key: str, config: RunConfig) -> Section:
    """Run one section; a failure becomes a section that says what went wrong."""
    module_name, function, title = SECTIONS[key]
    started = time.perf_counter()
    log.info("Section %s…", key)
    try:
        section = getattr(importlib.import_module(module_name), function)(config)
    except Exception as e:  # one broken section must not lose the others' numbers
        log.error("Section %s failed:\n%s", key, traceback.format_exc())
        section = Section(key, title, error=f"{type(e).__name__}: {' '.join(str(e).split())[:300]}")
    log.info("Section %s done in %.0f s.", key, time.perf_counter() - started)
    return section


def quiet_libraries() -> None:
    """No download progress bars or deprecation chatter from the libraries while measuring."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a benchmark never downloads
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")  # said once in the report instead
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


def run(args: argparse.Namespace, program: str = "python -m bench") -> int:
    """Run the benchmark as ``args`` say and write the report; 0 when every section ran, else 1."""
    from bench import capacity
    from bench.defaults import render_defaults

    quiet_libraries()
    keys = parse_sections(args.sections)
    out = Path(args.out)
    if not out.is_absolute():
        out = Path.cwd() / out
    started = time.perf_counter()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="polychat-bench-") as work:
        config = RunConfig(quick=args.quick, device=resolve_device(args.device), work=Path(work),
                           command=command_line(args, program))
        sections = [run_section(key, config) for key in keys]
    machine = machine_info()
    cpu, gpu = capacity.costs_from(sections)
    text = render_report(
        sections, machine=machine, command=config.command, quick=config.quick,
        seconds=time.perf_counter() - started, load_before=load_before, load_after=load_average(),
        defaults_markdown=render_defaults(sections, config) + "\n\n" + capacity.render(
            cpu, gpu, cpu_name=f"CPU node like this one ({machine.get('cores', '?')})"),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    log.info("Wrote %s in %.1f minutes.", out, (time.perf_counter() - started) / 60)
    failed = [s.key for s in sections if s.error]
    if failed:
        log.error("These sections failed: %s (see %s).", ", ".join(failed), out)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] + " Measures "
                                     "polychat's tools, speech, voice latency and server on this machine.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("httpx", "faster_whisper", "transformers", "diffusers", "urllib3", "filelock", "agent"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        parse_sections(args.sections)
        resolve_device(args.device)
    except ValueError as e:
        parser.error(str(e))
    return run(args)


__all__ = ["SECTIONS", "add_arguments", "main", "parse_sections", "resolve_device", "run"]
