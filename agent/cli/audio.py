"""``polychat transcribe FILE``: speech to text (or to English with ``--translate``) from the terminal."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from agent.cli.oneshot import add_common_options, emit, make_context


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``transcribe`` command."""
    parser = subparsers.add_parser(
        "transcribe",
        help="write down what is said in an audio file (WAV, MP3, M4A, OGG, WEBM, FLAC)",
        description="Transcribe speech with Whisper, or translate it to English with --translate.",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="the audio file")
    parser.add_argument("--translate", action="store_true", help="translate the speech to English text")
    parser.add_argument("--language", metavar="LANG", help="the language spoken (name or ISO code); default: detect")
    parser.add_argument("--timestamps", action="store_true", help="show when each segment was said")
    parser.add_argument("--srt", action="store_true", help="print SubRip (.srt) subtitles")
    add_common_options(parser, backends_of="transcribe_audio")
    parser.set_defaults(handler=transcribe_command)


def transcribe_command(args: argparse.Namespace) -> int:
    """Add the file to a throw-away artifact store, run the tool, print the result."""
    from tools.transcribe import (
        TranscribeAudioTool,
        TranslateSpeechTool,
        format_timestamped,
        segments_to_srt,
    )

    with tempfile.TemporaryDirectory(prefix="polychat-transcribe-") as workdir:
        context = make_context(args, workdir=Path(workdir))
        artifact = context.artifacts.add_file(args.file, kind="audio", turn=context.turn)
        tool = (TranslateSpeechTool if args.translate else TranscribeAudioTool)(context=context)
        result = tool.execute(audio=artifact.id, language=args.language, timestamps=args.timestamps or args.srt)

    data = result.data
    if args.srt:
        text = segments_to_srt(data["segments"]).rstrip("\n")
    elif args.timestamps:
        text = format_timestamped(data["segments"])
    else:
        text = data["text"]
    payload = {"tool": tool.name, "file": str(args.file), **data}
    if args.srt:
        payload["srt"] = segments_to_srt(data["segments"])
    emit(args, text, payload)
    return 0
