"""The limits a message and its files must keep, checked before any work starts.

Every face (terminal, HTTP API, browser) checks a message here before it opens a
session, stores a file or starts a turn, so an oversized request is answered in a
sentence at once instead of costing minutes of work. Each refusal names the setting
that raises the limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent.config import Settings
from agent.errors import LimitError, ToolError, not_utf8_sentence

MB = 1024 * 1024  # bytes


def _megabytes(size: int) -> str:
    return f"{size / MB:.1f} MB" if size >= MB / 10 else f"{size / 1024:.1f} KB"


def check_message(text: str, settings: Settings) -> str:
    """Refuse a chat message that is too long or is not text; return it unchanged otherwise.

    Raises:
        LimitError: the message has more than ``settings.max_message_chars`` characters.
        ToolError: the message carries bytes that were not UTF-8.
    """
    limit = settings.max_message_chars
    if limit > 0 and len(text) > limit:
        raise LimitError(
            f"The message is {len(text):,} characters long; the limit is {limit:,} "
            "(send a shorter message, or set POLYCHAT_MAX_MESSAGE_CHARS to raise it)."
        )
    problem = not_utf8_sentence(text)
    if problem:
        raise ToolError(problem)
    return text


def check_upload_sizes(sizes: Iterable[int], settings: Settings, *, stored: int = 0) -> None:
    """Refuse a message's files when one, all of them, or the conversation's total is too big.

    Args:
        sizes: the size in bytes of each file of this message.
        settings: supplies ``max_upload_mb``, ``max_turn_upload_mb`` and ``max_conversation_upload_mb``.
        stored: bytes the people of this conversation have sent before.

    Raises:
        LimitError: which limit, and the setting that raises it.
    """
    sizes = list(sizes)
    for size in sizes:
        if size > settings.upload_limit_bytes:
            raise LimitError(
                f"The file is {_megabytes(size)}; the limit is {settings.max_upload_mb:g} MB per file "
                "(send a smaller file, or set POLYCHAT_MAX_UPLOAD_MB to raise it)."
            )
    total = sum(sizes)
    per_turn = int(settings.max_turn_upload_mb * MB)
    if total > per_turn:
        raise LimitError(
            f"The files of this message are {_megabytes(total)} together; the limit is "
            f"{settings.max_turn_upload_mb:g} MB per message (send fewer or smaller files, or set "
            "POLYCHAT_MAX_TURN_UPLOAD_MB to raise it)."
        )
    per_conversation = int(settings.max_conversation_upload_mb * MB)
    if total and stored + total > per_conversation:
        raise LimitError(
            f"This conversation already holds {_megabytes(stored)} of files and these add {_megabytes(total)}; "
            f"the limit is {settings.max_conversation_upload_mb:g} MB per conversation (start a new "
            "conversation, or set POLYCHAT_MAX_CONVERSATION_UPLOAD_MB to raise it)."
        )


def uploaded_bytes(artifacts: Any) -> int:
    """The bytes of every file people sent a conversation (its ``ArtifactStore``)."""
    total = 0
    for artifact in artifacts.all():
        if artifact.origin != "uploaded":
            continue
        try:
            total += Path(artifact.path).stat().st_size
        except OSError:
            continue  # a file gone from disk holds no room
    return total


def file_sizes(paths: Iterable[Path | str]) -> list[int]:
    """The sizes of files about to be attached; a file that is not there counts as empty."""
    sizes = []
    for path in paths:
        try:
            sizes.append(Path(path).expanduser().stat().st_size)
        except OSError:
            sizes.append(0)  # attaching it says what is wrong with it
    return sizes
