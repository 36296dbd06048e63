"""polychat: a local multi-modal chat agent."""

__version__ = "0.1.0"
