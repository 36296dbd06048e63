"""The ``polychat`` command: parses arguments and turns errors into one sentence.

Each group of subcommands lives in its own module with a ``register(subparsers)``
function; nothing heavy (torch, models) is imported until a command runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from agent import __version__
from agent.errors import PolychatError

COMMAND_MODULES = (
    "agent.cli.models",
    "agent.cli.audio",
    "agent.cli.image",
    "agent.cli.speech",
    "agent.cli.imagine",
    "agent.cli.translate",
    "agent.cli.chat",
    "agent.cli.menu",
    "agent.cli.listen",
    "agent.cli.serve",
    "agent.cli.users",
    "agent.cli.bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polychat",
        description="A local multi-modal chat agent: text, voice and images, no API key.",
    )
    parser.add_argument("--version", action="version", version=f"polychat {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # a command group not written yet
                continue
            raise
        module.register(subparsers)
    return parser


def setup_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    for noisy in ("httpx", "urllib3", "huggingface_hub", "filelock", "asyncio", "PIL", "numba", "faster_whisper"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not verbose else logging.DEBUG)
    if not verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 a user-fixable error, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "verbose", False))
    handler = getattr(args, "handler", None)
    if handler is None:
        if "agent.cli.serve" in sys.modules and hasattr(sys.modules["agent.cli.serve"], "default_handler"):
            handler = sys.modules["agent.cli.serve"].default_handler
        else:
            parser.print_help()
            return 0
    try:
        return int(handler(args) or 0)
    except PolychatError as e:
        print(f"polychat: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("polychat: interrupted.", file=sys.stderr)
        return 130


def run() -> None:
    """Console entry point."""
    sys.exit(main())

