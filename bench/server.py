"""``polychat serve`` in a subprocess on the tiny profile: started, measured, stopped or killed.

Shared by the benchmark's ``load`` section and the tests that drive a real server
(the browser tests, the load and fault tier).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.common import PROJECT_ROOT

START_TIMEOUT = 120  # seconds a server may take to answer its first page load
STOP_TIMEOUT = 20  # seconds a terminated server may take to exit before it is killed
POLL_INTERVAL = 0.3  # seconds between two looks at a starting server


def free_port() -> int:
    """A TCP port on the loopback nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def vm_rss_mb(pid: int) -> float:
    """A process's resident memory (``VmRSS`` in ``/proc/<pid>/status``) in MB.

    Raises:
        RuntimeError: the process is gone or the system has no ``/proc``.
    """
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024  # the line says kB
    except OSError as e:
        raise RuntimeError(f"The memory of process {pid} cannot be read: {e}.") from e
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line: the process is gone or a zombie.")


class Server:
    """``python -m agent.cli serve`` in a subprocess, started from outside the repository.

    Args:
        data_dir: its data folder (conversations, tiny models); its log is ``server.log`` there.
        **env: environment variables set on top of the tiny profile's.
    """

    command: tuple[str, ...] = ("serve", "--headless")  # the polychat verb and its options
    ready_path = ""  # the page that answers once the server is up (any HTTP status counts)

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.extra_env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "server.log"
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("The server is not running.")
        return self.process.pid

    def rss_mb(self) -> float:
        """The running server's resident memory in MB."""
        return vm_rss_mb(self.pid)

    def start(self) -> None:
        """Start it and wait until its page answers 200.

        Raises:
            RuntimeError: it exited or did not answer within ``START_TIMEOUT`` (with its log's end).
        """
        env = {
            **os.environ,
            "POLYCHAT_PROFILE": "tiny",
            "POLYCHAT_DEVICE": "cpu",
            "POLYCHAT_DATA_DIR": str(self.data_dir),
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        }
        env.pop("POLYCHAT_CONFIG", None)
        env.pop("POLYCHAT_AUTH_USERS", None)
        env.pop("CHAINLIT_AUTH_SECRET", None)
        env.update(self.extra_env)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agent.cli", *self.command[:1], "--port", str(self.port), *self.command[1:]],
                cwd=self.data_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"polychat {self.command[0]} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                # our own loopback server
                with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError:
                if self.ready_path:  # it answers: up (a route that wants a key says so)
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(POLL_INTERVAL)
        raise RuntimeError(f"polychat {self.command[0]} did not answer within {START_TIMEOUT} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Ask it to stop (SIGTERM); kill it when it has not exited after ``STOP_TIMEOUT``."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        """``kill -9`` it, as a power cut or the out-of-memory killer would, and reap it."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


__all__ = ["START_TIMEOUT", "Server", "free_port", "vm_rss_mb"]
