"""Files at rest: private folders, atomic writes, no links followed out of the data folder.

Everything polychat keeps (conversations, media, the chat history database) belongs to
the person who runs it: folders are made ``0700`` and files ``0600``, whatever the
umask. A file is written through a temporary file in the same folder and renamed into
place, so a crash or a full disk never leaves half of it behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def make_private_folder(path: Path | str) -> Path:
    """Make ``path`` and any missing parents, each new one readable by its owner only.

    Folders that already exist keep their mode, except ``path`` itself, which is made
    private when this process owns it.

    Raises:
        OSError: the folder cannot be made (read-only disk, permission denied, ...).
    """
    path = Path(path)
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another thread or process made it first
            folder.mkdir(mode=FOLDER_MODE)
        with contextlib.suppress(OSError):
            os.chmod(folder, FOLDER_MODE)  # mkdir's mode is narrowed by the umask only, never widened
    if path.is_dir() and not path.is_symlink() and not missing:
        with contextlib.suppress(OSError):
            if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
                os.chmod(path, FOLDER_MODE)
    return path


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (mode ``0600``) through a temporary file in the same folder."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def file_signature(path: Path | str) -> tuple[int, int, int] | None:
    """What tells one version of a file from the next (files here are replaced, never edited)."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_ino, found.st_mtime_ns, found.st_size


def link_in_place(source: Path | str, target: Path | str) -> bool:
    """Make ``target`` a hard link to ``source`` (one copy of the bytes on disk), atomically.

    Returns:
        False when the file system cannot link them (another disk, no hard links);
        ``target`` is then left as it was.
    """
    target = Path(target)
    tmp = target.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{target.name}.part")
    try:
        os.link(source, tmp)
        os.replace(tmp, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False
    return True


def make_private_file(path: Path | str) -> None:
    """Narrow an existing file (one another library created) to its owner only."""
    with contextlib.suppress(OSError):
        os.chmod(path, FILE_MODE)


def is_linked_out(path: Path | str, root: Path | str) -> bool:
    """Whether ``path`` is a link, or lies (once links are resolved) outside ``root``."""
    path = Path(path)
    if path.is_symlink():
        return True
    try:
        return not path.resolve().is_relative_to(Path(root).resolve())
    except OSError:
        return True


class FolderLock:
    """One lock on a folder, for the threads of this process and across processes.

    Threads of one process share it (``acquire`` counts, and only the first one takes
    the lock from the operating system); two processes exclude each other through an
    advisory ``flock`` on ``<folder>/.lock``. A process that dies loses its lock with
    it, so a ``kill -9`` never leaves a conversation locked.

    Args:
        folder: the folder to lock (made, private, when the lock is first taken).
    """

    NAME = ".lock"

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self._mutex = threading.Lock()  # guards the count and the descriptor
        self._taking = threading.Lock()  # one thread at a time waits on the operating system
        self._count = 0
        self._fd: int | None = None

    def acquire(self, cancel: threading.Event | None = None, poll: float = 0.05) -> bool:
        """Take the lock, waiting for another process to let go of it.

        Args:
            cancel: stop waiting when it is set.
            poll: seconds between tries while another process holds the lock.

        Returns:
            True when this call took the lock from the operating system (nothing of
            this process held it before, so what another process wrote may be new).

        Raises:
            TurnCancelled: ``cancel`` was set while waiting.
            OSError: the lock file cannot be made (read-only disk, permission denied).
        """
        with self._taking:
            with self._mutex:
                if self._count:
                    self._count += 1
                    return False
            make_private_folder(self.folder)
            fd = os.open(self.folder / self.NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
            try:
                while not _try_lock(fd):
                    if cancel is not None and cancel.is_set():
                        from agent.errors import TurnCancelled

                        raise TurnCancelled()
                    time.sleep(poll)
            except BaseException:
                os.close(fd)
                raise
            with self._mutex:
                self._fd, self._count = fd, 1
            return True

    def release(self) -> None:
        """Let go once; the last release hands the lock back to other processes."""
        with self._mutex:
            if self._count <= 0:
                raise RuntimeError("FolderLock released more often than acquired")
            self._count -= 1
            if self._count == 0 and self._fd is not None:
                fd, self._fd = self._fd, None
                _unlock(fd)
                os.close(fd)

    @property
    def held(self) -> bool:
        """Whether some thread of this process holds the lock."""
        with self._mutex:
            return self._count > 0


try:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # Windows: a byte-range lock on the lock file
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
