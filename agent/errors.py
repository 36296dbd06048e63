"""Errors that polychat turns into one sentence for a person."""

from __future__ import annotations

import errno
import os
from pathlib import Path


class PolychatError(Exception):
    """Base class: the message is a sentence a person can read and act on."""


class ToolError(PolychatError):
    """A problem the user can fix (bad input, unknown id, unsupported option).

    The message says what went wrong and how to fix it, in one sentence.
    """


class ServiceBusy(ToolError):
    """A service of the cluster has no room for the call (its queue is full); try again shortly.

    The web APIs answer it with 429 and ``Retry-After: retry_after``.
    """

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MediaError(ToolError):
    """An uploaded or referenced file could not be used (empty, corrupt, too big, wrong type)."""


class ModelUnavailableError(ToolError):
    """A model's weights are not on this machine and cannot be fetched now."""


class LimitError(ToolError):
    """A message or its files are over one of polychat's limits (answered before any work)."""


class StorageError(PolychatError):
    """polychat could not write (or read) its own files: disk full, read-only, no permission."""


class ConfigError(PolychatError):
    """A setting in the environment or polychat.toml has an invalid value."""


class TurnCancelled(BaseException):
    """A turn was stopped: the person pressed stop, left, or spoke over the reply.

    A ``BaseException`` (like ``KeyboardInterrupt``), so that ``except Exception`` inside
    a tool or a library cannot swallow it. ``partial`` carries what the interrupted step
    had already delivered (e.g. the sentences already spoken), if anything.
    """

    def __init__(self, partial: object = None) -> None:
        super().__init__("The turn was stopped.")
        self.partial = partial


_PATH_SHOWN = 120  # characters of a path shown in a sentence; the middle of a longer one is left out
_FULL = {errno.ENOSPC, errno.EDQUOT}
_DENIED = {errno.EACCES, errno.EPERM}


def _shown_path(path: object) -> str:
    text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # undecodable names stay printable
    if len(text) > _PATH_SHOWN:
        half = _PATH_SHOWN // 2
        text = f"{text[:half]}…{text[-half:]}"
    return text


def os_error_sentence(error: OSError, path: Path | str | None = None) -> str:
    """One sentence for a person about an OS error: what happened to which path, and the fix.

    The one mapping every face uses (terminal, HTTP API, browser) for disk full, a
    read-only or forbidden data dir and paths too long.

    Args:
        error: what the operating system said.
        path: the path to name when the error carries none (e.g. the data dir).
    """
    where = _shown_path(error.filename if error.filename is not None else path or "a file polychat needs")
    code = error.errno
    if code in _FULL:
        return (f"The disk holding {where} is full; free some space there, or set POLYCHAT_DATA_DIR "
                "to a folder on a disk with room.")
    if code == errno.EROFS:
        return (f"{where} is on a read-only file system; set POLYCHAT_DATA_DIR to a folder polychat "
                "can write to.")
    if code in _DENIED:
        return (f"polychat is not allowed to use {where} (permission denied); fix its permissions, or set "
                "POLYCHAT_DATA_DIR to a folder you own.")
    if code == errno.ENAMETOOLONG:
        return (f"The path {where} is too long for this file system; use a shorter file name or a shorter "
                "POLYCHAT_DATA_DIR.")
    if code in (errno.EEXIST, errno.ENOTDIR):
        return (f"{where} is in the way: polychat needs a folder there; move that file, or set "
                "POLYCHAT_DATA_DIR to another folder.")
    if code == errno.ENOENT:
        return f"{where} does not exist; check the path."
    reason = error.strerror or type(error).__name__
    return f"polychat could not use {where} ({reason}); check that the path exists and can be written."


def storage_error(error: OSError, path: Path | str | None = None) -> StorageError:
    """``error`` as a ``StorageError`` whose message is :func:`os_error_sentence` (raise it ``from error``)."""
    return StorageError(os_error_sentence(error, path))


def not_utf8_sentence(text: str, what: str = "The message") -> str | None:
    """The sentence refusing ``text`` when it carries bytes that were not UTF-8, else None.

    Text decoded with ``surrogateescape`` (command-line arguments, stdin) keeps such bytes
    as lone surrogates, which no file or JSON can hold.
    """
    for index, char in enumerate(text):
        if "\ud800" <= char <= "\udfff":
            shown = f"byte 0x{ord(char) - 0xDC00:02x}" if "\udc80" <= char <= "\udcff" else "a lone surrogate"
            return (f"{what} is not valid UTF-8 text ({shown} at character {index + 1}); "
                    "send it as UTF-8.")
    return None
