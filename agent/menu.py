"""The numbered menu of the original multi-modal script, on top of the eight tools."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from agent.errors import ToolError

Ask = Callable[[str], str]


def _context():
    from agent.oneshot import make_context

    return make_context(argparse.Namespace())


def _file(ask: Ask, prompt: str, kind: str, context) -> str:
    path = Path(ask(prompt).strip().strip('"').strip("'")).expanduser()
    if not path.is_file():
        raise ToolError(f"The file {path} does not exist.")
    return context.artifacts.add_file(path, kind=kind, origin="uploaded", turn=1, name=path.name).id


def run_menu_choice(choice: str, ask: Ask) -> str:
    """Run one menu entry, asking for its inputs with ``ask``; return what to print."""
    from tools import make_tool

    context = _context()
    if choice == "1":
        prompt = ask("Describe the picture: ")
        result = make_tool("generate_image", context).execute(prompt=prompt)
        return f"{result.text} Saved at {result.artifacts[0].path}" if result.artifacts else result.text
    if choice == "2":
        image = _file(ask, "Image file: ", "image", context)
        return make_tool("caption_image", context).execute(image=image).text
    if choice == "3":
        image = _file(ask, "Image file: ", "image", context)
        return make_tool("read_image_text", context).execute(image=image).text
    if choice == "4":
        audio = _file(ask, "Audio file: ", "audio", context)
        return make_tool("transcribe_audio", context).execute(audio=audio).text
    if choice == "5":
        audio = _file(ask, "Audio file: ", "audio", context)
        return make_tool("translate_speech", context).execute(audio=audio).text
    if choice == "6":
        text = ask("Text to speak: ")
        result = make_tool("speak_text", context).execute(text=text)
        return f"{result.text} Saved at {result.artifacts[0].path}" if result.artifacts else result.text
    if choice == "7":
        text = ask("Text to translate: ")
        target = ask("Into which language (e.g. French, hi): ")
        return make_tool("translate_text", context).execute(text=text, target_language=target).text
    raise ToolError(f"There is no menu entry {choice!r}; type a number from 0 to 7.")
