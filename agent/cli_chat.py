"""``polychat chat``, ``polychat ask``, ``polychat menu`` and ``polychat listen``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agent.config import get_settings
from agent.errors import PolychatError, ToolError


def register(subparsers: argparse._SubParsersAction) -> None:
    chat = subparsers.add_parser("chat", help="talk to polychat in the terminal")
    chat.add_argument("--json", action="store_true", help="print one JSON object per turn")
    chat.add_argument("--session", help="continue a saved session by id")
    chat.add_argument("--voice", action="store_true", help="start with spoken replies on")
    chat.set_defaults(handler=run_chat)

    ask = subparsers.add_parser("ask", help="one turn: a message, images and audio in, a reply out")
    ask.add_argument("text", nargs="?", default="", help="what you say")
    ask.add_argument("--image", action="append", default=[], metavar="PATH", help="attach an image (repeatable)")
    ask.add_argument("--audio", action="append", default=[], metavar="PATH", help="attach audio (repeatable)")
    ask.add_argument("--json", action="store_true", help="print the turn as JSON")
    ask.add_argument("--plan-only", action="store_true", help="print the plan without running it (loads no model)")
    ask.add_argument("--out", metavar="DIR", help="copy the images and audio of the reply into DIR")
    ask.add_argument("--session", help="continue a saved session by id")
    ask.set_defaults(handler=run_ask)

    menu = subparsers.add_parser("menu", help="the numbered menu: one tool at a time")
    menu.set_defaults(handler=run_menu)

    listen = subparsers.add_parser("listen", help="live transcription from the microphone")
    listen.add_argument("--file", metavar="FILE", help="stream a recording instead of the microphone")
    listen.add_argument("--chunk-seconds", type=float, default=5.0, help="seconds of audio per chunk")
    listen.add_argument("--language", help="language hint, e.g. en or French")
    listen.add_argument("--translate", action="store_true", help="translate the speech into English")
    listen.set_defaults(handler=run_listen)


# -- sessions -------------------------------------------------------------------------
def open_session(session_id: str | None = None) -> Any:
    from agent.session import Session

    settings = get_settings()
    root = settings.data_dir / "sessions"
    if session_id and not (root / session_id).is_dir():
        raise ToolError(f"There is no saved session {session_id!r}; start a new one without --session.")
    return Session(root, settings, session_id)


def attach(session: Any, paths: list[str], kind: str, turn: int) -> list[Any]:
    """Add files to the session's artifacts, checking they exist and are what they claim."""
    added = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_file():
            raise ToolError(f"The file {raw} does not exist.")
        added.append(session.artifacts.add_file(path, kind=kind, origin="uploaded", turn=turn, name=path.name))
    return added


def print_reply(reply: Any, *, as_json: bool, stream: Any = None) -> None:
    stream = stream or sys.stdout
    if as_json:
        print(json.dumps(reply.to_json(), ensure_ascii=False), file=stream, flush=True)
        return
    if reply.text:
        print(reply.text, file=stream)
    for artifact in reply.artifacts:
        print(f"[{artifact.id}] {artifact.path}", file=stream)
    print(file=stream, flush=True)


# -- ask --------------------------------------------------------------------------------
def run_ask(args: argparse.Namespace) -> int:
    session = open_session(args.session)
    turn = session.new_turn_number()
    attachments = attach(session, args.image, "image", turn) + attach(session, args.audio, "audio", turn)
    if not args.text.strip() and not attachments:
        raise ToolError("Say something or attach a file, e.g. polychat ask \"draw a red kite\".")
    if args.plan_only:
        from agent.router import route

        plan = route(args.text, attachments, session.state(), voice=False, settings=session.settings)
        payload = {"plan": plan.to_json(), "chat": plan.chat, "reply": plan.reply}
        print(json.dumps(payload, ensure_ascii=False) if args.json else json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    from agent.assistant import Assistant
    from agent.oneshot import ProgressBar

    reply = Assistant().respond(session, args.text, attachments, progress=ProgressBar(sys.stderr.isatty()))
    if args.out:
        out = Path(args.out).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        import shutil

        for artifact in reply.artifacts:
            shutil.copyfile(artifact.path, out / artifact.path.name)
    print_reply(reply, as_json=args.json)
    return 0 if all(s.ok for s in reply.steps) else 1


# -- chat -------------------------------------------------------------------------------
CHAT_HELP = """Commands: /image PATH  /audio PATH  (attach to your next message)
          /voice on|off  (spoken replies)   /reset  (new conversation)   /quit"""


def run_chat(args: argparse.Namespace) -> int:
    from agent.assistant import Assistant
    from agent.oneshot import ProgressBar

    interactive = sys.stdin.isatty()
    session = open_session(args.session)
    assistant = Assistant()
    pending: list[tuple[str, str]] = []  # (kind, path) attached to the next message
    voice = args.voice
    if interactive and not args.json:
        print(f"polychat — session {session.id}. {CHAT_HELP}\n")
    while True:
        try:
            line = input("you> " if interactive else "")
        except EOFError:
            break
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            command, _, rest = line.partition(" ")
            rest = rest.strip()
            if command in ("/quit", "/exit"):
                break
            if command == "/reset":
                session.reset()
                pending.clear()
                _say("New conversation.", args.json)
            elif command in ("/image", "/audio"):
                if not Path(rest).expanduser().is_file():
                    _say(f"The file {rest} does not exist.", args.json)
                else:
                    pending.append((command[1:], rest))
                    _say(f"Attached {rest}; now type your message, or /send to send it alone.", args.json)
            elif command == "/voice":
                voice = rest.lower() in ("on", "yes", "1", "true")
                _say(f"Spoken replies {'on' if voice else 'off'}.", args.json)
            elif command == "/send" and pending:
                line = ""
            elif command == "/help":
                _say(CHAT_HELP, args.json)
            else:
                _say(f"Unknown command {command}. {CHAT_HELP}", args.json)
            if command != "/send":
                continue
        try:
            turn = session.new_turn_number()
            attachments = []
            for kind, path in pending:
                attachments += attach(session, [path], kind, turn)
            pending.clear()
            reply = assistant.respond(session, line, attachments, voice=voice,
                                      progress=ProgressBar(interactive and not args.json))
        except PolychatError as e:
            _say(str(e), args.json)
            continue
        if interactive and not args.json:
            print("polychat> ", end="")
        print_reply(reply, as_json=args.json)
    return 0


def _say(message: str, as_json: bool) -> None:
    """A line from the chat itself (not a turn): on stderr in JSON mode, so stdout stays one object per turn."""
    print(message, file=sys.stderr if as_json else sys.stdout, flush=True)


# -- menu -------------------------------------------------------------------------------
MENU = """
1. Text to image
2. Image to caption
3. Image to text (OCR)
4. Audio to text
5. Audio to English
6. Text to speech
7. Translate text
0. Exit"""


def run_menu(args: argparse.Namespace) -> int:
    from agent.menu import run_menu_choice

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


# -- listen -----------------------------------------------------------------------------
def run_listen(args: argparse.Namespace) -> int:
    from agent.listen import listen

    for line in listen(file=args.file, chunk_seconds=args.chunk_seconds, language=args.language,
                       translate=args.translate):
        print(line, flush=True)
    return 0
