"""Spoken replies through the speakers, sentence by sentence, as soon as each is made."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

log = logging.getLogger(__name__)


class Speakers:
    """Plays audio in order on a background thread, so the next sentence is made while one plays.

    Where there is no output device (a server, a container, no PortAudio) nothing is
    played and one line says so; the reply's audio is still saved as a file.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Any, int] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._device: Any = None
        self._unavailable = False

    def play(self, samples: Any, sample_rate: int) -> None:
        """Queue float32 mono samples to play after what is already queued."""
        if self._unavailable or not self._open():
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="polychat-speakers", daemon=True)
            self._thread.start()
        self._queue.put((samples, int(sample_rate)))

    def stop(self) -> None:
        """Stop playing now and forget what is queued (the person interrupted)."""
        while not self._queue.empty():
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._device is not None:
            self._device.stop()

    def wait(self) -> None:
        """Block until everything queued has been played."""
        if self._thread is not None:
            self._queue.join()

    def _open(self) -> bool:
        if self._device is not None:
            return True
        try:
            import sounddevice as sd

            sd.query_devices(kind="output")
        except Exception as e:  # noqa: BLE001 - no PortAudio, no device: play nothing, say why once
            log.info("No speakers to play the reply on (%s); the audio is saved as a file.", str(e).strip() or type(e).__name__)
            self._unavailable = True
            return False
        self._device = sd
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                samples, rate = item
                self._device.play(samples, rate)
                self._device.wait()
            except Exception as e:  # noqa: BLE001 - a device that vanished mid-reply
                log.info("Playing the reply failed (%s).", e)
            finally:
                self._queue.task_done()
