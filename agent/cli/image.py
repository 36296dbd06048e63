"""``polychat caption|vqa|ocr IMAGE``: describe an image, answer a question about it, read its text."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agent.cli.oneshot import add_common_options, emit, make_context


def register(subparsers: argparse._SubParsersAction) -> None:
    caption = subparsers.add_parser("caption", help="describe what an image shows in one sentence")
    caption.add_argument("image", type=Path, help="the image file (PNG, JPEG, WEBP, GIF, BMP, TIFF)")
    caption.add_argument("--prefix", help="start of the caption for the model to continue, e.g. 'a photograph of'")
    add_common_options(caption)
    caption.set_defaults(handler=caption_command)

    vqa = subparsers.add_parser("vqa", help="answer a question about an image")
    vqa.add_argument("image", type=Path, help="the image file")
    vqa.add_argument("question", help="the question, e.g. 'what colour is the car?'")
    add_common_options(vqa)
    vqa.set_defaults(handler=vqa_command)

    ocr = subparsers.add_parser("ocr", help="read the text in an image, every line")
    ocr.add_argument("image", type=Path, help="the image file")
    add_common_options(ocr, backends_of="read_image_text")
    ocr.set_defaults(handler=ocr_command)


def _run(args: argparse.Namespace, tool_name: str, **tool_args: Any) -> int:
    """Put the image file in a fresh artifact store, run one tool on it and print the result."""
    from tools import make_tool

    context = make_context(args)
    artifact = context.artifacts.add_file(args.image, kind="image")
    result = make_tool(tool_name, context).execute(image=artifact.id, **tool_args)
    emit(args, result.text, {"tool": tool_name, "file": str(args.image), "text": result.text, **result.data})
    return 0


def caption_command(args: argparse.Namespace) -> int:
    """``polychat caption IMAGE [--prefix TEXT]``."""
    return _run(args, "caption_image", prefix=args.prefix)


def vqa_command(args: argparse.Namespace) -> int:
    """``polychat vqa IMAGE QUESTION``."""
    return _run(args, "answer_image_question", question=args.question)


def ocr_command(args: argparse.Namespace) -> int:
    """``polychat ocr IMAGE [--backend trocr|tesseract|rapidocr]``."""
    return _run(args, "read_image_text")
