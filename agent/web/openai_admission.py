"""How many requests one API key may have at the models at once.

Every ``/v1`` request that runs a model (speech to text, speech, images, chat) holds a
place of its key's from when it is accepted until its answer (or the last byte of its
stream) is sent; the models' locks make those requests queue. A key with
``api_max_waiting`` requests in progress is refused the next with 429 and ``Retry-After``
(about how long a request has lately taken), so no key can pile up an unbounded queue.
"""

from __future__ import annotations

import math
import threading
import time

FIRST_GUESS_SECONDS = 5.0  # what Retry-After says before any request has finished
RETRY_AFTER_RANGE = (1, 60)  # s: Retry-After is never below or above these
SMOOTHING = 0.3  # weight of the newest request's duration in the running average

TOO_MANY = (
    "This key already has {limit} request{s} in progress, the most polychat takes from one key at once; "
    "retry after {seconds} seconds, or set POLYCHAT_API_MAX_WAITING to allow more."
)


class Busy(Exception):
    """A key has as many requests in progress as it may."""

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(TOO_MANY.format(limit=limit, s="" if limit == 1 else "s", seconds=retry_after))
        self.retry_after = retry_after


class Admission:
    """Counts each key's requests in progress and refuses those past the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self._lock = threading.Lock()
        self._in_progress: dict[str, int] = {}
        self._seconds = FIRST_GUESS_SECONDS

    def in_progress(self, owner: str) -> int:
        with self._lock:
            return self._in_progress.get(owner, 0)

    def enter(self, owner: str) -> Place:
        """A place for one more request of ``owner``'s.

        Raises:
            Busy: ``owner`` already has ``limit`` requests in progress.
        """
        with self._lock:
            if self._in_progress.get(owner, 0) >= self.limit:
                raise Busy(self.limit, self.retry_after())
            self._in_progress[owner] = self._in_progress.get(owner, 0) + 1
        return Place(self, owner)

    def retry_after(self) -> int:
        low, high = RETRY_AFTER_RANGE
        return min(high, max(low, math.ceil(self._seconds)))

    def _leave(self, owner: str, seconds: float) -> None:
        with self._lock:
            left = self._in_progress.get(owner, 0) - 1
            if left > 0:
                self._in_progress[owner] = left
            else:
                self._in_progress.pop(owner, None)
            self._seconds += SMOOTHING * (seconds - self._seconds)


class Place:
    """One request's place; ``release`` (once, any number of calls) gives it back."""

    def __init__(self, admission: Admission, owner: str) -> None:
        self._admission, self._owner = admission, owner
        self._started = time.monotonic()
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._admission._leave(self._owner, time.monotonic() - self._started)
