"""``polychat translate TEXT --to fr``: translate text with the local opus-mt models."""

from __future__ import annotations

import argparse
import sys

from agent.errors import ToolError
from agent.cli.oneshot import add_common_options, emit, make_context


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "translate",
        help="translate text into another language (opus-mt)",
        description="Translate text into another language; the source language is detected unless --from is given.",
    )
    parser.add_argument("text", help="the text to translate ('-' reads it from standard input)")
    parser.add_argument("--to", dest="target", metavar="LANGUAGE",
                        help="language to translate into, a name or code such as French or fr "
                             "(default: the target_language setting)")
    parser.add_argument("--from", dest="source", metavar="LANGUAGE",
                        help="language the text is in (default: detected)")
    add_common_options(parser)
    parser.set_defaults(handler=translate)


def translate(args: argparse.Namespace) -> int:
    """Run ``polychat translate``: print the translation (or a JSON object with ``--json``)."""
    from tools.translate import TranslateTextTool

    text = args.text
    if text == "-":
        try:
            text = sys.stdin.read()
        except UnicodeDecodeError as e:
            raise ToolError("Standard input is not UTF-8 text; convert it to UTF-8 and try again.") from e
    tool = TranslateTextTool(context=make_context(args))
    result = tool.execute(text=text, target_language=args.target, source_language=args.source)
    # The documented keys first, then the extras (how the source language was found, notes).
    payload = {key: result.data[key] for key in ("source_language", "target_language", "route")}
    payload = {"text": result.text, **payload, **result.data}
    emit(args, result.text, payload)
    return 0
