"""The ``polychat`` command: parses arguments and turns errors into one sentence.

Each group of subcommands lives in its own module with a ``register(subparsers)``
function; nothing heavy (torch, models) is imported until a command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence

from agent import __version__
from agent.errors import PolychatError, os_error_sentence

log = logging.getLogger(__name__)

EXIT_GRACE_SECONDS = 4.0  # after SIGTERM, how long the turn in progress has to stop and be saved

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
    "agent.cli.talk",
    "agent.cli.serve",
    "agent.cli.api",
    "agent.cli.cluster",
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
    for noisy in ("httpx", "httpx2", "urllib3", "huggingface_hub", "filelock", "asyncio", "PIL", "numba", "faster_whisper"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not verbose else logging.DEBUG)
    if not verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


class Terminated(BaseException):
    """The process was asked to stop (SIGTERM). Not an ``Exception``, so nothing swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM: stop the turns in progress, then leave; a turn that will not stop is abandoned.

    Whatever a turn had written is whole (every file is written to a temporary name and
    renamed), so leaving without it loses only the unfinished step.
    """
    turns = sys.modules.get("agent.turn.assistant")
    if turns is not None:
        turns.cancel_running_turns()
    deadline = threading.Timer(EXIT_GRACE_SECONDS, os._exit, args=(128 + signum,))
    deadline.daemon = True
    deadline.start()
    raise Terminated(signum)


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """While inside, SIGTERM stops the command as Ctrl+C would, within a few seconds."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 a user-fixable error, 130 interrupted, 143 terminated)."""
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
        with stop_on_sigterm():
            return int(handler(args) or 0)
    except PolychatError as e:
        print(f"polychat: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # disk full, read-only data dir, permission denied, path too long
        log.debug("OS error", exc_info=e)
        print(f"polychat: {os_error_sentence(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("polychat: interrupted.", file=sys.stderr)
        return 130
    except Terminated as e:
        print("polychat: stopped.", file=sys.stderr)
        return 128 + e.signum


def run() -> None:
    """Console entry point."""
    sys.exit(main())

