"""``polychat speak "text" -o out.wav``: text to speech from the command line."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from agent.errors import ToolError
from agent.cli.oneshot import add_common_options, emit, make_context


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``speak`` command."""
    parser = subparsers.add_parser(
        "speak",
        help="say text aloud into a WAV file",
        description="Turn text into speech (a 16-bit WAV file) with SpeechT5 or Piper.",
    )
    parser.add_argument("text", nargs="?", help="the words to say; '-' reads them from standard input")
    parser.add_argument(
        "-o", "--output", type=Path, help="the WAV file to write (default: kept in polychat's data folder)"
    )
    parser.add_argument("--voice", help="the voice to speak in (see --list-voices)")
    parser.add_argument("--list-voices", action="store_true", help="list the voices of the backend and exit")
    add_common_options(parser, backends_of="speak_text")
    parser.set_defaults(handler=speak)


def _read_text(args: argparse.Namespace) -> str:
    text = sys.stdin.read() if args.text == "-" else (args.text or "")
    if not text.strip():
        raise ToolError('There is nothing to say; give the words, e.g. polychat speak "Hello there" -o hello.wav.')
    return text


def _check_output(output: Path | None) -> Path | None:
    if output is None:
        return None
    output = output.expanduser()
    if output.is_dir():
        raise ToolError(f"{output} is a folder; give a file name such as {output / 'speech.wav'}.")
    if not output.parent.is_dir():
        raise ToolError(f"The folder {output.parent} does not exist; create it or write the WAV elsewhere.")
    return output


def list_voices_command(args: argparse.Namespace) -> int:
    """Print the voices of the backend in use."""
    from tools.speak import list_voices

    with tempfile.TemporaryDirectory(prefix="polychat-voices-") as scratch:
        voices = list_voices(make_context(args, workdir=Path(scratch)))
    if args.json:
        print(json.dumps([asdict(v) for v in voices], ensure_ascii=False))
        return 0
    for voice in voices:
        mark = "  (default)" if voice.default else ""
        print(f"{voice.name:<12} {voice.description}{mark}")
    return 0


def speak(args: argparse.Namespace) -> int:
    """Speak the text into a WAV file and say where it is."""
    if args.list_voices:
        return list_voices_command(args)
    text = _read_text(args)
    output = _check_output(args.output)
    from tools.speak import SpeakTextTool

    with tempfile.TemporaryDirectory(prefix="polychat-speak-") as scratch:
        context = make_context(args, workdir=Path(scratch) if output else None)
        result = SpeakTextTool(context=context).execute(text=text, voice=args.voice)
        artifact = result.artifacts[0]
        path = artifact.path
        if output is not None:
            shutil.copyfile(artifact.path, output)
            path = output
    data = result.data
    emit(
        args,
        f"Wrote {data['seconds']:.1f} s of speech (voice {data['voice']}, {data['backend']}) to {path}.",
        {
            "text": text.strip(),
            "path": str(path),
            "seconds": data["seconds"],
            "sample_rate": data["sample_rate"],
            "voice": data["voice"],
            "backend": data["backend"],
        },
    )
    return 0
