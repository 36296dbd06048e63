"""``polychat chat`` and ``polychat ask``: turns in the terminal, shown as they stream.

Reply text prints as it arrives, long steps draw a progress bar, and with spoken
replies on each sentence plays as soon as it is made. Ctrl+C during a turn stops that
turn (what was said so far is kept); Ctrl+C at the prompt leaves.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent.config import get_settings
from agent.errors import PolychatError, StorageError, ToolError, not_utf8_sentence


def register(subparsers: argparse._SubParsersAction) -> None:
    chat = subparsers.add_parser("chat", help="talk to polychat in the terminal")
    chat.add_argument("--json", action="store_true", help="print one JSON object per turn")
    chat.add_argument("--session", help="continue a saved session by id")
    chat.add_argument("--voice", action="store_true", help="start with spoken replies on")
    chat.add_argument("--language", metavar="LANG",
                      help="the language you speak in voice notes (name or ISO code), kept with the session; "
                           "'auto' detects it again (default: the first voice note's, once detected)")
    chat.set_defaults(handler=run_chat)

    ask = subparsers.add_parser("ask", help="one turn: a message, images and audio in, a reply out")
    ask.add_argument("text", nargs="?", default="", help="what you say")
    ask.add_argument("--image", action="append", default=[], metavar="PATH", help="attach an image (repeatable)")
    ask.add_argument("--audio", action="append", default=[], metavar="PATH", help="attach audio (repeatable)")
    ask.add_argument("--json", action="store_true", help="print the turn as JSON")
    ask.add_argument("--stream", action="store_true",
                     help="print each event of the turn as it happens, one JSON object per line (the last is done)")
    ask.add_argument("--plan-only", action="store_true", help="print the plan without running it (loads no model)")
    ask.add_argument("--out", metavar="DIR", help="copy the images and audio of the reply into DIR")
    ask.add_argument("--session", help="continue a saved session by id")
    ask.add_argument("--language", metavar="LANG",
                     help="the language spoken in the audio (name or ISO code), kept with the session; "
                          "'auto' detects it again")
    ask.set_defaults(handler=run_ask)


# -- sessions -------------------------------------------------------------------------
def open_session(session_id: str | None = None) -> Any:
    """The terminal's conversation: a new one, or the saved ``session_id``."""
    from agent.turn.session import open_session as open_in

    settings = get_settings()
    return open_in(settings.data_dir / "sessions", settings, session_id)


def check_files(session: Any, paths: list[str]) -> None:
    """Refuse files that together pass the upload limits, before any of them is stored.

    Raises:
        LimitError: one file, the message's files or the conversation's would be too big.
    """
    from agent.limits import check_upload_sizes, file_sizes, uploaded_bytes

    if paths:
        check_upload_sizes(file_sizes(paths), session.settings, stored=uploaded_bytes(session.artifacts))


def attach(session: Any, paths: list[str], kind: str) -> list[Any]:
    """Add files to the session's artifacts, checking they exist and are what they claim."""
    added = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_file():
            raise ToolError(f"The file {raw} does not exist.")
        added.append(session.attach(path, kind=kind))
    return added


def print_reply(reply: Any, *, as_json: bool, stream: Any = None, text_shown: bool = False) -> None:
    """Print a finished turn: its JSON, or its text (unless already streamed) and its media."""
    stream = stream or sys.stdout
    if as_json:
        print(json.dumps(reply.to_json(), ensure_ascii=False), file=stream, flush=True)
        return
    if reply.text and not text_shown:
        print(reply.text, file=stream)
    elif text_shown and reply.text:
        print(file=stream)
    if reply.cancelled:
        print("(stopped)", file=stream)
    for artifact in reply.artifacts:
        print(f"[{artifact.id}] {artifact.path}", file=stream)
    print(file=stream, flush=True)


def show_turn(
    events: Iterable[Any], *, show_text: bool = True, prefix: str = "", progress: Any = None, speakers: Any = None
) -> Any:
    """Print a turn's text as it streams (``show_text``), relay progress and play speech; return its Reply."""
    from agent.turn.events import AudioChunk, StepProgress, TextDelta, TurnDone

    reply, started = None, False
    for event in events:
        if isinstance(event, TextDelta) and show_text:
            if not started:
                print(prefix, end="")
                started = True
            print(event.text, end="", flush=True)
        elif isinstance(event, StepProgress) and progress is not None:
            progress(event.label, event.done, event.total, unit=event.unit) if event.unit else \
                progress(event.label, event.done, event.total)
        elif isinstance(event, AudioChunk) and speakers is not None:
            speakers.play(event.samples, event.sample_rate)
        elif isinstance(event, TurnDone):
            reply = event.reply
    return reply


