"""``polychat bench``: measure polychat on this machine and write BENCHMARKS.md (same as ``python -m bench``)."""

from __future__ import annotations

import argparse

from agent.errors import ToolError

MISSING = (
    "The benchmark suite (the bench package) is not installed; run it from a source checkout after "
    "'pip install -e .', or with 'python -m bench' from the project folder."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure the tools, speech, voice latency and server on this machine (writes BENCHMARKS.md)",
        description="Measure polychat on this machine: per-tool load time, latency and memory, speech "
                    "recognition and synthesis speed, voice-to-voice latency, server start, side-by-side engine "
                    "comparisons and, with a CUDA GPU, fp16 and Stable Diffusion. Writes a Markdown report.",
    )
    try:
        from bench.runner import add_arguments
    except ModuleNotFoundError as e:
        if e.name != "bench" and not str(e.name).startswith("bench."):
            raise
        # An install without the benchmark: every other command must still work, and this one says why not.
        parser.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)
        for option in ("--out", "--sections", "--device"):
            parser.add_argument(option, help=argparse.SUPPRESS)
        parser.set_defaults(handler=missing)
        return
    add_arguments(parser)
    parser.set_defaults(handler=bench)


def missing(args: argparse.Namespace) -> int:
    """The handler when the bench package cannot be imported."""
    raise ToolError(MISSING)


def bench(args: argparse.Namespace) -> int:
    """Run the benchmark; 0 when every section ran, 1 when one failed (the report says which)."""
    from bench.runner import parse_sections, quiet_libraries, resolve_device, run

    try:
        parse_sections(args.sections)
        resolve_device(args.device)
    except ValueError as e:
        raise ToolError(f"Cannot run the benchmark: {e}; fix --sections or --device.") from e
    quiet_libraries()
    return run(args, program="polychat bench")
