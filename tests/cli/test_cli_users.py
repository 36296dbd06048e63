"""``polychat users hash``: a hash line for POLYCHAT_AUTH_USERS, read from a pipe without echo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from agent.config import parse_auth_users
from agent.web.login import PasswordBook

ROOT = Path(__file__).resolve().parents[2]


def _users(args: list[str], stdin: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYCHAT_")}
    return subprocess.run([sys.executable, "-m", "agent.cli", "users", *args], input=stdin, capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)


def test_the_printed_line_signs_in_with_the_password_it_was_given() -> None:
    made = _users(["hash", "alice"], "through the looking-glass\n")
    assert made.returncode == 0, made.stderr
    line = made.stdout.strip()
    assert line.startswith("alice:$argon2id$") and "looking" not in line
    book = PasswordBook(parse_auth_users(f"{line},bob:builder"))
    assert book.verify("alice", "through the looking-glass")
    assert not book.verify("alice", "through the looking-glass\n")
    bare = _users(["hash"], "pw\n")
    assert bare.returncode == 0 and bare.stdout.startswith("$argon2id$")


def test_an_empty_password_or_a_name_with_a_colon_is_a_sentence() -> None:
    empty = _users(["hash", "alice"], "\n")
    assert empty.returncode == 1 and empty.stdout == ""
    assert empty.stderr.strip() == "polychat: The password is empty; type one (or pipe one line to polychat users hash)."
    bad_name = _users(["hash", "al:ice"], "pw\n")
    assert bad_name.returncode == 1
    assert bad_name.stderr.strip() == "polychat: The name 'al:ice' holds a ':' or ','; pick a name without them."