# -- ask --------------------------------------------------------------------------------
def run_ask(args: argparse.Namespace) -> int:
    from agent.limits import check_message

    check_message(args.text, get_settings())  # before any work: a refused message costs nothing
    session = open_session(args.session)
    if args.language is not None:
        session.set_language(args.language)
    check_files(session, [*args.image, *args.audio])
    attachments = attach(session, args.image, "image") + attach(session, args.audio, "audio")
    if not args.text.strip() and not attachments:
        raise ToolError("Say something or attach a file, e.g. polychat ask \"draw a red kite\".")
    if args.plan_only:
        from agent.router import route

        plan = route(args.text, attachments, session.state(), voice=False, settings=session.settings)
        payload = {"plan": plan.to_json(), "chat": plan.chat, "reply": plan.reply}
        print(json.dumps(payload, ensure_ascii=False) if args.json else json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    from agent.cli.oneshot import ProgressBar
    from agent.turn.assistant import Assistant
    from agent.turn.events import TurnDone

    reply = None
    with contextlib.closing(Assistant().stream(session, args.text, attachments)) as events:
        if args.stream:
            for event in events:
                print(json.dumps(event.to_json(), ensure_ascii=False), flush=True)
                if isinstance(event, TurnDone):
                    reply = event.reply
        else:
            reply = show_turn(events, show_text=not args.json, progress=ProgressBar(sys.stderr.isatty()))
    if args.out:
        out = Path(args.out).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        for artifact in reply.artifacts:
            shutil.copyfile(artifact.path, out / artifact.path.name)
    if not args.stream:
        print_reply(reply, as_json=args.json, text_shown=not args.json)  # show_turn printed the words as they came
    return 0 if all(s.ok for s in reply.steps) else 1


# -- chat -------------------------------------------------------------------------------
CHAT_HELP = """Commands: /image PATH  /audio PATH  (attach to your next message)
          /voice on|off  (spoken replies)   /reset  (new conversation)   /quit
          Ctrl+C stops a reply"""


def run_chat(args: argparse.Namespace) -> int:
    from agent.cli.oneshot import ProgressBar
    from agent.cli.speakers import Speakers
    from agent.limits import check_message
    from agent.turn.assistant import Assistant

    interactive = sys.stdin.isatty()
    with contextlib.suppress(AttributeError, ValueError):  # bytes that are not UTF-8 become a sentence, not a crash
        sys.stdin.reconfigure(errors="surrogateescape")
    session = open_session(args.session)
    if args.language is not None:
        session.set_language(args.language)
    assistant = Assistant()
    speakers = Speakers()
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
        if problem := not_utf8_sentence(line, "That line"):
            _say(problem, args.json)
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
            check_message(line, session.settings)
        except PolychatError as e:  # the files stay attached for a shorter message
            _say(str(e), args.json)
            continue
        try:
            check_files(session, [path for _kind, path in pending])
            attachments = []
            for kind, path in pending:
                attachments += attach(session, [path], kind)
            pending.clear()
            events = assistant.stream(session, line, attachments, voice=voice)
            with contextlib.closing(events):
                if args.json:
                    reply = show_turn(events, show_text=False)
                else:
                    reply = show_turn(events, prefix="polychat> " if interactive else "",
                                      progress=ProgressBar(interactive), speakers=speakers if voice else None)
        except StorageError:
            raise  # the conversation cannot be saved any more: say why and stop
        except PolychatError as e:
            pending.clear()  # a refused file is not sent again with the next message
            _say(str(e), args.json)
            continue
        except KeyboardInterrupt:  # stop this reply, not the chat
            speakers.stop()
            _say("\n(stopped)", args.json)
            continue
        print_reply(reply, as_json=args.json, text_shown=not args.json and bool(reply.text))
    speakers.wait()
    return 0


def _say(message: str, as_json: bool) -> None:
    """A line from the chat itself (not a turn): on stderr in JSON mode, so stdout stays one object per turn."""
    print(message, file=sys.stderr if as_json else sys.stdout, flush=True)
