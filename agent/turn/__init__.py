"""One turn, end to end: the assistant streams it, the executor runs its steps, the
session remembers it, and ``chat`` holds everything the chat model sees and says."""
