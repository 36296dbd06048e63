"""Errors that polychat turns into one sentence for a person."""

from __future__ import annotations


class PolychatError(Exception):
    """Base class: the message is a sentence a person can read and act on."""


class ToolError(PolychatError):
    """A problem the user can fix (bad input, unknown id, unsupported option).

    The message says what went wrong and how to fix it, in one sentence.
    """


class MediaError(ToolError):
    """An uploaded or referenced file could not be used (empty, corrupt, too big, wrong type)."""


class ModelUnavailableError(ToolError):
    """A model's weights are not on this machine and cannot be fetched now."""


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
