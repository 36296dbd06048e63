"""``python -m agent.cli`` is the ``polychat`` command."""

from agent.cli import run

run()
