"""Text the chat model sees, kept in files (read with ``prompts.load``)."""

from importlib.resources import files


def load(name: str) -> str:
    """The text of ``prompts/<name>``."""
    return files(__package__).joinpath(name).read_text(encoding="utf-8")
