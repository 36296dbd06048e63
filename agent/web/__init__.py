"""The server faces: the Chainlit browser chat (``app``; its voice input, rendering,
preferences, history database and file store) and the HTTP API (``api``)."""
