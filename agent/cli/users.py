"""``polychat users hash [NAME]``: a password hash to put in ``POLYCHAT_AUTH_USERS``.

The password is read without echo from the terminal (asked twice), or as the first
line of standard input when that is not a terminal. The line printed is
``NAME:HASH`` (or the hash alone), ready for the setting.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from agent.errors import ToolError

_NAME_FORBIDDEN = (":", ",", "\n", "\r")


def register(subparsers: argparse._SubParsersAction) -> None:
    users = subparsers.add_parser("users", help="manage the users who may sign in (POLYCHAT_AUTH_USERS)")
    commands = users.add_subparsers(dest="users_command", metavar="COMMAND")
    hash_parser = commands.add_parser(
        "hash",
        help="print an argon2 hash of a password, for POLYCHAT_AUTH_USERS",
        description="Read a password (asked without echo, or the first line of standard input) and print "
                    "NAME:HASH for POLYCHAT_AUTH_USERS (in a shell, keep the value in single quotes).",
    )
    hash_parser.add_argument("name", nargs="?", default="", help="the user's name, printed before the hash")
    hash_parser.set_defaults(handler=hash_command)
    users.set_defaults(handler=lambda args: users.print_help() or 0)


def read_password(stdin=None) -> str:
    """The password: asked twice without echo on a terminal, else the first line of ``stdin``."""
    stdin = stdin or sys.stdin
    if stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise ToolError("The two passwords differ; run polychat users hash again.")
    else:
        try:
            password = stdin.readline()
        except UnicodeDecodeError as e:
            raise ToolError("Standard input is not UTF-8 text; give the password as UTF-8.") from e
        password = password.rstrip("\r\n")
    if not password:
        raise ToolError("The password is empty; type one (or pipe one line to polychat users hash).")
    return password


def hash_command(args: argparse.Namespace) -> int:
    """Print ``NAME:HASH`` (or the hash alone without a name)."""
    name = args.name.strip()
    if any(mark in name for mark in _NAME_FORBIDDEN):
        raise ToolError(f"The name {name!r} holds a ':' or ','; pick a name without them.")
    from agent.web.login import hash_password

    hashed = hash_password(read_password())
    print(f"{name}:{hashed}" if name else hashed)
    if sys.stdout.isatty():
        print("Add it to POLYCHAT_AUTH_USERS (in a shell, inside single quotes so the $ signs stay) "
              "or to auth_users in polychat.toml.", file=sys.stderr)
    return 0
