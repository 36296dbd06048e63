"""The numbered menu of the original multi-modal script, on top of the eight tools."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from agent.errors import PolychatError, ToolError

Ask = Callable[[str], str]

# Menu entries that take one file: number -> (tool, kind of file it reads).
FILE_ENTRIES: dict[str, tuple[str, str]] = {
    "2": ("caption_image", "image"),
    "3": ("read_image_text", "image"),
    "4": ("transcribe_audio", "audio"),
    "5": ("translate_speech", "audio"),
}


def _context():
    from agent.cli.oneshot import make_context

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
    if choice in FILE_ENTRIES:
        tool, kind = FILE_ENTRIES[choice]
        artifact = _file(ask, f"{kind.capitalize()} file: ", kind, context)
        return make_tool(tool, context).execute(**{kind: artifact}).text
    if choice == "6":
        text = ask("Text to speak: ")
        result = make_tool("speak_text", context).execute(text=text)
        return f"{result.text} Saved at {result.artifacts[0].path}" if result.artifacts else result.text
    if choice == "7":
        text = ask("Text to translate: ")
        target = ask("Into which language (e.g. French, hi): ")
        return make_tool("translate_text", context).execute(text=text, target_language=target).text
    raise ToolError(f"There is no menu entry {choice!r}; type a number from 0 to 7.")


MENU = """
1. Text to image
2. Image to caption
3. Image to text (OCR)
4. Audio to text
5. Audio to English
6. Text to speech
7. Translate text
0. Exit"""


def register(subparsers: argparse._SubParsersAction) -> None:
    menu = subparsers.add_parser("menu", help="the numbered menu: one tool at a time")
    menu.set_defaults(handler=run_menu)


def run_menu(args: argparse.Namespace) -> int:
    while True:
        print(MENU)
        try:
            choice = input("Choose: ").strip()
        except EOFError:
            return 0
        if choice == "0":
            return 0
        try:
            print(run_menu_choice(choice, input))
        except EOFError:
            return 0
        except PolychatError as e:
            print(e)
